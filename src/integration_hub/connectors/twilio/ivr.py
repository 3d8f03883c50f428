"""The voice IVR flow as data: loaded from a JSON file, validated once at start, then read.

The flow is a small state machine. Each step has a `kind`:
- `language`: a bilingual `<Gather>` (every language's prompt in its own voice); a digit picks
  the language the rest of the call speaks. Skipped for a known contact with a language.
- `menu`: a `<Gather>` in the call's language; a digit picks an option (`choice`, `next` step).
- `record`: a voicemail (`<Record>` with a beep), transcribed when `transcribe`; then `next`.
- `dial`: the operator (`HUB_TWILIO_OPERATOR_NUMBER`); without one, `fallback` then
  `fallback_next`.
- `say`: a last message, then the call ends.

Every prompt is given per language, and every language the flow declares must have one, so
operators change the wording (or add an option) in the file, not in code. The default flow
ships as `ivr_flow.json` next to this module; `HUB_TWILIO_IVR_FILE` replaces it.
A flow that does not hold together (a step naming one that does not exist, a digit outside
0-9*#, a prompt missing a language or too long) stops the hub at start with `FlowError`, which
names the problem and where it is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from integration_hub.errors import UnsafeConfiguration

DEFAULT_FLOW = "ivr_flow.json"
# A flow is a few kilobytes; a larger file is not one (and is read at every start).
MAX_FLOW_BYTES = 64 * 1024
# What Twilio reads aloud in one <Say> stays short: a caller does not listen to more.
MAX_PROMPT_CHARS = 500
MAX_STEPS = 32
MAX_OPTIONS = 12  # 0-9, * and #
DIGITS = frozenset("0123456789*#")
# Callback kinds the action URLs use besides step names (`voice.py`): no step may take them.
RESERVED_STEPS = frozenset({"status", "recording"})
# How many non-gathering steps one answer may chain (a dial fallback, then a menu).
MAX_CHAIN = 4

StepName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
LanguageCode = Annotated[str, Field(pattern=r"^[a-z]{2}$")]
Prompt = dict[LanguageCode, Annotated[str, Field(min_length=1, max_length=MAX_PROMPT_CHARS)]]


class FlowError(UnsafeConfiguration):
    """The IVR flow file cannot be used; the message says where and why."""

    reason = "invalid_ivr_flow"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Voice(_Model):
    voice: str = Field(min_length=1, max_length=64)  # e.g. Polly.Lupe
    locale: str = Field(pattern=r"^[a-z]{2}-[A-Z]{2}$")  # <Say language=...>, e.g. es-US


class MenuOption(_Model):
    choice: StepName  # what the caller chose, as `call.menu_selected` records it
    next: StepName


class LanguageStep(_Model):
    kind: Literal["language"]
    prompt: Prompt
    languages: dict[str, LanguageCode] = Field(max_length=MAX_OPTIONS)  # digit -> language
    invalid: Prompt


class MenuStep(_Model):
    kind: Literal["menu"]
    prompt: Prompt
    options: dict[str, MenuOption] = Field(max_length=MAX_OPTIONS)  # digit -> option
    invalid: Prompt


class RecordStep(_Model):
    kind: Literal["record"]
    prompt: Prompt
    max_length_seconds: int = Field(ge=5, le=600)
    transcribe: bool = False
    next: StepName


class DialStep(_Model):
    kind: Literal["dial"]
    prompt: Prompt
    fallback: Prompt  # said when no operator number is configured
    fallback_next: StepName
    timeout_seconds: int = Field(default=20, ge=5, le=60)


class SayStep(_Model):
    kind: Literal["say"]
    prompt: Prompt


Step = Annotated[
    LanguageStep | MenuStep | RecordStep | DialStep | SayStep, Field(discriminator="kind")
]
GATHERS = (LanguageStep, MenuStep)


class Flow(_Model):
    languages: dict[LanguageCode, Voice] = Field(min_length=1, max_length=8)
    language_step: StepName
    start: StepName  # where a caller whose language is known begins
    max_attempts: int = Field(ge=1, le=5)  # prompts of one step before the goodbye
    gather_timeout_seconds: int = Field(default=6, ge=1, le=30)
    goodbye: Prompt
    steps: dict[StepName, Step] = Field(min_length=1, max_length=MAX_STEPS)

    def step(self, name: str) -> LanguageStep | MenuStep | RecordStep | DialStep | SayStep:
        return self.steps[name]

    def is_gather(self, name: str) -> bool:
        return isinstance(self.steps.get(name), GATHERS)


def _prompts(flow: Flow) -> list[tuple[str, Mapping[str, str]]]:
    found: list[tuple[str, Mapping[str, str]]] = [("goodbye", flow.goodbye)]
    for name, step in flow.steps.items():
        found.append((f"steps.{name}.prompt", step.prompt))
        for field in ("invalid", "fallback"):
            if (prompt := getattr(step, field, None)) is not None:
                found.append((f"steps.{name}.{field}", prompt))
    return found


def _references(flow: Flow) -> list[tuple[str, str]]:
    found = [("language_step", flow.language_step), ("start", flow.start)]
    for name, step in flow.steps.items():
        if isinstance(step, MenuStep):
            found += [
                (f"steps.{name}.options[{d!r}].next", o.next) for d, o in step.options.items()
            ]
        elif isinstance(step, RecordStep):
            found.append((f"steps.{name}.next", step.next))
        elif isinstance(step, DialStep):
            found.append((f"steps.{name}.fallback_next", step.fallback_next))
    return found


def _chain_ends(flow: Flow, name: str) -> bool:
    """Whether rendering `name` stops within MAX_CHAIN steps (a dial's fallback goes on to
    another step in the same answer; a loop of such steps would never end)."""
    for _ in range(MAX_CHAIN):
        step = flow.steps[name]
        if not isinstance(step, DialStep):
            return True
        name = step.fallback_next
    return False


def problems(flow: Flow) -> list[str]:
    """What makes a well-shaped flow unusable, each naming where it is."""
    found: list[str] = []
    declared = set(flow.languages)
    for where, prompt in _prompts(flow):
        if missing := sorted(declared - set(prompt)):
            found.append(f"{where}: no prompt in {', '.join(missing)}")
        if extra := sorted(set(prompt) - declared):
            found.append(f"{where}: language {', '.join(extra)} is not in `languages`")
    for where, target in _references(flow):
        if target not in flow.steps:
            found.append(f"{where}: names unknown step {target!r}")
    for name in sorted(RESERVED_STEPS & set(flow.steps)):
        found.append(f"steps.{name}: {name!r} is reserved for Twilio's callbacks")
    for name, step in flow.steps.items():
        digits: list[str] = []
        if isinstance(step, LanguageStep):
            digits = list(step.languages)
        elif isinstance(step, MenuStep):
            digits = list(step.options)
        for digit in digits:
            if len(digit) != 1 or digit not in DIGITS:
                found.append(f"steps.{name}: option {digit[:8]!r} is not one of 0-9, * or #")
        if isinstance(step, LanguageStep):
            for digit, language in step.languages.items():
                if language not in declared:
                    found.append(f"steps.{name}.languages[{digit!r}]: unknown language {language}")
        if (
            isinstance(step, DialStep)
            and step.fallback_next in flow.steps
            and not _chain_ends(flow, name)
        ):
            found.append(f"steps.{name}: fallback_next loops through dial steps")
    if flow.language_step in flow.steps and not isinstance(
        flow.steps[flow.language_step], LanguageStep
    ):
        found.append(f"language_step: step {flow.language_step!r} is not of kind 'language'")
    if flow.start in flow.steps and isinstance(flow.steps[flow.start], LanguageStep):
        found.append(f"start: step {flow.start!r} must not be the language step")
    return found


KINDS = frozenset({"language", "menu", "record", "dial", "say"})


def _where(loc: tuple[int | str, ...]) -> str:
    """pydantic's error location, without the step kind it adds (steps.menu.menu.prompt)."""
    parts = [str(p) for p in loc]
    if len(parts) > 2 and parts[0] == "steps" and parts[2] in KINDS:
        del parts[2]
    return ".".join(parts) or "(top)"


def parse_flow(text: bytes, source: str) -> Flow:
    """The flow in `text` (JSON), or FlowError naming `source` and every problem."""
    if len(text) > MAX_FLOW_BYTES:
        raise FlowError(f"{source}: {len(text)} bytes; a flow file holds at most {MAX_FLOW_BYTES}")
    try:
        flow = Flow.model_validate(json.loads(text))
    except json.JSONDecodeError as error:
        raise FlowError(f"{source}: not JSON ({error.msg}, line {error.lineno})") from None
    except ValidationError as error:
        details = "; ".join(
            f"{_where(e['loc'])}: {e['msg']}" for e in error.errors(include_url=False)[:10]
        )
        raise FlowError(f"{source}: {details}") from None
    if found := problems(flow):
        raise FlowError(f"{source}: {'; '.join(found)}")
    return flow


def load_flow(path: Path | None = None) -> Flow:
    """`path` (HUB_TWILIO_IVR_FILE), else the flow shipped with the package."""
    if path is None:
        shipped = resources.files(__package__ or __name__).joinpath(DEFAULT_FLOW)
        return parse_flow(shipped.read_bytes(), f"the shipped {DEFAULT_FLOW}")
    try:
        with path.open("rb") as file:
            text = file.read(MAX_FLOW_BYTES + 1)
    except OSError as error:
        raise FlowError(f"HUB_TWILIO_IVR_FILE {path}: cannot read it ({error.strerror})") from None
    return parse_flow(text, f"HUB_TWILIO_IVR_FILE {path}")
