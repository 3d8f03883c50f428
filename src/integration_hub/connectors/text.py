"""Text a database column can hold, as a pydantic field type: shared by the admin API's
boundary (web/validation.py) and the admin routes partners contribute, which sit below the web
layer and so cannot import it."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator


def _storable(value: str) -> str:
    """Refuse text no database column can hold: NUL (PostgreSQL) and lone surrogates (UTF-8)."""
    if "\x00" in value:
        raise ValueError("holds NUL")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("is not valid Unicode (lone surrogate)") from None
    return value


StorableText = Annotated[str, AfterValidator(_storable)]
