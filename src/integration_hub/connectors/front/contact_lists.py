"""Front's contact lists, the hub's tags on a contact (Front has no tags on contacts): read by
case-folded name, every page of the listing (bounded by FrontApi.listing), created when
missing."""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.exceptions import ApplicationError

from integration_hub.connectors.front.api import MAX_RESULTS, PARTNER, FrontApi, is_front_id


def lists_with(api: FrontApi, names: Sequence[str]) -> dict[str, str]:
    """Contact list ids by case-folded name, each of `names` created when missing. Another
    sync may create one meanwhile: the listing is read again before each creation after the
    first, and Front refusing a creation (409, the name is taken) means it is there."""
    lists, fresh, created = listed(api), True, False
    for name in names:
        if name.casefold() in lists:
            continue
        if not fresh:
            lists = listed(api)
            if name.casefold() in lists:
                continue
        try:
            api.call("contact_lists.create", "POST", "/contact_lists", json={"name": name})
        except ApplicationError as error:
            if error.type != f"{PARTNER}.409":
                raise
        fresh, created = False, True
    return listed(api) if created else lists  # Front answers a creation with no id


def listed(api: FrontApi) -> dict[str, str]:
    """Contact list ids by case-folded name ("VIP" and "vip" are one list)."""
    entries = api.listing("contact_lists.list", f"/contact_lists?limit={MAX_RESULTS}")
    return {
        entry["name"].casefold(): entry["id"]
        for entry in entries
        if is_front_id(entry.get("id")) and isinstance(entry.get("name"), str)
    }
