"""`hub stripe sync-catalog`: products and prices created, then reconciled, against a local
stand-in for api.stripe.com that keeps them (checking the exact requests the SDK makes)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from integration_hub.cli.app import app
from integration_hub.connectors.outbound import idempotency_key
from integration_hub.connectors.stripe.calls import StripeCalls
from integration_hub.connectors.stripe.catalog import (
    DEFAULT_CATALOG,
    Catalog,
    CatalogError,
    load_catalog,
    sync_catalog,
)
from integration_hub.secrets import EnvSecretSource
from tests.helpers import STRIPE_SECRET_KEY
from tests.partner_server import PartnerServer, RecordedRequest, Reply, partner_server


class FakeStripe:
    """Products and prices as Stripe keeps them, for the calls the catalog makes."""

    def __init__(self) -> None:
        self.products: dict[str, dict[str, Any]] = {}
        self.prices: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def __call__(self, request: RecordedRequest) -> Reply:
        with self._lock:
            return self._answer(request)

    @staticmethod
    def _listed(items: list[dict[str, Any]], url: str) -> Reply:
        return Reply(body={"object": "list", "data": items, "has_more": False, "url": url})

    def _answer(self, request: RecordedRequest) -> Reply:
        form = {k: v[0] for k, v in request.form().items()} if request.body else {}
        query = {k.split("[")[0]: v[0] for k, v in request.query.items()}
        path = request.path
        if (request.method, path) == ("GET", "/v1/products"):
            found = [p for p in [self.products.get(query["ids"])] if p]
            return self._listed(found, path)
        if (request.method, path) == ("POST", "/v1/products"):
            product = {"id": form["id"], "object": "product", "active": True,
                       "name": form["name"], "description": form.get("description")}  # fmt: skip
            self.products[form["id"]] = product
            return Reply(body=product)
        if request.method == "POST" and path.startswith("/v1/products/"):
            product = self.products[path.rsplit("/", 1)[1]]
            product.update(name=form["name"], description=form["description"] or None)
            return Reply(body=product)
        if (request.method, path) == ("GET", "/v1/prices"):
            key = query["lookup_keys"]
            found = [p for p in self.prices.values() if p["lookup_key"] == key and p["active"]]
            return self._listed(found, path)
        if (request.method, path) == ("POST", "/v1/prices"):
            for other in self.prices.values():
                if other["lookup_key"] == form["lookup_key"]:
                    other["lookup_key"] = None  # transfer_lookup_key
            price = {"id": f"price_{len(self.prices) + 1}", "object": "price", "active": True,
                     "product": form["product"], "currency": form["currency"],
                     "unit_amount": int(form["unit_amount"]), "lookup_key": form["lookup_key"]}  # fmt: skip
            self.prices[price["id"]] = price
            return Reply(body=price)
        if request.method == "POST" and path.startswith("/v1/prices/"):
            price = self.prices[path.rsplit("/", 1)[1]]
            price["active"] = form["active"] == "true"
            return Reply(body=price)
        return Reply(404, {"error": {"type": "invalid_request_error", "message": "No such route"}})


@pytest.fixture
def fake() -> FakeStripe:
    return FakeStripe()


@pytest.fixture
def stripe_api(fake: FakeStripe) -> Iterator[PartnerServer]:
    yield from partner_server(fake)


@pytest.fixture
def calls(stripe_api: PartnerServer) -> Iterator[StripeCalls]:
    secrets = EnvSecretSource(environ={"STRIPE_SECRET_KEY": STRIPE_SECRET_KEY})
    calls = StripeCalls(secrets, env="test", api_base=stripe_api.url)
    yield calls
    calls.close()


def _posts(server: PartnerServer) -> list[RecordedRequest]:
    return [r for r in server.requests if r.method == "POST"]


def test_first_sync_creates_each_product_and_price(
    calls: StripeCalls, stripe_api: PartnerServer, fake: FakeStripe
) -> None:
    done = sync_catalog(calls, DEFAULT_CATALOG)

    assert [(d["key"], d["product"], d["price"]) for d in done] == [
        ("turnover_cleaning", "created", "created"),
        ("same_day_surcharge", "created", "created"),
        ("deep_clean", "created", "created"),
    ]
    product, price = _posts(stripe_api)[:2]
    assert (product.path, product.form()) == (
        "/v1/products",
        {
            "id": ["hub_turnover_cleaning"],
            "name": ["Turnover cleaning"],
            "metadata[hub_catalog_key]": ["turnover_cleaning"],
        },
    )
    assert product.headers["idempotency-key"] == idempotency_key(
        "stripe", "product", "turnover_cleaning"
    )
    assert (price.path, price.form()) == (
        "/v1/prices",
        {
            "product": ["hub_turnover_cleaning"],
            "currency": ["usd"],
            "unit_amount": ["12000"],
            "lookup_key": ["turnover_cleaning"],
            "transfer_lookup_key": ["true"],
            "metadata[hub_catalog_key]": ["turnover_cleaning"],
        },
    )
    lookup = next(r for r in stripe_api.requests if r.path == "/v1/prices")
    assert lookup.query == {
        "lookup_keys[0]": ["turnover_cleaning"],
        "active": ["true"],
        "limit": ["1"],
    }
    amounts = {p["lookup_key"]: p["unit_amount"] for p in fake.prices.values()}
    assert amounts == {"turnover_cleaning": 12000, "same_day_surcharge": 3000, "deep_clean": 25000}


def test_a_second_sync_changes_nothing(calls: StripeCalls, stripe_api: PartnerServer) -> None:
    sync_catalog(calls, DEFAULT_CATALOG)
    before = len(stripe_api.requests)

    done = sync_catalog(calls, DEFAULT_CATALOG)

    assert {(d["product"], d["price"]) for d in done} == {("unchanged", "unchanged")}
    assert _posts(stripe_api)[6:] == []  # only the six creates of the first sync
    assert len(stripe_api.requests) - before == 6  # one product and one price lookup each


def test_a_new_amount_replaces_the_price_and_a_new_name_updates_the_product(
    calls: StripeCalls, stripe_api: PartnerServer, fake: FakeStripe
) -> None:
    sync_catalog(calls, DEFAULT_CATALOG)
    changed = DEFAULT_CATALOG.model_copy(deep=True)
    changed.items[2].amount, changed.items[2].name = 27500, "Deep clean (3 bedrooms)"
    already = len(stripe_api.requests)

    done = sync_catalog(calls, changed)

    assert (done[2]["product"], done[2]["price"]) == ("updated", "replaced")
    assert {(d["product"], d["price"]) for d in done[:2]} == {("unchanged", "unchanged")}
    update, create, deactivate = [r for r in stripe_api.requests[already:] if r.method == "POST"]
    assert (update.path, update.form()["name"]) == (
        "/v1/products/hub_deep_clean",
        ["Deep clean (3 bedrooms)"],
    )
    assert create.form()["unit_amount"] == ["27500"]
    old = [p for p in fake.prices.values() if p["unit_amount"] == 25000]
    assert (deactivate.path, deactivate.form()) == (
        f"/v1/prices/{old[0]['id']}",
        {"active": ["false"]},
    )
    active = {p["unit_amount"] for p in fake.prices.values() if p["active"]}
    assert active == {12000, 3000, 27500}


def test_a_config_file_is_read_and_bounded(tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    path.write_text(
        json.dumps(
            {"currency": "eur", "items": [{"key": "deep_clean", "name": "Deep", "amount": 100}]}
        )
    )
    assert load_catalog(path) == Catalog(
        currency="eur", items=[{"key": "deep_clean", "name": "Deep", "amount": 100}]
    )
    refused = [
        {"items": []},
        {"items": [{"key": "Bad Key", "name": "x", "amount": 1}]},
        {"items": [{"key": "x", "name": "x", "amount": 0}]},
        {"items": [{"key": f"k{n}", "name": "x", "amount": 1} for n in range(51)]},
        {"items": [{"key": "x", "name": "x", "amount": 1}] * 2},
    ]
    for config in refused:
        path.write_text(json.dumps(config))
        with pytest.raises(CatalogError):
            load_catalog(path)
    path.write_text(" " * (64 * 1024 + 1))
    with pytest.raises(CatalogError, match="larger than"):
        load_catalog(path)


def test_hub_stripe_sync_catalog(
    tmp_path: Path, stripe_api: PartnerServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HUB_HOME", str(tmp_path))
    monkeypatch.setenv("STRIPE_SECRET_KEY", STRIPE_SECRET_KEY)
    monkeypatch.setenv("HUB_STRIPE_API_BASE_URL", stripe_api.url)
    config = tmp_path / "catalog.json"
    config.write_text(json.dumps({"items": [{"key": "deep_clean", "name": "Deep", "amount": 9}]}))
    runner = CliRunner()

    created = runner.invoke(app, ["stripe", "sync-catalog", "--config", str(config)])
    again = runner.invoke(app, ["stripe", "sync-catalog", "--config", str(config)])
    missing = runner.invoke(app, ["stripe", "sync-catalog", "--config", str(tmp_path / "no")])

    assert created.exit_code == 0, created.output
    assert [(d["product"], d["price"]) for d in json.loads(created.output)] == [
        ("created", "created")
    ]
    assert [(d["product"], d["price"]) for d in json.loads(again.output)] == [
        ("unchanged", "unchanged")
    ]
    assert missing.exit_code == 2
    assert "cannot read" in missing.output
