"""`hub doctor`: secrets set and well formed, never shown; the checklist comes from stored rows."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from integration_hub.checklist import takes_deliveries
from integration_hub.connectors.base import Connector, Manifest
from integration_hub.connectors.partner import Partner, Secret, WebhookContext
from integration_hub.connectors.partners import PARTNERS, build_connectors
from integration_hub.doctor import PartnerReport, diagnose
from integration_hub.orchestration.handlers import handler_names_for
from integration_hub.secrets import EnvSecretSource
from integration_hub.storage import outbound_messages, support
from integration_hub.storage.engine import begin_write
from integration_hub.storage.raw_events import NewRawEvent, record_deliveries
from integration_hub.storage.tables import RawStatus, raw_events

CLERK_SECRET = "whsec_Y2xlcmstdGVzdC1zZWNyZXQtZm9yLWludGVncmF0aW9uLWh1Yg=="


def _report(reports: list[PartnerReport], partner: str) -> PartnerReport:
    return next(r for r in reports if r.partner == partner)


def _diagnose(environ: dict[str, str], engine: Engine | None = None) -> list[PartnerReport]:
    source = EnvSecretSource(environ=environ)
    return diagnose(secrets=source, engine=engine)


def test_missing_secret_is_named_in_what_remains() -> None:
    clerk = _report(_diagnose({}), "clerk")

    assert not clerk.complete
    assert {"step": "secrets set", "how": "set CLERK_WEBHOOK_SECRET"} in clerk.as_dict()[
        "remaining"
    ]  # type: ignore[operator]


def test_malformed_secret_is_flagged_without_its_value() -> None:
    maps = _report(_diagnose({"GOOGLE_MAPS_API_KEY": "not-a-key-value-123"}), "google_maps")

    assert maps.secrets[0].versions == 1
    assert maps.secrets[0].well_formed is False
    assert "not-a-key-value-123" not in repr(maps.as_dict())


def test_rotation_overlap_counts_two_versions() -> None:
    environ = {"CLERK_WEBHOOK_SECRET": CLERK_SECRET, "CLERK_WEBHOOK_SECRET_PREVIOUS": CLERK_SECRET}

    clerk = _report(_diagnose(environ), "clerk")

    assert clerk.secrets[0].versions == 2
    assert clerk.secrets[0].well_formed is True


def test_calls_out_only_partner_is_listed_without_webhook_steps() -> None:
    maps = _report(_diagnose({"GOOGLE_MAPS_API_KEY": "AIza" + "x" * 35}), "google_maps")

    assert maps.calls_out and not maps.receives_webhooks
    assert maps.complete


def test_webhook_steps_are_done_once_a_delivery_was_processed(engine: Engine) -> None:
    now = datetime.now(UTC)
    with begin_write(engine) as connection:
        record_deliveries(
            connection,
            events=[NewRawEvent("clerk", "msg_1", "user.created", now, {}, b"{}")],
        )
    before = _report(_diagnose({"CLERK_WEBHOOK_SECRET": CLERK_SECRET}, engine), "clerk")
    with begin_write(engine) as connection:
        connection.execute(raw_events.update().values(status=RawStatus.PROCESSED.value))
    after = _report(_diagnose({"CLERK_WEBHOOK_SECRET": CLERK_SECRET}, engine), "clerk")

    assert [i.done for i in before.checklist] == [True, True, True, False, False]
    assert after.complete


def test_doctor_strict_exits_non_zero_when_a_p0_partner_is_incomplete(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from integration_hub.cli import app

    result = CliRunner().invoke(
        app, ["doctor", "--strict"], env={"HUB_HOME": str(tmp_path / "var")}
    )

    assert result.exit_code == 1
    assert "NOT SET" in result.output
    assert not (tmp_path / "var" / "hub.db").exists()


def test_optional_secret_left_unset_does_not_make_a_partner_incomplete() -> None:
    sms = Partner(
        name="twilio_like",
        priority="P0",
        summary="test only",
        secrets=(Secret("SENDER", format=r"\+\d+", required=False), Secret("TOKEN", format=r"\w+")),
    )
    source = EnvSecretSource(environ={"TOKEN": "abc"})

    [report] = diagnose(secrets=source, engine=None, partners=[sms])

    assert report.complete
    assert [(s.name, s.versions, s.required) for s in report.secrets] == [
        ("SENDER", 0, False),
        ("TOKEN", 1, True),
    ]


TWILIO_TOKEN = "9f2b6a1c3d4e5f60718293a4b5c6d7e8"


@pytest.mark.parametrize(
    ("environ", "public_base_url", "warned"),
    [
        ({"TWILIO_AUTH_TOKEN": TWILIO_TOKEN}, None, True),
        ({"TWILIO_AUTH_TOKEN": TWILIO_TOKEN}, "https://hooks.example.com", False),
        ({}, None, False),  # Twilio not configured: nothing to sign, nothing to warn about
    ],
    ids=["twilio-without-base-url", "twilio-with-base-url", "twilio-not-configured"],
)
def test_doctor_warns_when_a_url_signing_partner_has_no_public_base_url(
    environ: dict[str, str], public_base_url: str | None, warned: bool
) -> None:
    source = EnvSecretSource(environ=environ)

    reports = diagnose(secrets=source, engine=None, public_base_url=public_base_url)

    twilio = _report(reports, "twilio")
    warnings = twilio.as_dict()["warnings"]
    assert isinstance(warnings, list)
    assert bool(warnings) is warned
    if warned:
        assert "HUB_PUBLIC_BASE_URL" in warnings[0] and "Host" in warnings[0]
        assert TWILIO_TOKEN not in repr(twilio.as_dict())
    # A warning, not a missing step: it never makes a partner incomplete by itself.
    assert "HUB_PUBLIC_BASE_URL" not in repr(twilio.as_dict()["remaining"])
    assert all(not r.warnings for r in reports if r.partner != "twilio")


def test_every_declared_partner_is_reported_from_its_declaration() -> None:
    reports = _diagnose({})

    by_name = {r.partner: r for r in reports}
    assert set(by_name) == {p.name for p in PARTNERS}
    for partner in PARTNERS:
        report = by_name[partner.name]
        assert report.priority == partner.priority
        # A partner that only polls declares a connector to normalize what it stores, and
        # takes no delivery (iCal feeds, Lodgify).
        connector = partner.webhook(WebhookContext()) if partner.webhook is not None else None
        assert report.receives_webhooks is (connector is not None and takes_deliveries(connector))
        assert report.calls_out is (partner.calls is not None)
        assert [(s.name, s.required) for s in report.secrets] == [
            (s.name, s.required) for s in partner.secrets
        ]


def _inbound(name: str, event_map: dict[str, str]) -> Partner:
    """A partner declared here only: any real connector's code under a manifest of its own
    (doctor reads only the manifest)."""
    manifest = Manifest(name=name, webhook_secret=f"{name.upper()}_SECRET", event_map=event_map)

    def webhook(context: WebhookContext) -> Connector:
        connector = copy.copy(next(iter(build_connectors().values())))
        connector.manifest = manifest
        return connector

    return Partner(
        name=name,
        priority="P1",
        summary="test only",
        secrets=(Secret(manifest.webhook_secret, used_for="webhook"),),
        webhook=webhook,
    )


def test_handler_step_only_for_a_partner_whose_events_have_handlers(engine: Engine) -> None:
    assert handler_names_for("payment.succeeded")  # the ledger takes it
    assert not handler_names_for("example.thing_done")
    quiet = _inbound("quiet", {"thing.done": "example.thing_done"})
    handled = _inbound("handled", {"charge.done": "payment.succeeded"})
    now = datetime.now(UTC)
    with begin_write(engine) as connection:
        record_deliveries(
            connection,
            events=[NewRawEvent("quiet", "q_1", "thing.done", now, {}, b"{}")],
        )
        connection.execute(raw_events.update().values(status=RawStatus.PROCESSED.value))
    source = EnvSecretSource(environ={"QUIET_SECRET": "q", "HANDLED_SECRET": "h"})

    reports = diagnose(secrets=source, engine=engine, partners=[quiet, handled])

    steps = {r.partner: [i.step for i in r.checklist] for r in reports}
    assert steps["quiet"] == [
        "secrets set",
        "secrets well formed",
        "a signed delivery verified and stored",
        "normalized into internal events",
    ]
    assert steps["handled"][-1] == "handler workflows completed"
    assert _report(reports, "quiet").complete  # nothing is left waiting for a handler
    assert not _report(reports, "handled").complete


PMS_KEY = Secret("PMS_API_KEY", format=r"pk_[0-9a-z]{12,}", per_instance=True)
PMS_VALUE = "pk_" + "0123456789abcdef"


def _pms() -> Partner:
    """A partner declared here only, with one secret per connection (a family per instance)."""
    return Partner(name="pms", priority="P1", summary="test only", secrets=(PMS_KEY,))


def test_a_family_with_no_instance_yet_is_not_missing() -> None:
    [report] = diagnose(secrets=EnvSecretSource(environ={}), engine=None, partners=[_pms()])

    [check] = report.secrets
    assert check.no_instance_yet and not check.missing
    assert check.as_dict()["family"] == "PMS_API_KEY" and check.as_dict()["instance"] is None
    assert report.complete  # nothing to set until a connection exists


def test_each_instance_is_reported_set_and_well_formed_never_its_value() -> None:
    environ = {
        "PMS_API_KEY__ACME-HOMES": PMS_VALUE,
        "PMS_API_KEY__ACME-HOMES_PREVIOUS": PMS_VALUE,
        "PMS_API_KEY__BEACH": "not-a-pms-key-value",
    }

    [report] = diagnose(secrets=EnvSecretSource(environ=environ), engine=None, partners=[_pms()])

    checks = {c.instance: c for c in report.secrets}
    assert set(checks) == {"acme-homes", "beach"}
    assert checks["acme-homes"].name == "PMS_API_KEY__ACME-HOMES"
    assert (checks["acme-homes"].versions, checks["acme-homes"].well_formed) == (2, True)
    assert checks["beach"].well_formed is False
    assert {"step": "secrets well formed", "how": "check PMS_API_KEY__BEACH"} in report.as_dict()[
        "remaining"
    ]  # type: ignore[operator]
    shown = repr(report.as_dict())
    assert PMS_VALUE not in shown and "not-a-pms-key-value" not in shown


def test_an_instance_held_by_the_file_store_is_listed_with_its_versions(tmp_path: Path) -> None:
    from tests.secrets.helpers import Clock, file_store

    clock = Clock()
    store = file_store(tmp_path, clock=clock)
    store.set("PMS_API_KEY__ACME", PMS_VALUE)
    store.rotate("PMS_API_KEY__ACME", "pk_newvalue123456789")
    [report] = diagnose(secrets=store, engine=None, partners=[_pms()])
    assert [(c.instance, c.versions, c.missing) for c in report.secrets] == [("acme", 2, False)]


def test_doctor_prints_each_instance_and_a_family_with_none(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from integration_hub.cli.doctor import show

    empty = Partner(
        name="feeds",
        priority="P2",
        summary="test only",
        secrets=(Secret("ICAL_FEED_URL", format=r"https://\S+", per_instance=True),),
    )
    environ = {"PMS_API_KEY__ACME-HOMES": PMS_VALUE}
    reports = diagnose(
        secrets=EnvSecretSource(environ=environ), engine=None, partners=[_pms(), empty]
    )
    for report in reports:
        show(report)

    out = capsys.readouterr().out
    assert "PMS_API_KEY__ACME-HOMES (instance acme-homes): set, well formed" in out
    assert "ICAL_FEED_URL: no instance yet" in out
    assert "NOT SET" not in out and PMS_VALUE not in out


def test_a_family_is_declared_with_a_name_the_separator_cannot_confuse() -> None:
    with pytest.raises(ValueError, match="family"):
        Secret("PMS__KEY", per_instance=True)
    with pytest.raises(ValueError, match="hub init"):
        Secret("PMS_KEY", per_instance=True, local=lambda: "x")
    with pytest.raises(ValueError, match="not declared per instance"):
        Secret("PLAIN_KEY").for_instance("acme")


def test_a_poll_sources_last_success_and_error_show_for_its_partner(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    from integration_hub.cli.doctor import show
    from integration_hub.storage import poll_cursors
    from tests.orchestration.poll_partner import NAME, SOURCE, guest_partner

    partner = guest_partner("http://127.0.0.1:9")  # declared in the test, never fetched here
    [before] = diagnose(secrets=EnvSecretSource(environ={}), engine=engine, partners=[partner])
    step = f"poll source {SOURCE} stored a page"
    assert (before.polling, before.polls) == (True, [])
    assert {"step": step, "how": f"hub poll {NAME} {SOURCE} (with a worker running)"} in (
        before.as_dict()["remaining"]
    )

    with begin_write(engine) as connection:
        poll_cursors.advance(connection, partner=NAME, source=SOURCE, expected=None, cursor="c1")
        poll_cursors.record_error(connection, partner=NAME, source=SOURCE, error="503 later")
    [after] = diagnose(secrets=EnvSecretSource(environ={}), engine=engine, partners=[partner])
    show(after)

    [poll] = after.polls
    assert (poll.source, poll.last_error) == (SOURCE, "503 later")
    assert poll.last_success_at is not None
    # It only polls: no signed delivery to wait for; normalizing waits for the normalizer.
    steps = [item.step for item in after.checklist]
    assert "a signed delivery verified and stored" not in steps
    assert {
        "step": "normalized into internal events",
        "how": f"hub poll {NAME} {SOURCE} (with a worker running)",
    } in after.as_dict()["remaining"]
    printed = capsys.readouterr().out
    assert f"{NAME} [P2] incomplete (polls)" in printed
    assert f"poll {SOURCE}: last success {poll.last_success_at.isoformat()}" in printed
    assert "last error: 503 later" in printed
    assert f"[x] {step}" in printed


def test_hub_poll_names_the_declared_sources_when_asked_for_another(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from integration_hub.cli import app

    result = CliRunner().invoke(
        app, ["poll", "nobody", "feed"], env={"HUB_HOME": str(tmp_path / "var")}
    )

    assert result.exit_code == 2
    assert "no poll source 'nobody' 'feed'" in result.output


def test_doctor_names_the_panel_sign_in_url() -> None:
    from integration_hub.cli.doctor import signin_hint

    configured = EnvSecretSource(
        environ={"AUTH_CLIENT_ID": "a" * 16, "AUTH_CLIENT_SECRET": "b" * 32}
    )
    on = signin_hint("https://hub.example/", "https://t.auth0.com/", configured)
    assert on.startswith("panel sign-in: try https://hub.example/status/login ")
    assert "https://hub.example/status/login/callback" in on
    off = signin_hint(None, None, EnvSecretSource(environ={}))
    assert "<HUB_PUBLIC_BASE_URL>/status/login, pasted token only" in off


def test_a_support_inbox_shows_its_conversation_and_round_trip_evidence(engine: Engine) -> None:
    # A support inbox only this test declares (no webhook: the evidence is its own rows).
    inbox = Partner(name="testinbox", priority="P2", summary="a test support inbox",
                    capabilities=frozenset({"support"}))  # fmt: skip

    def evidence() -> dict[str, bool | None]:
        [report] = diagnose(secrets=EnvSecretSource(environ={}), engine=engine, partners=[inbox])
        return {item.step: item.done for item in report.checklist[2:]}

    steps = ("a support conversation created", "an escalation round trip")
    nothing = evidence()
    with begin_write(engine) as connection:
        support.insert_conversation(connection, conversation_id="sup_1", provider="testinbox",
                                    phone="+13055550123", channel="sms", language="en",
                                    reasons=["urgent"], when=datetime.now(UTC))  # fmt: skip
        support.mark_open(connection, conversation_id="sup_1", provider_conversation_id="c1",
                          provider_contact_id="ct1")  # fmt: skip
    opened = evidence()
    with begin_write(engine) as connection:
        support.record_relay(connection, conversation_id="sup_1", when=datetime.now(UTC))
        outbound_messages.claim_outbound_message(connection, message_id="rly_1",
                                                 partner="twilio", channel="sms",
                                                 to_address="+13055550123")  # fmt: skip
    queued = evidence()  # the relay is queued, not sent: no round trip yet
    with begin_write(engine) as connection:
        outbound_messages.update_outbound_message(connection, message_id="rly_1", state="failed")
    refused = evidence()  # the messaging partner refused it
    with begin_write(engine) as connection:
        outbound_messages.update_outbound_message(connection, message_id="rly_1", state="sent")
    relayed = evidence()

    assert nothing == dict.fromkeys(steps, False)
    assert opened == queued == refused == {steps[0]: True, steps[1]: False}
    assert relayed == dict.fromkeys(steps, True)
    other = Partner(name="otherinbox", priority="P2", summary="another",
                    capabilities=frozenset({"support"}))  # fmt: skip
    [report] = diagnose(secrets=EnvSecretSource(environ={}), engine=engine, partners=[other])
    assert [item.done for item in report.checklist[2:]] == [False, False]  # by provider
