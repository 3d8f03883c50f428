"""The secrets checklist as the declarations make it: the steps `hub doctor` checks for each
partner (`evidence_steps`), and the living checklist `hub doctor --markdown` prints, committed
as infra/secrets/README.md (`markdown`).

Everything here reads the partner registry only, never the environment, the secrets or the
database: the same declarations give the same bytes on any machine, so a test fails when the
committed file falls behind them. What is set here and what evidence was seen stays with
`hub doctor` (doctor.py), which marks these same steps done or not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from integration_hub.connectors.base import Connector
from integration_hub.connectors.partner import Partner, Rotation, Secret
from integration_hub.connectors.partners import PARTNERS, build_connectors
from integration_hub.orchestration.handlers import handler_names_for
from integration_hub.secrets import PREVIOUS_SUFFIX

PATH = "infra/secrets/README.md"
REGENERATE = f"hub doctor --markdown > {PATH}"
SECRETS_SET, SECRETS_WELL_FORMED = "secrets set", "secrets well formed"


@dataclass(frozen=True)
class Step:
    """A step as the declarations make it, before any state is read: what doctor checks, how
    to get it done, and the evidence that marks it done ("stored", "normalized", "handled",
    or, with `poll`, the name of the poll source that must have stored a page)."""

    step: str
    how: str
    evidence: str
    poll: bool = False


def takes_deliveries(connector: Connector) -> bool:
    """A connector with no endpoint only normalizes what the partner's poll sources store."""
    return connector.manifest.endpoints != frozenset()


def has_handlers(connector: Connector) -> bool:
    """Whether any internal event type the partner's events map to has a handler."""
    return any(handler_names_for(kind) for kind in connector.manifest.event_map.values())


def evidence_steps(partner: Partner, connector: Connector | None) -> list[Step]:
    """Events stored (by a signed delivery, where the partner sends any), normalized and,
    where a handler takes them, handled; then a page stored by each poll source."""
    steps = []
    if connector is not None:
        if takes_deliveries(connector) or not partner.polls:
            example = next(iter(connector.manifest.event_map), "<event>")
            how = f"hub send {partner.name} {example} (with `hub serve` running)"
        else:
            how = f"hub poll {partner.name} {partner.polls[0].name} (with a worker running)"
        if takes_deliveries(connector):
            steps.append(Step("a signed delivery verified and stored", how, "stored"))
        steps.append(Step("normalized into internal events", how, "normalized"))
        # Only where a handler runs: a partner whose events no handler takes is done once they
        # are normalized.
        if has_handlers(connector):
            steps.append(Step("handler workflows completed", how, "handled"))
    if "support" in partner.capabilities:
        steps += support_steps(partner)
    for source in partner.polls:
        how = f"hub poll {partner.name} {source.name} (with a worker running)"
        steps.append(Step(f"poll source {source.name} stored a page", how, source.name, True))
    return steps


# The support inbox's evidence (storage/support.py: evidence): keys of doctor's evidence.
SUPPORT_EVIDENCE = ("support_conversation", "support_round_trip")


def support_steps(partner: Partner) -> list[Step]:
    """A support inbox's own evidence: a conversation the hub opened there, and an agent's
    reply relayed back to the person (the escalation round trip)."""
    env = f"HUB_SUPPORT_PROVIDER={partner.name}, a worker and `hub serve` running"
    return [
        Step(
            "a support conversation created",
            f'text a matching message (e.g. "urgent: locked out") to the messaging number ({env})',
            SUPPORT_EVIDENCE[0],
        ),
        Step(
            "an escalation round trip",
            f"reply to that conversation in {partner.shown_name}: the reply reaches the phone",
            SUPPORT_EVIDENCE[1],
        ),
    ]


HEADER = f"""\
<!-- Generated from the partner declarations (src/integration_hub/connectors/<partner>/
     __init__.py) by `hub doctor --markdown`. Do not edit by hand: change a declaration, then
     run `{REGENERATE}`. A test fails while this file differs. -->

# Secrets checklist

Per partner, in priority order: the secrets to create, where each value comes from at the
partner, how it rotates, and the sandbox steps `hub doctor` checks. This file says what is
needed; what is set on a machine and what evidence the hub has seen is live: run `hub doctor`.

Secret values never go in this repository. Set them in `.env` (or the environment), or in the
store `HUB_SECRETS_BACKEND` names with `hub secrets set NAME` (the value is read from standard
input). During a rotation both versions verify: `NAME` and `NAME{PREVIOUS_SUFFIX}` in the
environment, or `hub secrets rotate NAME` in a store. A family declared per instance holds one
secret per instance, `NAME__<INSTANCE>`.
"""


def code(text: str) -> str:
    """`text` as a Markdown code span, whatever backticks it holds."""
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def prose(text: str) -> str:
    """Declared free text (a summary, a source, a rotation's help) as Markdown: a `<` would
    open an HTML tag and hide what follows it."""
    return text.replace("<", "\\<")


def _every(interval: timedelta) -> str:
    seconds = int(interval.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


def _endpoints(partner: Partner, connector: Connector) -> list[str]:
    base = f"/webhooks/{partner.name}"
    endpoints = connector.manifest.endpoints
    if endpoints is None:
        return [f"{base}/<token> (an unguessable path token)"]
    return [base + (f"/{name}" if name else "") for name in sorted(endpoints)]


def _rotation(secret: Secret, rotations: Sequence[Rotation]) -> str:
    declared = [r for r in rotations if r.secret == secret.name]
    if declared:
        return "; ".join(
            "scheduled by the hub, "
            + code(f"hub secrets schedule --{r.option}" + (" <value>" if r.takes_value else ""))
            + f": {prose(r.help)}"
            for r in declared
        )
    name = f"{secret.name}__<INSTANCE>" if secret.per_instance else secret.name
    return f"manual: set {code(name + PREVIOUS_SUFFIX)} during the overlap"


def _secret_lines(partner: Partner, secret: Secret) -> list[str]:
    name = f"{secret.name}__<INSTANCE>" if secret.per_instance else secret.name
    needed = "required" if secret.required else "optional"
    if secret.per_instance:
        needed += " for each instance (a family: one secret per instance)"
    used = "webhooks (verifies deliveries)" if secret.used_for == "webhook" else "calls out"
    lines = [
        f"- {code(name)}: {needed}; used for {used}; format {code(secret.format)}",
        f"  - From: {prose(secret.source) or 'not declared'}",
        f"  - Rotation: {_rotation(secret, partner.rotations)}",
    ]
    if secret.local is not None:
        lines.append("  - Local: `hub init` makes a local value (for `hub send` and tests)")
    return lines


def _section(partner: Partner, connector: Connector | None) -> list[str]:
    lines = ["", f"## {partner.name}", "", f"**{partner.priority}**: {prose(partner.summary)}"]
    roles = []
    if connector is not None and takes_deliveries(connector):
        roles.append(
            "- Receives webhooks at " + ", ".join(map(code, _endpoints(partner, connector)))
        )
    if partner.calls is not None:
        roles.append("- Calls the partner's API")
    roles += [f"- Polls {code(s.name)} every {_every(s.every)}" for s in partner.polls]
    lines += ["", *roles] if roles else []
    lines += ["", "### Secrets to create", ""]
    for secret in partner.secrets:
        lines += _secret_lines(partner, secret)
    if not partner.secrets:
        lines.append("None.")
    lines += ["", "### Sandbox steps", ""]
    lines.append("Use the partner's sandbox or test mode. `hub doctor` checks each step:")
    lines.append("")
    steps = [
        (SECRETS_SET, "create the secrets above at the partner and set them here"),
        (SECRETS_WELL_FORMED, "each value matches its format"),
    ]
    if connector is not None and takes_deliveries(connector):
        urls = ", ".join(code("<HUB_PUBLIC_BASE_URL>" + e) for e in _endpoints(partner, connector))
        steps[0] = (SECRETS_SET, steps[0][1] + f"; point the partner's webhooks at {urls}")
    steps += [(step.step, prose(step.how)) for step in evidence_steps(partner, connector)]
    lines += [f"{n}. {step}: {how}" for n, (step, how) in enumerate(steps, start=1)]
    last = steps[-1][0]
    lines += [
        "",
        f"Evidence: {code('hub doctor')} shows {partner.name} `ok` once the last step "
        f'("{last}") is done'
        + ("; `hub doctor --strict` exits 1 until then." if partner.priority == "P0" else "."),
    ]
    return lines


def markdown(partners: Sequence[Partner] = PARTNERS) -> str:
    """The checklist, from `partners` alone: no dates, no environment, same bytes each time."""
    connectors = build_connectors(None, partners)  # manifests only: endpoints and event types
    lines = [HEADER.rstrip("\n"), "", "## Partners", ""]
    ordered = sorted(partners, key=lambda p: (p.priority, p.name))
    lines += [f"- [{p.name}](#{p.name}) ({p.priority}): {prose(p.summary)}" for p in ordered]
    for partner in ordered:
        lines += _section(partner, connectors.get(partner.name))
    return "\n".join(lines) + "\n"
