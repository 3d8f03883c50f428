"""`hub secrets schedule`: the secret-age reminder, and the rotation schedules asked for.

Each partner declares its rotations (`Partner.rotations`); each becomes one option of the
command (`--<option> VALUE` when the rotation needs a value, else a flag), so a partner adds a
rotation without touching the CLI.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from integration_hub.cli.common import connect_temporal, print_json, settings, temporal_address

if TYPE_CHECKING:
    from integration_hub.connectors.partner import Rotation

EVERY = "rotate_every_days"


class RotationSchedule:
    """Create or update the daily secret-age reminder (the worker also does at start) and the
    token rotation schedules asked for."""

    # Typer reads the options from the signature; built here from the declarations.
    __signature__: inspect.Signature

    def __init__(self, rotations: Sequence[Rotation]) -> None:
        self.rotations = {rotation.option.replace("-", "_"): rotation for rotation in rotations}
        parameters = [
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=None if rotation.takes_value else False,
                annotation=Annotated[
                    str | None if rotation.takes_value else bool,
                    typer.Option(f"--{rotation.option}", help=rotation.help),
                ],
            )
            for name, rotation in self.rotations.items()
        ]
        parameters.append(
            inspect.Parameter(
                EVERY,
                inspect.Parameter.KEYWORD_ONLY,
                default=30.0,
                annotation=Annotated[
                    float, typer.Option(min=1.0, max=3650.0, help="Days between two rotations.")
                ],
            )
        )
        self.__signature__ = inspect.Signature(parameters)
        self.__annotations__ = {p.name: p.annotation for p in parameters}

    def __call__(self, **options: str | bool | float | None) -> None:
        configured = settings()
        temporal_address(configured)  # exit 2 before connecting when it is not set
        days = options.get(EVERY)
        every = timedelta(days=days if isinstance(days, float) else 30.0)
        # A flag asked for passes None to its schedule; an option passes its value.
        asked = {
            name: value if isinstance(value, str) else None
            for name, value in options.items()
            if name in self.rotations and value
        }

        async def main() -> list[str]:
            from integration_hub.orchestration.maintenance import ensure_age_reminder_schedule

            client = await connect_temporal(configured)
            queue = configured.task_queue
            ids = [await ensure_age_reminder_schedule(client, queue)]
            for name, value in asked.items():
                ids.append(await self.rotations[name].schedule(client, queue, value, every))
            return ids

        print_json({"schedule_ids": asyncio.run(main())})


def rotation_schedule() -> RotationSchedule:
    """The command, with one option per rotation any partner declares."""
    from integration_hub.connectors.partners import PARTNERS

    return RotationSchedule([rotation for p in PARTNERS for rotation in p.rotations])
