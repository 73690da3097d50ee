"""The ``budgetpilot`` command line: one module per group of commands, registered in
:mod:`api.cli.main`.
"""
