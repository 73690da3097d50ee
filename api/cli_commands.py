"""Imports the modules whose commands register on the `budgetpilot` app.

Add one import per module that defines commands with ``@app.command``.
"""
import api.cli_nightly  # (nightly)
import api.cli_optimize
import api.cli_worker  # noqa: F401  (worker)
from api import cli_service  # noqa: F401  (serve, token)
