"""The ``budgetpilot`` entry point: imports every module whose commands register on the app."""

from api.cli import (
    campaigns,
    curves,
    data,
    kpis,
    nightly,
    optimize,
    plans,
    service,
    shifts,
    worker,
)
from api.cli.app import EXIT_DATABASE, EXIT_OK, EXIT_PARTIAL, EXIT_REJECTED, EXIT_USAGE, app

# Importing a module registers its commands on `app`; the tuple says which modules those are.
COMMAND_MODULES = (
    campaigns, curves, data, kpis, nightly, optimize, plans, service, shifts, worker,
)
__all__ = ["EXIT_DATABASE", "EXIT_OK", "EXIT_PARTIAL", "EXIT_REJECTED", "EXIT_USAGE", "app", "main"]


def main() -> None:
    app()


if __name__ == "__main__":
    main()
