"""What the status panel shows of numbers, times and stored events: an inline SVG chart, "5 min
ago", and events through the logs' masking. Pure functions, no request or database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from integration_hub.logs import mask_sensitive


def masked(value: dict[str, Any]) -> dict[str, Any]:
    """The logs' masking, for anything the panel shows of a stored event."""
    return dict(mask_sensitive(None, "panel", dict(value)))


def sparkline(values: list[int], *, width: int = 240, height: int = 48) -> str:
    """Inline SVG bars of events per hour; numbers only, so nothing needs escaping."""
    top = max(values, default=0) or 1
    step = width / max(len(values), 1)
    bars = "".join(
        f'<rect x="{i * step:.1f}" y="{height - v / top * (height - 2):.1f}" '
        f'width="{step - 1:.1f}" height="{v / top * (height - 2):.1f}"><title>{v}</title></rect>'
        for i, v in enumerate(values)
    )
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="events per hour, last 24 hours">'
        f'<line x1="0" y1="{height - 0.5}" x2="{width}" y2="{height - 0.5}"/>{bars}</svg>'
    )


def mask_text_of(raw: dict[str, Any] | None) -> str | None:
    """An admin's view of the body, through the logs' masking (secrets, phones, e-mails)."""
    if raw is None:
        return None
    return str(masked({"body": raw["body"]})["body"])


def since_label(moment: str | None, now: datetime | None = None) -> str:
    if not moment:
        return "never"
    seconds = int(((now or datetime.now(UTC)) - datetime.fromisoformat(moment)).total_seconds())
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{max(seconds, 0)} s ago"
