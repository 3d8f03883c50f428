"""Twilio's request signature, as `twilio.request_validator` computes it (twilio 9.13).

`X-Twilio-Signature` is base64(HMAC(key, url + name1 + value1 + name2 + value2 ...)) with the
POST parameters sorted by name (values sorted and de-duplicated), keyed by the Auth Token, with
SHA-1 unless `X-Twilio-Webhooks-Signature-Settings` says `algorithm=HMAC_SHA256`. A JSON body is
not in the signature: the URL carries `bodySHA256=<hex sha256(body)>`, and the URL is signed.
Twilio signs the URL with or without the default port depending on the product, so both count.
There is no timestamp: only the dedup key stops a replay.

The form is parsed before the signature can be checked (the parameters are what is signed), so
anyone can make the hub parse one: the parameter count and name length are capped before
parsing, and the form is parsed and sorted once per request, whatever the number of Auth Token
versions and URL variants.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from urllib.parse import parse_qs, urlsplit, urlunsplit

from integration_hub.connectors.schemes.common import HashName, any_signature_matches, hmac_digest
from integration_hub.errors import RejectedDelivery, SignatureError

SIGNATURE_HEADER = "x-twilio-signature"
SETTINGS_HEADER = "x-twilio-webhooks-signature-settings"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
HMAC_SHA1, HMAC_SHA256 = "HMAC_SHA1", "HMAC_SHA256"
_HASHES: dict[str, HashName] = {HMAC_SHA1: "sha1", HMAC_SHA256: "sha256"}

Params = Mapping[str, Sequence[str]]

# Twilio's own requests carry a few dozen parameters: an inbound SMS about 20, WhatsApp about
# 25, an MMS with Twilio's maximum of 10 media about 45 (MediaUrlN and MediaContentTypeN each).
# 200 leaves room for what Twilio adds later and still bounds what an unsigned form can cost
# (82,000 parameters took ~140 ms of event loop before this cap).
MAX_FORM_PARAMETERS = 200
# Twilio's longest parameter names are about 30 characters (e.g. `ApiVersion`, `MessagingServiceSid`).
MAX_PARAMETER_NAME_LENGTH = 128


class OversizedForm(RejectedDelivery):
    """More form (or query) parameters, or a longer name, than Twilio ever sends."""

    status = 413
    reason = "too_many_parameters"


def algorithm_of(settings_header: str | None) -> str:
    """The SDK's `get_signature_algorithm`: no header (or no `algorithm=`) means HMAC_SHA1."""
    for part in (settings_header or "").split(","):
        name, separator, value = part.partition("=")
        if separator and name.strip() == "algorithm" and value.strip():
            return value.strip().upper()
    return HMAC_SHA1


def signed_parameters(params: Params) -> str:
    """What the signature covers after the URL: names sorted, each name's values sorted and
    de-duplicated (computed once per request, then reused for every key and URL variant)."""
    return "".join(name + value for name in sorted(params) for value in sorted(set(params[name])))


def _sign(key: str, url: str, signed_params: str, algorithm: str) -> str:
    message = (url + signed_params).encode()
    return hmac_digest(key.encode(), message, algorithm=_HASHES[algorithm], encoding="base64")


def compute_signature(key: str, url: str, params: Params, algorithm: str = HMAC_SHA1) -> str:
    return _sign(key, url, signed_parameters(params), algorithm)


def url_variants(url: str) -> tuple[str, str]:
    """The URL without and with its default port (the SDK's `remove_port` / `add_port`)."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    bare = host.split(":")[0] if parts.port else host
    default = "443" if parts.scheme == "https" else "80"
    with_port = host if parts.port else f"{host}:{default}"
    return (
        urlunsplit(parts._replace(netloc=parts.netloc.replace(host, bare))),
        urlunsplit(parts._replace(netloc=parts.netloc.replace(host, with_port))),
    )


def _bounded_parse(
    text: str, *, what: str, keep_blank_values: bool, errors: str = "strict"
) -> dict[str, list[str]]:
    # Counting separators is cheap; parsing is not. Refuse before parsing.
    count = text.count("&") + 1 if text else 0
    if count > MAX_FORM_PARAMETERS:
        raise OversizedForm(f"the {what} has {count} parameters; at most {MAX_FORM_PARAMETERS}")
    params = parse_qs(text, keep_blank_values=keep_blank_values, errors=errors)
    if any(len(name) > MAX_PARAMETER_NAME_LENGTH for name in params):
        raise OversizedForm(
            f"a {what} parameter name is longer than {MAX_PARAMETER_NAME_LENGTH} characters",
            reason="parameter_name_too_long",
        )
    return params


def form_params(body: bytes) -> dict[str, list[str]]:
    """POST parameters as Twilio sent them, blank values included (they are signed too).
    Raises `OversizedForm` past the caps, before parsing."""
    count = body.count(b"&") + 1 if body else 0
    if count > MAX_FORM_PARAMETERS:  # before decoding too: a megabyte of "&" costs nothing here
        raise OversizedForm(f"the form has {count} parameters; at most {MAX_FORM_PARAMETERS}")
    return _bounded_parse(body.decode("utf-8"), what="form", keep_blank_values=True)


def is_form(headers: Mapping[str, str]) -> bool:
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    return content_type == FORM_CONTENT_TYPE


def verify_twilio(url: str, headers: Mapping[str, str], body: bytes, keys: Sequence[str]) -> None:
    """Raise `SignatureError` unless one of `keys` signed this request to `url`."""
    presented = headers.get(SIGNATURE_HEADER)
    if not presented:
        raise SignatureError("X-Twilio-Signature header is missing", reason="missing_signature")
    algorithm = algorithm_of(headers.get(SETTINGS_HEADER))
    if algorithm not in _HASHES:
        raise SignatureError(
            f"X-Twilio-Webhooks-Signature-Settings names an unsupported algorithm {algorithm!r}",
            reason="unsupported_algorithm",
        )
    try:
        variants = url_variants(url)
    except ValueError:  # from the Host header: "hub:abc", "hub:99999" or "[hub" is no URL
        raise SignatureError("the request URL is not a valid URL", reason="malformed_url") from None
    # Any text: a query value that is not UTF-8 just matches nothing.
    query = _bounded_parse(
        urlsplit(url).query, what="query", keep_blank_values=False, errors="replace"
    )
    body_hash = query.get("bodySHA256")
    params: Params
    if body_hash:
        presented_hash = body_hash[0].lower().encode("utf-8", "surrogateescape")  # any text
        if not hmac.compare_digest(hashlib.sha256(body).hexdigest().encode(), presented_hash):
            raise SignatureError(
                "the body does not match bodySHA256 in the URL", reason="body_hash_mismatch"
            )
        params = {}
    elif is_form(headers):
        try:
            params = form_params(body)
        except (UnicodeDecodeError, ValueError):
            raise SignatureError(
                "the form body is not valid UTF-8", reason="not_form_encoded"
            ) from None
    else:
        raise SignatureError(
            "the body is neither form-encoded nor bound by bodySHA256, so nothing signs it",
            reason="not_form_encoded",
        )
    signed_params = signed_parameters(params)
    expected = [
        _sign(key, variant, signed_params, algorithm) for key in keys for variant in variants
    ]
    if not any_signature_matches(expected, [presented]):
        raise SignatureError(
            "X-Twilio-Signature does not match this URL and body for a current Auth Token"
        )
