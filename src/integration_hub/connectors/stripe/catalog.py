"""The services' catalog in Stripe: one product and one active price per service (turnover
cleaning, same-day turn surcharge, deep clean), created or reconciled from configuration.

Reconciling is idempotent and safe to rerun. A product has a fixed id derived from the
service's key (`hub_<key>`), so it is found by id (`GET /v1/products?ids[]=`, no search index
to wait for) and updated only when its name or description changed. The price is found by its
`lookup_key` (the service's key): Stripe prices are immutable, so a new amount or currency is a
new price that takes the lookup key over (`transfer_lookup_key`), and the old one is
deactivated. Every create carries an Idempotency-Key derived from what it creates.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import stripe
from pydantic import BaseModel, Field, ValidationError

from integration_hub.connectors.outbound import idempotency_key
from integration_hub.connectors.stripe.calls import PARTNER, StripeCalls

MAX_ITEMS = 50  # a config file lists a few services; a long one is a mistake
MAX_CONFIG_BYTES = 64 * 1024

Key = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]


class CatalogItem(BaseModel):
    key: Key  # the price's lookup_key; the product id is hub_<key>
    name: str = Field(min_length=1, max_length=250)
    amount: int = Field(ge=1, le=99_999_999, description="Minor units (cents).")
    description: str = Field(default="", max_length=1000)


class Catalog(BaseModel):
    currency: str = Field(default="usd", pattern=r"^[a-z]{3}$")
    items: list[CatalogItem] = Field(min_length=1, max_length=MAX_ITEMS)


DEFAULT_CATALOG = Catalog(
    items=[
        CatalogItem(key="turnover_cleaning", name="Turnover cleaning", amount=12_000),
        CatalogItem(key="same_day_surcharge", name="Same-day turn surcharge", amount=3_000),
        CatalogItem(key="deep_clean", name="Deep clean", amount=25_000),
    ]
)


class CatalogError(ValueError):
    """The configuration file cannot be used (one line, said by `hub stripe sync-catalog`)."""


def load_catalog(path: Path | None) -> Catalog:
    """The catalog in `path` (JSON), or the defaults."""
    if path is None:
        return DEFAULT_CATALOG
    try:
        with path.open("rb") as file:
            text = file.read(MAX_CONFIG_BYTES + 1)
    except OSError as error:
        raise CatalogError(f"cannot read {path}: {error.strerror}") from None
    if len(text) > MAX_CONFIG_BYTES:
        raise CatalogError(f"{path} is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        catalog = Catalog.model_validate(json.loads(text))
    except (ValueError, ValidationError) as error:
        raise CatalogError(f"{path} is not a catalog: {str(error).splitlines()[0]}") from None
    if len({item.key for item in catalog.items}) != len(catalog.items):
        raise CatalogError(f"{path} lists a key twice")
    return catalog


def product_id(item: CatalogItem) -> str:
    return f"hub_{item.key}"


def _product(calls: StripeCalls, item: CatalogItem) -> tuple[str, str]:
    found = calls._call(
        "products.list",
        lambda c: c.v1.products.list(params={"ids": [product_id(item)], "limit": 1}),
    ).data
    wanted = {"name": item.name, "description": item.description or None}
    if not found:
        params: stripe.params.ProductCreateParams = {
            "id": product_id(item),
            "name": item.name,
            "metadata": {"hub_catalog_key": item.key},
        }
        if item.description:
            params["description"] = item.description
        key = idempotency_key(PARTNER, "product", item.key)
        calls._call(
            "products.create",
            lambda c: c.v1.products.create(params=params, options={"idempotency_key": key}),
        )
        return product_id(item), "created"
    product_id_, product = found[0].id, found[0].to_dict()
    current = {"name": product.get("name"), "description": product.get("description")}
    if current == wanted and product.get("active"):
        return product_id_, "unchanged"
    changes: stripe.params.ProductUpdateParams = {
        "name": item.name,
        "description": item.description,  # "" unsets it
        "active": True,
    }
    calls._call("products.update", lambda c: c.v1.products.update(product_id_, params=changes))
    return product_id_, "updated"


def _price(calls: StripeCalls, item: CatalogItem, currency: str, product: str) -> tuple[str, str]:
    found = calls._call(
        "prices.list",
        lambda c: c.v1.prices.list(params={"lookup_keys": [item.key], "active": True, "limit": 1}),
    ).data
    old = found[0].to_dict() if found else None
    if old is not None and (old.get("unit_amount"), old.get("currency"), old.get("product")) == (
        item.amount,
        currency,
        product,
    ):
        return str(old["id"]), "unchanged"
    params: stripe.params.PriceCreateParams = {
        "product": product,
        "currency": currency,
        "unit_amount": item.amount,
        "lookup_key": item.key,
        "transfer_lookup_key": True,
        "metadata": {"hub_catalog_key": item.key},
    }
    # The price it replaces is in the key: 120 -> 150 -> 120 within Stripe's 24 h key window
    # must create a third price, not replay the first (inactive, without the lookup key).
    replaces = str(old["id"]) if old else ""
    key = idempotency_key(PARTNER, "price", item.key, product, currency, str(item.amount), replaces)
    price = calls._call(
        "prices.create",
        lambda c: c.v1.prices.create(params=params, options={"idempotency_key": key}),
    )
    if old is None:
        return price.id, "created"
    old_id = str(old["id"])
    calls._call("prices.update", lambda c: c.v1.prices.update(old_id, params={"active": False}))
    return price.id, "replaced"


def sync_catalog(calls: StripeCalls, catalog: Catalog) -> list[dict[str, Any]]:
    """Create or reconcile every item; what was done to each (for the command's output)."""
    done: list[dict[str, Any]] = []
    for item in catalog.items:
        product, product_action = _product(calls, item)
        price, price_action = _price(calls, item, catalog.currency, product)
        done.append(
            {
                "key": item.key,
                "product_id": product,
                "product": product_action,
                "price_id": price,
                "price": price_action,
            }
        )
    return done
