"""Stripe calls out: the official SDK against a local stand-in for api.stripe.com, run as
activities of the real workflows on the session's Temporal dev server."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from integration_hub.connectors.outbound import idempotency_key
from integration_hub.connectors.stripe.calls import (
    ChargeJobInput,
    InvoiceInput,
    InvoiceLine,
    PayCleanerInput,
    PaymentIntentResult,
    StripeCalls,
)
from integration_hub.connectors.stripe.workflows import STRIPE_WORKFLOWS
from integration_hub.errors import UnsafeConfiguration
from integration_hub.orchestration.worker import workflow_runner
from integration_hub.runtime import Hub
from integration_hub.secrets import EnvSecretSource
from tests.helpers import STRIPE_SECRET, STRIPE_SECRET_KEY, make_settings, wait_until
from tests.partner_server import PartnerServer, RecordedRequest, Reply, partner_server

# Assembled at run time so no secret scanner mistakes a test value for a leaked live key.
LIVE_PREFIXES = ["sk_" + "live_", "rk_" + "live_"]
FAKE_KEY_BODY = "51NotARealKeyForIntegrationHubTests000"

OBJECTS: dict[str, dict[str, Any]] = {
    "/v1/customers": {"id": "cus_T1", "object": "customer"},
    "/v1/payment_intents": {"id": "pi_T1", "object": "payment_intent", "status": "succeeded"},
    "/v1/transfers": {"id": "tr_T1", "object": "transfer"},
    "/v1/invoices": {"id": "in_T1", "object": "invoice", "status": "draft"},
    "/v1/invoiceitems": {"id": "ii_T1", "object": "invoiceitem"},
    "/v1/invoices/in_T1/finalize": {"id": "in_T1", "object": "invoice", "status": "open"},
}


def stripe_objects(request: RecordedRequest) -> Reply:
    if request.path in OBJECTS:
        return Reply(body=OBJECTS[request.path])
    return Reply(404, {"error": {"type": "invalid_request_error", "message": "No such route"}})


def stripe_error(status: int, kind: str, code: str, **headers: str) -> Reply:
    return Reply(status, {"error": {"type": kind, "code": code, "message": code}}, headers)


@pytest.fixture
def stripe_api() -> Iterator[PartnerServer]:
    yield from partner_server(stripe_objects)


@pytest.fixture
def calls(stripe_api: PartnerServer) -> Iterator[StripeCalls]:
    secrets = EnvSecretSource(environ={"STRIPE_SECRET_KEY": STRIPE_SECRET_KEY})
    calls = StripeCalls(secrets, env="test", api_base=stripe_api.url)
    yield calls
    calls.close()


@pytest.fixture
async def task_queue(temporal: WorkflowEnvironment, calls: StripeCalls) -> AsyncIterator[str]:
    queue = f"test-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(
            temporal.client,
            workflow_runner=workflow_runner(),
            task_queue=queue,
            workflows=list(STRIPE_WORKFLOWS),
            activities=calls.activities(),
            activity_executor=executor,
        ):
            yield queue


def job(**changes: Any) -> ChargeJobInput:
    values: dict[str, Any] = {
        "job_id": f"job-{uuid.uuid4().hex[:10]}",
        "customer_ref": "host-42",
        "amount": 12500,
        "currency": "EUR",
        "customer_email": "host42@example.com",
        "payment_method": "pm_card_visa",
        **changes,
    }
    return ChargeJobInput(**values)


async def charge(temporal: WorkflowEnvironment, queue: str, input: ChargeJobInput) -> Any:
    return await temporal.client.execute_workflow(
        "stripe_charge_job", input, id=input.workflow_id(), task_queue=queue
    )


def calls_to(server: PartnerServer, path: str) -> list[RecordedRequest]:
    return [r for r in server.requests if r.path == path]


def failure_of(error: WorkflowFailureError) -> ApplicationError:
    assert isinstance(error.cause, ActivityError)
    assert isinstance(error.cause.cause, ApplicationError)
    return error.cause.cause


async def test_charge_job_creates_the_customer_then_the_payment_intent(
    temporal: WorkflowEnvironment, task_queue: str, stripe_api: PartnerServer
) -> None:
    result = await temporal.client.execute_workflow(
        "stripe_charge_job",
        input := job(),
        id=input.workflow_id(),
        task_queue=task_queue,
        result_type=PaymentIntentResult,
    )

    assert result == PaymentIntentResult("pi_T1", "succeeded", "cus_T1")
    assert [(r.method, r.path) for r in stripe_api.requests] == [
        ("POST", "/v1/customers"),
        ("POST", "/v1/payment_intents"),
    ]
    customer, intent = stripe_api.requests
    assert customer.form() == {
        "email": ["host42@example.com"],
        "metadata[customer_ref]": ["host-42"],
    }
    assert intent.form() == {
        "amount": ["12500"],
        "currency": ["eur"],
        "customer": ["cus_T1"],
        "description": [f"Cleaning job {input.job_id}"],
        "metadata[job_id]": [input.job_id],
        "transfer_group": [f"job_{input.job_id}"],
        "payment_method": ["pm_card_visa"],
        "confirm": ["true"],
        "off_session": ["true"],
    }
    assert {r.headers["authorization"] for r in stripe_api.requests} == {
        f"Bearer {STRIPE_SECRET_KEY}"
    }


async def test_charge_job_with_a_known_customer_creates_no_customer(
    temporal: WorkflowEnvironment, task_queue: str, stripe_api: PartnerServer
) -> None:
    await charge(temporal, task_queue, job(stripe_customer_id="cus_Known"))

    assert [r.path for r in stripe_api.requests] == ["/v1/payment_intents"]
    assert stripe_api.requests[0].form()["customer"] == ["cus_Known"]


async def test_idempotency_keys_derive_from_our_ids(
    temporal: WorkflowEnvironment, task_queue: str, stripe_api: PartnerServer
) -> None:
    input = job()
    await charge(temporal, task_queue, input)

    customer, intent = stripe_api.requests
    assert customer.headers["idempotency-key"] == idempotency_key("stripe", "customer", "host-42")
    assert intent.headers["idempotency-key"] == idempotency_key(
        "stripe", "payment_intent", input.job_id
    )


async def test_retried_server_error_sends_the_same_idempotency_key(
    temporal: WorkflowEnvironment, task_queue: str, stripe_api: PartnerServer
) -> None:
    stripe_api.reply(stripe_error(500, "api_error", "internal"))

    await charge(temporal, task_queue, job(stripe_customer_id="cus_Known"))

    attempts = calls_to(stripe_api, "/v1/payment_intents")
    assert len(attempts) == 2
    assert attempts[0].headers["idempotency-key"] == attempts[1].headers["idempotency-key"]
    assert attempts[0].body == attempts[1].body


async def test_rate_limited_call_is_retried_after_retry_after(
    temporal: WorkflowEnvironment, task_queue: str, stripe_api: PartnerServer
) -> None:
    stripe_api.reply(
        stripe_error(429, "invalid_request_error", "rate_limit", **{"Retry-After": "3"})
    )

    await charge(temporal, task_queue, job(stripe_customer_id="cus_Known"))

    first, second = calls_to(stripe_api, "/v1/payment_intents")
    assert second.at - first.at >= 2.9  # CALL_RETRY alone would retry after 1 s


async def test_stripe_should_retry_false_stops_retries_of_a_server_error(
    temporal: WorkflowEnvironment, task_queue: str, stripe_api: PartnerServer
) -> None:
    stripe_api.reply(stripe_error(500, "api_error", "internal", **{"Stripe-Should-Retry": "false"}))

    with pytest.raises(WorkflowFailureError):
        await charge(temporal, task_queue, job(stripe_customer_id="cus_Known"))

    assert len(calls_to(stripe_api, "/v1/payment_intents")) == 1


async def test_card_decline_fails_the_charge_without_retrying(
    temporal: WorkflowEnvironment, task_queue: str, stripe_api: PartnerServer
) -> None:
    stripe_api.reply(stripe_error(402, "card_error", "card_declined"))

    with pytest.raises(WorkflowFailureError) as raised:
        await charge(temporal, task_queue, job(stripe_customer_id="cus_Known"))

    failure = failure_of(raised.value)
    assert (failure.type, failure.non_retryable) == ("stripe.card_declined", True)
    assert len(calls_to(stripe_api, "/v1/payment_intents")) == 1


async def test_invalid_request_is_not_retried(
    temporal: WorkflowEnvironment, task_queue: str, stripe_api: PartnerServer
) -> None:
    stripe_api.reply(stripe_error(400, "invalid_request_error", "parameter_invalid_integer"))

    with pytest.raises(WorkflowFailureError) as raised:
        await charge(temporal, task_queue, job(stripe_customer_id="cus_Known"))

    assert failure_of(raised.value).type == "stripe.parameter_invalid_integer"
    assert len(calls_to(stripe_api, "/v1/payment_intents")) == 1


async def test_pay_cleaner_transfers_to_the_connected_account(
    temporal: WorkflowEnvironment, task_queue: str, stripe_api: PartnerServer
) -> None:
    payout = PayCleanerInput(
        payout_id=f"payout-{uuid.uuid4().hex[:10]}",
        destination="acct_1Cleaner",
        amount=8000,
        currency="eur",
        job_id="job-7",
    )

    await temporal.client.execute_workflow(
        "stripe_pay_cleaner", payout, id=payout.workflow_id(), task_queue=task_queue
    )

    (transfer,) = stripe_api.requests
    assert (transfer.method, transfer.path) == ("POST", "/v1/transfers")
    assert transfer.form() == {
        "amount": ["8000"],
        "currency": ["eur"],
        "destination": ["acct_1Cleaner"],
        "transfer_group": ["job_job-7"],
        "metadata[payout_id]": [payout.payout_id],
        "metadata[job_id]": ["job-7"],
    }
    assert transfer.headers["idempotency-key"] == idempotency_key(
        "stripe", "transfer", payout.payout_id
    )
    assert "stripe-account" not in transfer.headers  # made on the platform account


async def test_invoice_is_drafted_itemized_and_finalized(
    temporal: WorkflowEnvironment, task_queue: str, stripe_api: PartnerServer
) -> None:
    invoice = InvoiceInput(
        invoice_ref=f"inv-{uuid.uuid4().hex[:10]}",
        customer_id="cus_T1",
        currency="eur",
        lines=[InvoiceLine("Turnover clean, Apt 3", 9000), InvoiceLine("Linen", 1500)],
    )

    result = await temporal.client.execute_workflow(
        "stripe_invoice", invoice, id=invoice.workflow_id(), task_queue=task_queue
    )

    assert result == {"invoice_id": "in_T1", "status": "open"}
    assert [(r.method, r.path) for r in stripe_api.requests] == [
        ("POST", "/v1/invoices"),
        ("POST", "/v1/invoiceitems"),
        ("POST", "/v1/invoiceitems"),
        ("POST", "/v1/invoices/in_T1/finalize"),
    ]
    draft, first, second, _ = stripe_api.requests
    assert draft.form() == {
        "customer": ["cus_T1"],
        "currency": ["eur"],
        "collection_method": ["send_invoice"],
        "days_until_due": ["14"],
        "auto_advance": ["false"],
        "pending_invoice_items_behavior": ["exclude"],
        "metadata[invoice_ref]": [invoice.invoice_ref],
    }
    assert first.form() == {
        "customer": ["cus_T1"],
        "invoice": ["in_T1"],
        "currency": ["eur"],
        "amount": ["9000"],
        "description": ["Turnover clean, Apt 3"],
        "metadata[invoice_ref]": [invoice.invoice_ref],
        "metadata[line]": ["0"],
    }
    assert second.form()["amount"] == ["1500"]
    keys = [r.headers["idempotency-key"] for r in stripe_api.requests]
    assert len(set(keys)) == 4  # one per logical call, each derived from the invoice ref


@contextlib.asynccontextmanager
async def hub_with_key(
    tmp_path: Path, database_url: str, temporal_address: str, *, env: str, key: str
) -> AsyncIterator[Hub]:
    settings = make_settings(tmp_path, database_url, temporal_address, env=env)
    secrets = EnvSecretSource(
        environ={"STRIPE_WEBHOOK_SECRET": STRIPE_SECRET, "STRIPE_SECRET_KEY": key}
    )
    hub = Hub(settings, secrets=secrets)
    try:
        yield hub
    finally:
        await hub.stop()


@pytest.mark.parametrize("prefix", LIVE_PREFIXES)
async def test_live_key_outside_production_stops_the_hub_start(
    tmp_path: Path, database_url: str, temporal_address: str, prefix: str
) -> None:
    key = prefix + FAKE_KEY_BODY
    async with hub_with_key(
        tmp_path, database_url, temporal_address, env="development", key=key
    ) as hub:
        with pytest.raises(UnsafeConfiguration) as refused:
            await hub.start()

    message = refused.value.detail
    assert "STRIPE_SECRET_KEY holds a live Stripe key" in message
    assert "HUB_ENV=development" in message
    assert FAKE_KEY_BODY not in message  # never echo the key


async def test_live_key_in_production_starts_the_hub(
    tmp_path: Path, database_url: str, temporal_address: str
) -> None:
    key = LIVE_PREFIXES[0] + FAKE_KEY_BODY
    async with hub_with_key(
        tmp_path, database_url, temporal_address, env="production", key=key
    ) as hub:
        await hub.start()

        ready = await wait_until(hub.readiness, lambda r: all(r.values()))
    assert ready == {"database": True, "temporal": True}


async def test_live_key_outside_production_refuses_every_call(stripe_api: PartnerServer) -> None:
    secrets = EnvSecretSource(environ={"STRIPE_SECRET_KEY": LIVE_PREFIXES[0] + FAKE_KEY_BODY})
    calls = StripeCalls(secrets, env="staging", api_base=stripe_api.url)

    with pytest.raises(ApplicationError) as refused:
        calls.create_transfer(PayCleanerInput("payout-1", "acct_1", 100, "eur"))
    calls.close()

    assert (refused.value.type, refused.value.non_retryable) == ("CallRefused", True)
    assert stripe_api.requests == []
