"""Reading Front's events: whatever a verified payload holds in place of what Front documents
(another type, a huge or missing value), a mapped event becomes schema-valid support.* events
or none, never an exception (the normalizer would dead-letter it) nor an unbounded value."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from integration_hub import events
from integration_hub.connectors.base import PartnerEvent
from integration_hub.connectors.front.payloads import plain_text
from integration_hub.connectors.front.samples import sample_payload
from integration_hub.connectors.front.webhook import EVENT_MAP, FrontConnector
from tests.properties.strategies import bounded

CONNECTOR = FrontConnector()
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False)
    | st.text(max_size=300),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


@bounded
@given(st.sampled_from(sorted(EVENT_MAP)), st.data(), json_values)
def test_any_value_anywhere_gives_valid_events_or_none(
    event_type: str, data: st.DataObject, value: Any
) -> None:
    document = orjson.loads(sample_payload(event_type, first_message=True))
    path = data.draw(st.sampled_from(_paths(document["payload"])))
    node = document["payload"]
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    event = PartnerEvent("evt_fuzz", event_type, orjson.dumps(document))

    for index, draft in enumerate(CONNECTOR.normalize(event)):
        built = events.build_event(partner="front", partner_event_id="evt_fuzz", index=index,
                                   draft=draft)  # fmt: skip
        events.validate_event(built)


def test_html_becomes_the_text_a_person_reads() -> None:
    html = ("<div>Hola&nbsp;María,<br>el código es <b>4821</b>.</div>"
            "<style>p{color:red}</style><p>Saludos &amp; gracias</p>")  # fmt: skip
    assert plain_text({"body": html}) == "Hola María,\nel código es 4821.\nSaludos & gracias"


def test_fronts_text_version_wins_over_the_html() -> None:
    assert plain_text({"text": "  Hola\n", "body": "<p>otro</p>"}) == "Hola"
    assert plain_text({"body": None}) == ""
