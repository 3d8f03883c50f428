"""`python -m integration_hub` is the `hub` command."""

from integration_hub.cli import main

main()
