"""The IVR flow run: where a callback leads (`advance`) and the TwiML that says it (`render`).

Both are pure functions of the flow, the state the action URL carried and the digits pressed,
so a retried callback gets the same answer (the edge calls `respond` for duplicates too). The
entry answer also depends on the caller's language, read when each try arrives: see `voice`.
`seq` counts the call's callbacks: each answer's action URL carries the next one, so a
re-prompt of the same step is a new callback (a new event) and a retried one is a duplicate.
TwiML is built with the Twilio SDK's `VoiceResponse` (escaping is its job).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from twilio.twiml.voice_response import Dial, Gather, Record, Say, VoiceResponse

from integration_hub.connectors.twilio.ivr import (
    DialStep,
    Flow,
    LanguageStep,
    MenuStep,
    RecordStep,
    SayStep,
)

VOICE_PATH = "/webhooks/twilio/voice"
# Callbacks of one call: Twilio gives up on a call long before this many prompts.
MAX_SEQ = 64


@dataclass(frozen=True, slots=True)
class State:
    """What an action URL carries to the next callback."""

    step: str
    seq: int  # this callback's number in the call (the incoming call is 0)
    language: str | None
    attempt: int = 0  # prompts of `step` already heard, less one


@dataclass(frozen=True, slots=True)
class Outcome:
    """Where a Gather's answer leads: an option (`choice`, `language`, `next`), a re-prompt
    (`retry`), or the goodbye after too many."""

    choice: str | None
    language: str | None
    next: str | None
    retry: bool = False


def advance(flow: Flow, state: State, digits: str) -> Outcome:
    if state.seq >= MAX_SEQ:  # no action URL may follow: the answer is the goodbye, so no
        # choice is recorded either (the event and what the caller hears agree)
        return Outcome(None, state.language, None)
    step = flow.step(state.step)
    if isinstance(step, LanguageStep) and (language := step.languages.get(digits)):
        return Outcome(language, language, flow.start)
    if isinstance(step, MenuStep) and (option := step.options.get(digits)):
        return Outcome(option.choice, state.language, option.next)
    if state.attempt + 1 < flow.max_attempts:
        return Outcome(None, state.language, state.step, retry=True)
    return Outcome(None, state.language, None)


def _url(base: str, **query: str | int) -> str:
    return f"{base}{VOICE_PATH}?{urlencode(query)}"


class Renderer:
    """TwiML for a flow. `base` is the public URL prefix of the hub (from the URL Twilio called),
    so the action URLs are the ones Twilio signs and the edge checks; `operator` the number
    `<Dial>` calls (+E.164) or None."""

    def __init__(self, flow: Flow, base: str, operator: str | None) -> None:
        self._flow, self._base, self._operator = flow, base, operator

    def _say(self, parent: VoiceResponse | Gather, text: str, language: str) -> None:
        voice = self._flow.languages[language]
        parent.append(Say(text, voice=voice.voice, language=voice.locale))

    def _action(self, step: str, seq: int, language: str | None, attempt: int = 0) -> str:
        query: dict[str, str | int] = {"step": step, "seq": seq}
        if language is not None:
            query["lang"] = language
        if attempt:
            query["attempt"] = attempt
        return _url(self._base, **query)

    def entry(self, language: str | None) -> VoiceResponse:
        """The incoming call's answer: the menu in a known language, else the language choice."""
        response = VoiceResponse()
        step = self._flow.start if language is not None else self._flow.language_step
        self.step(response, step, seq=1, language=language)
        return response

    def answer(self, state: State, outcome: Outcome) -> VoiceResponse:
        response = VoiceResponse()
        language = outcome.language
        # Too many attempts, or a call past the callbacks its URLs may number: goodbye in the
        # call's language(s), rather than an action URL the hub would refuse.
        if outcome.next is None or state.seq >= MAX_SEQ:
            self._goodbye(response, language)
            return response
        if outcome.retry:
            step = self._flow.step(state.step)
            assert isinstance(step, LanguageStep | MenuStep)  # only gathers retry
            self._prompt(response, step.invalid, language)
        attempt = state.attempt + 1 if outcome.retry else 0
        self.step(response, outcome.next, seq=state.seq + 1, language=language, attempt=attempt)
        return response

    def after_recording(self, state: State) -> VoiceResponse:
        response = VoiceResponse()
        step = self._flow.step(state.step)
        if state.seq >= MAX_SEQ:
            self._goodbye(response, state.language)
        elif isinstance(step, RecordStep):
            self.step(response, step.next, seq=state.seq + 1, language=state.language)
        return response

    def _prompt(
        self, parent: VoiceResponse | Gather, prompt: dict[str, str], lang: str | None
    ) -> None:
        """In the call's language, or every language in turn before one is chosen."""
        for language in [lang] if lang is not None else list(self._flow.languages):
            self._say(parent, prompt[language], language)

    def _goodbye(self, response: VoiceResponse, language: str | None) -> None:
        self._prompt(response, self._flow.goodbye, language)
        response.hangup()

    def step(
        self,
        response: VoiceResponse,
        name: str,
        *,
        seq: int,
        language: str | None,
        attempt: int = 0,
    ) -> None:
        step = self._flow.step(name)
        flow = self._flow
        if isinstance(step, LanguageStep | MenuStep):
            gather = Gather(
                num_digits=1,
                action=self._action(name, seq, language, attempt),
                method="POST",
                timeout=flow.gather_timeout_seconds,
                action_on_empty_result=True,  # no input comes back too: a re-prompt, counted
            )
            if isinstance(step, LanguageStep):  # each language's line in its own voice
                for language_code in dict.fromkeys(step.languages.values()):
                    self._say(gather, step.prompt[language_code], language_code)
            else:
                self._prompt(gather, step.prompt, language)
            response.append(gather)
        elif isinstance(step, RecordStep):
            self._prompt(response, step.prompt, language)
            response.append(
                Record(
                    action=self._action(name, seq, language),
                    method="POST",
                    max_length=step.max_length_seconds,
                    play_beep=True,
                    finish_on_key="#",
                    transcribe=step.transcribe,
                    recording_status_callback=self._action("recording", seq, language),
                    recording_status_callback_method="POST",
                    recording_status_callback_event="completed",
                )
            )
        elif isinstance(step, DialStep):
            if self._operator is None:
                self._prompt(response, step.fallback, language)
                self.step(response, step.fallback_next, seq=seq, language=language)
                return
            self._prompt(response, step.prompt, language)
            response.append(Dial(self._operator, timeout=step.timeout_seconds))
            response.hangup()
        elif isinstance(step, SayStep):
            self._prompt(response, step.prompt, language)
            response.hangup()
