"""One error hierarchy: each error carries a stable reason code and says if a retry can help."""

from __future__ import annotations

# One bound for an error's text wherever it is stored (`last_error`) or logged: it must not
# grow with what a partner sent or what a database echoed.
MAX_ERROR_CHARS = 500


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


class TooManyEntries(MalformedPayload):
    """A batch of more entries than the partner ever sends: refused whole, before its entries
    are looked at. 413: the delivery is too large, whatever its bytes."""

    status = 413
    reason = "too_many_entries"


class SecretNotConfigured(RejectedDelivery):
    """The partner's verifying secret is not set, so nothing it sends can be verified. 503: the
    hub's fault, not the sender's, and retrying helps once it is set. Names the variable, never
    a value."""

    status = 503
    reason = "secret_not_configured"


class UnknownPartner(RejectedDelivery):
    """No partner by that name (the edge answers 404; the CLI and admin API say the same)."""

    status = 404
    reason = "unknown_partner"


class UnknownEndpoint(RejectedDelivery):
    """The partner has no such endpoint under /webhooks/{partner}/: raised by the edge for a
    name its manifest does not declare, and by a connector's `verify` for a path token that is
    not its own (404 either way, telling a guesser nothing)."""

    status = 404
    reason = "unknown_endpoint"


class NormalizationError(HubError):
    """A stored payload could not be turned into valid internal events; retrying will not help."""

    reason = "normalization_failed"


class NotReplayable(HubError):
    """A replay that cannot help: a malformed entry of a batch has no partner payload to
    normalize, so requeueing it would only erase its dead-letter and reason."""

    reason = "not_replayable"


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
