"""Random and malformed requests against a real hub over HTTP: no 5xx, no crash, and nothing
stored without a valid signature. `make fuzz` runs many more examples (HUB_FUZZ_EXAMPLES)."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integration_hub.connectors.schemes.common import MAX_PRESENTED_SIGNATURES
from integration_hub.connectors.twilio.signature import (
    MAX_FORM_PARAMETERS,
    MAX_PARAMETER_NAME_LENGTH,
)
from integration_hub.errors import RejectedDelivery
from integration_hub.testing import (
    TEST_CONNECTION,
    connector,
    delivered_types,
    per_endpoint,
    sign_as,
    webhook_path,
)
from tests.connectors.inflate import unstorable_samples
from tests.fuzz.conftest import FuzzedHub
from tests.helpers import AUTH0_TOKEN, webhook_partners, webhook_secret
from tests.properties.strategies import LONG_RUN, budget

# Every partner that receives webhooks, from the registry: a new one is fuzzed unasked.
PARTNERS = webhook_partners()
SECRETS = {partner: webhook_secret(partner) for partner in PARTNERS}
TWILIO_FORM = {
    "X-Twilio-Signature": "bm9wZQ==",
    "Content-Type": "application/x-www-form-urlencoded",
}
fuzz = settings(
    max_examples=budget(60),
    deadline=None,
    derandomize=LONG_RUN is None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


json_values = st.recursive(
    # orjson writes integers of at most 64 bits (huge numbers: tests/fuzz/test_bounds.py).
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)
bodies = st.one_of(
    st.binary(max_size=4096),
    st.sampled_from(
        [
            b"\xff\xfe\xfd",  # not UTF-8
            b'{"id": "evt_\xc3\x28", "type": "x"}',
            b"\x00" * 64,
            b'{"id": "evt_\\u0000", "type": "payment_intent.succeeded", "data": {"object": {}}}',
            _nested(5000),
            b"[" * 50_000,
            b"MessageSid=SM1&Body=%",  # truncated percent escape
            b"MessageSid=SM1&Bo",
            b"MessageSid=%FF%FE&Body=hi",
            b"",
            # Costly before verification: far more parameters or longer names than Twilio sends.
            b"&".join(b"p%d=1" % n for n in range(5000)),  # all within the fuzzed 64 KB
            b"&" * 30_000,
            b"MessageSid=SM1&" + b"N" * 5000 + b"=1",
        ]
    ),
    json_values.map(orjson.dumps),
    st.integers(0, 3000).map(_nested),
)
content_types = st.sampled_from(
    [
        None,
        "application/json",
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=latin-1",
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/json; charset=utf-16",
        "\xe9\xff",
    ]
)
# Header values the edge decodes as latin-1; names that the connectors read.
# Leading or trailing whitespace is not a value HTTP can carry (httpx refuses to send it).
header_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=200
).map(lambda value: value.strip(" "))
# Signature lists far longer than any partner sends (one value per active secret).
signature_lists = st.sampled_from(
    [
        "t=1," + ",".join(["v1=00"] * 2000),
        " ".join(["v1,AAAA"] * 2000),
        "v1," + "A" * 10_000,
    ]
)
signature_headers = st.dictionaries(
    st.sampled_from(
        [
            "stripe-signature",
            "svix-id",
            "svix-timestamp",
            "svix-signature",
            "webhook-signature",
            "authorization",
            "x-twilio-signature",
            "x-twilio-webhooks-signature-settings",
            "host",
            "x-forwarded-host",
        ]
    ),
    header_text | signature_lists,
    max_size=6,
)


def _assert_refused(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    assert response.status_code != 200, response.text
    body = response.json()
    assert set(body) == {"error", "detail"}, body


def test_unsigned_random_requests_are_refused_and_store_nothing(fuzzed_hub: FuzzedHub) -> None:
    before = fuzzed_hub.raw_event_count()
    with httpx.Client(base_url=fuzzed_hub.base_url, timeout=30) as client:

        @fuzz
        @given(
            partner=st.sampled_from([*PARTNERS, "nosuch", "stripe/extra", ""]),
            method=st.sampled_from(["POST", "POST", "POST", "PUT", "GET"]),
            body=bodies,
            content_type=content_types,
            headers=signature_headers,
            query=st.sampled_from(["", "?bodySHA256=00", "?bodySHA256=%C3%A9", "?a=%ff"]),
        )
        def run(
            partner: str,
            method: str,
            body: bytes,
            content_type: str | None,
            headers: dict[str, str],
            query: str,
        ) -> None:
            sent = {**headers, **({"content-type": content_type} if content_type else {})}
            encoded = {k.encode(): v.encode("latin-1") for k, v in sent.items()}
            response = client.request(
                method, f"{webhook_path(partner)}{query}", content=body, headers=encoded
            )
            _assert_refused(response)

        run()
    assert fuzzed_hub.raw_event_count() == before


def test_signed_random_bodies_are_stored_or_refused_never_5xx(fuzzed_hub: FuzzedHub) -> None:
    """A valid signature on a body that is not the partner's payload: 400, never a 5xx, and
    rows only for what was acknowledged."""
    with httpx.Client(base_url=fuzzed_hub.base_url, timeout=30) as client:

        @fuzz
        @given(partner=st.sampled_from(PARTNERS), body=bodies, content_type=content_types)
        def run(partner: str, body: bytes, content_type: str | None) -> None:
            before = fuzzed_hub.raw_event_count()
            url = f"{fuzzed_hub.base_url}{webhook_path(partner)}"
            signed = _signed_headers(partner, body, url)
            if content_type is not None:
                signed["Content-Type"] = content_type
            encoded = {k.encode(): v.encode("latin-1") for k, v in signed.items()}
            response = client.post(webhook_path(partner), content=body, headers=encoded)
            assert response.status_code in (200, 400, 413), response.text
            if response.status_code != 200:
                assert fuzzed_hub.raw_event_count() == before

        run()


def _signed_headers(partner: str, body: bytes, url: str) -> dict[str, str]:
    """The partner's headers for `body`; for a body its scheme cannot sign (a form scheme given
    bytes that are no form), headers that sign nothing."""
    try:
        return sign_as(partner, body, secret=SECRETS[partner], url=url)
    except (UnicodeDecodeError, ValueError, RejectedDelivery):  # e.g. more parameters than a form
        return {"X-Signature": "bm90IGEgc2lnbmF0dXJl", "Content-Type": "text/plain"}


def _raw_request(base_url: str, request: bytes, *, half_close: bool = False) -> bytes:
    """Send bytes as they are, read until the server closes; b"" if it just hung up."""
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=30) as sock:
        chunks = []
        try:
            sock.sendall(request)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:  # it answered (413) and closed before reading it all
            pass
    return b"".join(chunks)


def _status(response: bytes) -> int | None:
    return int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else None


SIGNED_STRIPE_HEAD = b"POST /webhooks/stripe HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n"


def _form_request(body: bytes) -> bytes:
    head = (
        b"POST /webhooks/twilio HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n"
        b"X-Twilio-Signature: bm9wZQ==\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    )
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


MALFORMED = {
    "bad_utf8_header": SIGNED_STRIPE_HEAD
    + b"Stripe-Signature: t=1,v1=\xff\xfe\r\nContent-Length: 2\r\n\r\n{}",
    "latin1_authorization": b"POST /webhooks/auth0 HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n"
    + b"Authorization: Bearer \xe9\xe9\r\nContent-Length: 2\r\n\r\n[]",
    "nul_in_header": SIGNED_STRIPE_HEAD
    + b"Stripe-Signature: t=1\x00,v1=00\r\nContent-Length: 0\r\n\r\n",
    "many_headers": SIGNED_STRIPE_HEAD
    + b"".join(b"X-Junk-%d: %d\r\n" % (i, i) for i in range(2000))
    + b"Content-Length: 2\r\n\r\n{}",
    "huge_header": SIGNED_STRIPE_HEAD
    + b"Stripe-Signature: "
    + b"v1=" * 20000
    + b"\r\nContent-Length: 0\r\n\r\n",
    "content_length_not_a_number": SIGNED_STRIPE_HEAD + b"Content-Length: 12abc\r\n\r\n{}",
    "content_length_over_limit": SIGNED_STRIPE_HEAD + b"Content-Length: 99999999999\r\n\r\n{}",
    "bad_chunk": SIGNED_STRIPE_HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    "chunked_over_limit": SIGNED_STRIPE_HEAD
    + b"Transfer-Encoding: chunked\r\n\r\n"
    + b"".join(b"8000\r\n" + b"a" * 0x8000 + b"\r\n" for _ in range(4))
    + b"0\r\n\r\n",
    "twilio_bad_host_port": b"POST /webhooks/twilio HTTP/1.1\r\nHost: hub:abc\r\nConnection: close\r\n"
    + b"X-Twilio-Signature: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    + b"Content-Length: 15\r\n\r\nMessageSid=SM1&",
    "twilio_ipv6_host": b"POST /webhooks/twilio HTTP/1.1\r\nHost: [hub\r\nConnection: close\r\n"
    + b"X-Twilio-Signature: x\r\nContent-Length: 2\r\n\r\n{}",
    "twilio_non_ascii_body_hash": b"POST /webhooks/twilio?bodySHA256=%C3%A9 HTTP/1.1\r\nHost: hub\r\n"
    + b"Connection: close\r\nX-Twilio-Signature: x\r\nContent-Length: 2\r\n\r\n{}",
    "clerk_infinite_timestamp": b"POST /webhooks/clerk HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n"
    + b"svix-id: msg_1\r\nsvix-timestamp: inf\r\nsvix-signature: v1,AAAA\r\n"
    + b"Content-Length: 2\r\n\r\n{}",
    "twilio_many_parameters": _form_request(b"&".join([b"a="] * 20_000)),
    "twilio_only_separators": _form_request(b"&" * 60_000),
    "twilio_long_parameter_name": _form_request(b"MessageSid=SM1&" + b"x" * 60_000 + b"=1"),
    "stripe_many_signatures": SIGNED_STRIPE_HEAD
    + b"Stripe-Signature: t=1"
    + b",v1=00" * 2000
    + b"\r\nContent-Length: 2\r\n\r\n{}",
    "svix_many_signatures": b"POST /webhooks/clerk HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n"
    + b"svix-id: msg_1\r\nsvix-timestamp: 1\r\nsvix-signature: "
    + b" ".join([b"v1,AAAA"] * 2000)
    + b"\r\nContent-Length: 2\r\n\r\n{}",
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_request_is_refused_without_a_5xx(fuzzed_hub: FuzzedHub, name: str) -> None:
    before = fuzzed_hub.raw_event_count()

    response = _raw_request(fuzzed_hub.base_url, MALFORMED[name])

    status = _status(response)
    assert status is None or 400 <= status < 500, response[:300]
    assert fuzzed_hub.raw_event_count() == before
    assert httpx.get(f"{fuzzed_hub.base_url}/healthz").status_code == 200


@pytest.mark.parametrize("partner", PARTNERS)
def test_truncated_body_stores_nothing(fuzzed_hub: FuzzedHub, partner: str) -> None:
    """The client promises more body than it sends, then hangs up: nothing stored, no 5xx."""
    body = connector(partner).sample(delivered_types(connector(partner))[0])
    url = f"{fuzzed_hub.base_url}{webhook_path(partner)}"
    signed = _signed_headers(partner, body, url)
    head = "".join(f"{k}: {v}\r\n" for k, v in signed.items()).encode()
    request = (
        f"POST {webhook_path(partner)} HTTP/1.1\r\nHost: {urlsplit(url).netloc}\r\n".encode()
        + head
        + b"Content-Length: %d\r\n\r\n" % (len(body) + 100)
        + body[: len(body) // 2]
    )
    before = fuzzed_hub.raw_event_count()

    response = _raw_request(fuzzed_hub.base_url, request, half_close=True)

    assert _status(response) in (None, 400)
    assert fuzzed_hub.raw_event_count() == before


UNSTORABLE: dict[str, tuple[str, dict[str, object]]] = {
    "stripe_nul_id": ("stripe", {"id": "evt_\x00", "type": "payment_intent.succeeded"}),
    "stripe_nul_type": ("stripe", {"id": "evt_nul_type", "type": "payment\x00"}),
    "stripe_long_id": ("stripe", {"id": "evt_" + "x" * 300, "type": "payment_intent.succeeded"}),
}


# The same for every partner and mapped type whose keys come from the body, from the registry.
GENERATED_UNSTORABLE = sorted(
    (partner, event_type, label)
    for partner in PARTNERS
    for event_type in delivered_types(connector(partner))
    for label in unstorable_samples(connector(partner), event_type, SECRETS[partner])
)


@pytest.mark.parametrize(
    ("partner", "event_type", "label"),
    GENERATED_UNSTORABLE,
    ids=[f"{p}:{t}:{label}" for p, t, label in GENERATED_UNSTORABLE],
)
def test_every_partners_unstorable_key_is_refused_or_kept_apart(
    fuzzed_hub: FuzzedHub, partner: str, event_type: str, label: str
) -> None:
    """Refused (400 malformed_payload, nothing stored) or, in a batch, stored dead-lettered as
    a malformed entry; never a 5xx, never a row keyed by the unstorable value."""
    body = unstorable_samples(connector(partner), event_type, SECRETS[partner])[label]
    url = f"{fuzzed_hub.base_url}{webhook_path(partner)}"
    before = fuzzed_hub.raw_event_count()

    response = httpx.post(url, content=body, headers=_signed_headers(partner, body, url))

    if response.status_code == 200:
        entries = response.json()["events"]
        # A per-connection id (pms.connection_event_id) stands a key too long to store by its
        # SHA-256, announced in the id: stored as an ordinary event, the same key the same id.
        hashed = f"{TEST_CONNECTION}:sha256-"
        assert entries and all(
            e.get("malformed") or (per_endpoint(partner) and e["id"].startswith(hashed))
            for e in entries
        ), response.text
        assert fuzzed_hub.raw_event_count() == before + len(entries)
    else:
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "malformed_payload"
        assert fuzzed_hub.raw_event_count() == before


@pytest.mark.parametrize("name", sorted(UNSTORABLE))
def test_signed_event_with_an_unstorable_key_is_refused_not_503(
    fuzzed_hub: FuzzedHub, name: str
) -> None:
    """Regression: on PostgreSQL a NUL or an id over 255 characters failed the whole group
    commit (503 for it and every delivery sharing the commit, retried forever); SQLite stored
    it. Now: 400 on both, nothing stored, and the next delivery goes through."""
    partner, event = UNSTORABLE[name]
    body = orjson.dumps(
        {**event, "data": {"object": {"id": "pi_1"}}} if partner == "stripe" else [event]
    )
    before = fuzzed_hub.raw_event_count()

    response = httpx.post(
        f"{fuzzed_hub.base_url}{webhook_path(partner)}",
        content=body,
        headers=sign_as(partner, body, secret=SECRETS[partner]),
    )

    assert response.status_code == 400, response.text
    assert response.json()["error"] == "malformed_payload"
    assert fuzzed_hub.raw_event_count() == before


# Bodies stay within the fuzzed hub's 64 KB, so the cap, not the body limit, is what refuses.
FUZZED_BODY_BYTES = 60_000


@st.composite
def costly_to_verify(draw: st.DrawFn) -> tuple[str, bytes, int]:
    """(shape, repeated item, count): a request whose verification would loop over far more
    items than the partner sends. Built in the test, so a failure's repr stays short."""
    shape = draw(st.sampled_from(["form", "form_name", "stripe", "svix"]))
    if shape == "form":
        item = draw(st.sampled_from([b"", b"a=", b"a=1", b"MediaUrl0=x"]))
        most = FUZZED_BODY_BYTES // (len(item) + 1)
        return shape, item, draw(st.integers(MAX_FORM_PARAMETERS + 1, most))
    if shape == "form_name":
        return shape, b"N", draw(st.integers(MAX_PARAMETER_NAME_LENGTH + 1, FUZZED_BODY_BYTES))
    # Signature lists: bounded by the header limit (16 KB), still hundreds of items.
    return shape, b"", draw(st.integers(MAX_PRESENTED_SIGNATURES + 3, 2000))


def _costly_request(shape: str, item: bytes, count: int) -> tuple[str, bytes, dict[str, str], str]:
    """(partner, body, headers, the reason the request must be refused with)."""
    if shape == "form":
        return "twilio", b"&".join([item] * count), TWILIO_FORM, "too_many_parameters"
    if shape == "form_name":
        body = b"MessageSid=SM1&" + item * count + b"=1"
        return "twilio", body, TWILIO_FORM, "parameter_name_too_long"
    if shape == "stripe":
        return "stripe", b"{}", {"Stripe-Signature": "t=1" + ",v1=0" * count}, "too_many_signatures"
    svix = {"svix-id": "msg_1", "svix-timestamp": str(int(time.time()))}
    svix["svix-signature"] = " ".join(["v1,AA"] * count)
    return "clerk", b"{}", svix, "too_many_signatures"


def test_requests_too_costly_to_verify_are_refused_by_their_shape(fuzzed_hub: FuzzedHub) -> None:
    """Issue 10 item 5, as a class: whatever the partner, a request whose verification would
    loop over thousands of items is refused for that, with its reason, and nothing is stored."""
    before = fuzzed_hub.raw_event_count()
    with httpx.Client(base_url=fuzzed_hub.base_url, timeout=30) as client:

        @fuzz
        @given(request=costly_to_verify())
        def run(request: tuple[str, bytes, int]) -> None:
            partner, body, headers, reason = _costly_request(*request)
            response = client.post(webhook_path(partner), content=body, headers=headers)
            assert response.status_code in (400, 413), response.text
            assert response.json()["error"] == reason

        run()
    assert fuzzed_hub.raw_event_count() == before


def test_signed_auth0_batch_with_an_unstorable_entry_keeps_the_rest(
    fuzzed_hub: FuzzedHub,
) -> None:
    """An entry whose log_id the database cannot hold (NUL, over 255 characters) used to
    refuse the whole batch; now it is dead-lettered alone and the valid entry is kept."""
    valid = orjson.loads(connector("auth0").sample("s"))[0]
    unstorable = [
        {"log_id": "900\x00", "data": {"type": "s"}},
        {"log_id": "900" + "x" * 300, "data": {"type": "s"}},
    ]
    body = orjson.dumps([*unstorable, valid])
    before = fuzzed_hub.raw_event_count()

    response = httpx.post(
        f"{fuzzed_hub.base_url}/webhooks/auth0",
        content=body,
        headers=sign_as("auth0", body, secret=AUTH0_TOKEN),
    )

    assert response.status_code == 200, response.text
    events = response.json()["events"]
    assert [e.get("malformed", False) for e in events] == [True, True, False]
    assert events[2]["id"] == valid["log_id"]
    assert fuzzed_hub.raw_event_count() == before + 3
