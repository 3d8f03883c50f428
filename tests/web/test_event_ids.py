"""Issue 10, item 9: partner event ids holding `/`, `%`, `?`, `#`, `..`, spaces or Unicode are
reachable through every admin route, every panel page and link, and `hub events show`.

Real signed Stripe deliveries (the top-level `id` is the dedup key) are stored by a running hub;
each id is then asked for over real HTTP, and the panel's links are followed the way a browser
resolves them (WHATWG: `.`, `..` and their `%2e` spellings are removed before a request leaves).
"""

from __future__ import annotations

import asyncio
import html
import os
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode, urljoin, urlsplit

import orjson
import pytest

from integration_hub.testing import connector, sign_as
from integration_hub.web.event_ids import api_event_path, panel_event_path, quote_segment
from tests.helpers import ADMIN_TOKEN, STRIPE_SECRET, RunningHub

HUB = str(Path(sys.executable).with_name("hub"))
HOSTILE_IDS = [
    "evt/with/slashes",
    "evt%2Fencoded",  # must not be decoded twice into `evt/encoded`
    "evt?query=1&x=2",
    "evt#fragment",
    "..",
    ".",
    "../../healthz",
    "evt/..",
    "%2e%2e",
    "evt with spaces",
    "évènement-✓-日本",
    "x/raw",  # must not be routed to the raw body of `x`
    "y/replay",
    "evt;param+plus",
]


def _delivery(event_id: str) -> tuple[bytes, dict[str, str]]:
    event = orjson.loads(connector("stripe").sample("payment_intent.succeeded"))
    event["id"] = event_id
    body = orjson.dumps(event)
    return body, sign_as("stripe", body, secret=STRIPE_SECRET)


async def _store(running: RunningHub, event_ids: list[str]) -> None:
    for event_id in event_ids:
        body, headers = _delivery(event_id)
        answer = await running.http.post("/webhooks/stripe", content=body, headers=headers)
        assert answer.status_code == 200, answer.text
    # The decoy events the hostile ids could be mistaken for: none of them may be answered.
    for decoy in ("x", "y", "evt", "evt/encoded"):
        body, headers = _delivery(decoy)
        await running.http.post("/webhooks/stripe", content=body, headers=headers)


def test_links_hold_one_segment_per_id_and_no_dot_segment() -> None:
    for event_id in HOSTILE_IDS:
        segment = quote_segment(event_id)
        assert not {"/", "?", "#", " "} & set(segment), segment
        assert segment not in {".", ".."}  # what httpx and RFC 3986 clients would remove
        page = panel_event_path("stripe", event_id)
        assert as_a_browser_resolves("http://hub/status/events", page) == page
    assert quote_segment("..") == "%2E%2E"
    assert panel_event_path("stripe", "..") == "/status/events/stripe?id=.."
    assert panel_event_path("stripe", "a/b", "replay", {"replayed": "1"}) == (
        "/status/events/stripe/a%2Fb/replay?replayed=1"
    )


async def test_every_id_round_trips_through_the_admin_api(running_hub: RunningHub) -> None:
    await _store(running_hub, HOSTILE_IDS)
    for event_id in HOSTILE_IDS:
        shown = await running_hub.admin.get(api_event_path("stripe", event_id))
        assert shown.status_code == 200, (event_id, shown.text)
        assert shown.json()["partner_event_id"] == event_id and "events" in shown.json()

        raw = await running_hub.admin.get(api_event_path("stripe", event_id, "raw"))
        assert raw.status_code == 200, (event_id, raw.text)
        assert raw.json()["partner_event_id"] == event_id
        assert orjson.loads(raw.json()["body"])["id"] == event_id

        listed = await running_hub.admin.get("/api/events", params={"event_id": event_id})
        assert [e["partner_event_id"] for e in listed.json()["items"]] == [event_id]

    for event_id in HOSTILE_IDS:
        replayed = await running_hub.admin.post(api_event_path("stripe", event_id, "replay"))
        assert replayed.status_code == 200, (event_id, replayed.text)
        assert replayed.json() == {"requeued": 1}


async def test_an_unencoded_slash_is_a_delimiter_and_reaches_no_other_event(
    running_hub: RunningHub,
) -> None:
    await _store(running_hub, ["x/raw"])
    # `/api/events/stripe/x/raw` is the raw body of `x` (stored as a decoy), never `x/raw`.
    raw_of_x = await running_hub.admin.get("/api/events/stripe/x/raw")
    assert raw_of_x.status_code == 200 and raw_of_x.json()["partner_event_id"] == "x"
    encoded = await running_hub.admin.get("/api/events/stripe/x%2Fraw")
    assert encoded.json()["partner_event_id"] == "x/raw" and "events" in encoded.json()
    # An encoded slash elsewhere is data too: no route has that shape, no partner that name.
    no_route = await running_hub.admin.get("/api%2Fevents/stripe/x")
    assert (no_route.status_code, no_route.json()["error"]) == (404, "not_found")
    no_partner = await running_hub.admin.get("/api/events/str%2Fipe/x")
    assert (no_partner.status_code, no_partner.json()["error"]) == (400, "bad_partner")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.actions: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "a" and found.get("href"):
            self.hrefs.append(str(found["href"]))
        if tag == "form" and found.get("action"):
            self.actions.append(str(found["action"]))


def _links(page: str) -> _Links:
    parser = _Links()
    parser.feed(page)
    return parser


def as_a_browser_resolves(base: str, href: str) -> str:
    """The path and query a browser requests for `href` on `base` (WHATWG URL: dot segments,
    also spelled `%2e`, are removed)."""
    parts = urlsplit(urljoin(base, href))
    kept: list[str] = []
    segments = parts.path.split("/")[1:]
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment.lower() in {"..", ".%2e", "%2e.", "%2e%2e"}:
            if kept:
                kept.pop()
            if last:
                kept.append("")
        elif segment.lower() in {".", "%2e"}:
            if last:
                kept.append("")
        else:
            kept.append(segment)
    path = "/" + "/".join(kept)
    return path + (f"?{parts.query}" if parts.query else "")


def _heading(page: str) -> str:
    start = page.index("<h1>") + len("<h1>")
    return html.unescape(page[start : page.index("</h1>", start)])


async def test_every_panel_link_resolves_to_its_event(running_hub: RunningHub) -> None:
    await _store(running_hub, HOSTILE_IDS)
    panel = running_hub.admin  # the panel takes the bearer header as scripts send it
    for event_id in HOSTILE_IDS:
        explorer_url = f"{running_hub.base_url}/status/events"
        explorer = await panel.get(explorer_url, params={"partner": "stripe", "event_id": event_id})
        assert explorer.status_code == 200, explorer.text
        event_links = [h for h in _links(explorer.text).hrefs if h.startswith("/status/events/")]
        assert event_links, (event_id, explorer.text)
        for href in event_links:
            target = as_a_browser_resolves(str(explorer.url), href)
            assert target == href, f"a browser would leave {href!r} for {target!r}"
            page = await panel.get(target)
            assert page.status_code == 200, (event_id, href, page.text)
            assert _heading(page.text) == f"stripe · {event_id}", href

            actions = [
                a for a in _links(page.text).actions if a.endswith("/replay") or "/replay?" in a
            ]
            assert len(actions) == 1, page.text
            action = as_a_browser_resolves(str(page.url), actions[0])
            assert action == actions[0], f"a browser would post {actions[0]!r} to {action!r}"
            csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            replayed = await panel.post(action, data={"csrf": csrf})
            assert replayed.status_code == 303, (event_id, replayed.text)
            location = replayed.headers["location"]
            assert as_a_browser_resolves(str(page.url), location) == location
            landed = await panel.get(location)
            assert _heading(landed.text) == f"stripe · {event_id}"
            assert 'id="replayed"' in landed.text


async def test_panel_event_page_for_an_unknown_id_is_404(running_hub: RunningHub) -> None:
    await _store(running_hub, [])
    for path in (panel_event_path("stripe", "x/nothing"), panel_event_path("stripe", "..")):
        missing = await running_hub.admin.get(path)
        assert missing.status_code == 404 and "not_found" in missing.text, path


async def test_hub_events_show_encodes_the_id(running_hub: RunningHub, tmp_path: Path) -> None:
    await _store(running_hub, HOSTILE_IDS)
    env = {**os.environ, "HUB_URL": running_hub.base_url, "HUB_ADMIN_TOKEN": ADMIN_TOKEN}
    for event_id in ("evt/with/slashes", "evt%2Fencoded", "evt?query=1&x=2", "evt#fragment",
                     "..", "x/raw", "évènement-✓-日本", "evt with spaces"):  # fmt: skip
        # The installed `hub`, as an operator runs it (its own process, its own stdout).
        process = await asyncio.create_subprocess_exec(
            HUB, "events", "show", "stripe", event_id, cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await process.communicate()
        assert process.returncode == 0, (event_id, err.decode())
        assert orjson.loads(out)["partner_event_id"] == event_id


@pytest.mark.parametrize("event_id", ["..", "."])
async def test_dot_ids_reach_the_api_as_percent_encoded_dots(
    running_hub: RunningHub, event_id: str
) -> None:
    await _store(running_hub, [event_id])
    shown = await running_hub.admin.get(f"/api/events/stripe/{event_id.replace('.', '%2e')}")
    assert shown.status_code == 200 and shown.json()["partner_event_id"] == event_id


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/run installs it)")
async def test_a_real_browser_follows_each_link_to_its_event(running_hub: RunningHub) -> None:
    """Chromium resolves the hrefs itself (dot segments, `%2e`, `#`, `?`): the explorer's link
    and the replay button of each event must land on that event."""
    from playwright.async_api import async_playwright, expect

    event_ids = ["..", ".", "evt/with/slashes", "evt%2Fencoded", "evt?query=1&x=2",
                 "evt#fragment", "../../healthz", "%2e%2e", "évènement-✓-日本"]  # fmt: skip
    await _store(running_hub, event_ids)
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        context = await chromium.new_context(
            extra_http_headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        page = await context.new_page()
        try:
            for event_id in event_ids:
                query = urlencode({"partner": "stripe", "event_id": event_id})
                await page.goto(f"{running_hub.base_url}/status/events?{query}")
                await page.locator("#events a").click()
                await expect(page.locator("h1")).to_have_text(f"stripe · {event_id}")
                await page.click("#replay")
                await expect(page.locator("#replayed")).to_contain_text("1 requeued")
                await expect(page.locator("h1")).to_have_text(f"stripe · {event_id}")
        finally:
            await chromium.close()
