"""Stripe calls out: customers, a PaymentIntent per finished job, Connect transfers, invoices.

The official `stripe` SDK makes the calls with its own retries off: each call is a Temporal
activity and Temporal owns retries (`CALL_RETRY`). Every write carries an Idempotency-Key
derived from our own ids, so a retried activity or a restarted workflow never charges, pays or
bills twice (Stripe keeps keys for at least 24 hours). Failures map as Stripe documents them:
429, 409 (the same key in flight), 5xx and connection errors are retried, after `Retry-After`
when sent; other 4xx are not, and a card decline (402) is a business failure.
`Stripe-Should-Retry`, when Stripe sends it, has the last word. A live key (`sk_live_`,
`rk_live_`) outside `HUB_ENV=production` stops the start (`preflight`) and every call.

The workflows that run these activities are in `workflows.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import stripe
from stripe import APIConnectionError, HTTPClient, StripeClient, StripeError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from integration_hub.connectors.outbound import (
    CallLimiter,
    call_failed,
    idempotency_key,
    refuse,
    timed_call,
)
from integration_hub.connectors.stripe import API_KEY  # declared with the partner
from integration_hub.errors import UnsafeConfiguration
from integration_hub.secrets import SecretSource

PARTNER = "stripe"
LIVE_PREFIXES = ("sk_live_", "rk_live_")
DEFAULT_API_BASE = "https://api.stripe.com"
HTTP_TIMEOUT_SECONDS = 20.0  # under CALL_TIMEOUT: the SDK gives up before Temporal does
# Stripe's documented limits: 100 operations per second in live mode, 25 in test mode.
LIVE_PER_MINUTE, TEST_PER_MINUTE = 100 * 60, 25 * 60

T = TypeVar("T")


@dataclass(frozen=True)
class CustomerInput:
    customer_ref: str  # our id for who pays (a host, a property manager)
    email: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class PaymentIntentInput:
    job_id: str
    customer_id: str  # cus_...
    amount: int  # minor units
    currency: str
    payment_method: str | None = None  # a saved pm_...: charge now, off session


@dataclass(frozen=True)
class PaymentIntentResult:
    payment_intent_id: str
    status: str
    customer_id: str  # keep it and pass it as `stripe_customer_id` next time


@dataclass(frozen=True)
class ChargeJobInput:
    """Charge a customer for a completed cleaning job; creates the customer when needed."""

    job_id: str
    customer_ref: str
    amount: int
    currency: str
    customer_email: str | None = None
    customer_name: str | None = None
    stripe_customer_id: str | None = None  # known already: no customer is created
    payment_method: str | None = None

    def workflow_id(self) -> str:
        return f"stripe_charge_job/{self.job_id}"


@dataclass(frozen=True)
class PayCleanerInput:
    """A Connect transfer from the platform balance to a cleaner's connected account."""

    payout_id: str
    destination: str  # acct_...
    amount: int
    currency: str
    job_id: str | None = None  # links the transfer to the job's charge (transfer_group)

    def workflow_id(self) -> str:
        return f"stripe_pay_cleaner/{self.payout_id}"


@dataclass(frozen=True)
class TransferResult:
    transfer_id: str


@dataclass(frozen=True)
class InvoiceLine:
    description: str
    amount: int


@dataclass(frozen=True)
class InvoiceInput:
    """A draft invoice with one item per line, then finalized (Stripe emails it when sent)."""

    invoice_ref: str
    customer_id: str
    currency: str
    lines: list[InvoiceLine] = field(default_factory=list)
    days_until_due: int = 14

    def workflow_id(self) -> str:
        return f"stripe_invoice/{self.invoice_ref}"


@dataclass(frozen=True)
class InvoiceItemInput:
    invoice_ref: str
    invoice_id: str
    customer_id: str
    currency: str
    index: int  # the line's position: part of its idempotency key
    line: InvoiceLine


@dataclass(frozen=True)
class InvoiceRef:
    invoice_ref: str
    invoice_id: str


@dataclass(frozen=True)
class InvoiceResult:
    invoice_id: str
    status: str


class HttpxClient(HTTPClient):
    """The SDK's requests over one thread-safe `httpx.Client`. (The SDK's own httpx adapter
    sends form bodies as `data=`, which httpx 0.28 deprecates; this one sends `content=`.)"""

    name = "httpx-sync"

    def __init__(self, timeout: float) -> None:
        super().__init__()
        # No pooled connections: the worker builds these calls once and never closes them
        # (partner calls have no shutdown hook yet), so a kept-alive socket would outlive it.
        # A few calls per job make a new connection each cheap enough.
        self._http = httpx.Client(timeout=timeout, limits=httpx.Limits(max_keepalive_connections=0))

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[str, int, Mapping[str, str]]:
        try:
            response = self._http.request(method, url, headers=headers, content=post_data)
        except httpx.HTTPError as error:  # no answer: connection refused, reset, timed out
            raise APIConnectionError(  # type: ignore[no-untyped-call]  # SDK unannotated
                f"network error ({type(error).__name__})", should_retry=True
            ) from error
        return response.text, response.status_code, response.headers

    def close(self) -> None:
        self._http.close()


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    return next((v for k, v in (headers or {}).items() if k.lower() == name), None)


def _failed(operation: str, error: StripeError) -> ApplicationError:
    should_retry = (_header(error.headers, "stripe-should-retry") or "").lower()
    retryable: bool | None = None
    if should_retry in ("true", "false"):
        retryable = should_retry == "true"
    elif error.http_status == 409:  # a request with the same key is still in flight
        retryable = True
    return call_failed(
        PARTNER,
        operation,
        status=error.http_status,
        message=str(error),
        code=error.code,
        retry_after=_header(error.headers, "retry-after"),
        retryable=retryable,
    )


class StripeCalls:
    """Stripe's activities; built once per worker with the secrets and the hub's environment."""

    def __init__(
        self, secrets: SecretSource, *, env: str, api_base: str = DEFAULT_API_BASE
    ) -> None:
        self._env = env
        self._keys = secrets.versions(API_KEY)
        self._client: StripeClient | None = None
        live = bool(self._keys) and self._keys[0].startswith(LIVE_PREFIXES)
        self._limiter = CallLimiter(PARTNER, {"api": LIVE_PER_MINUTE if live else TEST_PER_MINUTE})
        if self._keys:
            self._http = HttpxClient(timeout=HTTP_TIMEOUT_SECONDS)
            self._client = StripeClient(
                self._keys[0],
                base_addresses={"api": api_base},
                max_network_retries=0,  # Temporal owns retries
                http_client=self._http,
            )

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [
            self.ensure_customer,
            self.create_payment_intent,
            self.create_transfer,
            self.create_invoice,
            self.add_invoice_item,
            self.finalize_invoice,
        ]

    def preflight(self) -> None:
        refusal = self._live_key_refusal()
        if refusal:
            raise UnsafeConfiguration(refusal)

    def close(self) -> None:
        if self._client is not None:
            self._http.close()

    def _live_key_refusal(self) -> str | None:
        if self._env == "production" or not any(k.startswith(LIVE_PREFIXES) for k in self._keys):
            return None
        return (
            f"{API_KEY} holds a live Stripe key (sk_live_/rk_live_) but HUB_ENV={self._env}; "
            "live keys are used only with HUB_ENV=production. Use a sk_test_ or rk_test_ key "
            "here, or set HUB_ENV=production on the production deployment."
        )

    def _call(self, operation: str, request: Callable[[StripeClient], T]) -> T:
        refusal = self._live_key_refusal()
        if refusal:
            raise refuse(PARTNER, operation, refusal)
        if self._client is None:
            raise refuse(PARTNER, operation, f"{API_KEY} is not set")
        self._limiter.acquire("api")
        try:
            with timed_call(PARTNER, operation):
                return request(self._client)
        except StripeError as error:
            raise _failed(operation, error) from None

    @activity.defn(name="stripe_ensure_customer")
    def ensure_customer(self, input: CustomerInput) -> str:
        """Create the Stripe customer for our customer. The same ref gives the same customer for
        as long as Stripe keeps the key (24 hours at least); callers keep the id it returns."""
        params: stripe.params.CustomerCreateParams = {
            "metadata": {"customer_ref": input.customer_ref}
        }
        if input.email:
            params["email"] = input.email
        if input.name:
            params["name"] = input.name
        key = idempotency_key(PARTNER, "customer", input.customer_ref)
        customer = self._call(
            "customers.create",
            lambda c: c.v1.customers.create(params=params, options={"idempotency_key": key}),
        )
        return customer.id

    @activity.defn(name="stripe_create_payment_intent")
    def create_payment_intent(self, input: PaymentIntentInput) -> PaymentIntentResult:
        params: stripe.params.PaymentIntentCreateParams = {
            "amount": input.amount,
            "currency": input.currency.lower(),
            "customer": input.customer_id,
            "description": f"Cleaning job {input.job_id}",
            "metadata": {"job_id": input.job_id},
            "transfer_group": f"job_{input.job_id}",
        }
        if input.payment_method:
            params["payment_method"] = input.payment_method
            params["confirm"] = params["off_session"] = True
        key = idempotency_key(PARTNER, "payment_intent", input.job_id)
        intent = self._call(
            "payment_intents.create",
            lambda c: c.v1.payment_intents.create(params=params, options={"idempotency_key": key}),
        )
        return PaymentIntentResult(intent.id, intent.status, input.customer_id)

    @activity.defn(name="stripe_create_transfer")
    def create_transfer(self, input: PayCleanerInput) -> TransferResult:
        params: stripe.params.TransferCreateParams = {
            "amount": input.amount,
            "currency": input.currency.lower(),
            "destination": input.destination,
            "metadata": {"payout_id": input.payout_id},
        }
        if input.job_id:
            params["transfer_group"] = f"job_{input.job_id}"
            params["metadata"] = {"payout_id": input.payout_id, "job_id": input.job_id}
        key = idempotency_key(PARTNER, "transfer", input.payout_id)
        transfer = self._call(
            "transfers.create",
            lambda c: c.v1.transfers.create(params=params, options={"idempotency_key": key}),
        )
        return TransferResult(transfer_id=transfer.id)

    @activity.defn(name="stripe_create_invoice")
    def create_invoice(self, input: InvoiceInput) -> str:
        """A draft that takes only the items added to it (never a customer's stray ones)."""
        params: stripe.params.InvoiceCreateParams = {
            "customer": input.customer_id,
            "currency": input.currency.lower(),
            "collection_method": "send_invoice",
            "days_until_due": input.days_until_due,
            "auto_advance": False,
            "pending_invoice_items_behavior": "exclude",
            "metadata": {"invoice_ref": input.invoice_ref},
        }
        key = idempotency_key(PARTNER, "invoice", input.invoice_ref)
        invoice = self._call(
            "invoices.create",
            lambda c: c.v1.invoices.create(params=params, options={"idempotency_key": key}),
        )
        return str(invoice.id)

    @activity.defn(name="stripe_add_invoice_item")
    def add_invoice_item(self, input: InvoiceItemInput) -> str:
        params: stripe.params.InvoiceItemCreateParams = {
            "customer": input.customer_id,
            "invoice": input.invoice_id,
            "currency": input.currency.lower(),
            "amount": input.line.amount,
            "description": input.line.description,
            "metadata": {"invoice_ref": input.invoice_ref, "line": str(input.index)},
        }
        key = idempotency_key(PARTNER, "invoice_item", input.invoice_ref, str(input.index))
        item = self._call(
            "invoiceitems.create",
            lambda c: c.v1.invoice_items.create(params=params, options={"idempotency_key": key}),
        )
        return item.id

    @activity.defn(name="stripe_finalize_invoice")
    def finalize_invoice(self, input: InvoiceRef) -> InvoiceResult:
        key = idempotency_key(PARTNER, "invoice_finalize", input.invoice_ref)
        invoice = self._call(
            "invoices.finalize",
            lambda c: c.v1.invoices.finalize_invoice(
                input.invoice_id, options={"idempotency_key": key}
            ),
        )
        return InvoiceResult(invoice_id=str(invoice.id), status=str(invoice.status))
