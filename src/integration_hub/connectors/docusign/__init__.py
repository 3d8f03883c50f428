"""DocuSign: B2B contracts. Envelopes go out from a template in the signer's language (JWT
grant, `calls.py`, run by the `docusign.send_contract` workflow that `POST /api/contracts`
starts); DocuSign Connect reports their progress back (`webhook.py`: HMAC, JSON SIM), which the
core contracts handler applies to the `contracts` table.

The declaration is static and cheap: the factories import the modules only when the
composition root calls them (`hub --help` reads every declaration).
"""

from __future__ import annotations

import base64
import re
import secrets
from typing import TYPE_CHECKING

from integration_hub.connectors.partner import (
    CallsContext,
    Partner,
    RoutesContext,
    Secret,
    WebhookContext,
)

if TYPE_CHECKING:
    from fastapi import APIRouter

    from integration_hub.connectors.base import Connector
    from integration_hub.connectors.outbound import PartnerCalls

CLIENT_ID = "DOCUSIGN_CLIENT_ID"
CLIENT_SECRET = "DOCUSIGN_CLIENT_SECRET"  # noqa: S105 (a variable name, not a value)
ACCOUNT_ID = "DOCUSIGN_ACCOUNT_ID"
USER_ID = "DOCUSIGN_USER_ID"
PRIVATE_KEY = "DOCUSIGN_PRIVATE_KEY"
WEBHOOK_SECRET = "DOCUSIGN_WEBHOOK_SECRET"  # noqa: S105 (a variable name, not a value)

GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
PEM_LABEL = r"(RSA )?PRIVATE KEY"
PEM = rf"-----BEGIN {PEM_LABEL}-----\n[A-Za-z0-9+/=\n]+\n-----END {PEM_LABEL}-----"
_BARE_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]{64,}")


def normalize_private_key(value: str) -> tuple[str, str | None]:
    """The RSA key as PEM with real line breaks. A `.env` holds one line per variable, so the
    key is often pasted with literal `\\n` escapes, with Windows line ends, or (from DocuSign's
    Apps and Keys page) as its base64 body alone; each becomes the PEM text DocuSign gave."""
    text, forms = value, list[str]()
    if "\\n" in text:
        text, forms = text.replace("\\n", "\n"), [*forms, "with \\n escapes"]
    if "\r" in text:
        text, forms = text.replace("\r\n", "\n").replace("\r", "\n"), [*forms, "with CRLF"]
    text = text.strip()
    if not text.startswith("-----BEGIN") and _BARE_BASE64.fullmatch(text):
        body = "".join(text.split())
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        text = "\n".join(
            ["-----BEGIN RSA PRIVATE KEY-----", *lines, "-----END RSA PRIVATE KEY-----"]
        )
        forms.append("as the base64 body without PEM lines")
    return text, (", ".join(forms) or None)


def _webhook(context: WebhookContext) -> Connector:
    from integration_hub.connectors.docusign.webhook import DocuSignConnector

    return DocuSignConnector()


def _calls(context: CallsContext) -> PartnerCalls:
    from integration_hub.connectors.docusign.calls import DocuSignCalls
    from integration_hub.connectors.docusign.settings import DocuSignSettings

    # HUB_DOCUSIGN_* are the partner's own settings, read when a worker builds the calls.
    return DocuSignCalls(
        context.secrets, DocuSignSettings(), engine=context.engine, env=context.settings.env
    )


def _workflows() -> tuple[type, ...]:
    from integration_hub.connectors.docusign.workflows import DOCUSIGN_WORKFLOWS

    return DOCUSIGN_WORKFLOWS


def _routes(context: RoutesContext) -> APIRouter:
    from integration_hub.connectors.docusign.routes import contract_routes

    return contract_routes(context)


PARTNER = Partner(
    name="docusign",
    priority="P1",
    summary="Contracts: envelopes from templates (es/en) out by JWT grant; Connect events in.",
    capabilities=frozenset({"contracts"}),
    secrets=(
        Secret(
            WEBHOOK_SECRET,
            format=r"[A-Za-z0-9+/]{43}=",
            used_for="webhook",
            local=lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
            source=(
                "DocuSign eSignature Admin (demo account for the sandbox) > Connect > Connect "
                "Keys > Add Secret Key (copy it when shown); then in Connect > Configurations > "
                "Add Configuration > Custom: data format JSON SIM, URL "
                "HUB_PUBLIC_BASE_URL + /webhooks/docusign, tick Include HMAC Signature, and the "
                "envelope events Sent, Delivered, Completed, Declined, Voided and the recipient "
                "event Completed; include the envelope's custom fields"
            ),
        ),
        Secret(
            CLIENT_ID,
            format=GUID,
            source=(
                "DocuSign eSignature Admin (demo account for the sandbox) > Integrations > "
                "Apps and Keys > your app > Integration Key"
            ),
        ),
        Secret(
            ACCOUNT_ID,
            format=GUID,
            source=(
                "DocuSign eSignature Admin > Apps and Keys > My Account Information > "
                "API Account ID"
            ),
        ),
        Secret(
            USER_ID,
            format=GUID,
            source=(
                "DocuSign eSignature Admin > Apps and Keys > My Account Information > User ID "
                "(the user the hub impersonates; grant consent once by opening the consent URL "
                "a first send answers with)"
            ),
        ),
        Secret(
            PRIVATE_KEY,
            format=PEM,
            normalize=normalize_private_key,
            source=(
                "DocuSign eSignature Admin > Apps and Keys > your app > Service Integration > "
                "Generate RSA (the private key is shown once; PEM, or one line with \\n escapes)"
            ),
        ),
        Secret(
            CLIENT_SECRET,
            format=GUID,
            required=False,
            source=(
                "DocuSign Apps and Keys > your app > Authentication > Add Secret Key (only for "
                "the authorization-code grant; the hub's JWT grant does not use it)"
            ),
        ),
    ),
    webhook=_webhook,
    calls=_calls,
    workflows=_workflows,
    routes=_routes,
)
