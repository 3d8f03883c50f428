"""Opt-out and opt-in keywords (English and Spanish) and a small locale guess.

Twilio's default keywords (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT / START, UNSTOP, YES)
plus the Spanish ones our contacts send. A keyword counts only as the whole message, ignoring
case, accents and punctuation around it, as carriers match them ("stop." yes, "don't stop" no).
"""

from __future__ import annotations

import re
import unicodedata

OPT_OUT = {
    "en": frozenset(
        {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
    ),
    "es": frozenset({"BAJA", "PARAR", "CANCELAR", "DETENER", "ALTO"}),
}
OPT_IN = {
    "en": frozenset({"START", "UNSTOP", "YES", "SUBSCRIBE"}),
    "es": frozenset({"ALTA", "SI", "INICIAR", "REANUDAR"}),
}

# Frequent short words that tell the two languages apart; a guess, kept until a clearer one.
_SPANISH = frozenset(
    {
        "hola", "gracias", "por", "favor", "el", "la", "los", "las", "que", "de", "del", "es",
        "y", "en", "un", "una", "para", "con", "mi", "su", "esta", "buenos", "buenas", "dias",
        "tardes", "noches", "puede", "llegar", "llega", "limpieza", "hoy", "manana", "ayuda",
        "hora",
    }
)  # fmt: skip
_ENGLISH = frozenset(
    {
        "hello", "hi", "thanks", "thank", "you", "please", "the", "is", "and", "to", "of",
        "an", "for", "with", "my", "your", "this", "can", "good", "morning", "today",
        "tomorrow", "cleaning", "cleaner", "help", "arrive", "what", "when", "time", "does",
    }
)  # fmt: skip


def _fold(text: str) -> str:
    """Upper case without accents: "Sí" and "SI" are the same keyword."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).upper()


def keyword_of(body: str) -> str | None:
    """The message as a bare keyword (folded), or None when it is more than one word."""
    word = re.sub(r"^[\W_]+|[\W_]+$", "", _fold(body.strip()))
    return word if word and re.fullmatch(r"[A-Z]+", word) else None


def consent_keyword(body: str) -> tuple[bool, str, str] | None:
    """(opted_out, keyword, locale) when the message is an opt-out or opt-in keyword."""
    word = keyword_of(body)
    if word is None:
        return None
    for opted_out, table in ((True, OPT_OUT), (False, OPT_IN)):
        for locale, words in table.items():
            if word in words:
                return opted_out, word, locale
    return None


def guess_locale(text: str) -> str | None:
    """ "es" or "en" when the text says so clearly enough, else None (keep what we had)."""
    if any(mark in text for mark in "¿¡ñÑ"):
        return "es"
    words = re.findall(r"[a-záéíóúü]+", text.lower())
    folded = [_fold(w).lower() for w in words]
    spanish = sum(w in _SPANISH for w in folded)
    english = sum(w in _ENGLISH for w in folded)
    if spanish > english:
        return "es"
    if english > spanish:
        return "en"
    return None
