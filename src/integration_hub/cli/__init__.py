"""`hub`, the command line: `app` (the Typer application) and `main` (its entry point).

`app` wires the core commands (`serve`, `events`, `secrets`, ...: one module per concern) and
the sub-apps partners declare; `errors` makes a service out of reach one line.
"""

from integration_hub.cli.app import app, main

__all__ = ["app", "main"]
