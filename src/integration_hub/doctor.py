"""`hub doctor`: per partner, which secrets are set and well formed (never their values), and
what remains of its sandbox checklist, read from what the hub has actually stored.

Every partner in `PARTNERS` is reported, from its declaration: its secrets (`Partner.secrets`)
are set and well formed (a family declared per instance: each instance the secret source
lists, or "no instance yet", which is not missing); for partners that send us webhooks, a signed delivery was verified and
stored (`hub send` does it) and normalized into internal events, and, where a handler takes
any of its events, its handler workflows completed; for each source it polls, a page was
stored, with the source's last success and last error (`poll_cursors`).

Warnings do not make a partner incomplete: the partner works, but a setting leaves it weaker than
it should be (today: a partner whose scheme signs the URL it called, configured without
`HUB_PUBLIC_BASE_URL`, so the signed URL is rebuilt from the request's own Host header).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from integration_hub.checklist import (
    SECRETS_SET,
    SECRETS_WELL_FORMED,
    SUPPORT_EVIDENCE,
    evidence_steps,
    takes_deliveries,
)
from integration_hub.connectors.base import Connector, Manifest
from integration_hub.connectors.partner import Partner
from integration_hub.connectors.partners import PARTNERS, build_connectors
from integration_hub.secrets import SecretSource, TooManyInstances
from integration_hub.sending_domain import DomainCheck
from integration_hub.sending_domain import describe as describe_domain
from integration_hub.settings import Settings
from integration_hub.sign_in import SignInReport, active_provider, check_sign_in
from integration_hub.storage import observed, poll_cursors, support


@dataclass(frozen=True)
class SecretCheck:
    name: str
    versions: int  # 0 = not set; 2 = a rotation overlap (current and previous)
    well_formed: bool | None  # None: no known shape to check against
    required: bool = True
    # A family declared per instance: `family` is its name and `instance` the id this check is
    # about (`name` is then FAMILY__INSTANCE); no instance listed yet: `instance` None.
    family: str | None = None
    instance: str | None = None
    # The declared description of another accepted form a value was given in (the secret's
    # `normalize`): a note, not a failure. Never the value.
    normalized: str | None = None

    @property
    def no_instance_yet(self) -> bool:
        return self.family is not None and self.instance is None

    @property
    def missing(self) -> bool:
        """Required and not set; a family with no instance yet is not missing."""
        return self.versions == 0 and self.required and not self.no_instance_yet

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "set": self.versions > 0,
            "versions": self.versions,
            "well_formed": self.well_formed,
            "required": self.required,
            "family": self.family,
            "instance": self.instance,
            "normalized": self.normalized,
        }


@dataclass(frozen=True)
class ChecklistItem:
    step: str
    done: bool | None  # None: cannot tell (e.g. database unreachable)
    how: str


@dataclass(frozen=True)
class PollCheck:
    source: str
    instance: str
    last_success_at: datetime | None
    last_error: str | None  # the latest failed attempt since the last success

    def as_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "instance": self.instance,
            "last_success_at": self.last_success_at.isoformat() if self.last_success_at else None,
            "last_error": self.last_error,
        }


@dataclass
class PartnerReport:
    partner: str
    priority: str
    receives_webhooks: bool
    calls_out: bool
    secrets: list[SecretCheck] = field(default_factory=list)
    checklist: list[ChecklistItem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    polling: bool = False  # the partner declares poll sources
    polls: list[PollCheck] = field(default_factory=list)
    sign_in: SignInReport | None = None  # the active auth provider's passkeys and MFA
    # An e-mail provider's sending-domain records (sending_domain.py): informational.
    domain: list[DomainCheck] = field(default_factory=list)
    domain_notes: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return all(item.done for item in self.checklist)

    @property
    def notes(self) -> list[str]:
        """What doctor read differently from how it was given: informs, never fails."""
        given = [f"{s.name} given as {s.normalized}" for s in self.secrets if s.normalized]
        return given + self.domain_notes

    def as_dict(self) -> dict[str, object]:
        return {
            "partner": self.partner,
            "priority": self.priority,
            "receives_webhooks": self.receives_webhooks,
            "calls_out": self.calls_out,
            "polling": self.polling,
            "complete": self.complete,
            "secrets": [s.as_dict() for s in self.secrets],
            "remaining": [{"step": i.step, "how": i.how} for i in self.checklist if not i.done],
            "warnings": list(self.warnings),
            "notes": self.notes,
            "polls": [p.as_dict() for p in self.polls],
            "sign_in": self.sign_in.as_dict() if self.sign_in else None,
            "domain": [d.as_dict() for d in self.domain],
        }


def unpinned_signed_url(manifest: Manifest) -> str:
    """Why a partner that signs the URL needs `HUB_PUBLIC_BASE_URL` (for `hub doctor` and the
    warning `hub serve` logs at start)."""
    return (
        f"{manifest.webhook_secret} is set but HUB_PUBLIC_BASE_URL is not: {manifest.name} signs "
        "the URL it called, and without the public base URL the hub rebuilds it from the "
        "request's Host header (or X-Forwarded-Host from HUB_TRUSTED_PROXIES), which any sender "
        "chooses; set HUB_PUBLIC_BASE_URL to the URL configured at the partner"
    )


def partners_with_unpinned_url(
    connectors: Mapping[str, Connector], secrets: SecretSource, public_base_url: str | None
) -> list[Manifest]:
    """Configured partners whose signature covers the URL, while no public base URL is set."""
    if public_base_url:
        return []
    return [
        c.manifest
        for c in connectors.values()
        if c.manifest.signs_url and secrets.versions(c.manifest.webhook_secret)
    ]


def check_secret(
    name: str,
    secrets: SecretSource,
    pattern: str | None,
    *,
    required: bool = True,
    normalize: Callable[[str], tuple[str, str | None]] | None = None,
) -> SecretCheck:
    values = secrets.versions(name)
    forms = [normalize(v) for v in values] if normalize is not None else [(v, None) for v in values]
    normalized = next((form for _, form in forms if form is not None), None)
    if not values or pattern is None:
        return SecretCheck(name, len(values), None, required, normalized=normalized)
    well_formed = all(re.fullmatch(pattern, value) for value, _ in forms)
    return SecretCheck(name, len(values), well_formed, required, normalized=normalized)


def _evidence(engine: Engine | None, partner: str) -> dict[str, bool | None]:
    """Whether the hub stored, normalized and fully handled at least one delivery; for a
    support inbox, whether a conversation was opened there and a reply relayed back."""
    keys = ("stored", "normalized", "handled", *SUPPORT_EVIDENCE)
    if engine is None:
        return dict.fromkeys(keys, False)
    try:
        with engine.connect() as connection:
            found = dict(observed.progress(connection, partner=partner))
            found.update(support.evidence(connection, provider=partner))
            return dict(found)
    except SQLAlchemyError:
        return dict.fromkeys(keys, None)


def _poll_checks(engine: Engine | None, partner: Partner) -> list[PollCheck] | None:
    """Where each of the partner's poll sources stands; None when the database cannot tell."""
    if engine is None or not partner.polls:
        return []
    try:
        with engine.connect() as connection:
            states = poll_cursors.states(connection, partner=partner.name)
    except SQLAlchemyError:
        return None
    return [PollCheck(s.source, s.instance, s.last_success_at, s.last_error) for s in states]


def _evidence_checklist(
    partner: Partner, connector: Connector | None, engine: Engine | None
) -> tuple[list[ChecklistItem], list[PollCheck]]:
    """The evidence steps, each marked with what the hub has stored; the poll sources' state."""
    wanted = connector is not None or "support" in partner.capabilities
    evidence = _evidence(engine, partner.name) if wanted else {}
    checks = _poll_checks(engine, partner)
    items = []
    for step in evidence_steps(partner, connector):
        if not step.poll:
            done = evidence[step.evidence]
        elif checks is None:
            done = None
        else:
            done = any(c.source == step.evidence and c.last_success_at for c in checks)
        items.append(ChecklistItem(step.step, done, step.how))
    return items, checks or []


def _secret_checks(partner: Partner, secrets: SecretSource) -> tuple[list[SecretCheck], list[str]]:
    """One check per plain secret and per listed instance of a family; warnings besides."""
    checks: list[SecretCheck] = []
    warnings: list[str] = []
    for secret in partner.secrets:
        if not secret.per_instance:
            checks.append(
                check_secret(
                    secret.name,
                    secrets,
                    secret.format,
                    required=secret.required,
                    normalize=secret.normalize,
                )
            )
            continue
        try:
            instances = secrets.instances(secret.name)
        except TooManyInstances as error:
            warnings.append(f"{error.detail}: none of them is checked")
            continue
        if not instances:
            checks.append(SecretCheck(secret.name, 0, None, secret.required, family=secret.name))
        for instance in instances:
            name = secret.for_instance(instance)
            check = check_secret(
                name, secrets, secret.format, required=secret.required, normalize=secret.normalize
            )
            checks.append(replace(check, family=secret.name, instance=instance))
    return checks, warnings


def diagnose(
    *,
    secrets: SecretSource,
    engine: Engine | None,
    public_base_url: str | None = None,
    partners: Sequence[Partner] = PARTNERS,
    settings: Settings | None = None,
    domain_checks: Callable[[Partner], list[DomainCheck]] | None = None,
) -> list[PartnerReport]:
    """One report per partner, P0 first; `engine` None means nothing has been stored yet.
    `public_base_url` is `HUB_PUBLIC_BASE_URL` (None: not set). With `settings`, the active
    auth provider's sign-in policy is read live (sign_in.py). `domain_checks`: an e-mail
    provider's sending-domain records (`sending_domain.domain_checks`; None: not looked up)."""
    connectors = build_connectors(None, partners)  # their manifests only: nothing is verified
    reports: list[PartnerReport] = []
    for partner in partners:
        secret_checks, secret_warnings = _secret_checks(partner, secrets)
        connector = connectors.get(partner.name)
        report = PartnerReport(
            partner.name,
            partner.priority,
            receives_webhooks=connector is not None and takes_deliveries(connector),
            calls_out=partner.calls is not None,
            polling=bool(partner.polls),
            secrets=secret_checks,
            warnings=secret_warnings,
        )
        missing = [s.name for s in report.secrets if s.missing]
        malformed = [s.name for s in report.secrets if s.well_formed is False]
        report.checklist = [
            ChecklistItem(SECRETS_SET, not missing, "set " + ", ".join(missing) if missing else ""),
            ChecklistItem(
                SECRETS_WELL_FORMED,
                not malformed,
                "check " + ", ".join(malformed) if malformed else "",
            ),
        ]
        evidence, report.polls = _evidence_checklist(partner, connector, engine)
        report.checklist += evidence
        if domain_checks is not None:
            report.domain = domain_checks(partner)
            domain_warnings, report.domain_notes = describe_domain(report.domain)
            report.warnings += domain_warnings
        reports.append(report)
    by_name = {report.partner: report for report in reports}
    for signs_url in partners_with_unpinned_url(connectors, secrets, public_base_url):
        by_name[signs_url.name].warnings.append(unpinned_signed_url(signs_url))
    provider = active_provider(settings, partners) if settings is not None else None
    if settings is not None and provider is not None:
        by_name[provider.name].sign_in = check_sign_in(settings, secrets, provider)
    return sorted(reports, key=lambda r: (r.priority, r.partner))
