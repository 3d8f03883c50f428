"""The invitation workflow's counters. Their own module, imported passed through by
orchestration/invitations.py: the workflow sandbox re-imports that module per run, and a
counter registered twice in the default registry is an error."""

from __future__ import annotations

from prometheus_client import Counter

REVOKE_FAILED = Counter(
    "hub_invitation_revoke_failed_total",
    "Invitations the hub closed (revoked, expired) that the provider did not revoke after its"
    " retries: recorded failed (revoke_failed).",
    ["provider"],
)
