"""The IVR flow file: the shipped one loads, each kind of mistake is named, and a custom file
changes what callers hear without code."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from integration_hub.connectors.base import Delivery
from integration_hub.connectors.partner import WebhookContext
from integration_hub.connectors.twilio import PARTNER
from integration_hub.connectors.twilio.ivr import (
    MAX_FLOW_BYTES,
    MAX_PROMPT_CHARS,
    FlowError,
    load_flow,
    parse_flow,
)
from tests.connectors.twilio.voice_support import call_params, public_url, says, twiml_of

Document = dict[str, Any]


def shipped() -> Document:
    text = resources.files("integration_hub.connectors.twilio").joinpath("ivr_flow.json")
    document: Document = json.loads(text.read_bytes())
    return document


def _problem(edit: Callable[[Document], None]) -> str:
    document = copy.deepcopy(shipped())
    edit(document)
    with pytest.raises(FlowError) as caught:
        parse_flow(json.dumps(document).encode(), "test.json")
    assert caught.value.reason == "invalid_ivr_flow"
    assert caught.value.detail.startswith("test.json: ")
    return caught.value.detail


def test_the_shipped_flow_loads() -> None:
    flow = load_flow()

    assert set(flow.languages) == {"es", "en"}
    assert flow.languages["es"].voice == "Polly.Lupe"
    assert flow.step(flow.language_step).kind == "language"
    assert flow.step(flow.start).kind == "menu"


def test_a_step_naming_an_unknown_step_is_refused() -> None:
    def edit(document: Document) -> None:
        document["steps"]["menu"]["options"]["1"]["next"] = "nowhere"

    assert "steps.menu.options['1'].next: names unknown step 'nowhere'" in _problem(edit)


def test_a_digit_outside_the_keypad_is_refused() -> None:
    def edit(document: Document) -> None:
        document["steps"]["menu"]["options"]["x"] = {"choice": "other", "next": "menu"}

    assert "steps.menu: option 'x' is not one of 0-9, * or #" in _problem(edit)


def test_a_two_key_option_is_refused() -> None:
    def edit(document: Document) -> None:
        document["steps"]["menu"]["options"]["12"] = {"choice": "other", "next": "menu"}

    assert "option '12' is not one of 0-9, * or #" in _problem(edit)


def test_a_prompt_missing_a_language_is_refused() -> None:
    def edit(document: Document) -> None:
        del document["steps"]["report"]["prompt"]["en"]

    assert "steps.report.prompt: no prompt in en" in _problem(edit)


def test_a_language_choice_of_an_undeclared_language_is_refused() -> None:
    def edit(document: Document) -> None:
        document["steps"]["language"]["languages"]["3"] = "pt"

    assert "steps.language.languages['3']: unknown language pt" in _problem(edit)


def test_a_prompt_past_its_bound_is_refused() -> None:
    def edit(document: Document) -> None:
        document["steps"]["menu"]["prompt"]["es"] = "a" * (MAX_PROMPT_CHARS + 1)

    assert "steps.menu.prompt.es: String should have at most 500" in _problem(edit)


def test_a_reserved_step_name_is_refused() -> None:
    def edit(document: Document) -> None:
        document["steps"]["status"] = document["steps"]["thanks"]

    assert "steps.status: 'status' is reserved" in _problem(edit)


def test_dial_fallbacks_that_loop_are_refused() -> None:
    def edit(document: Document) -> None:
        document["steps"]["operator"]["fallback_next"] = "operator"

    assert "steps.operator: fallback_next loops through dial steps" in _problem(edit)


def test_an_unknown_kind_or_field_is_refused() -> None:
    def edit(document: Document) -> None:
        document["steps"]["thanks"]["kind"] = "play"
        document["extra"] = 1

    detail = _problem(edit)
    assert "steps.thanks" in detail
    assert "extra: Extra inputs are not permitted" in detail


def test_the_start_step_must_exist_and_not_be_the_language_choice() -> None:
    assert "start: names unknown step 'main'" in _problem(lambda d: d.update(start="main"))
    assert "start: step 'language' must not be" in _problem(lambda d: d.update(start="language"))


def test_not_json_and_too_large_are_refused() -> None:
    with pytest.raises(FlowError, match=r"x.json: not JSON \(Expecting value, line 1\)"):
        parse_flow(b"nope", "x.json")
    with pytest.raises(FlowError, match=f"at most {MAX_FLOW_BYTES}"):
        parse_flow(b" " * (MAX_FLOW_BYTES + 1), "x.json")


def test_an_unreadable_file_names_the_setting(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"

    with pytest.raises(FlowError, match=f"HUB_TWILIO_IVR_FILE {missing}: cannot read it"):
        load_flow(missing)


def test_a_custom_flow_file_changes_a_prompt_without_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = shipped()
    document["steps"]["language"]["prompt"]["en"] = "For English, press two, please."
    custom = tmp_path / "flow.json"
    custom.write_text(json.dumps(document))
    monkeypatch.setenv("HUB_TWILIO_IVR_FILE", str(custom))
    assert PARTNER.webhook is not None

    connector = PARTNER.webhook(WebhookContext())

    body = urlencode(call_params()).encode()
    delivery = Delivery(
        body, {"content-type": "application/x-www-form-urlencoded"}, public_url(), 0
    )
    events = connector.split(delivery)
    answer = connector.respond(delivery, events)
    assert answer is not None
    assert says(twiml_of(answer[1]))[1] == (
        "For English, press two, please.",
        "Polly.Joanna",
        "en-US",
    )


def test_a_broken_flow_file_stops_the_connector_from_being_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = shipped()
    del document["goodbye"]["es"]
    custom = tmp_path / "flow.json"
    custom.write_text(json.dumps(document))
    monkeypatch.setenv("HUB_TWILIO_IVR_FILE", str(custom))
    assert PARTNER.webhook is not None

    with pytest.raises(FlowError, match=f"HUB_TWILIO_IVR_FILE {custom}: goodbye: no prompt in es"):
        PARTNER.webhook(WebhookContext())


def test_doctor_names_a_broken_flow_file_instead_of_failing(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from integration_hub.cli import app

    broken = tmp_path / "flow.json"
    broken.write_text(json.dumps({**shipped(), "start": "main"}))
    env = {"HUB_HOME": str(tmp_path / "var"), "HUB_TWILIO_IVR_FILE": str(broken)}

    result = CliRunner().invoke(app, ["doctor"], env=env)

    assert result.exit_code == 2
    assert f"HUB_TWILIO_IVR_FILE {broken}: start: names unknown step 'main'" in result.output


def test_a_malformed_operator_number_is_named_not_echoed(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from integration_hub.cli import app

    env = {"HUB_HOME": str(tmp_path / "var"), "HUB_TWILIO_OPERATOR_NUMBER": "305-555-0177"}

    result = CliRunner().invoke(app, ["doctor"], env=env)

    assert result.exit_code == 2
    assert "HUB_TWILIO_OPERATOR_NUMBER: String should match pattern" in result.output
    assert "305-555-0177" not in result.output
