"""When the hub asked Guesty for a connection's tokens: Guesty issues at most 5 per key in any
24 h and then refuses the key, so each issue is logged (`GUESTY_TOKEN_LOG__<CONNECTION>`, a
JSON list of unix times, in the secret store next to the token) and read and written only
under the token's cross-process lock (`TokenStore.token` calls `issue` holding it).

Two rules, both checked before asking: no more than `tokens_per_day` in the last 24 h (a
sliding window, so never 5 in a few hours), and no new token while the last one is younger
than `MIN_TOKEN_AGE` (Guesty refused a token it issued minutes ago: a new one would very likely
be refused too, and would spend the day's budget in a few retries). Both fail retryably, with
the delay until a token may be asked for again.
"""

from __future__ import annotations

import json

from temporalio.exceptions import ApplicationError

from integration_hub.connectors.guesty import NAME, TOKEN_LOG
from integration_hub.connectors.outbound import call_failed
from integration_hub.secrets import SecretSource
from integration_hub.secrets.aws import AwsSecretStore
from integration_hub.secrets.file import FileSecretStore
from integration_hub.secrets.instances import instance_secret_name
from integration_hub.secrets.store import SecretStore, valid

DAY = 86_400.0
MIN_TOKEN_AGE = 900.0  # 15 minutes
OPERATION = "oauth2.token"


def _fresh(secrets: SecretSource, name: str) -> str | None:
    """The stored value as the backend holds it now, past the stores' read caches (another
    process may have logged an issue a moment ago)."""
    if isinstance(secrets, FileSecretStore):
        record = secrets._load(force=True).get(name)
    elif isinstance(secrets, AwsSecretStore):
        record = secrets._fetch(name)
    else:
        found = secrets.versions(name)
        return found[0] if found else None
    if record is None:
        return None
    versions = valid(record, secrets.clock())
    return versions[0].value if versions else None


def issue_times(secrets: SecretSource, connection: str, now: float) -> list[float]:
    """The issue times of the last 24 h, oldest first (an unreadable log counts as empty)."""
    value = _fresh(secrets, instance_secret_name(TOKEN_LOG, connection))
    try:
        times = json.loads(value) if value else []
    except ValueError:
        times = []
    if not isinstance(times, list):
        return []
    kept = (float(t) for t in times if isinstance(t, (int, float)) and not isinstance(t, bool))
    return sorted(t for t in kept if now - DAY < t <= now + 60)


def admit(secrets: SecretSource, connection: str, now: float, per_day: int) -> None:
    """Log an issue at `now`, or raise a retryable failure when one may not be asked for."""
    times = issue_times(secrets, connection, now)
    wait = 0.0
    if times and now - times[-1] < MIN_TOKEN_AGE:
        wait, reason = times[-1] + MIN_TOKEN_AGE - now, "the last token is minutes old"
    elif len(times) >= per_day:
        wait = times[len(times) - per_day] + DAY - now
        reason = f"{per_day} tokens were issued in the last 24 h"
    if wait > 0:
        raise _hold(reason, wait)
    if not isinstance(secrets, SecretStore):
        return  # a read-only backend: TokenStore refuses to store the token anyway
    logged = [*times, now]
    secrets.set(instance_secret_name(TOKEN_LOG, connection), json.dumps(logged[-2 * per_day :]))


def _hold(reason: str, wait: float) -> ApplicationError:
    return call_failed(
        NAME, OPERATION, status=None, retryable=True, code="token_budget",
        message=f"no new token yet: {reason}; asking again in {int(wait) + 1} s",
        retry_after=str(int(wait) + 1),
    )  # fmt: skip
