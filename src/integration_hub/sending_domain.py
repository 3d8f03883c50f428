"""`hub doctor` for e-mail: does the sending domain (HUB_EMAIL_FROM's) publish the SPF and DKIM
records its provider needs? The records are the provider's declaration
(`Partner.domain_records`); this module only looks them up (dnspython), with a short timeout.
Offline, or when DNS does not answer, doctor says it could not check, never that a record is
missing. Informational: a missing record is a warning, not an incomplete checklist.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dns.exception
import dns.resolver

from integration_hub.connectors.mail import sender_domain
from integration_hub.connectors.partner import DomainRecord, Partner
from integration_hub.connectors.partners import provider_for
from integration_hub.errors import UnknownPartner
from integration_hub.settings import Settings

LOOKUP_SECONDS = 3.0
MAX_ANSWERS = 20  # a name with more TXT records than this is not read further


class RecordMissing(Exception):
    """DNS answered: the name or the record type does not exist."""


class DnsUnreachable(Exception):
    """DNS did not answer (offline, a timeout, no usable nameserver)."""


Resolve = Callable[[str, str], Sequence[str]]


def dns_resolve(
    name: str, kind: str, *, resolver: dns.resolver.Resolver | None = None
) -> list[str]:
    """The answers to `kind` at `name`, lower case (TXT strings joined, as SPF is read)."""
    active = resolver or dns.resolver.Resolver()
    try:
        answer = active.resolve(name, kind, lifetime=LOOKUP_SECONDS)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        raise RecordMissing(name) from None
    except (dns.exception.DNSException, OSError):
        raise DnsUnreachable(name) from None
    texts = []
    for record in list(answer)[:MAX_ANSWERS]:
        strings = getattr(record, "strings", None)
        text = b"".join(strings).decode(errors="replace") if strings else record.to_text()
        texts.append(text.lower())
    return texts


@dataclass(frozen=True)
class DomainCheck:
    purpose: str  # SPF, DKIM
    name: str
    kind: str
    expected: str
    found: bool | None  # None: could not check

    def as_dict(self) -> dict[str, object]:
        return {
            "purpose": self.purpose,
            "name": self.name,
            "kind": self.kind,
            "expected": self.expected,
            "found": self.found,
        }


def check_records(records: Sequence[DomainRecord], resolve: Resolve) -> list[DomainCheck]:
    """Each record looked up; after DNS fails to answer once, the rest are not tried (each
    would wait for the same timeout)."""
    checks: list[DomainCheck] = []
    reachable = True
    for record in records:
        found: bool | None = None
        if reachable:
            try:
                found = any(record.contains in text for text in resolve(record.name, record.kind))
            except RecordMissing:
                found = False
            except DnsUnreachable:
                reachable = False
        checks.append(DomainCheck(record.purpose, record.name, record.kind, record.contains, found))
    return checks


def domain_checks(
    settings: Settings, resolve: Resolve = dns_resolve
) -> Callable[[Partner], list[DomainCheck]]:
    """For doctor: a partner's checks, for the e-mail provider in use (the configured one, or
    every one when none can be told) and only when HUB_EMAIL_FROM names a domain."""
    domain = sender_domain(settings)
    try:
        in_use = provider_for("email", settings.email_provider)
    except UnknownPartner:
        in_use = None

    def checks(partner: Partner) -> list[DomainCheck]:
        if domain is None or partner.domain_records is None:
            return []
        if in_use is not None and partner.name != in_use.name:
            return []
        return check_records(partner.domain_records(domain), resolve)

    return checks


def describe(checks: Sequence[DomainCheck]) -> tuple[list[str], list[str]]:
    """(warnings, notes) for doctor: each missing record; one note when DNS did not answer."""
    warnings = [
        f"{c.purpose}: no {c.kind} record at {c.name} containing {c.expected!r}"
        for c in checks
        if c.found is False
    ]
    unchecked = [c.name for c in checks if c.found is None]
    notes = (
        [f"could not check SPF/DKIM (DNS did not answer): {', '.join(unchecked)}"]
        if unchecked
        else []
    )
    return warnings, notes
