"""DocuSign eSignature calls out: an envelope from a contract's template, in the signer's
language, sent at once, and the envelope recorded on the contract.

DocuSign takes no idempotency key, so the contract row is the guard: an envelope recorded on it
is never sent again, and a retried send first looks for an envelope already carrying the
contract's id in its custom field `hub_contract_id` (the answer of a first attempt may have been
lost). The hub never polls an envelope's status (DocuSign allows one GET per envelope per 15
minutes): Connect reports it. Limits (developers.docusign.com/platform/resource-limits): 3,000
calls per hour per account (`X-RateLimit-*`) and a 30-second burst limit (`X-BurstLimit-*`);
when either says none remain, calls wait for its reset; 429 waits for `Retry-After`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import httpx
from sqlalchemy import Engine
from temporalio import activity

from integration_hub.connectors.docusign.auth import (
    HTTP_TIMEOUT_SECONDS,
    PARTNER,
    DocuSignAuth,
    error_code,
)
from integration_hub.connectors.docusign.settings import DocuSignSettings
from integration_hub.connectors.docusign.webhook import CONTRACT_FIELD, MAX_ENVELOPE_ID, rfc3339
from integration_hub.connectors.outbound import CallLimiter, RateGate, call_failed, refuse
from integration_hub.errors import MalformedPayload, UnsafeConfiguration
from integration_hub.secrets import SecretSource
from integration_hub.storage import contracts
from integration_hub.storage.engine import begin_write

BURST_WINDOW_SECONDS = 30  # DocuSign's burst limit counts calls per 30 seconds
LOOKUP_DAYS = 2  # a lost first attempt is at most this old when its retry looks for it


@dataclass(frozen=True)
class SendContractInput:
    contract_id: str
    # Prefilled text tabs by label; the signer's name and email stay in the database.
    fields: dict[str, str] = field(default_factory=dict)

    def workflow_id(self) -> str:
        return f"docusign.send_contract/{self.contract_id}"


@dataclass(frozen=True)
class EnvelopeSent:
    contract_id: str
    envelope_id: str
    sent_at: str  # RFC 3339


def observe_limits(gate: RateGate, headers: httpx.Headers) -> None:
    """DocuSign's hourly limit (`X-RateLimit-Remaining: 0` until `X-RateLimit-Reset`, unix
    seconds) and its burst limit (`X-BurstLimit-Remaining: 0`: a short window) close the gate."""
    now, until = gate.now(), 0.0
    reset = headers.get("x-ratelimit-reset", "")
    if headers.get("x-ratelimit-remaining") == "0" and reset.isdigit():
        until = float(reset)
    if headers.get("x-burstlimit-remaining") == "0":
        until = max(until, now + BURST_WINDOW_SECONDS)
    if until:
        gate.close_until(until, max_wait=3600)


def envelope_definition(
    contract: dict[str, Any], template_id: str, role_name: str, fields: dict[str, str]
) -> dict[str, Any]:
    """The createEnvelope body: the template, its one signer role with the prefilled text tabs,
    sent at once, carrying the contract id for Connect to send back."""
    role: dict[str, Any] = {
        "email": contract["signer_email"],
        "name": contract["signer_name"],
        "roleName": role_name,
    }
    if fields:
        role["tabs"] = {"textTabs": [{"tabLabel": k, "value": v} for k, v in fields.items()]}
    return {
        "templateId": template_id,
        "templateRoles": [role],
        "status": "sent",
        "customFields": {
            "textCustomFields": [
                {
                    "name": CONTRACT_FIELD,
                    "value": contract["id"],
                    "show": "false",
                    "required": "false",
                }
            ]
        },
    }


class DocuSignCalls:
    """DocuSign's activities; built once per worker. `http` and `clock` are for tests."""

    def __init__(
        self,
        secrets: SecretSource,
        settings: DocuSignSettings,
        *,
        engine: Engine | None = None,
        env: str = "development",
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._engine = engine
        self._env = env
        self._clock = clock
        # No keep-alive: the worker never closes its partners' calls, so no socket may be left
        # open between calls (a send is a few calls a minute at most).
        self._http = http or httpx.Client(
            timeout=HTTP_TIMEOUT_SECONDS, limits=httpx.Limits(max_keepalive_connections=0)
        )
        self.auth = DocuSignAuth(secrets, settings, self._http, clock=clock)
        self._limiter = CallLimiter(PARTNER, {"esignature": max(1, settings.per_hour // 60)})
        self._gate = RateGate(PARTNER, "DocuSign", clock)

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [self.send_envelope, self.record_envelope]

    def preflight(self) -> None:
        """Real contracts go out only from a production hub: DocuSign's production environment
        with any other HUB_ENV stops the worker. A missing secret fails the calls, not the hub."""
        if self._settings.environment == "production" and self._env != "production":
            raise UnsafeConfiguration(
                "HUB_DOCUSIGN_ENVIRONMENT=production needs HUB_ENV=production "
                f"(HUB_ENV={self._env})"
            )

    def close(self) -> None:
        self._http.close()

    def _raise(self, operation: str, response: httpx.Response) -> NoReturn:
        rejected = response.status_code == 401
        if rejected:
            self.auth.forget_token()  # revoked or expired early: the retry fetches a new one
        retry_after = response.headers.get("retry-after")
        reset = response.headers.get("x-ratelimit-reset", "")
        if retry_after is None and response.status_code == 429 and reset.isdigit():
            retry_after = str(max(0, math.ceil(int(reset) - self._clock())))
        raise call_failed(
            PARTNER,
            operation,
            status=response.status_code,
            message=response.reason_phrase,
            code=error_code(response),
            retry_after=retry_after,
            retryable=True if rejected else None,
        )

    def _api(self, operation: str, method: str, path: str, **kwargs: Any) -> Any:
        """One eSignature call under the account's limits; `path` below the account."""
        self._gate.check(operation)
        token = self.auth.access_token(operation)
        base = self.auth.base_uri(operation)
        self._limiter.acquire("esignature")
        url = f"{base}/restapi/v2.1/accounts/{self.auth.account_id}/{path}"
        response = self.auth.send(
            operation, method, url, headers={"Authorization": f"Bearer {token}"}, **kwargs
        )
        observe_limits(self._gate, response.headers)
        if not response.is_success:
            self._raise(operation, response)
        return response.json() if response.content else None

    def _contract(self, operation: str, contract_id: str) -> dict[str, Any]:
        if self._engine is None:
            raise refuse(PARTNER, operation, "no database to read the contract from")
        with self._engine.connect() as connection:
            contract = contracts.get_contract(connection, contract_id=contract_id)
        if contract is None:
            raise refuse(PARTNER, operation, f"no contract {contract_id}")
        return contract

    def _sent_before(self, contract: dict[str, Any]) -> EnvelopeSent | None:
        """An envelope a lost first attempt made for this contract (listStatusChanges by the
        custom field), so a retry never sends a second one."""
        since = contract["created_at"] - timedelta(days=LOOKUP_DAYS)
        found = self._api(
            "envelopes.list",
            "GET",
            "envelopes",
            params={
                "from_date": since.isoformat(),
                "custom_field": f"{CONTRACT_FIELD}={contract['id']}",
            },
        )
        envelopes = found.get("envelopes") if isinstance(found, dict) else None
        for envelope in envelopes[:10] if isinstance(envelopes, list) else []:
            if isinstance(envelope, dict) and _is_envelope_id(envelope.get("envelopeId")):
                stamp = envelope.get("sentDateTime") or envelope.get("statusChangedDateTime")
                return EnvelopeSent(contract["id"], envelope["envelopeId"], self._time(stamp))
        return None

    def _time(self, stamp: object) -> str:
        """DocuSign's time of an answer as RFC 3339; now when it sent none we can read."""
        try:
            return rfc3339(stamp) if isinstance(stamp, str) else _now_rfc3339(self._clock())
        except MalformedPayload:
            return _now_rfc3339(self._clock())

    @activity.defn(name="docusign_send_envelope")
    def send_envelope(self, input: SendContractInput) -> EnvelopeSent:
        operation = "envelopes.create"
        contract = self._contract(operation, input.contract_id)
        if contract["envelope_id"] is not None:  # sent already: never twice
            sent = contract["sent_at"] or contract["created_at"]
            return EnvelopeSent(contract["id"], contract["envelope_id"], _rfc3339(sent))
        template = self._settings.templates.get(contract["template"])
        if template is None:
            raise refuse(PARTNER, operation, f"template {contract['template']!r} is not configured")
        if activity.in_activity() and activity.info().attempt > 1:
            earlier = self._sent_before(contract)
            if earlier is not None:
                return earlier
        body = envelope_definition(
            contract, template.template_id(contract["language"]), template.role_name, input.fields
        )
        created = self._api(operation, "POST", "envelopes", json=body)
        envelope_id = created.get("envelopeId") if isinstance(created, dict) else None
        if not _is_envelope_id(envelope_id):  # the contract's column holds 64 characters
            raise refuse(PARTNER, operation, "DocuSign's answer has no envelope id we can store")
        assert isinstance(envelope_id, str)  # checked above
        return EnvelopeSent(contract["id"], envelope_id, self._time(created.get("statusDateTime")))

    @activity.defn(name="docusign_record_envelope")
    def record_envelope(self, input: EnvelopeSent) -> None:
        """Record the envelope on its contract (sent if it is still created; a status an event
        already set is kept, whatever `sent_at` says); refused when the contract holds another
        envelope."""
        operation = "record_envelope"
        if self._engine is None:
            raise refuse(PARTNER, operation, "no database to record the envelope")
        when = datetime.fromisoformat(input.sent_at.replace("Z", "+00:00"))
        with begin_write(self._engine) as connection:
            contracts.record_envelope(
                connection,
                contract_id=input.contract_id,
                envelope_id=input.envelope_id,
                sent_at=when,
            )
            contract = contracts.get_contract(connection, contract_id=input.contract_id)
        if contract is None or contract["envelope_id"] != input.envelope_id:
            raise refuse(PARTNER, operation, f"contract {input.contract_id} holds another envelope")


def _is_envelope_id(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_ENVELOPE_ID


def _rfc3339(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _now_rfc3339(now: float) -> str:
    return _rfc3339(datetime.fromtimestamp(now, UTC))
