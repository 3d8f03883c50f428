"""The registry: capabilities resolved from the declarations, issuers told by declared domains."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine

from integration_hub.connectors import partners
from integration_hub.connectors.partner import Partner
from integration_hub.connectors.partners import (
    PARTNERS,
    auth_display_name,
    auth_provider_of_issuer,
    check_providers,
    provider_for,
    providers_of,
)
from integration_hub.errors import UnknownPartner, UnsafeConfiguration
from integration_hub.settings import Settings

MAILER_A = Partner(
    name="mailer_a", priority="P1", summary="test", capabilities=frozenset({"email"})
)
MAILER_B = Partner(
    name="mailer_b", priority="P1", summary="test", capabilities=frozenset({"email"})
)
IDP = Partner(
    name="idp",
    priority="P0",
    summary="test",
    capabilities=frozenset({"auth"}),
    issuer_hosts=(".idp.example", "login.", "sso.acme.test"),
)


def test_every_partner_name_is_unique_and_fits_a_path_segment() -> None:
    names = [p.name for p in PARTNERS]
    assert len(names) == len(set(names))
    for name in names:
        assert name.isascii() and name.replace("_", "").isalnum() and name == name.lower()


def test_one_provider_is_chosen_without_a_setting_several_need_one() -> None:
    assert provider_for("email", None, [MAILER_A]) is MAILER_A
    assert provider_for("email", None, [MAILER_A, MAILER_B]) is None  # ambiguous: configure it
    assert provider_for("email", "mailer_b", [MAILER_A, MAILER_B]) is MAILER_B
    assert provider_for("support", None, [MAILER_A]) is None
    assert providers_of("email", [MAILER_A, IDP, MAILER_B]) == [MAILER_A, MAILER_B]


def test_a_configured_provider_that_does_not_provide_it_is_refused() -> None:
    with pytest.raises(UnknownPartner, match="'idp' does not provide email"):
        provider_for("email", "idp", [MAILER_A, IDP])


def test_start_refuses_a_provider_setting_naming_no_provider(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, email_provider="nobody_sends")
    with pytest.raises(UnsafeConfiguration) as refused:
        check_providers(settings, [MAILER_A, MAILER_B])
    assert "HUB_EMAIL_PROVIDER" in refused.value.detail
    check_providers(Settings(home=tmp_path, email_provider="mailer_a"), [MAILER_A, MAILER_B])
    # Every auth provider in the registry can be configured by name.
    for partner in providers_of("auth"):
        check_providers(Settings(home=tmp_path, auth_provider=partner.name))


def test_an_issuer_is_told_by_the_declared_domains_of_its_host() -> None:
    partners = [IDP]
    assert auth_provider_of_issuer("tenant.idp.example", None, partners) == "idp"
    assert auth_provider_of_issuer("login.customer.test", None, partners) == "idp"
    assert auth_provider_of_issuer("sso.acme.test", None, partners) == "idp"
    assert auth_provider_of_issuer("sso.acme.test.evil", None, partners) is None
    assert auth_provider_of_issuer("idp.example.evil", None, partners) is None
    assert auth_provider_of_issuer("anything", "idp", partners) == "idp"  # configured wins
    # The registry's auth partners declare their own domains.
    assert all(p.issuer_hosts for p in providers_of("auth"))


def test_an_auth_providers_shown_name_comes_from_its_declaration() -> None:
    # Core code names no partner: the sign-in button's label is the declaration's.
    branded = Partner(
        name="idp_x", display_name="IdP X", priority="P0", summary="test",
        capabilities=frozenset({"auth"}),
    )  # fmt: skip
    assert auth_display_name("idp_x", (branded, IDP, MAILER_A)) == "IdP X"
    assert auth_display_name("idp", (branded, IDP, MAILER_A)) == "Idp"  # the name capitalized
    assert auth_display_name("mailer_a", (branded, IDP, MAILER_A)) is None  # not an auth one
    assert auth_display_name(None, (branded, IDP)) is None
    shown = {p.name: p.shown_name for p in providers_of("auth", PARTNERS)}
    assert shown == {"clerk": "Clerk", "auth0": "Auth0"}


async def test_the_contact_language_lookup_reads_off_the_event_loop(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from integration_hub.storage import contacts

    with engine.begin() as connection:
        contacts.ensure_contact(connection, phone="+13055550142", locale="es")
    read_on: list[str] = []
    real = contacts.get_contact

    def recording(*args: object, **kwargs: object) -> object:
        read_on.append(threading.current_thread().name)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(contacts, "get_contact", recording)
    lookup = partners._contact_language(engine)

    known, unknown = await asyncio.gather(lookup("+13055550142"), lookup("+13055550143"))

    assert (known, unknown) == ("es", None)
    assert read_on and all(name.startswith("contact-language") for name in read_on)
    assert threading.current_thread().name not in read_on
