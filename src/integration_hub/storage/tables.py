"""The only module that knows columns."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
Id = BigInteger().with_variant(Integer(), "sqlite")


# The id prefix of a malformed entry of a verified batch (connectors/base.py): stored
# dead-lettered, never normalized and never replayed.
MALFORMED_ID_PREFIX = "malformed:"


class RawStatus(StrEnum):
    RECEIVED = "received"  # committed at the edge, waiting for the normalizer
    PROCESSING = "processing"  # normalized; handler workflows still running
    PROCESSED = "processed"  # normalized and every handler completed
    IGNORED = "ignored"  # verified and kept, but no internal event maps from its type
    FAILED = "failed"  # normalization or a handler failed for good (the dead-letter)


class HandlerStatus(StrEnum):
    PENDING = "pending"  # waiting for the dispatcher to start its workflow
    STARTED = "started"
    COMPLETED = "completed"
    # Done without effect on purpose (e.g. a mirror update older than the stored row): the raw
    # event still reaches `processed`; `last_error` keeps the reason.
    SKIPPED = "skipped"
    FAILED = "failed"


class OutboxKind(StrEnum):
    START = "start"
    SIGNAL = "signal"
    SIGNAL_WITH_START = "signal_with_start"


class OutboxStatus(StrEnum):
    PENDING = "pending"  # waiting for the dispatcher (or its backoff after a failed attempt)
    DISPATCHED = "dispatched"  # Temporal accepted it (or already had it)
    FAILED = "failed"  # refused on every attempt up to the bound: the dead-letter


raw_events = Table(
    "raw_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("partner", String(64), nullable=False),
    Column("partner_event_id", String(255), nullable=False),
    Column("event_type", String(255), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("headers", JSON, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # Retention (orchestration/retention.py) empties `body` and sets this; the row stays for dedup.
    Column("body_purged_at", DateTime(timezone=True)),
    UniqueConstraint("partner", "partner_event_id"),
    Index(None, "status", "id"),
    Index(None, "partner", "id"),
)

internal_events = Table(
    "internal_events",
    metadata,
    Column("id", String(64), primary_key=True),  # the CloudEvent id (deterministic)
    Column("raw_event_id", Id, ForeignKey("raw_events.id"), nullable=False, index=True),
    Column("position", Integer, nullable=False),
    Column("type", String(128), nullable=False, index=True),
    Column("subject", String(255), nullable=False),
    Column("envelope", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

handler_runs = Table(
    "handler_runs",
    metadata,
    Column("event_id", String(64), ForeignKey("internal_events.id"), primary_key=True),
    Column("handler", String(64), primary_key=True),
    Column("workflow_id", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index(None, "status"),
)

# Workflow starts and signals a handler queued in the transaction of its writes
# (orchestration/outbox.py); the dispatcher sends them once that transaction has committed
# (pipeline/outbox.py). The unique key makes queueing idempotent: a handler retried or replayed
# queues the same (workflow id, kind, signal, dedup) again and nothing is added. `signal` is ""
# for a start, never NULL: NULLs are distinct in a unique key on both databases.
workflow_outbox = Table(
    "workflow_outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),  # also the order of sending
    Column("kind", String(32), nullable=False),  # OutboxKind
    Column("workflow_type", String(128)),  # None for a signal
    Column("workflow_id", String(255), nullable=False),  # chosen by the handler, deterministic
    Column("signal", String(128), nullable=False),
    Column("dedup", String(255), nullable=False),  # the handler's key, e.g. its event id
    Column("input", JSON),  # the workflow's argument (start, signal_with_start)
    Column("signal_input", JSON),  # the signal's argument (signal, signal_with_start)
    Column("task_queue", String(255)),  # None: the hub's
    Column("status", String(16), nullable=False),  # OutboxStatus
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("dispatched_at", DateTime(timezone=True)),
    UniqueConstraint("workflow_id", "kind", "signal", "dedup"),
    Index(None, "status", "id"),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, unique=True),  # one entry per internal event
    Column("kind", String(32), nullable=False),
    Column("amount", BigInteger, nullable=False),  # signed effect on balance, minor units
    Column("currency", String(3), nullable=False),
    # The payments partner whose event made the entry, and that partner's own id of the object
    # (a payment, refund or payout): ids are unique only within one partner.
    Column("partner", String(64), nullable=False),
    Column("object_id", String(255), nullable=False),
    Column("account", String(255)),
    Column("customer", String(255)),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index(None, "partner", "object_id"),
)


# The users-and-roles mirror of the auth providers, kept by the identity handler. Keyed by
# (partner, id): the partner is the provider that sent the event (clerk, auth0), so one provider
# can never write another's users. `source_time` orders updates (an older one never overwrites
# a newer one): the partner's event time, but never later than receipt + the allowed clock skew
# (HUB_IDENTITY_CLOCK_SKEW_SECONDS), so an event dated in the future cannot pin a row.
identity_users = Table(
    "identity_users",
    metadata,
    Column("partner", String(64), primary_key=True),
    Column("user_id", String(255), primary_key=True),
    Column("primary_email", String(320)),
    Column("first_name", String(255)),
    Column("last_name", String(255)),
    Column("role", String(64)),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("source_time", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

identity_memberships = Table(
    "identity_memberships",
    metadata,
    Column("partner", String(64), primary_key=True),
    Column("membership_id", String(255), primary_key=True),
    Column("user_id", String(255)),
    Column("organization_id", String(255)),
    Column("role", String(64)),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("source_time", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index(None, "partner", "user_id"),
)


# Messaging contacts (Twilio). One row per phone number (E.164); `opted_out` is the current
# consent state and `contact_consent_events` its append-only history (who, when, which keyword).
contacts = Table(
    "contacts",
    metadata,
    Column("phone", String(32), primary_key=True),
    Column("locale", String(8), nullable=False, default="en"),  # "es" or "en"
    Column("profile_name", String(255)),
    Column("opted_out", Boolean, nullable=False, default=False),
    Column("consent_changed_at", DateTime(timezone=True)),
    # WhatsApp's 24-hour customer service window opens at the contact's last inbound message.
    Column("last_whatsapp_inbound_at", DateTime(timezone=True)),
    Column("last_inbound_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Cleaners (a core registry; the turnover work extends it). The phone is the cleaner's
# messaging contact (`contacts.phone`); the payout account is a payments partner's connected
# account, and its readiness is kept current by the cleaners handler from that partner's
# account events. `readiness_at` is the partner's time of the event that set it, so an older
# event arriving late never overwrites a newer state.
MAX_REQUIREMENTS = 100  # requirements_due is capped at this many entries
cleaners = Table(
    "cleaners",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("phone", String(32), nullable=False, unique=True),
    Column("language", String(8), nullable=False),  # "es" or "en"
    Column("payout_partner", String(64)),
    Column("payout_account_id", String(255)),
    Column("charges_enabled", Boolean, nullable=False, default=False),
    Column("payouts_enabled", Boolean, nullable=False, default=False),
    Column("disabled_reason", String(255)),
    Column("requirements_due", JSON, nullable=False),  # at most MAX_REQUIREMENTS names
    Column("readiness_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # The payout onboarding pages' token (where the partner sends the cleaner back): only its
    # SHA-256 is kept, so a copy of the database opens no cleaner's onboarding.
    Column("onboarding_token_sha256", String(64)),
    Column("onboarding_expires_at", DateTime(timezone=True)),
    UniqueConstraint("payout_partner", "payout_account_id"),
)

# Invitations sent through the auth provider (orchestration/invitations.py). `open_key` is
# "{provider}/{email}" while the invitation is open and NULL once closed: the unique index on it
# holds one open invitation per (provider, email) on SQLite and PostgreSQL alike.
MAX_EMAIL = 254  # RFC 5321's path limit less the angle brackets
invitations = Table(
    "invitations",
    metadata,
    Column("id", String(64), primary_key=True),  # inv_<32 hex>
    Column("provider", String(64), nullable=False),
    Column("email", String(MAX_EMAIL), nullable=False, index=True),  # lower-cased
    Column("role", String(16), nullable=False),  # viewer | operator | admin
    Column("status", String(16), nullable=False),  # InvitationStatus
    Column("open_key", String(MAX_EMAIL + 65), unique=True),
    Column("provider_invitation_id", String(255), index=True),
    Column("invited_by", String(255), nullable=False),  # the principal's subject
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True)),
    Column("reason", String(255)),
)

contact_consent_events = Table(
    "contact_consent_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, unique=True),  # the internal event applied
    Column("phone", String(32), nullable=False, index=True),
    Column("opted_out", Boolean, nullable=False),
    Column("channel", String(16), nullable=False),  # sms | whatsapp
    Column("keyword", String(64)),  # the word the contact sent, or None
    Column("source", String(64), nullable=False),  # e.g. "keyword", "twilio_opt_out_type"
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

# Messages the hub sends (Twilio), one row per our own message id. Twilio takes no idempotency
# key, so this row is the guard: `sending` is written before the call and `sent` (with the
# partner's id) after it; a retried attempt that finds `sent` does not call again, and one that
# finds `sending` or `unknown` (a call whose outcome was lost) refuses rather than send twice.
MAX_ADDRESS_LENGTH = 320

outbound_messages = Table(
    "outbound_messages",
    metadata,
    Column("message_id", String(128), primary_key=True),
    Column("partner", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    # A phone number (E.164) or an e-mail address (RFC 5321: at most 320 characters).
    Column("to_address", String(MAX_ADDRESS_LENGTH), nullable=False, index=True),
    Column("state", String(16), nullable=False),  # sending | sent | failed | unknown
    Column("partner_message_id", String(64)),  # e.g. Twilio's SM... sid
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Google Maps Platform results. The terms allow caching latitude/longitude for at most 30 days
# and no other content permanently; `place_id` may be kept. `expires_at` is capped in code.
maps_cache = Table(
    "maps_cache",
    metadata,
    Column("key", String(64), primary_key=True),  # sha256 of api + normalized request
    Column("api", String(32), nullable=False),  # geocode | directions | distance_matrix
    Column("result", JSON, nullable=False),
    Column("place_id", String(255)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
)


# Who did what through the admin API, when, from where, with what outcome. Append-only: no code
# path updates or deletes a row, and triggers (migration 0004) refuse UPDATE and DELETE.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(255), nullable=False),  # token subject, or "local-admin-token"
    Column("role", String(16), nullable=False),
    Column("method", String(8), nullable=False),
    Column("route", String(255), nullable=False),  # the route template, e.g. /api/replay
    Column("target", Text, nullable=False),  # the path as called, plus the request's filter
    Column("client", String(64)),
    Column("status", Integer, nullable=False),
    Index(None, "actor", "id"),
)


# Status panel sessions (storage/sessions.py), honoured by every hub process on this database.
# The cookie holds a random id; only its SHA-256 is stored, so reading this table signs no one in.
admin_sessions = Table(
    "admin_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),  # sha256 hex of the cookie's session id
    Column("subject", String(255), nullable=False),
    Column("provider", String(64), nullable=False),  # clerk | auth0 | local | oidc (unknown)
    Column("role", String(16)),
    # Which credential signed in (a fingerprint of HUB_ADMIN_TOKEN or of the OIDC issuer and
    # audience): when that changes, its sessions end.
    Column("credential", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    Column("revoked_reason", String(32)),  # logout | role_changed | ...
    Index(None, "provider", "subject"),
)


# Sign-ins (and later OAuth connections) waiting for the provider's redirect back
# (storage/pending_authorizations.py): keyed by the SHA-256 of `state`, bound to the browser by
# the SHA-256 of its short-lived cookie, consumed (deleted) exactly once, gone after 10 minutes.
pending_authorizations = Table(
    "pending_authorizations",
    metadata,
    Column("state_hash", String(64), primary_key=True),
    Column("browser_hash", String(64), nullable=False, index=True),
    # The SHA-256 of the client address (an IPv6 one's /64) that started it: a cap per client.
    Column("client_hash", String(64), nullable=False, index=True, server_default=""),
    Column("purpose", String(32), nullable=False),  # signin | connect
    Column("nonce", String(128), nullable=False),
    Column("code_verifier", String(128), nullable=False),
    Column("next_url", String(512), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
)


# Where each poll source (connectors/partner.py `PollSource`) stands: the cursor it fetches its
# next page from, advanced in the transaction that stores the page's raw events (so a crash
# neither loses nor duplicates a page). `last_error` is the latest failed attempt's error since
# the last success (cleared by a success); doctor shows both.
MAX_CURSOR_LENGTH = 1024  # a longer cursor is refused before it is stored (orchestration/polls.py)

poll_cursors = Table(
    "poll_cursors",
    metadata,
    Column("partner", String(64), primary_key=True),
    Column("source", String(64), primary_key=True),
    Column("instance", String(255), primary_key=True, default=""),  # "" for the only one
    Column("cursor", String(MAX_CURSOR_LENGTH)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text),
    Column("last_success_at", DateTime(timezone=True)),
)


# B2B contracts (a contracts partner's envelopes, DocuSign today). A row is made by
# `POST /api/contracts` (status created), gets its envelope when the send workflow ran (sent),
# and follows the partner's events through the contracts handler. `status_at` is the partner's
# time of the event that set the status, so an older event arriving late never overwrites a
# newer one. `subject_ref` says whom it binds (`cleaner:cln_...`); a completed contract holds
# until `expires_at` (completed_at + `valid_days` of its template; None: no end).
# The signer's name and email are personal data: stored for the send, never logged.
contracts = Table(
    "contracts",
    metadata,
    Column("id", String(64), primary_key=True),  # ctr_<32 hex>
    Column("subject_ref", String(128), nullable=False),
    Column("template", String(64), nullable=False),  # the hub's template key
    Column("language", String(8), nullable=False),  # "es" or "en"
    Column("signer_name", String(255), nullable=False),
    Column("signer_email", String(320), nullable=False),
    Column("provider", String(64), nullable=False),
    Column("envelope_id", String(64), unique=True),
    Column("status", String(16), nullable=False),
    Column("valid_days", Integer),
    Column("reason", String(500)),  # why declined or voided
    Column("sent_at", DateTime(timezone=True)),
    Column("completed_at", DateTime(timezone=True)),
    Column("expires_at", DateTime(timezone=True)),
    Column("status_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index(None, "subject_ref", "status"),
)

# E-mail addresses nothing more is sent to (orchestration/email_suppression.py): a hard bounce,
# a spam complaint, an unsubscribe or the provider's own suppression at once, soft bounces once
# HUB_EMAIL_SOFT_BOUNCE_LIMIT of them came. `address` is lower-cased; `since` is when the first
# suppressing event happened. Sends to a suppressed address are refused before any request.
email_suppressions = Table(
    "email_suppressions",
    metadata,
    Column("address", String(MAX_ADDRESS_LENGTH), primary_key=True),
    Column("suppressed", Boolean, nullable=False, default=False),
    Column("reason", String(32)),  # hard_bounce | complaint | unsubscribe | provider | soft_bounces
    Column("since", DateTime(timezone=True)),
    Column("soft_bounces", Integer, nullable=False, default=0),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# The e-mail events applied to `email_suppressions`, once each (a replayed event counts no
# second soft bounce): the history of why an address is suppressed.
email_suppression_events = Table(
    "email_suppression_events",
    metadata,
    Column("event_id", String(255), primary_key=True),  # the internal event's id
    Column("address", String(MAX_ADDRESS_LENGTH), nullable=False, index=True),
    Column("event_type", String(64), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

# Support conversations the hub opened in the support inbox (orchestration/escalation.py and
# support_conversation.py). `id` (sup_<24 hex>) derives from the event that opened it; the
# inbox's own ids come back once it is open and map the inbox's events to the row. One row is
# `opening` or `open` per phone at a time; `idle`, `closed` and `failed` end it.
MAX_REASONS = 10  # matched rule names kept per conversation
support_conversations = Table(
    "support_conversations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("provider", String(64), nullable=False),
    Column("provider_conversation_id", String(128)),
    Column("provider_contact_id", String(128)),
    Column("phone", String(32), nullable=False),
    Column("channel", String(16), nullable=False),  # sms | whatsapp: where replies go back
    Column("language", String(8), nullable=False),
    Column("status", String(16), nullable=False),  # opening | open | closed | idle | failed
    Column("reasons", JSON, nullable=False),  # at most MAX_REASONS rule names
    Column("property_id", String(64)),
    Column("stay_id", String(64)),
    Column("job_id", String(64)),
    Column("assignee", String(128)),
    Column("opened_at", DateTime(timezone=True)),
    Column("last_message_at", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
    Column("last_relay_at", DateTime(timezone=True)),
    Column("relay_count", Integer, nullable=False, default=0),
    Column("last_error", String(255)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # How often an agent's reply brought it back from idle: its workflow run's id suffix.
    Column("resumes", Integer, nullable=False, default=0, server_default="0"),
    UniqueConstraint("provider", "provider_conversation_id"),
    Index(None, "phone", "status"),
)

# The inbound messages each conversation took (message_id: escalation.message_id_for(event
# id)), so a replayed event never puts an old message into the phone's current conversation.
# One short row per escalated message, kept like the conversations themselves.
support_messages = Table(
    "support_messages",
    metadata,
    Column("message_id", String(32), primary_key=True),
    Column("conversation_id", String(32), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# A contact's tags (phone = contacts.phone): set in the hub (`hub`, pushed to the inbox) or
# mirrored from the inbox (`inbox`, never pushed back). At most MAX_CONTACT_TAGS per phone;
# names are normalized (storage/support.py: normalize_tag).
MAX_CONTACT_TAGS = 50
MAX_TAG_LENGTH = 64
contact_tags = Table(
    "contact_tags",
    metadata,
    Column("phone", String(32), primary_key=True),
    Column("tag", String(MAX_TAG_LENGTH), primary_key=True),
    Column("source", String(8), nullable=False),  # hub | inbox
    Column("provider", String(64)),
    Column("added_at", DateTime(timezone=True), nullable=False),
)

# The inbox's contact ids the hub learned (its activities' results, its events), so an inbox
# event that carries no phone maps back to the hub's contact.
support_contacts = Table(
    "support_contacts",
    metadata,
    Column("provider", String(64), primary_key=True),
    Column("provider_contact_id", String(128), primary_key=True),
    Column("phone", String(32), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index(None, "provider", "phone"),  # a tag push finds the inbox contact of a phone
)


# ---- Property managers, PMS connections, properties, listings, stays, reservations --------
# (issue 15; connectors/pms.py is the unified model the PMS connectors normalize into, and
# orchestration/reservations.py the handler that keeps these tables current.)

# A property-management company the platform serves. `id` is a slug chosen by the operator
# ([a-z0-9][a-z0-9_-]{0,62}, as instance ids). Billing: per job or monthly.
managers = Table(
    "managers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("contact_email", String(320)),  # personal data: never logged
    Column("contact_phone", String(32)),
    Column("stripe_customer_id", String(64)),
    Column("billing_mode", String(16), nullable=False),  # per_job | monthly
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# One account of one PMS (or one iCal feed) for one manager. `id` is the connection's instance
# id: its secrets are `<FAMILY>__<ID>` (secrets/instances.py), its webhooks arrive on
# /webhooks/<partner>/<id> when the partner verifies per connection, its poll cursors are
# poll_cursors rows with instance = id. `account_ref` is the PMS's own account id when its
# payloads carry one (Hostaway accountId). `status`: active | paused | held (an iCal feed whose
# latest calendar looked wrong: `held_reason` says why; nothing is cancelled while held).
pms_connections = Table(
    "pms_connections",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("partner", String(64), nullable=False),
    Column("manager_id", String(64), ForeignKey("managers.id"), nullable=False),
    Column("account_ref", String(128)),
    Column("label", String(200)),
    Column("status", String(16), nullable=False),
    Column("held_reason", String(255)),
    Column("held_at", DateTime(timezone=True)),
    Column("options", JSON, nullable=False),  # per-partner, non-secret (a feed's channel)
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index(None, "partner"),
)

# A physical property (one per address), belonging to one manager. Times are property-local
# "HH:MM"; `timezone` is IANA, from the PMS or derived from the coordinates
# (`timezone_source`: pms | coordinates | manager | none).
properties = Table(
    "properties",
    metadata,
    Column("id", String(32), primary_key=True),  # prop_<24 hex>
    Column("manager_id", String(64), ForeignKey("managers.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("address", String(500)),
    Column("latitude", Float),
    Column("longitude", Float),
    Column("geocoded_at", DateTime(timezone=True)),
    Column("timezone", String(64)),
    Column("timezone_source", String(16)),
    Column("check_in_time", String(5)),
    Column("check_out_time", String(5)),
    Column("cleaning_minutes", Integer),
    Column("removed_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index(None, "manager_id"),
)

# A listing as one connection knows it, tied to one property. A listing seen for the first
# time gets a property of its own (`linked_by` auto); `hub properties link` / the admin API
# move it onto another (`linked_by` admin), which the PMS's later listing events never undo.
listings = Table(
    "listings",
    metadata,
    Column("connection_id", String(64), ForeignKey("pms_connections.id"), primary_key=True),
    Column("source_listing_id", String(128), primary_key=True),
    Column("source", String(32), nullable=False),
    Column("property_id", String(32), ForeignKey("properties.id"), nullable=False),
    Column("name", String(200)),
    Column("address", String(500)),
    Column("latitude", Float),
    Column("longitude", Float),
    Column("timezone", String(64)),
    Column("check_in_time", String(5)),
    Column("check_out_time", String(5)),
    Column("linked_by", String(8), nullable=False),  # auto | admin
    Column("source_updated_at", DateTime(timezone=True)),
    Column("removed_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index(None, "property_id"),
)

# One stay at one property: the same booking seen through several sources (Airbnb's iCal
# and Hostaway) is one stay. Its fields come from the best source linked to it (a PMS over
# iCal). Turnover work reads stays, never reservations. Dates are property-local, check_out
# exclusive (the departure day).
stays = Table(
    "stays",
    metadata,
    Column("id", String(32), primary_key=True),  # stay_<24 hex>
    Column("property_id", String(32), ForeignKey("properties.id"), nullable=False),
    Column("channel", String(16)),
    Column("channel_code", String(64)),
    Column("status", String(16), nullable=False),
    Column("is_block", Boolean, nullable=False),
    Column("check_in", Date, nullable=False),
    Column("check_out", Date, nullable=False),
    Column("check_in_time", String(5)),
    Column("check_out_time", String(5)),
    Column("timezone", String(64)),
    Column("guests_total", Integer),
    Column("primary_reservation_id", String(32)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index(None, "property_id", "check_in"),
    Index(None, "property_id", "channel_code"),
)

# One reservation as one source (connection) has it, linked to its stay. Upserted on
# (connection_id, source_reservation_id); the newest `source_updated_at` wins. A cancellation
# is a status, never a delete. `complete` is False for a lean payload not yet fetched in full.
# Guest fields are personal data: admins only, never logged.
reservations = Table(
    "reservations",
    metadata,
    Column("id", String(32), primary_key=True),  # res_<24 hex>
    Column("source", String(32), nullable=False),
    Column("connection_id", String(64), ForeignKey("pms_connections.id"), nullable=False),
    Column("source_reservation_id", String(128), nullable=False),
    Column("source_listing_id", String(128), nullable=False),
    Column("stay_id", String(32), ForeignKey("stays.id")),
    Column("channel", String(16)),
    Column("channel_code", String(64)),
    Column("status", String(16), nullable=False),
    Column("raw_status", String(64), nullable=False),
    Column("is_block", Boolean, nullable=False),
    Column("check_in", Date, nullable=False),
    Column("check_out", Date, nullable=False),
    Column("check_in_time", String(5)),
    Column("check_out_time", String(5)),
    Column("timezone", String(64)),
    Column("adults", Integer),
    Column("children", Integer),
    Column("infants", Integer),
    Column("guests_total", Integer),
    Column("guest_name", String(200)),
    Column("guest_email", String(320)),
    Column("guest_phone", String(32)),
    Column("total_minor", BigInteger),
    Column("currency", String(3)),
    Column("booked_at", DateTime(timezone=True)),
    Column("source_updated_at", DateTime(timezone=True)),
    Column("complete", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("connection_id", "source_reservation_id"),
    Index(None, "stay_id"),
    Index(None, "check_in"),
)

# A reservation's history: one row per internal event that changed it (kind created |
# changed | cancelled | restored | stale: an older version that arrived late and changed
# nothing), with the fields that changed as {field: [before, after]} (never guest contact
# values: only the names of guest fields that changed). (reservation, event) is unique, so a
# replay adds nothing.
reservation_changes = Table(
    "reservation_changes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("reservation_id", String(32), ForeignKey("reservations.id"), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("changes", JSON, nullable=False),
    Column("source_updated_at", DateTime(timezone=True)),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("reservation_id", "event_id"),
)

# Cross-process locks for partner tokens (connectors/tokens.py): on SQLite a row here is
# written under BEGIN IMMEDIATE (one writer at a time); PostgreSQL takes an advisory lock.
token_locks = Table(
    "token_locks",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("locked_at", DateTime(timezone=True), nullable=False),
)

# Call limits shared by every worker when no Redis is configured (connectors/call_limits/database.py):
# hits per fixed window (`window_seconds` long, `window_start` = epoch // length) and the
# calls in flight, each with a lease that expires (a killed worker's slot frees itself).
call_limit_hits = Table(
    "call_limit_hits",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("window_seconds", Integer, primary_key=True),
    Column("window_start", BigInteger, primary_key=True),
    Column("hits", Integer, nullable=False),
)

calls_in_flight = Table(
    "calls_in_flight",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("slot", String(64), primary_key=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)
