"""Twilio's request signatures (HMAC-SHA1, HMAC-SHA256, bodySHA256): properties, cross-checked
with the official `twilio.request_validator`."""

from __future__ import annotations

import hashlib
from urllib.parse import urlencode

from hypothesis import example, given
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from integration_hub.connectors.twilio.signature import (
    FORM_CONTENT_TYPE,
    HMAC_SHA1,
    HMAC_SHA256,
    MAX_FORM_PARAMETERS,
    MAX_PARAMETER_NAME_LENGTH,
    SETTINGS_HEADER,
    SIGNATURE_HEADER,
    OversizedForm,
    compute_signature,
    form_params,
    verify_twilio,
)
from integration_hub.connectors.twilio.webhook import TwilioWebhookConnector
from integration_hub.errors import SignatureError
from tests.properties.strategies import (
    bounded,
    byte_changes,
    char_changes,
    header_values,
    nonempty_text,
    text,
)

tokens = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40)
params_strategy = st.dictionaries(nonempty_text, st.lists(text, min_size=1, max_size=3), max_size=8)
path_chars = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_/", min_size=1, max_size=30)


@st.composite
def urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["https", "http"]))
    host = draw(st.sampled_from(["hooks.example.com", "127.0.0.1", "hub.example.org"]))
    port = draw(st.sampled_from(["", ":443", ":80", ":8443"]))
    return f"{scheme}://{host}{port}/{draw(path_chars)}"


class MultiDict(dict[str, list[str]]):
    """What the SDK takes for repeated parameters (it calls `getall`, like Flask's)."""

    def getall(self, name: str) -> list[str]:
        return self[name]


def _settings(algorithm: str) -> dict[str, str]:
    if algorithm == HMAC_SHA1:
        return {}
    return {SETTINGS_HEADER: f"key=webhooks_sharedkey_0,algorithm={algorithm}"}


def _ours_accepts(url: str, headers: dict[str, str], body: bytes, keys: list[str]) -> bool:
    try:
        verify_twilio(url, headers, body, keys)
    except (SignatureError, OversizedForm):  # refusals with a reason code; anything else is a bug
        return False
    return True


def _form(signature: str, algorithm: str = HMAC_SHA1) -> dict[str, str]:
    return {
        SIGNATURE_HEADER: signature,
        "content-type": FORM_CONTENT_TYPE,
        **_settings(algorithm),
    }


@bounded
@given(
    token=tokens,
    url=urls(),
    params=params_strategy,
    algorithm=st.sampled_from([HMAC_SHA1, HMAC_SHA256]),
)
def test_form_signatures_round_trip_and_match_the_sdk(
    token: str, url: str, params: dict[str, list[str]], algorithm: str
) -> None:
    body = urlencode(params, doseq=True).encode()
    validator = RequestValidator(token)
    theirs = validator.compute_signature(url, MultiDict(params), algorithm)

    assert form_params(body) == params
    assert compute_signature(token, url, params, algorithm) == theirs
    assert _ours_accepts(url, _form(theirs, algorithm), body, [token])
    assert validator.validate(url, MultiDict(params), theirs, algorithm)


@bounded
@given(token=tokens, other=tokens, url=urls(), params=params_strategy, data=st.data())
def test_the_connector_signs_what_it_verifies_with_any_current_token(
    token: str, other: str, url: str, params: dict[str, list[str]], data: st.DataObject
) -> None:
    body = urlencode(params, doseq=True).encode()
    headers = TwilioWebhookConnector().sign(body, token, timestamp=0, url=url)
    lowered = {k.lower(): v for k, v in headers.items()}

    assert _ours_accepts(url, lowered, body, data.draw(st.permutations([token, other])))


@bounded
@given(token=tokens, url=urls(), params=params_strategy, data=st.data())
def test_a_body_change_that_changes_the_parameters_is_rejected(
    token: str, url: str, params: dict[str, list[str]], data: st.DataObject
) -> None:
    """Twilio signs the parameters, not the bytes: `+` and `%20` are the same space. Any byte
    change that changes what the parameters say must fail."""
    body = urlencode({**params, "MessageSid": "SM0"}, doseq=True).encode()
    algorithm = data.draw(st.sampled_from([HMAC_SHA1, HMAC_SHA256]))
    headers = _form(compute_signature(token, url, form_params(body), algorithm), algorithm)
    changed = data.draw(byte_changes(body))
    try:
        same = form_params(changed) == form_params(body)
    except (UnicodeDecodeError, ValueError):
        same = False

    assert _ours_accepts(url, headers, changed, [token]) == same


@bounded
@given(token=tokens, url=urls(), params=params_strategy, data=st.data())
def test_any_change_to_the_url_or_the_signature_is_rejected(
    token: str, url: str, params: dict[str, list[str]], data: st.DataObject
) -> None:
    body = urlencode(params, doseq=True).encode()
    signature = compute_signature(token, url, params)
    path_start = url.index("/", len("https://"))
    moved = url[: path_start + 1] + data.draw(char_changes(url[path_start + 1 :]))
    forged = data.draw(char_changes(signature))

    assert not _ours_accepts(moved, _form(signature), body, [token])
    assert not _ours_accepts(url, _form(forged), body, [token])
    assert not RequestValidator(token).validate(moved, MultiDict(params), signature)
    assert not RequestValidator(token).validate(url, MultiDict(params), forged)


@bounded
@given(token=tokens, url=urls(), body=text, algorithm=st.sampled_from([HMAC_SHA1, HMAC_SHA256]))
def test_body_sha256_round_trips_and_matches_the_sdk(
    token: str, url: str, body: str, algorithm: str
) -> None:
    signed_url = f"{url}?bodySHA256={hashlib.sha256(body.encode()).hexdigest()}"
    validator = RequestValidator(token)
    signature = validator.compute_signature(signed_url, {}, algorithm)
    headers = {
        SIGNATURE_HEADER: signature,
        "content-type": "application/json",
        **_settings(algorithm),
    }

    assert _ours_accepts(signed_url, headers, body.encode(), [token])
    assert validator.validate(signed_url, body, signature, algorithm)


@bounded
@given(token=tokens, url=urls(), body=st.binary(min_size=1, max_size=2048), data=st.data())
def test_any_single_byte_change_to_a_body_sha256_body_is_rejected(
    token: str, url: str, body: bytes, data: st.DataObject
) -> None:
    signed_url = f"{url}?bodySHA256={hashlib.sha256(body).hexdigest()}"
    headers = {SIGNATURE_HEADER: compute_signature(token, signed_url, {})}

    assert _ours_accepts(signed_url, headers, body, [token])
    assert not _ours_accepts(signed_url, headers, data.draw(byte_changes(body)), [token])


@bounded
@given(token=tokens, other=tokens, url=urls(), params=params_strategy)
def test_a_different_token_is_rejected(
    token: str, other: str, url: str, params: dict[str, list[str]]
) -> None:
    body = urlencode(params, doseq=True).encode()
    headers = _form(compute_signature(other, url, params))

    assert _ours_accepts(url, headers, body, [token]) == (token == other)


@bounded
@given(
    host=header_values,
    query=header_values,
    signature=header_values,
    settings_value=header_values,
    body=st.binary(max_size=200),
)
# The URL comes from the Host header when HUB_PUBLIC_BASE_URL is unset; each of these was a 500.
@example(host="hub:abc", query="", signature="x", settings_value="", body=b"a=b")
@example(host="hub:99999", query="", signature="x", settings_value="", body=b"a=b")
@example(host="[hub", query="", signature="x", settings_value="", body=b"a=b")
@example(host="hub", query="bodySHA256=%C3%A9", signature="x", settings_value="", body=b"{}")
@example(host="hub", query="bodySHA256=\xe9", signature="x", settings_value="", body=b"{}")
@example(host="hub", query="", signature="x", settings_value="", body=b"&" * 200)
def test_arbitrary_requests_are_refused_as_signature_errors(
    host: str, query: str, signature: str, settings_value: str, body: bytes
) -> None:
    """Any host, query, header values and body: a refusal with a reason code (SignatureError,
    or OversizedForm past the parameter caps), never another exception."""
    url = f"https://{host}/webhooks/twilio" + (f"?{query}" if query else "")
    headers = {
        SIGNATURE_HEADER: signature,
        SETTINGS_HEADER: settings_value,
        "content-type": FORM_CONTENT_TYPE,
    }
    assert not _ours_accepts(url, headers, body, ["token"])
    assert not _ours_accepts(url, {**headers, "content-type": "text/plain"}, body, ["token"])


@bounded
@given(
    token=tokens,
    url=urls(),
    count=st.integers(1, MAX_FORM_PARAMETERS),
    name_length=st.integers(1, MAX_PARAMETER_NAME_LENGTH),
    algorithm=st.sampled_from([HMAC_SHA1, HMAC_SHA256]),
)
def test_forms_up_to_the_caps_verify_and_match_the_sdk(
    token: str, url: str, count: int, name_length: int, algorithm: str
) -> None:
    """The caps never refuse what Twilio sends: up to 200 parameters (an MMS with 10 media is
    about 45) and names up to 128 characters verify as the SDK computes them."""
    params = {("N" * name_length if n == 0 else f"P{n}"): [str(n)] for n in range(count)}
    body = urlencode(params, doseq=True).encode()
    theirs = RequestValidator(token).compute_signature(url, MultiDict(params), algorithm)

    assert _ours_accepts(url, _form(theirs, algorithm), body, [token])


@bounded
@given(
    token=tokens,
    url=urls(),
    extra=st.integers(1, 50_000),
    item=st.sampled_from(["", "a=", "a=1", "MediaUrl0=x"]),
)
def test_forms_past_the_parameter_cap_are_refused_before_parsing_even_if_signed(
    token: str, url: str, extra: int, item: str
) -> None:
    body = "&".join([item] * (MAX_FORM_PARAMETERS + extra)).encode()
    signature = compute_signature(token, url, {})  # whatever it is, it is never looked at

    try:
        verify_twilio(url, _form(signature), body, [token])
    except OversizedForm as refused:
        assert refused.reason == "too_many_parameters"
        assert refused.status == 413
    else:
        raise AssertionError("a form past the cap was verified")


@bounded
@given(token=tokens, url=urls(), name_length=st.integers(MAX_PARAMETER_NAME_LENGTH + 1, 100_000))
def test_a_parameter_name_past_the_cap_is_refused(token: str, url: str, name_length: int) -> None:
    body = b"MessageSid=SM1&" + b"N" * name_length + b"=1"
    try:
        verify_twilio(url, _form("x"), body, [token])
    except OversizedForm as refused:
        assert refused.reason == "parameter_name_too_long"
    else:
        raise AssertionError("a name past the cap was verified")
