"""Reading the declarations is cheap: importing PARTNERS (every `hub` command, `hub --help`
included) loads none of a partner's modules (so none of the SDKs they use) and none of the
core's heavy layers; the factories load them when the composition root calls them, and the
worker still gets every partner's workflows."""

from __future__ import annotations

import json
import subprocess
import sys

from temporalio import workflow

from integration_hub.connectors.partners import PARTNERS
from integration_hub.orchestration.calls import CALL_WORKFLOWS

CORE_HEAVY = ("temporalio", "sqlalchemy", "jsonschema", "fastapi", "httpx", "requests")


def _loaded_after(statement: str) -> list[str]:
    """Modules a fresh interpreter holds after `statement`: the core's heavy layers, and every
    module inside a partner package (`integration_hub.connectors.<partner>.<module>`)."""
    packages = [f"integration_hub.connectors.{p.name}." for p in PARTNERS]
    probe = (
        f"import sys, json; {statement}; "
        f"print(json.dumps([m for m in sys.modules if m in {CORE_HEAVY!r} "
        f"or m.startswith(tuple({packages!r}))]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    loaded: list[str] = json.loads(done.stdout)
    return loaded


def test_importing_the_partner_list_loads_no_partner_module_and_no_heavy_layer() -> None:
    assert _loaded_after("import integration_hub.connectors.partners") == []


def test_building_the_cli_loads_only_the_partners_sub_apps() -> None:
    loaded = _loaded_after("import integration_hub.cli")
    assert all(m.endswith(".cli") for m in loaded), loaded
    assert len(loaded) == sum(1 for p in PARTNERS if p.cli is not None)


def test_the_worker_gets_every_partners_workflows() -> None:
    declared = [w for p in PARTNERS if p.workflows is not None for w in p.workflows()]
    assert len(declared) >= sum(1 for p in PARTNERS if p.calls is not None)
    assert set(declared) <= set(CALL_WORKFLOWS)
    assert all(workflow._Definition.from_class(w) is not None for w in declared)
