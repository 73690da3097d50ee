"""``python -m api.cli``: the same as the ``budgetpilot`` command."""

from api.cli.main import main

main()
