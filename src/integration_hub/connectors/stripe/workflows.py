"""Stripe's call-out workflows: deterministic only, every call is an activity of `StripeCalls`.

Workflows take one dataclass each; start them with `input.workflow_id()`: while one runs, a
second start of the same job, payout or invoice is refused by Temporal (and with
`id_reuse_policy=REJECT_DUPLICATE`, after it ended too); a rerun inside Stripe's key window
gets Stripe's first answers back.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from integration_hub.connectors.outbound import call_activity
    from integration_hub.connectors.stripe.calls import (
        ChargeJobInput,
        CustomerInput,
        InvoiceInput,
        InvoiceItemInput,
        InvoiceRef,
        InvoiceResult,
        PayCleanerInput,
        PaymentIntentInput,
        PaymentIntentResult,
        StripeCalls,
        TransferResult,
    )
    from integration_hub.connectors.stripe.connect import (
        AccountLinkInput,
        ConnectedAccountInput,
        OnboardCleanerInput,
        OnboardingResult,
        RecordAccountInput,
        StripeConnectCalls,
    )


@workflow.defn(name="stripe_charge_job")
class StripeChargeJobWorkflow:
    """Ensure the customer, then create (and, with a saved card, confirm) the job's charge."""

    @workflow.run
    async def run(self, input: ChargeJobInput) -> PaymentIntentResult:
        customer_id = input.stripe_customer_id
        if customer_id is None:
            customer_id = await call_activity(
                StripeCalls.ensure_customer,
                CustomerInput(input.customer_ref, input.customer_email, input.customer_name),
            )
        return await call_activity(
            StripeCalls.create_payment_intent,
            PaymentIntentInput(
                job_id=input.job_id,
                customer_id=customer_id,
                amount=input.amount,
                currency=input.currency,
                payment_method=input.payment_method,
            ),
        )


@workflow.defn(name="stripe_pay_cleaner")
class StripePayCleanerWorkflow:
    @workflow.run
    async def run(self, input: PayCleanerInput) -> TransferResult:
        return await call_activity(StripeCalls.create_transfer, input)


@workflow.defn(name="stripe_invoice")
class StripeInvoiceWorkflow:
    @workflow.run
    async def run(self, input: InvoiceInput) -> InvoiceResult:
        invoice_id = await call_activity(StripeCalls.create_invoice, input)
        for index, line in enumerate(input.lines):
            await call_activity(
                StripeCalls.add_invoice_item,
                InvoiceItemInput(
                    input.invoice_ref, invoice_id, input.customer_id, input.currency, index, line
                ),
            )
        return await call_activity(
            StripeCalls.finalize_invoice, InvoiceRef(input.invoice_ref, invoice_id)
        )


@workflow.defn(name="stripe_onboard_cleaner")
class StripeOnboardCleanerWorkflow:
    """A cleaner's Express account (made once, stored on the cleaner), then a fresh link."""

    @workflow.run
    async def run(self, input: OnboardCleanerInput) -> OnboardingResult:
        account_id = input.account_id
        if account_id is None:
            account = await call_activity(
                StripeConnectCalls.create_connected_account,
                ConnectedAccountInput(input.cleaner_id, input.country, input.phone),
            )
            await call_activity(
                StripeConnectCalls.record_payout_account,
                RecordAccountInput(input.cleaner_id, account),
            )
            account_id = account.account_id
        return await call_activity(
            StripeConnectCalls.create_account_link,
            AccountLinkInput(
                input.cleaner_id,
                account_id,
                input.refresh_url,
                input.return_url,
                workflow.info().run_id,
            ),
        )


STRIPE_WORKFLOWS: tuple[type, ...] = (
    StripeChargeJobWorkflow,
    StripePayCleanerWorkflow,
    StripeInvoiceWorkflow,
    StripeOnboardCleanerWorkflow,
)
