"""structlog: JSON lines by default, readable console output on a terminal.

Lines about an event carry its partner, partner event id, internal event id and workflow id,
bound with `structlog.contextvars.bound_contextvars` where the event is handled (normalizer,
dispatcher, activities), and the trace id of the current span (`add_trace_context`).

Every line goes through `mask_sensitive` first: values of secret-sounding keys are dropped, and
phone numbers, e-mail addresses and tokens are masked wherever they appear in a string.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from integration_hub import tracing
from integration_hub.settings import Settings


def configure_logging(settings: Settings) -> None:
    as_json = settings.log_json if settings.log_json is not None else not sys.stderr.isatty()
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            add_trace_context,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            mask_sensitive,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=max(level, logging.WARNING), stream=sys.stderr)


def add_trace_context(
    _logger: object, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor: the current span's trace id, when tracing is on and one is open."""
    if tracing.enabled() and "trace_id" not in event_dict:
        trace_id = tracing.trace_id_hex()
        if trace_id is not None:
            event_dict["trace_id"] = trace_id
    return event_dict


MASK = "***"
# Keys whose whole value is secret, whatever it looks like.
SECRET_KEY = re.compile(
    r"(?i)(pass(word|phrase)?|secret|token|authori[sz]ation|api[_-]?key|cookie|credential|"
    r"private[_-]?key|signature|master[_-]?key)"
)
# Keys holding personal data in the clear: masked with the patterns below, or wholly.
PERSONAL_KEY = re.compile(r"(?i)(phone|e-?mail|^to$|^from$|^sender$|^recipient$)")
PATTERNS: tuple[tuple[re.Pattern[str], Any], ...] = (
    # Bearer <anything>: the token is gone, the scheme stays.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), lambda m: f"{m[1]} {MASK}"),
    # Partner and platform secrets by prefix: whsec_, sk_/rk_ (live/test), pk_, AC.. auth, JWTs.
    (
        re.compile(r"\b(whsec|sk|rk|pk)_(live_|test_)?[A-Za-z0-9+/=]{6,}"),
        lambda m: f"{m[1]}_{m[2] or ''}{MASK}",
    ),
    (
        re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),
        lambda _m: "jwt:" + MASK,
    ),
    # E-mail: the first character and the domain stay, enough to tell addresses apart.
    (
        re.compile(r"\b([A-Za-z0-9])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})\b"),
        lambda m: f"{m[1]}{MASK}@{m[2]}",
    ),
    # E.164 phone numbers (also after whatsapp:): the last two digits stay.
    (re.compile(r"\+[1-9]\d{4,12}(\d{2})\b"), lambda m: f"+{MASK}{m[1]}"),
)


def mask_text(text: str) -> str:
    for pattern, replacement in PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _mask(key: str, value: Any) -> Any:
    if isinstance(value, str):
        if SECRET_KEY.search(key):
            return MASK
        masked = mask_text(value)
        if PERSONAL_KEY.search(key) and masked == value and value:
            return MASK  # personal data in a shape the patterns do not know
        return masked
    if isinstance(value, dict):
        return {k: _mask(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_mask(key, v) for v in value)
    if isinstance(value, bytes | bytearray):
        return MASK if SECRET_KEY.search(key) else value
    return value


def mask_sensitive(
    _logger: object, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor: mask secrets, phone numbers and e-mail addresses in every field."""
    for key, value in event_dict.items():
        event_dict[key] = _mask(key, value)
    return event_dict
