"""One error hierarchy: each error carries a stable reason code and says if a retry can help."""

from __future__ import annotations


class HubError(Exception):
    """Base of every error the hub raises on purpose."""

    reason: str = "hub_error"
    retryable: bool = False

    def __init__(self, detail: str, *, reason: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if reason is not None:
            self.reason = reason


class RejectedDelivery(HubError):
    """A delivery refused at the edge; `status` is the HTTP status to answer with."""

    status: int = 400


class SignatureError(RejectedDelivery):
    """The signature is missing, malformed, wrong or stale (reason says which)."""

    status = 400
    reason = "signature_mismatch"


class MalformedPayload(RejectedDelivery):
    """The signature was valid but the body is not the partner's payload."""

    reason = "malformed_payload"


class SecretNotConfigured(HubError):
    """A connector needs a secret that is not set; names the variable, never a value."""

    reason = "secret_not_configured"


class UnknownPartner(HubError):
    reason = "unknown_partner"


class NormalizationError(HubError):
    """A stored payload could not be turned into valid internal events; retrying will not help."""

    reason = "normalization_failed"


class StorageUnavailable(HubError):
    """The database could not commit; the partner should retry later."""

    reason = "storage_unavailable"
    retryable = True


class UnsafeConfiguration(HubError):
    """The hub refuses to start with this configuration (e.g. a live key outside production)."""

    reason = "unsafe_configuration"


class CallRefused(HubError):
    """A call out the hub refuses to make (e.g. a message to an opted-out contact); it never
    reaches the partner, and retrying will not help."""

    reason = "call_refused"
