"""No secret value leaves the hub: a hub process with every secret every partner declares set
takes signed, forged and replayed deliveries and sends; then its logs, admin API answers,
metrics and database are scanned for the known values."""

from __future__ import annotations

import re
import string
import subprocess
import time
import uuid
import warnings
from pathlib import Path

import httpx
from hypothesis import strategies as st
from hypothesis.errors import NonInteractiveExampleWarning
from sqlalchemy import MetaData, create_engine, select

from integration_hub.connectors.partner import Partner, Secret
from integration_hub.connectors.partners import PARTNERS, build_connectors, partner_named
from integration_hub.orchestration.devserver import free_port
from integration_hub.orchestration.maintenance import known_secret_names
from integration_hub.secrets import EnvSecretSource
from integration_hub.testing import HubProcess, delivered_types, hub_env
from tests.connectors.docusign.support import docusign_secrets
from tests.helpers import (
    ADMIN_TOKEN,
    AUTH0_TOKEN,
    CLERK_SECRET,
    GOOGLE_MAPS_API_KEY,
    STRIPE_SECRET,
    STRIPE_SECRET_KEY,
    TWILIO_AUTH_TOKEN,
)

AUTH_CLIENT_SECRET = "auth0-client-secret-" + "q" * 30
# Values tests share; every other declared secret gets the value `hub init` would make, or
# one drawn from its declared format (a value no sample carries, so a hit is a leak).
FIXED = {
    "STRIPE_WEBHOOK_SECRET": STRIPE_SECRET,
    "STRIPE_SECRET_KEY": STRIPE_SECRET_KEY,
    "CLERK_WEBHOOK_SECRET": CLERK_SECRET,
    "AUTH0_LOG_STREAM_TOKEN": AUTH0_TOKEN,
    "TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN,
    "GOOGLE_MAPS_API_KEY": GOOGLE_MAPS_API_KEY,
    "AUTH_CLIENT_SECRET": AUTH_CLIENT_SECRET,
    # A PEM key holds spaces and line breaks, outside the drawing alphabet: a real key, as a
    # `.env` line holds it (with \n escapes).
    "DOCUSIGN_PRIVATE_KEY": docusign_secrets()["DOCUSIGN_PRIVATE_KEY"],
}
# Long enough that a chance match in the scanned output is no concern.
MIN_DRAWN_CHARS = 12
MIN_DISTINCT_CHARS = 8
# What a value in an environment variable and a URL holds without quoting.
ALPHABET = st.sampled_from(string.ascii_letters + string.digits + "+:/._-=")


def _value(secret: Secret) -> str:
    if secret.name in FIXED:
        return FIXED[secret.name]
    if secret.local is not None:
        return secret.local()
    values = st.from_regex(re.compile(secret.format), fullmatch=True, alphabet=ALPHABET)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonInteractiveExampleWarning)
        while True:
            value = values.example()
            # Not "AC000...": a run of one character could match an id or a counter by chance.
            if len(value) >= MIN_DRAWN_CHARS and len(set(value)) >= MIN_DISTINCT_CHARS:
                return value


# A family declared per instance gets two instances, each its own value (a hub holds one
# secret per PMS connection, realm or feed: each is scanned for).
INSTANCES = ("leak-scan-a", "b2")


def declared_values(partners: tuple[Partner, ...] | list[Partner]) -> dict[str, str]:
    """A value for every secret the partners declare, per instance for a family."""
    values: dict[str, str] = {}
    for partner in partners:
        for secret in partner.secrets:
            names = [secret.for_instance(i) for i in INSTANCES] if secret.per_instance else []
            for name in names or [secret.name]:
                values[name] = _value(secret)
    return values


SECRETS = declared_values(PARTNERS)
# One delivery per partner that receives webhooks: its first mapped type.
SENDS = [
    (name, delivered_types(c)[0])
    for name, c in sorted(build_connectors().items())
    if delivered_types(c)
]
# A partner verifying per connection (a PMS) is sent to a connection of its own, made through
# the admin API, whose webhook secret is one more scanned value of its family.
CONNECTIONS = {
    name: f"{name}-leak"
    for name, c in build_connectors().items()
    if c.manifest.secret_per_endpoint and delivered_types(c)
}
for _partner, _connection in CONNECTIONS.items():
    _family = partner_named(_partner).secret(build_connectors()[_partner].manifest.webhook_secret)
    SECRETS[_family.for_instance(_connection)] = _value(_family)


def _add_connections(admin: httpx.Client) -> None:
    if not CONNECTIONS:
        return
    manager = {"id": "leak-scan", "name": "Leak scan"}
    assert admin.post("/api/managers", json=manager).status_code == 201
    for partner, connection in CONNECTIONS.items():
        body = {"id": connection, "partner": partner, "manager_id": "leak-scan"}
        added = admin.post("/api/connections", json=body)
        assert added.status_code == 201, added.text


def _send_args(partner: str) -> list[str]:
    return ["--connection", CONNECTIONS[partner]] if partner in CONNECTIONS else []


def _path(partner: str) -> str:
    connection = CONNECTIONS.get(partner)
    return f"/webhooks/{partner}/{connection}" if connection else f"/webhooks/{partner}"


def _hub(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HubProcess.hub_command(), *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


def _database_dump(url: str) -> str:
    """Every row of every table as text (raw bodies included: a partner's payload is fine to
    keep, a secret that signed it is not)."""
    engine = create_engine(url)
    metadata = MetaData()
    metadata.reflect(engine)
    with engine.connect() as connection:
        rows = [
            repr(tuple(row))
            for table in metadata.sorted_tables
            for row in connection.execute(select(table))
        ]
    engine.dispose()
    return "\n".join(rows)


def test_no_secret_value_reaches_logs_api_metrics_or_database(
    tmp_path: Path, temporal_address: str
) -> None:
    env = hub_env(
        tmp_path / "var",
        HUB_ADMIN_TOKEN=ADMIN_TOKEN,
        HUB_TEMPORAL_ADDRESS=temporal_address,
        HUB_TASK_QUEUE=f"leaks-{uuid.uuid4().hex}",
        HUB_LOG_LEVEL="DEBUG",
        **SECRETS,
    )
    hub = HubProcess(tmp_path, env, free_port())
    env["HUB_URL"] = hub.url
    hub.start()
    answers: list[str] = []
    try:
        admin = httpx.Client(base_url=hub.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        _add_connections(admin)
        for partner, event_type in SENDS:
            sent = _hub(tmp_path, env, "send", partner, event_type, *_send_args(partner))
            assert sent.returncode == 0, sent.stderr
            answers.append(sent.stdout + sent.stderr)
        for partner, _ in SENDS:  # a forged delivery to each: refused, the refusal scanned
            forged = httpx.post(
                f"{hub.url}{_path(partner)}",
                content=b"[]",
                headers={"Authorization": "Bearer nope", "Content-Type": "application/json"},
            )
            assert forged.status_code == 400
            answers.append(forged.text)

        for _ in range(600):
            page = admin.get("/api/events", params={"status": "processed"}).json()
            if len(page["items"]) >= len(SENDS):
                break
            time.sleep(0.1)
        assert len(page["items"]) >= len(SENDS)
        for path in ["/api/events", "/api/connectors", "/metrics", "/openapi.json"]:
            answers.append(admin.get(path).text)
        for item in admin.get("/api/events").json()["items"]:
            detail = f"/api/events/{item['partner']}/{item['partner_event_id']}"
            answers.append(admin.get(detail).text)
            answers.append(admin.post(f"{detail}/replay").text)
        answers.append(_hub(tmp_path, env, "doctor", "--json").stdout)
        admin.close()
    finally:
        hub.stop()
    logs = (tmp_path / "serve.log").read_text()
    database = _database_dump(f"sqlite:///{tmp_path / 'var' / 'hub.db'}")

    assert "delivery_rejected" in logs  # the scan reads real output
    declared = set(known_secret_names(secrets=EnvSecretSource(environ=SECRETS)))
    assert set(SECRETS) == declared and set(FIXED) <= declared  # every partner's secrets
    for name, value in SECRETS.items():
        assert value not in logs, f"{name} in the hub's logs"
        assert value not in database, f"{name} in the database"
        for answer in answers:
            assert value not in answer, f"{name} in an API answer or CLI output"


def test_a_family_declared_per_instance_is_scanned_per_instance() -> None:
    family = Secret("PMS_API_KEY", format=r"pk_[0-9a-z]{16}", per_instance=True)
    pms = Partner(name="pms", priority="P1", summary="test only", secrets=(family,))

    values = declared_values([pms])

    assert set(values) == {"PMS_API_KEY__LEAK-SCAN-A", "PMS_API_KEY__B2"}
    assert len(set(values.values())) == 2  # a leak names the instance it came from
    assert all(re.fullmatch(family.format, v) for v in values.values())
