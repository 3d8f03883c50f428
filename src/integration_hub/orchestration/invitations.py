"""Invitations through the auth provider: one `invitation` workflow per invitation id, the
activities that write its statuses, and the handler that closes it when the invited user
appears.

The workflow (`invitation/{id}`, started once through the outbox with the row that made the
invitation) asks the provider to create it (the provider's activity, by the agreed name:
connectors/identity_provider.py), records it `sent`, then waits for one of: the `accepted`
signal (the handler below closed the row already), a `revoke` signal (the admin API closed the
row `revoked` already), or its expiry (the earlier of the hub's TTL and the provider's own
`expires_at`: the row is closed `expired`). A revoked or expired row is then revoked at the
provider too (Clerk counts whole days, so its invitation can outlive the hub's); a revoke the
provider did not take after its retries turns the row `failed` with reason `revoke_failed`
(counted: hub_invitation_revoke_failed_total), never left looking revoked. A creation the
provider refused, or that ran out of retries, is `failed` with the reason. Statuses are
written by activities, each a compare-and-set.

Matching a created user to an invitation: the provider's `identity.user_created` event carries
the user's primary e-mail and whether the provider verified it; only a verified, ASCII one
(invitations are ASCII-only, and Unicode lower-casing folds look-alikes such as the Kelvin
sign into ASCII letters) is lower-cased (ASCII only) and looked up among the open invitations
of the provider that delivered the event (never another's). E-mails are neither logged nor put in a
handler's detail: the detail names the invitation id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine
from temporalio import activity, workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    import structlog

    from integration_hub.connectors.identity_provider import (
        AcceptRequest,
        InvitationRequest,
        ProviderInvitation,
        RevokeRequest,
        invitation_activity,
    )
    from integration_hub.connectors.outbound import CALL_RETRY, CALL_TIMEOUT, failure_detail
    from integration_hub.orchestration.invitation_metrics import REVOKE_FAILED
    from integration_hub.orchestration.outbox import Outbox
    from integration_hub.orchestration.outcomes import HandlerOutcome, Skipped
    from integration_hub.storage import invitations as rows
    from integration_hub.storage.engine import begin_write

# Only the created user closes an invitation: the hub makes Clerk instance invitations
# (`inv_`), which no `organizationInvitation.accepted` (`orginv_`) can name.
INVITATION_EVENT_TYPES = frozenset({"identity.user_created"})
WORKFLOW = "invitation"
RECORD_TIMEOUT = timedelta(seconds=30)
log = structlog.get_logger(__name__)


def workflow_id(invitation_id: str) -> str:
    return f"{WORKFLOW}/{invitation_id}"


@dataclass(frozen=True)
class InvitationStart:
    invitation_id: str
    provider: str
    email: str
    role: str
    redirect_url: str
    ttl_seconds: int
    inviter: str


@dataclass(frozen=True)
class Closure:
    """A signal's reason (why it was accepted, who revoked it) and, for an acceptance, the
    provider's id of the user who accepted it."""

    reason: str = ""
    user_id: str = ""


@dataclass(frozen=True)
class SentRecord:
    invitation_id: str
    provider_invitation_id: str
    expires_at: int | None = None


@dataclass(frozen=True)
class CloseRecord:
    invitation_id: str
    status: str  # a closed InvitationStatus
    reason: str


@dataclass(frozen=True)
class RevokeFailedRecord:
    invitation_id: str
    provider: str
    detail: str


class InvitationActivities:
    """The invitation workflow's writes; built once per worker with the engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def activities(self) -> list[Any]:
        return [self.record_sent, self.record_closed, self.record_revoke_failed]

    @activity.defn(name="invitation_record_sent")
    def record_sent(self, input: SentRecord) -> bool:
        expires = datetime.fromtimestamp(input.expires_at, UTC) if input.expires_at else None
        with begin_write(self._engine) as connection:
            return rows.mark_sent(
                connection,
                invitation_id=input.invitation_id,
                provider_invitation_id=input.provider_invitation_id,
                expires_at=expires,
            )

    @activity.defn(name="invitation_record_closed")
    def record_closed(self, input: CloseRecord) -> str:
        """Close the row if open; the row's status after (whoever closed it)."""
        with begin_write(self._engine) as connection:
            rows.close_invitation(
                connection,
                invitation_id=input.invitation_id,
                status=rows.InvitationStatus(input.status),
                reason=input.reason,
            )
            return rows.status_of(connection, invitation_id=input.invitation_id) or ""

    @activity.defn(name="invitation_record_revoke_failed")
    def record_revoke_failed(self, input: RevokeFailedRecord) -> bool:
        with begin_write(self._engine) as connection:
            marked = rows.mark_revoke_failed(
                connection, invitation_id=input.invitation_id, detail=input.detail
            )
        if marked:
            REVOKE_FAILED.labels(input.provider).inc()
            log.warning(
                "invitation_revoke_failed",
                invitation_id=input.invitation_id,
                provider=input.provider,
                detail=input.detail,
            )
        return marked


@workflow.defn(name=WORKFLOW)
class InvitationWorkflow:
    def __init__(self) -> None:
        self._accepted: str | None = None
        self._accepted_by = ""
        self._revoke: str | None = None

    @workflow.signal(name="accepted")
    def accepted(self, closure: Closure) -> None:
        self._accepted = closure.reason or "accepted"
        self._accepted_by = closure.user_id

    @workflow.signal(name="revoke")
    def revoke(self, closure: Closure) -> None:
        self._revoke = closure.reason or "revoked"

    @workflow.query(name="state")
    def state(self) -> dict[str, str | None]:
        return {"accepted": self._accepted, "revoke": self._revoke}

    async def _close(self, start: InvitationStart, status: str, reason: str) -> str:
        """Close the row as `status` if it is open; the row's status after."""
        closed: str = await workflow.execute_activity_method(
            InvitationActivities.record_closed,
            CloseRecord(start.invitation_id, status, reason),
            start_to_close_timeout=RECORD_TIMEOUT,
        )
        return closed

    def _timer(self, start: InvitationStart, made: ProviderInvitation) -> timedelta:
        """The hub's TTL, or less when the provider ends its invitation sooner."""
        ttl = timedelta(seconds=start.ttl_seconds)
        if made.expires_at is None:
            return ttl
        provider_left = made.expires_at - workflow.now().timestamp()
        return max(timedelta(0), min(ttl, timedelta(seconds=provider_left)))

    async def _give_role(self, start: InvitationStart, made: ProviderInvitation) -> str:
        if not self._accepted_by:
            return "accepted"  # an acceptance that named no user: nothing to give a role to
        accept = AcceptRequest(
            start.invitation_id, made.provider_invitation_id, self._accepted_by, start.role
        )
        try:
            await workflow.execute_activity(
                invitation_activity(start.provider, "accept"),
                accept,
                start_to_close_timeout=CALL_TIMEOUT,
                retry_policy=CALL_RETRY,
            )
        except ActivityError as error:
            workflow.logger.warning(
                "invitation role not given: %s (%s)", start.invitation_id, failure_detail(error)
            )
            return "accepted_role_failed"
        return "accepted"

    @workflow.run
    async def run(self, start: InvitationStart) -> str:
        request = InvitationRequest(
            invitation_id=start.invitation_id,
            email=start.email,
            role=start.role,
            redirect_url=start.redirect_url,
            ttl_seconds=start.ttl_seconds,
            inviter=start.inviter,
        )
        try:
            made: ProviderInvitation = await workflow.execute_activity(
                invitation_activity(start.provider, "create"),
                request,
                result_type=ProviderInvitation,
                start_to_close_timeout=CALL_TIMEOUT,
                retry_policy=CALL_RETRY,
            )
        except ActivityError as error:
            return await self._close(start, "failed", failure_detail(error))
        await workflow.execute_activity_method(
            InvitationActivities.record_sent,
            SentRecord(start.invitation_id, made.provider_invitation_id, made.expires_at),
            start_to_close_timeout=RECORD_TIMEOUT,
        )
        try:
            await workflow.wait_condition(
                lambda: bool(self._accepted or self._revoke), timeout=self._timer(start, made)
            )
        except TimeoutError:
            status = await self._close(start, "expired", "the invitation's time ran out")
        else:
            if self._accepted:
                # The handler closed the row with the event that proved it; the provider
                # gives the user the role where the mirror reads it (a no-op where the
                # invitation carried it).
                return await self._give_role(start, made)
            # The admin API closed the row in the DELETE's transaction; an older row still
            # open (queued before that) is closed here.
            status = await self._close(start, "revoked", self._revoke or "revoked")
        if status not in rows.PROVIDER_REVOKED:
            return "closed_already"  # accepted (or failed) meanwhile: nothing to revoke
        revoke = RevokeRequest(start.invitation_id, made.provider_invitation_id)
        try:
            await workflow.execute_activity(
                invitation_activity(start.provider, "revoke"),
                revoke,
                start_to_close_timeout=CALL_TIMEOUT,
                retry_policy=CALL_RETRY,
            )
        except ActivityError as error:
            await workflow.execute_activity_method(
                InvitationActivities.record_revoke_failed,
                RevokeFailedRecord(start.invitation_id, start.provider, failure_detail(error)),
                start_to_close_timeout=RECORD_TIMEOUT,
            )
            return "failed"
        return status


def _ascii_lower(text: str) -> str:
    """Lower-case A-Z only: str.lower() folds non-ASCII look-alikes into ASCII letters."""
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def apply_event(connection: Connection, event: dict[str, Any], outbox: Outbox) -> HandlerOutcome:
    """Close the open invitation the event proves accepted, and tell its workflow."""
    data, provider = event["data"], event["partner"]
    email = data.get("primary_email")
    if not email:
        return Skipped("no_email: the created user has no primary e-mail")
    if data.get("email_verified") is not True:
        return Skipped("email_unverified: the provider has not verified the user's e-mail")
    if not str(email).isascii():
        return Skipped("email_not_ascii: invitations are for ASCII e-mails only")
    found = rows.open_invitation(connection, provider=provider, email=_ascii_lower(str(email)))
    how = "user_created"
    if found is None:
        return Skipped(f"no_open_invitation: no open {provider} invitation matches")
    reason = f"{how} ({data.get('user_id')})"
    if not rows.close_invitation(
        connection, invitation_id=found["id"], status=rows.InvitationStatus.ACCEPTED, reason=reason
    ):
        return Skipped(f"closed_already: invitation {found['id']}")
    outbox.signal(
        connection,
        workflow_id=workflow_id(found["id"]),
        signal="accepted",
        dedup=event["id"],
        input=Closure(reason=how, user_id=str(data.get("user_id") or "")),
    )
    return f"invitation {found['id']} accepted ({how})"
