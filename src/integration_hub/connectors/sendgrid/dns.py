"""The DNS records a domain sending through SendGrid needs (Sender Authentication): SPF that
includes SendGrid, and the two DKIM CNAMEs SendGrid rotates between (s1, s2)."""

from __future__ import annotations

from integration_hub.connectors.partner import DomainRecord


def domain_records(domain: str) -> tuple[DomainRecord, ...]:
    return (
        DomainRecord("SPF", domain, "TXT", "include:sendgrid.net"),
        DomainRecord("DKIM", f"s1._domainkey.{domain}", "CNAME", "sendgrid.net"),
        DomainRecord("DKIM", f"s2._domainkey.{domain}", "CNAME", "sendgrid.net"),
    )
