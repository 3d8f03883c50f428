"""Escalation rules as data: which inbound messages open a support conversation, and why.

A rule has a name (shown to the agent as the reason), the tags it puts on the conversation
and its keywords per language (es, en). The shipped rules are `escalation_rules.json` next to
this module; `HUB_ESCALATION_RULES_FILE` replaces them. The file is checked once, when the
worker is built: one that does not hold together (too large, not JSON, a keyword or tag out of
bounds, a name used twice) stops the start with `RulesError` naming the problem.

Matching is on whole words and phrases of the folded text: case-folded, accents dropped
(NFKD), every run of other characters (spaces, punctuation, apostrophes) one space. So
"NO PUEDO ENTRAR!!" matches "no puedo entrar", "daño" matches "dano" written without the tilde,
and "can\u2019t get in" (a typographic apostrophe) matches "can't get in". A keyword inside a longer
word does not match: "undamaged" is not "damage", "brokerage" is not "broke". Negations are
not understood ("no es urgente" escalates): a needless escalation costs an agent a glance, a
missed one a guest locked out at night. Every language's keywords are tried on every message:
the language hint of an SMS is a guess, and guests mix languages. The body is cut to
MAX_MATCH_CHARS before any work, so matching is linear in a bounded input.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from integration_hub.errors import UnsafeConfiguration

DEFAULT_RULES = "escalation_rules.json"
MAX_RULES_BYTES = 64 * 1024
MAX_RULES = 32
MAX_KEYWORDS = 64  # per rule and language
MAX_KEYWORD_CHARS = 64
MAX_RULE_TAGS = 5
MAX_MATCH_CHARS = 4096  # support_inbox.MAX_BODY: what is escalated is what was matched
LANGUAGES = ("en", "es")
_OTHER = re.compile(r"[^0-9a-z]+")

Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
Tag = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
Keyword = Annotated[str, Field(min_length=1, max_length=MAX_KEYWORD_CHARS)]


class RulesError(UnsafeConfiguration):
    """The escalation rules file cannot be used; the message says where and why."""

    reason = "invalid_escalation_rules"


def fold(text: str) -> str:
    """Case-folded, accents dropped, every run of non-alphanumerics one space, trimmed."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _OTHER.sub(" ", plain).strip()


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_RULE_TAGS)
    keywords: dict[Literal["en", "es"], list[Keyword]]

    @field_validator("keywords")
    @classmethod
    def _bounded(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for language, words in value.items():
            if len(words) > MAX_KEYWORDS:
                raise ValueError(f"{language}: {len(words)} keywords, at most {MAX_KEYWORDS}")
            for word in words:
                if not fold(word):
                    raise ValueError(f"{language}: keyword {word[:20]!r} has no letter or digit")
        return value


class _RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: list[_Rule] = Field(min_length=1, max_length=MAX_RULES)


@dataclass(frozen=True)
class Rule:
    name: str
    tags: tuple[str, ...]
    phrases: frozenset[str]  # folded keywords of every language


@dataclass(frozen=True)
class EscalationRules:
    rules: tuple[Rule, ...]

    def match(self, body: str) -> tuple[Rule, ...]:
        """The rules whose keywords the body holds as whole words or phrases, in file order."""
        padded = f" {fold(body[:MAX_MATCH_CHARS])} "
        return tuple(rule for rule in self.rules if any(f" {p} " in padded for p in rule.phrases))


def parse_rules(text: bytes, source: str) -> EscalationRules:
    """The rules in `text` (JSON), or RulesError naming `source` and the problems."""
    if len(text) > MAX_RULES_BYTES:
        raise RulesError(
            f"{source}: {len(text)} bytes; a rules file holds at most {MAX_RULES_BYTES}"
        )
    try:
        parsed = _RulesFile.model_validate(json.loads(text))
    except json.JSONDecodeError as error:
        raise RulesError(f"{source}: not JSON ({error.msg}, line {error.lineno})") from None
    except ValidationError as error:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}"
            for e in error.errors(include_url=False)[:10]
        )
        raise RulesError(f"{source}: {details}") from None
    names = [rule.name for rule in parsed.rules]
    if twice := sorted({n for n in names if names.count(n) > 1}):
        raise RulesError(f"{source}: rule names used twice: {', '.join(twice)}")
    return EscalationRules(
        tuple(
            Rule(
                rule.name,
                tuple(rule.tags),
                frozenset(fold(word) for words in rule.keywords.values() for word in words),
            )
            for rule in parsed.rules
        )
    )


def load_rules(path: Path | None = None) -> EscalationRules:
    """`path` (HUB_ESCALATION_RULES_FILE), else the rules shipped with the hub."""
    if path is None:
        shipped = resources.files(__package__ or __name__).joinpath(DEFAULT_RULES)
        return parse_rules(shipped.read_bytes(), f"the shipped {DEFAULT_RULES}")
    try:
        with path.open("rb") as file:
            text = file.read(MAX_RULES_BYTES + 1)
    except OSError as error:
        raise RulesError(
            f"HUB_ESCALATION_RULES_FILE {path}: cannot read it ({error.strerror})"
        ) from None
    return parse_rules(text, f"HUB_ESCALATION_RULES_FILE {path}")


@cache
def rules_for(path: Path | None) -> EscalationRules:
    """`load_rules(path)`, read once per process (the worker loads it at start)."""
    return load_rules(path)
