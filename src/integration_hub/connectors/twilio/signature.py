"""Twilio's request signature, as `twilio.request_validator` computes it (twilio 9.13).

`X-Twilio-Signature` is base64(HMAC(key, url + name1 + value1 + name2 + value2 ...)) with the
POST parameters sorted by name (values sorted and de-duplicated), keyed by the Auth Token, with
SHA-1 unless `X-Twilio-Webhooks-Signature-Settings` says `algorithm=HMAC_SHA256`. A JSON body is
not in the signature: the URL carries `bodySHA256=<hex sha256(body)>`, and the URL is signed.
Twilio signs the URL with or without the default port depending on the product, so both count.
There is no timestamp: only the dedup key stops a replay.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from urllib.parse import parse_qs, urlsplit, urlunsplit

from integration_hub.connectors.signing import any_signature_matches
from integration_hub.errors import SignatureError

SIGNATURE_HEADER = "x-twilio-signature"
SETTINGS_HEADER = "x-twilio-webhooks-signature-settings"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
HMAC_SHA1, HMAC_SHA256 = "HMAC_SHA1", "HMAC_SHA256"
_HASHES = {HMAC_SHA1: "sha1", HMAC_SHA256: "sha256"}

Params = Mapping[str, Sequence[str]]


def algorithm_of(settings_header: str | None) -> str:
    """The SDK's `get_signature_algorithm`: no header (or no `algorithm=`) means HMAC_SHA1."""
    for part in (settings_header or "").split(","):
        name, separator, value = part.partition("=")
        if separator and name.strip() == "algorithm" and value.strip():
            return value.strip().upper()
    return HMAC_SHA1


def compute_signature(key: str, url: str, params: Params, algorithm: str = HMAC_SHA1) -> str:
    signed = url + "".join(
        name + value for name in sorted(params) for value in sorted(set(params[name]))
    )
    digest = hmac.new(key.encode(), signed.encode(), _HASHES[algorithm]).digest()
    return base64.b64encode(digest).decode()


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


def form_params(body: bytes) -> dict[str, list[str]]:
    """POST parameters as Twilio sent them, blank values included (they are signed too)."""
    return parse_qs(body.decode("utf-8"), keep_blank_values=True, errors="strict")


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
    body_hash = parse_qs(urlsplit(url).query).get("bodySHA256")
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
    expected = [
        compute_signature(key, variant, params, algorithm) for key in keys for variant in variants
    ]
    if not any_signature_matches(expected, [presented]):
        raise SignatureError(
            "X-Twilio-Signature does not match this URL and body for a current Auth Token"
        )
