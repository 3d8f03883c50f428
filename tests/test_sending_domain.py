"""Doctor's sending-domain check: the provider's declared SPF and DKIM records looked up with
dnspython. DNS answers come from a table here (the tests run offline); the offline case is
dnspython itself asking a nameserver that does not answer."""

from __future__ import annotations

import time
from collections.abc import Sequence

import dns.resolver
import pytest

from integration_hub.connectors.partners import partner_named
from integration_hub.doctor import diagnose
from integration_hub.orchestration.devserver import free_port
from integration_hub.secrets.env import EnvSecretSource
from integration_hub.sending_domain import (
    DnsUnreachable,
    RecordMissing,
    check_records,
    dns_resolve,
    domain_checks,
)
from integration_hub.settings import Settings

DOMAIN = "mail.example.com"
SETTINGS = Settings.model_construct(
    email_from=f"Equipo <equipo@{DOMAIN}>", email_provider="sendgrid"
)
ZONE = {
    (DOMAIN, "TXT"): ["v=spf1 include:sendgrid.net ~all"],
    (f"s1._domainkey.{DOMAIN}", "CNAME"): ["s1.domainkey.u123.wl.sendgrid.net."],
}


def _resolve(name: str, kind: str) -> Sequence[str]:
    if (name, kind) not in ZONE:
        raise RecordMissing(name)
    return ZONE[(name, kind)]


def test_each_declared_record_is_found_or_missing() -> None:
    checks = domain_checks(SETTINGS, _resolve)(partner_named("sendgrid"))

    assert [(c.purpose, c.name, c.found) for c in checks] == [
        ("SPF", DOMAIN, True),
        ("DKIM", f"s1._domainkey.{DOMAIN}", True),
        ("DKIM", f"s2._domainkey.{DOMAIN}", False),
    ]


def test_only_the_provider_in_use_is_checked() -> None:
    assert domain_checks(SETTINGS, _resolve)(partner_named("resend")) == []
    assert domain_checks(SETTINGS, _resolve)(partner_named("twilio")) == []
    both = Settings.model_construct(email_from=f"equipo@{DOMAIN}")  # several providers, none set
    resend = domain_checks(both, _resolve)(partner_named("resend"))
    assert [(c.name, c.found) for c in resend] == [
        (f"send.{DOMAIN}", False),
        (f"resend._domainkey.{DOMAIN}", False),
    ]


def test_without_a_sender_nothing_is_looked_up() -> None:
    def never(name: str, kind: str) -> Sequence[str]:
        raise AssertionError("looked up")

    assert (
        domain_checks(Settings.model_construct(email_provider="sendgrid"), never)(
            partner_named("sendgrid")
        )
        == []
    )


def test_offline_says_it_could_not_check_and_stops_asking() -> None:
    asked: list[str] = []

    def offline(name: str, kind: str) -> Sequence[str]:
        asked.append(name)
        raise DnsUnreachable(name)

    checks = check_records(partner_named("sendgrid").domain_records(DOMAIN), offline)  # type: ignore[misc]

    assert [c.found for c in checks] == [None, None, None]
    assert len(asked) == 1


def test_dnspython_with_no_answering_nameserver_is_unreachable_not_missing() -> None:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = free_port()  # nothing listens there
    started = time.monotonic()

    with pytest.raises(DnsUnreachable):
        dns_resolve(DOMAIN, "TXT", resolver=resolver)
    assert time.monotonic() - started < 10


def test_doctor_reports_missing_records_as_warnings_and_offline_as_a_note() -> None:
    secrets = EnvSecretSource(environ={})
    [sendgrid] = [
        r
        for r in diagnose(
            secrets=secrets, engine=None, domain_checks=domain_checks(SETTINGS, _resolve)
        )
        if r.partner == "sendgrid"
    ]
    assert sendgrid.warnings == [
        f"DKIM: no CNAME record at s2._domainkey.{DOMAIN} containing 'sendgrid.net'"
    ]
    assert sendgrid.as_dict()["domain"][0] == {  # type: ignore[index]
        "purpose": "SPF", "name": DOMAIN, "kind": "TXT", "expected": "include:sendgrid.net", "found": True,
    }  # fmt: skip

    def offline(name: str, kind: str) -> Sequence[str]:
        raise DnsUnreachable(name)

    [unreachable] = [
        r
        for r in diagnose(
            secrets=secrets, engine=None, domain_checks=domain_checks(SETTINGS, offline)
        )
        if r.partner == "sendgrid"
    ]
    assert unreachable.warnings == []
    assert any(note.startswith("could not check SPF/DKIM") for note in unreachable.notes)
