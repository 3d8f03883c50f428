"""Secrets per instance: a family of secrets keyed per realm, feed or connection.

A family `NAME` declared per instance (`Secret(per_instance=True)`) holds one secret per
instance id, each an ordinary secret named `NAME__<INSTANCE>`: the id upper-cased, so
`PMS_API_KEY__ACME-HOMES` in the environment or .env, and the same name in the file and AWS
stores (which fall back to the environment for names they do not hold, as for any secret).
Versions and rotation work as for any other name: `NAME__ACME_PREVIOUS` is acme's previous
value in the environment, which is why an instance id may not end in `_previous`.

An instance id is `[a-z0-9][a-z0-9_-]{0,62}`: it comes from a partner (a realm id) or a URL,
so it is bounded and checked before it becomes part of a name. Listing a family returns at
most `MAX_INSTANCES` ids; names under the family that are not a valid id are not instances.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from integration_hub.errors import HubError

SEPARATOR = "__"
INSTANCE_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
# `NAME__X_PREVIOUS` is X's previous version (env.PREVIOUS_SUFFIX), never an instance.
RESERVED_SUFFIX = "_previous"
# Families: upper-case words joined by single underscores, so the separator is unambiguous.
FAMILY = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")
# A property manager per PMS connection, a realm per accounting company: hundreds at most.
# More is a misconfiguration (or a store someone else writes to), refused rather than read.
MAX_INSTANCES = 1000


class InvalidInstance(HubError):
    """An instance id that is not `[a-z0-9][a-z0-9_-]{0,62}` (never echoed: it came from
    outside; only its length is said)."""

    reason = "invalid_instance"


class TooManyInstances(HubError):
    reason = "too_many_instances"


def is_instance_id(instance: str) -> bool:
    return (
        INSTANCE_ID.fullmatch(instance) is not None
        and not instance.endswith(RESERVED_SUFFIX)
        and instance.isascii()
    )


def check_instance(instance: str) -> str:
    if not is_instance_id(instance):
        raise InvalidInstance(
            f"an instance id is [a-z0-9][a-z0-9_-]{{0,62}}, not ending in {RESERVED_SUFFIX} "
            f"(got {min(len(instance), 10_000)} characters that are not one)"
        )
    return instance


def is_family(name: str) -> bool:
    return FAMILY.fullmatch(name) is not None


def instance_secret_name(family: str, instance: str) -> str:
    """The secret that holds `instance`'s value in `family`: `FAMILY__INSTANCE`."""
    return f"{family}{SEPARATOR}{check_instance(instance).upper()}"


def instance_of(family: str, name: str) -> str | None:
    """The instance id `name` holds in `family`, or None when it is not one of its instances."""
    head = family + SEPARATOR
    if not name.startswith(head):
        return None
    tail = name[len(head) :]
    instance = tail.lower()
    if tail != instance.upper() or not is_instance_id(instance):
        return None
    return instance


def instances_among(family: str, names: Iterable[str]) -> tuple[str, ...]:
    """The family's instance ids among `names`, sorted, without repeats (at most
    `MAX_INSTANCES`, else `TooManyInstances`)."""
    found: set[str] = set()
    for name in names:
        instance = instance_of(family, name)
        if instance is None:
            continue
        found.add(instance)
        if len(found) > MAX_INSTANCES:
            raise TooManyInstances(f"{family}: more than {MAX_INSTANCES} instances")
    return tuple(sorted(found))
