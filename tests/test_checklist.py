"""The living secrets checklist: generated from the declarations alone, committed, kept current."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from integration_hub.checklist import PATH, REGENERATE, code, evidence_steps, markdown, prose
from integration_hub.cli import app
from integration_hub.connectors.base import Connector, Manifest
from integration_hub.connectors.partner import (
    Partner,
    PollContext,
    PollPage,
    PollSource,
    Rotation,
    Secret,
    WebhookContext,
)
from integration_hub.connectors.partners import PARTNERS
from integration_hub.doctor import diagnose
from integration_hub.secrets import EnvSecretSource
from tests.helpers import local_secrets

ROOT = Path(__file__).resolve().parent.parent


def test_the_committed_checklist_is_what_the_declarations_make() -> None:
    committed = (ROOT / PATH).read_text(encoding="utf-8")

    assert committed == markdown(), (
        f"{PATH} is out of date with the declarations: run `{REGENERATE}`"
    )


def test_hub_doctor_markdown_prints_it_reading_nothing_from_this_machine(tmp_path: Path) -> None:
    bare = {"HUB_HOME": str(tmp_path / "bare")}
    configured = {"HUB_HOME": str(tmp_path / "configured"), **local_secrets()}

    outputs = [
        CliRunner().invoke(app, ["doctor", "--markdown"], env=env) for env in (bare, configured)
    ]

    assert [r.exit_code for r in outputs] == [0, 0]
    assert outputs[0].stdout == outputs[1].stdout == markdown()
    assert not any(value in outputs[1].stdout for value in local_secrets().values())
    assert not (tmp_path / "bare" / "hub.db").exists()  # no database opened, none created


def test_markdown_is_not_mixed_with_the_live_reports(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["doctor", "--markdown", "--json"], env={"HUB_HOME": str(tmp_path)}
    )

    assert result.exit_code == 2
    assert "--markdown" in result.stderr


def test_the_output_is_deterministic_and_holds_no_date() -> None:
    first = markdown()

    assert first == markdown()
    assert not re.search(r"\d{4}-\d{2}-\d{2}", first)
    assert first.endswith("\n") and not first.endswith("\n\n")


def test_the_header_says_it_is_generated_and_how_to_regenerate() -> None:
    head = markdown().split("# Secrets checklist")[0]

    assert "Generated" in head and REGENERATE in head


def test_every_declared_secret_says_where_its_value_comes_from() -> None:
    unsourced = [s.name for p in PARTNERS for s in p.secrets if not s.source.strip()]

    assert unsourced == [], "declare `source=` (where the value comes from at the partner)"


def test_each_partner_has_its_section_in_priority_order_with_every_secret() -> None:
    text = markdown()
    ordered = sorted(PARTNERS, key=lambda p: (p.priority, p.name))

    positions = [text.index(f"\n## {p.name}\n") for p in ordered]
    assert positions == sorted(positions)
    for partner, start in zip(ordered, positions, strict=True):
        section = text[start : text.find("\n## ", start + 1)]
        assert partner.summary in section
        for secret in partner.secrets:
            assert f"- `{secret.name}" in section
            assert prose(secret.source) in section  # as Markdown: a `<` is escaped


def test_the_steps_are_doctors_own_step_texts() -> None:
    reports = diagnose(secrets=EnvSecretSource(environ={}), engine=None)
    text = markdown()

    for report in reports:
        start = text.index(f"\n## {report.partner}\n")
        section = text[start : text.find("\n## ", start + 1)]
        for number, item in enumerate(report.checklist, start=1):
            assert f"\n{number}. {item.step}: " in section
            if item.how and not item.how.startswith("set "):  # the live "set <missing>" hint
                assert f"{item.step}: {item.how}" in section


class _Connector:
    """The part of a connector the checklist reads: its manifest."""

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest


def _acme() -> Partner:
    def webhook(context: WebhookContext) -> Connector:
        manifest = Manifest(
            name="acme",
            webhook_secret="ACME_SIGNING_KEY",
            event_map={"thing.done": "acme.thing_done"},
            endpoints=frozenset({"", "voice"}),
        )
        return _Connector(manifest)  # type: ignore[return-value]

    def fetch(context: PollContext, cursor: str | None) -> PollPage:
        return PollPage(events=[], cursor=None)

    async def schedule(client: object, queue: str, value: str | None, every: timedelta) -> str:
        return "rotate"

    return Partner(
        name="acme",
        priority="P1",
        summary="Test only: a partner with one of everything.",
        secrets=(
            Secret("ACME_SIGNING_KEY", format=r"sk_\w+", used_for="webhook", source="Acme > Keys"),
            Secret("ACME_SENDER", required=False, source="Acme > Senders"),
            Secret("ACME_FEED_TOKEN", per_instance=True, source="Acme > Feeds > Token"),
        ),
        webhook=webhook,
        rotations=(
            Rotation("ACME_SIGNING_KEY", "acme-key", "Rotate the key.", schedule, takes_value=True),
        ),
        polls=(PollSource("feed", timedelta(minutes=15), fetch),),
    )


def _plain(name: str, priority: str) -> Partner:
    return Partner(name=name, priority=priority, summary=f"Test only: {name}.")  # type: ignore[arg-type]


def test_a_declaration_becomes_its_section() -> None:
    text = markdown([_plain("zeta", "P0"), _acme(), _plain("beta", "P0")])

    assert text.index("## beta") < text.index("## zeta") < text.index("## acme")
    section = text[text.index("\n## acme\n") :]
    assert "- Receives webhooks at `/webhooks/acme`, `/webhooks/acme/voice`" in section
    assert "- Polls `feed` every 15 minutes" in section
    assert (
        "- `ACME_SIGNING_KEY`: required; used for webhooks (verifies deliveries); "
        "format `sk_\\w+`\n  - From: Acme > Keys\n"
        "  - Rotation: scheduled by the hub, `hub secrets schedule --acme-key <value>`: "
        "Rotate the key.\n"
    ) in section
    assert (
        "- `ACME_SENDER`: optional; used for calls out; format `\\S+`\n  - From: Acme > Senders\n"
        "  - Rotation: manual: set `ACME_SENDER_PREVIOUS` during the overlap\n"
    ) in section
    assert (
        "- `ACME_FEED_TOKEN__<INSTANCE>`: required for each instance (a family: one secret per "
        "instance)"
    ) in section
    assert "manual: set `ACME_FEED_TOKEN__<INSTANCE>_PREVIOUS` during the overlap" in section
    assert "`<HUB_PUBLIC_BASE_URL>/webhooks/acme/voice`" in section
    assert "a signed delivery verified and stored: hub send acme thing.done" in section
    assert "poll source feed stored a page: hub poll acme feed (with a worker running)" in section
    assert 'once the last step ("poll source feed stored a page") is done.' in section
    assert "--strict" not in section  # a P1 partner does not gate `hub doctor --strict`
    assert "\n## beta\n\n**P0**: Test only: beta.\n\n### Secrets to create\n\nNone.\n" in text


def test_declared_text_cannot_open_an_html_tag() -> None:
    partner = Partner(
        name="acme",
        priority="P2",
        summary="Test only: <b>bold</b>.",
        secrets=(Secret("ACME_URL", source="Acme > Settings > https://<tenant>.acme.test"),),
    )

    text = markdown([partner])

    assert "**P2**: Test only: \\<b>bold\\</b>." in text
    assert "  - From: Acme > Settings > https://\\<tenant>.acme.test\n" in text


@pytest.mark.parametrize(
    ("text", "span"),
    [("plain", "`plain`"), ("a`b", "``a`b``"), ("`x`", "`` `x` ``")],
)
def test_a_code_span_holds_any_backticks(text: str, span: str) -> None:
    assert code(text) == span


def test_a_support_inbox_has_its_escalation_evidence_steps() -> None:
    inbox = Partner(name="testinbox", priority="P2", summary="a test support inbox",
                    capabilities=frozenset({"support"}))  # fmt: skip
    other = Partner(name="plain", priority="P2", summary="no support")

    steps = evidence_steps(inbox, None)

    assert [(s.step, s.evidence) for s in steps] == [
        ("a support conversation created", "support_conversation"),
        ("an escalation round trip", "support_round_trip"),
    ]
    assert "Testinbox" in steps[1].how
    assert evidence_steps(other, None) == []
