"""Inflated values in signed deliveries: every connector, every event type, any field made huge
(a string, a number, a count, a list) either normalizes within the columns' bounds or is
refused at the edge (4xx) or dead-lettered; never a 5xx, an exception past the normalizer, a
wedged normalizer or a value longer than its column. `make fuzz` runs more examples."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode

import httpx
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from integration_hub.connectors.base import Delivery
from integration_hub.connectors.partners import build_connectors
from integration_hub.errors import MAX_ERROR_CHARS, MalformedPayload
from integration_hub.events import CloudEvent, column_limit
from integration_hub.orchestration.handlers import handler_names_for
from integration_hub.pipeline.normalizer import normalize_row
from integration_hub.settings import Settings
from integration_hub.storage.tables import internal_events, raw_events
from integration_hub.testing import delivered_types, sign_as, webhook_endpoint, webhook_path
from tests.fuzz.conftest import FuzzedHub
from tests.helpers import STRIPE_SECRET, webhook_secret
from tests.properties.strategies import LONG_RUN, budget

# Partners that receive webhooks (one that only polls has nothing to post).
CONNECTORS = {
    name: c
    for name, c in build_connectors(Settings.model_construct()).items()
    if delivered_types(c)
}
SECRETS = {name: webhook_secret(name) for name in CONNECTORS}
# Every (partner, event type) a connector maps: a new connector or type is covered unasked.
SAMPLES = sorted(
    (name, event_type) for name, c in CONNECTORS.items() for event_type in delivered_types(c)
)
FORM = "application/x-www-form-urlencoded"
FORM_COUNTS = ("NumMedia", "MediaUrl0")
MAX_CHARS = 20_000  # under the fuzzed hub's 64 KiB body limit, even percent-encoded

_LONG_RUN = re.compile(r"(.)\1{99}")  # 100 of one character: an inflated value echoed
Path = tuple[str | int, ...]
Mutation = Callable[[Any], Any]

huge_strings = st.builds(
    lambda char, n: char * n,
    st.sampled_from(["x", "é", "9", "\u4e2d"]),
    st.integers(256, MAX_CHARS),
)
huge_numbers = st.sampled_from([2**31, 2**53 + 1, 2**63, 2**64 + 1, 10**30, -(10**30), 1e308])
huge_counts = st.sampled_from(["11", "99999999", "4294967296", "9" * 5000])
mutations: st.SearchStrategy[Mutation] = st.one_of(
    huge_strings.map(lambda value: lambda _old: value),
    huge_numbers.map(lambda value: lambda _old: value),
    huge_counts.map(lambda value: lambda _old: value),
    st.integers(11, 2000).map(lambda n: lambda old: [old] * n),  # a list far past its bound
)
fuzz = settings(
    max_examples=budget(300),
    deadline=None,
    derandomize=LONG_RUN is None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
over_http = settings(fuzz, max_examples=budget(40))


def _leaves(node: Any, path: Path = ()) -> Iterator[Path]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _leaves(value, (*path, index))
    if path:
        yield path  # containers too: a whole object or list can be replaced


def _replace(node: Any, path: Path, mutate: Mutation) -> Any:
    if not path:
        return mutate(node)
    head, rest = path[0], path[1:]
    copy: Any = list(node) if isinstance(node, list) else dict(node)
    copy[head] = _replace(node[head], rest, mutate)
    return copy


def _inflated(data: st.DataObject, partner: str, event_type: str) -> tuple[bytes, str]:
    """A sample of `event_type` with one field inflated; (body, content type)."""
    sample = CONNECTORS[partner].sample(event_type)
    try:
        document = orjson.loads(sample)
    except orjson.JSONDecodeError:  # a form-encoded partner
        params = dict(parse_qsl(sample.decode(), keep_blank_values=True))
        # Plus counts a form partner may loop on though its samples omit them (media).
        name = data.draw(st.sampled_from([*sorted(params), *FORM_COUNTS]), "param")
        value = data.draw(st.one_of(huge_strings, huge_counts), "value")
        return urlencode({**params, name: value}).encode(), FORM
    path = data.draw(st.sampled_from(sorted(_leaves(document), key=repr)), "path")
    mutate = data.draw(mutations, "mutation")
    # The standard library writes integers past 64 bits, as a partner's JSON may hold them.
    body = json.dumps(_replace(document, path, mutate), ensure_ascii=False).encode()
    return body, "application/json"


def _assert_fits_its_columns(event: CloudEvent) -> None:
    for attribute in ("id", "type", "subject"):
        assert len(event.get(attribute) or "") <= column_limit(attribute), attribute
    orjson.dumps(event)  # strict UTF-8 JSON, storable as the envelope


@fuzz
@given(sample=st.sampled_from(SAMPLES), data=st.data())
def test_inflated_fields_normalize_within_bounds_or_are_refused(
    sample: tuple[str, str], data: st.DataObject
) -> None:
    partner, event_type = sample
    body, content_type = _inflated(data, partner, event_type)
    # A per-endpoint partner's delivery arrives on its connection's path (Delivery.endpoint).
    endpoint = webhook_endpoint(partner)
    delivery = Delivery(
        body, {"content-type": content_type}, "https://hub/x", time.time(), endpoint
    )
    try:
        partner_events = CONNECTORS[partner].split(delivery)  # after a valid signature
    except MalformedPayload as refused:
        assert refused.reason  # a 4xx with a reason code
        return
    for index, partner_event in enumerate(partner_events):
        row = SimpleNamespace(
            id=index,
            partner=partner,
            partner_event_id=partner_event.partner_event_id,
            event_type=partner_event.event_type,
            body=partner_event.body,
        )
        outcome = normalize_row(cast(Any, row), CONNECTORS, handler_names_for)  # never raises
        if outcome.error is not None:
            assert outcome.events == []  # dead-lettered whole, with its reason
            # ... a reason that does not grow with, nor echo, the inflated value.
            assert len(outcome.error) <= MAX_ERROR_CHARS
            assert _LONG_RUN.search(outcome.error) is None, outcome.error
            continue
        for event in outcome.events:
            _assert_fits_its_columns(event)


def test_every_mapped_type_is_covered() -> None:
    assert {partner for partner, _ in SAMPLES} == set(CONNECTORS)
    assert len(SAMPLES) >= 20


def _received(hub: FuzzedHub) -> int:
    with hub.hub.engine.connect() as connection:
        count: int = connection.execute(
            select(func.count()).select_from(raw_events).where(raw_events.c.status == "received")
        ).scalar_one()
    return count


def test_inflated_signed_deliveries_never_5xx_nor_wedge_normalization(
    fuzzed_hub: FuzzedHub,
) -> None:
    """Over HTTP against a running hub (two normalizer workers on PostgreSQL): after every
    example has been answered, nothing stays `received` and no stored value outgrew its column;
    a normal delivery sent last is normalized too."""
    with httpx.Client(base_url=fuzzed_hub.base_url, timeout=30) as client:

        @over_http
        @given(sample=st.sampled_from(SAMPLES), data=st.data())
        def run(sample: tuple[str, str], data: st.DataObject) -> None:
            partner, event_type = sample
            body, _ = _inflated(data, partner, event_type)
            url = f"{fuzzed_hub.base_url}{webhook_path(partner)}"
            headers = sign_as(partner, body, secret=SECRETS[partner], url=url)
            response = client.post(webhook_path(partner), content=body, headers=headers)
            assert response.status_code < 500, response.text
            if response.status_code >= 400:
                assert response.json()["error"], response.text

        run()
        normal = CONNECTORS["stripe"].sample("payment_intent.succeeded")
        url = f"{fuzzed_hub.base_url}/webhooks/stripe"
        headers = sign_as("stripe", normal, secret=STRIPE_SECRET, url=url)
        assert client.post("/webhooks/stripe", content=normal, headers=headers).status_code == 200

    deadline = time.monotonic() + 60
    while _received(fuzzed_hub) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _received(fuzzed_hub) == 0
    with fuzzed_hub.hub.engine.connect() as connection:
        longest = connection.execute(
            select(
                func.max(func.length(internal_events.c.subject)),
                func.max(func.length(internal_events.c.type)),
            )
        ).one()
        normal_status = connection.execute(
            select(raw_events.c.status).where(
                raw_events.c.partner_event_id == orjson.loads(normal)["id"]
            )
        ).scalar_one()
    assert (longest[0] or 0) <= column_limit("subject")
    assert (longest[1] or 0) <= column_limit("type")
    assert normal_status in {"processing", "processed"}
