"""Helpers shared by the tests, `hub send` and the benchmarks: sign exactly as a partner does,
run `hub serve` as a process, make scratch databases."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from integration_hub.checklist import takes_deliveries
from integration_hub.connectors.base import Connector
from integration_hub.connectors.partners import build_connectors, get_connector
from integration_hub.orchestration.devserver import free_port
from integration_hub.settings import normalize_database_url

# The connection the tests' per-endpoint partners (a PMS: `Manifest.secret_per_endpoint`) are
# posted to: /webhooks/<partner>/<TEST_CONNECTION>, verified with `<FAMILY>__CONN-TEST`.
TEST_CONNECTION = "conn-test"


@cache
def connector(partner: str) -> Connector:
    """The connector `partner`'s declaration in PARTNERS builds, with default settings
    (connectors hold no mutable state)."""
    return get_connector(build_connectors(), partner)


def sign_as(
    partner: str,
    body: bytes,
    *,
    secret: str,
    timestamp: int | None = None,
    url: str | None = None,
) -> dict[str, str]:
    """The headers `partner` would send with `body` to `url`, signed with `secret`.

    `url` is the public URL the partner calls; only partners whose scheme signs the URL use it.
    """
    stamp = int(time.time()) if timestamp is None else timestamp
    target = url or f"http://testserver{webhook_path(partner)}"
    return connector(partner).sign(body, secret, timestamp=stamp, url=target)


def sample_delivery(
    partner: str,
    event_type: str,
    *,
    secret: str,
    timestamp: int | None = None,
    url: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A realistic, freshly identified, correctly signed delivery of `event_type`."""
    body = connector(partner).sample(event_type)
    return body, sign_as(partner, body, secret=secret, timestamp=timestamp, url=url)


# Mapped types a partner's polls or fetches store (PMSs: "booking.polled", "calendar.fetched"),
# never a webhook's: the suites sign and post only the others (`delivered_types`).
NOT_DELIVERED_SUFFIXES = (".polled", ".fetched")


# False for a partner that only polls (`endpoints=frozenset()`: the edge answers 404).
receives_webhooks = takes_deliveries


def delivered_types(connector: Connector) -> list[str]:
    """The mapped types a delivery to the edge carries, in the manifest's order."""
    if not receives_webhooks(connector):
        return []
    return [t for t in connector.manifest.event_map if not t.endswith(NOT_DELIVERED_SUFFIXES)]


def per_endpoint(partner: str) -> bool:
    """Whether `partner` verifies per connection (/webhooks/<partner>/<connection>); False for
    a name no connector has (fuzzers post to those too)."""
    if partner not in _connector_names():
        return False
    return connector(partner).manifest.secret_per_endpoint


@cache
def _connector_names() -> frozenset[str]:
    return frozenset(build_connectors())


def webhook_path(partner: str, connection: str = TEST_CONNECTION) -> str:
    """Where `partner` posts: its bare path, or its connection's for a per-endpoint partner."""
    return f"/webhooks/{partner}/{connection}" if per_endpoint(partner) else f"/webhooks/{partner}"


def webhook_endpoint(partner: str, connection: str = TEST_CONNECTION) -> str:
    """`Delivery.endpoint` of a delivery to `webhook_path(partner, connection)`."""
    return connection if per_endpoint(partner) else ""


def webhook_secret_name(partner: str, connection: str = TEST_CONNECTION) -> str:
    """The secret the edge verifies `partner`'s deliveries with: the family's instance of
    `connection` for a per-endpoint partner."""
    from integration_hub.secrets.instances import instance_secret_name

    name = connector(partner).manifest.webhook_secret
    return instance_secret_name(name, connection) if per_endpoint(partner) else name


def well_formed_secret(format: str, token: str | None = None) -> str:
    """A value the hub may choose itself for a secret declared with `format` (a regex matched
    in full): a random token, a `whsec_` base64 key, or `user:password` for Basic auth, the
    first that fits. The connector's `sign` takes the string as it is (ValueError: none fits)."""
    import base64
    import re
    import secrets as token_generator

    raw = token or token_generator.token_hex(24)
    candidates = (
        raw,
        "whsec_" + base64.b64encode(raw.encode()).decode(),
        f"hub-demo:{raw}",
        token_generator.token_urlsafe(32),
    )
    for candidate in candidates:
        if re.fullmatch(format, candidate):
            return candidate
    raise ValueError("no value the hub can make fits the secret's declared format")


def webhook_secret_format(partner: str) -> str:
    """The declared format of `partner`'s webhook secret (its family's, per endpoint)."""
    from integration_hub.connectors.partners import partner_named

    name = connector(partner).manifest.webhook_secret
    return partner_named(partner).secret(name).format


class HubProcess:
    """`hub serve` as a separate process, the way a user runs it."""

    def __init__(
        self, cwd: Path, env: dict[str, str], port: int | None = None, *, umask: int = -1
    ) -> None:
        # cwd is often HUB_HOME too, which the hub refuses if others can read it (home.py).
        cwd.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.cwd, self.env, self.port = cwd, env, port or free_port()
        self.umask = umask  # the child's umask (-1: inherit ours), as a user's shell would set
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def hub_command() -> str:
        return str(Path(sys.executable).parent / "hub")

    def start(self, timeout: float = 60.0) -> None:
        # 0600: the log sits in HUB_HOME when cwd is HUB_HOME, where the hub refuses others' files.
        log_fd = os.open(self.cwd / "serve.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(log_fd, "ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 (our own entry point)
                [self.hub_command(), "serve", "--port", str(self.port)],
                cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT, umask=self.umask,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError((self.cwd / "serve.log").read_text()[-3000:])
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.05)
        raise TimeoutError("hub serve did not come up")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def cpu_seconds(self) -> float:
        """User + system CPU of the hub process (all its threads) so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def hub_env(home: Path, **extra: str) -> dict[str, str]:
    """A clean environment for a hub process: nothing leaks in from the developer's shell."""
    # PYTHONPATH too: a checkout run with the code under test first (a git worktree sharing
    # one virtualenv) runs that code in its hub processes as well.
    kept = {"PATH", "HOME", "LANG", "TMPDIR", "PYTHONPATH"}
    keep = {k: v for k, v in os.environ.items() if k in kept}
    return {**keep, "HUB_HOME": str(home), "HUB_LOG_JSON": "true", **extra}


@contextlib.contextmanager
def scratch_database(kind: str, directory: Path, postgres_url: str | None = None) -> Iterator[str]:
    """A fresh database URL: a new SQLite file in `directory`, or a new PostgreSQL schema
    (dropped afterwards) on the server at `postgres_url`."""
    if kind == "sqlite":
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # often HUB_HOME too
        path = directory / f"hub-{uuid.uuid4().hex[:8]}.db"
        yield f"sqlite:///{path}"
        return
    if postgres_url is None:
        raise ValueError("a PostgreSQL scratch database needs the server's URL")
    base = normalize_database_url(postgres_url)
    schema = f"scratch_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
