"""The DNS records a domain sending through Resend needs: the DKIM public key at
`resend._domainkey`, and SPF on the `send` subdomain (Resend's return path, Amazon SES)."""

from __future__ import annotations

from integration_hub.connectors.partner import DomainRecord


def domain_records(domain: str) -> tuple[DomainRecord, ...]:
    return (
        DomainRecord("SPF", f"send.{domain}", "TXT", "include:amazonses.com"),
        DomainRecord("DKIM", f"resend._domainkey.{domain}", "TXT", "p="),
    )
