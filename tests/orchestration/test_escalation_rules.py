"""Escalation rules: the shipped table in es and en (matches and deliberate non-matches), the
file's checks at load, and matching that never raises and stays bounded on any text."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from integration_hub.orchestration.escalation_rules import (
    MAX_MATCH_CHARS,
    MAX_RULES_BYTES,
    RulesError,
    fold,
    load_rules,
    parse_rules,
)
from integration_hub.orchestration.worker import build_worker
from integration_hub.settings import Settings
from tests.properties.strategies import bounded

RULES = load_rules()


def _names(body: str) -> list[str]:
    return [rule.name for rule in RULES.match(body)]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # English
        ("I'm locked out of the apartment", ["lockout"]),
        ("I can\u2019t get in, the door code fails", ["lockout"]),
        ("LOCKOUT!!!", ["lockout"]),
        ("The TV is broken", ["damage"]),
        ("there is some damage on the wall", ["damage"]),
        ("This is an EMERGENCY", ["urgent"]),
        ("water leak under the sink", ["leak"]),
        ("the bathroom flooded, urgent", ["urgent", "leak"]),
        ("nobody came to clean, it's dirty", ["no_show", "cleaning_missing"]),
        ("no hot water since this morning", ["utilities"]),
        # Spanish, with and without accents
        ("No puedo entrar al departamento", ["lockout"]),
        ("me quedé afuera sin la llave", ["lockout"]),
        ("Perdí la llave del depto", ["lockout"]),
        ("la llave no funciona", ["lockout"]),
        ("no encuentro las llaves", ["lockout"]),
        ("Hay un daño en la puerta", ["damage"]),
        ("hay un dano en la puerta", ["damage"]),
        ("la silla está rota", ["damage"]),
        ("¡URGENTE! necesito ayuda", ["urgent"]),
        ("Hay una fuga de agua en la cocina", ["leak"]),
        ("Inundación en el baño", ["leak"]),
        ("no vino nadie a limpiar", ["no_show"]),
        ("sin luz en todo el piso", ["utilities"]),
        # Negations are not understood: these escalate, on purpose (see the module).
        ("no es urgente", ["urgent"]),
    ],
)
def test_messages_that_escalate_name_their_rules(body: str, expected: list[str]) -> None:
    assert _names(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        "Thanks, everything is perfect!",
        "the sofa is undamaged",  # a keyword inside a longer word is not the keyword
        "my brokerage account",
        "what a leaky-free stay",  # "leaky" is not "leak"
        "Gracias, todo perfecto",
        "llavero bonito",  # "llavero" is not "llave"
        # A routine handoff names the key without a problem.
        "dejé las llaves en la mesa",
        "¿dónde dejo la llave al salir?",
        "check-in at 3pm?",
        "",
    ],
)
def test_messages_that_do_not_escalate(body: str) -> None:
    assert _names(body) == []


def test_folding_drops_case_accents_and_punctuation() -> None:
    assert fold("  ¡Daño,  INUNDACIÓN!! ") == "dano inundacion"
    assert fold("can\u2019t") == fold("can't") == "can t"
    assert fold("ﬁre") == "fire"  # NFKD: the ligature is two letters


def test_a_keyword_past_the_bound_is_not_read() -> None:
    assert _names("x " * (MAX_MATCH_CHARS // 2) + "urgent") == []
    assert _names("x " * (MAX_MATCH_CHARS // 2 - 10) + "urgent") == ["urgent"]


def _write(tmp_path: Path, content: object) -> Path:
    path = tmp_path / "rules.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_a_rules_file_replaces_the_shipped_rules(tmp_path: Path) -> None:
    rules = {"rules": [{"name": "pets", "tags": ["pets"],
                        "keywords": {"en": ["dog"], "es": ["perro"]}}]}  # fmt: skip

    loaded = load_rules(_write(tmp_path, rules))

    assert [r.name for r in loaded.match("un PERRO ladra")] == ["pets"]
    assert loaded.match("locked out") == ()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{", "not JSON"),
        ({"rules": []}, "rules"),
        ({"rules": [{"name": "Bad Name", "keywords": {"en": ["x"]}}]}, "rules.0.name"),
        ({"rules": [{"name": "a", "keywords": {"fr": ["x"]}}]}, "rules.0.keywords.fr"),
        ({"rules": [{"name": "a", "keywords": {"en": ["x" * 65]}}]}, "rules.0.keywords.en.0"),
        ({"rules": [{"name": "a", "keywords": {"en": ["!!"]}}]}, "no letter or digit"),
        ({"rules": [{"name": "a", "keywords": {"en": ["x"] * 65}}]}, "at most 64"),
        ({"rules": [{"name": "a", "tags": ["No Tag"], "keywords": {"en": ["x"]}}]}, "tags.0"),
        ({"rules": [{"name": "a", "keywords": {"en": ["x"]}, "extra": 1}]}, "extra"),
        (
            {
                "rules": [
                    {"name": "a", "keywords": {"en": ["x"]}},
                    {"name": "a", "keywords": {"es": ["y"]}},
                ]
            },
            "used twice: a",
        ),
    ],
)
def test_a_rules_file_that_does_not_hold_together_stops_the_start(
    tmp_path: Path, content: object, problem: str
) -> None:
    path = _write(tmp_path, content)

    with pytest.raises(RulesError) as raised:
        load_rules(path)

    assert problem in raised.value.detail and str(path) in raised.value.detail


def test_a_rules_file_too_large_or_missing_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="at most"):
        parse_rules(b" " * (MAX_RULES_BYTES + 1), "big")
    with pytest.raises(RulesError, match="cannot read it"):
        load_rules(tmp_path / "absent.json")


@bounded
@given(body=st.text(max_size=MAX_MATCH_CHARS * 2))
def test_matching_any_text_never_raises_and_stays_fast(body: str) -> None:
    started = time.perf_counter()
    matched = RULES.match(body)
    assert time.perf_counter() - started < 0.5
    assert all(rule in RULES.rules for rule in matched)


def test_the_worst_case_body_is_matched_in_bounded_time() -> None:
    started = time.perf_counter()
    for body in ("\ufdfa" * 100_000, "a" * 1_000_000, "no puedo " * 100_000):
        RULES.match(body)
    assert time.perf_counter() - started < 2


def test_a_worker_does_not_start_with_a_broken_rules_file(
    tmp_path: Path, engine: Engine, temporal: WorkflowEnvironment
) -> None:
    settings = Settings(home=tmp_path, escalation_rules_file=_write(tmp_path, {"rules": []}))

    with pytest.raises(RulesError, match="HUB_ESCALATION_RULES_FILE"):
        build_worker(temporal.client, settings, engine)
