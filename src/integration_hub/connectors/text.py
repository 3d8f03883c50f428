"""Text as partners send it, made fit for the hub: what a database column can hold (a pydantic
field type shared by the admin API's boundary, web/validation.py, and the admin routes partners
contribute, which sit below the web layer and so cannot import it); HTML message bodies as
plain text (`html_text`); phone numbers as E.164 (`E164`, `e164`)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Annotated

from pydantic import AfterValidator

E164_PATTERN = r"\+[1-9][0-9]{6,14}"
E164 = re.compile(E164_PATTERN)


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

MAX_TEXT = 4096  # the message bodies' bound in the internal events (support.*)
# HTML read at most: a part's body is an agent's or customer's message; anything longer is cut
# before parsing, so the parser's work is bounded whatever a verified body holds.
MAX_HTML = 64 * 1024
# Tags after which a line ends (paragraphs as <p>, line breaks as <br>).
_BLOCKS = frozenset(
    {"p", "br", "div", "li", "ul", "ol", "tr", "h1", "h2", "h3", "blockquote", "pre"}
)
_SKIPPED = frozenset({"script", "style"})
_PHONE_PUNCTUATION = re.compile(r"[\s().\-/]")
MAX_PHONE_INPUT = 40
MAX_URL = 2048  # a link's address kept in the text; a longer one is left out
_LINK = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.size = 0
        self._skipping = 0
        self._link: tuple[str, int] | None = None  # the open <a>'s address, where its text starts

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skipping += 1
        elif tag == "br":
            self._add("\n")
        elif tag == "a":
            href = (dict(attrs).get("href") or "").strip()
            ok = len(href) <= MAX_URL and _LINK.fullmatch(href) is not None
            self._link = (href, len(self.parts)) if ok else None

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._link is not None:
            # An agent's link would be lost with its tag: "text (address)", the address alone
            # when it is the text (http and https only).
            href, start = self._link
            self._link = None
            if "".join(self.parts[start:]).strip() != href:
                self._add(f" ({href})")
        elif tag in _SKIPPED:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCKS:
            self._add("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self._add(data)

    def _add(self, text: str) -> None:
        if self.size <= MAX_TEXT * 2:  # enough to fill MAX_TEXT after spaces are collapsed
            self.parts.append(text)
            self.size += len(text)


def html_text(html: str | None) -> str:
    """The text of an HTML body: tags dropped (a link kept as "text (address)"), entities
    decoded, runs of spaces collapsed, one line per paragraph; at most MAX_TEXT characters."""
    if not html:
        return ""
    collector = _TextCollector()
    collector.feed(html[:MAX_HTML])
    collector.close()
    lines = (" ".join(line.split()) for line in "".join(collector.parts).splitlines())
    text = "\n".join(line for line in lines if line).replace("\x00", "")
    return text[:MAX_TEXT]


def e164(value: object) -> str | None:
    """A phone number in E.164 (`+13055550123`), or None when it is not one. Spaces, dashes,
    dots, slashes and parentheses are dropped and a leading 00 read as +; no country is
    guessed for a number written without one."""
    if not isinstance(value, str) or len(value) > MAX_PHONE_INPUT:
        return None
    compact = _PHONE_PUNCTUATION.sub("", value)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    return compact if E164.fullmatch(compact) else None
