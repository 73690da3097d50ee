"""A typo in the config stops every command before it does anything: exit 2, the key named,
no database or platform state written. Sections, ``[optimizer]`` and each ``[[sources]]``
kind's options are typed models that refuse unknown keys and ill-typed values at load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from api.cli.main import EXIT_USAGE, app

# Every command that takes --config, with the arguments that bring it to reading the config
# (`backtest` replays the built-in sandbox and takes no config).
COMMANDS: list[list[str]] = [
    ["init-db"], ["import-csv", "results.csv"], ["sync"], ["demo"], ["nightly"], ["optimize"],
    ["serve"], ["worker"],
    ["automation", "pause", "--reason", "r"], ["automation", "resume", "--reason", "r"],
    ["automation", "status"],
    ["token", "create", "--name", "ci", "--role", "viewer"], ["token", "list"],
    ["token", "revoke", "--name", "ci"],
    ["shifts", "list"], ["shifts", "show", "1"], ["shifts", "approve", "1"],
    ["shifts", "reject", "1"], ["shifts", "apply", "1"], ["shifts", "rollback", "1"],
    ["shifts", "export", "1"], ["shifts", "confirm", "1"],
    ["plans", "import", "results.csv"], ["plans", "list"], ["kpis"],
    ["campaigns", "results"], ["campaigns", "set-result", "1", "reach"], ["curves", "lag"],
]
SANDBOX = '[[sources]]\nname = "sandbox"\nkind = "sandbox"\nseed = 7\n'
TYPOS = {  # the config's tail -> the key the message names
    "optimizer-key": ("[optimizer]\nmax_chnage = 0.2\n", "optimizer.max_chnage"),
    "optimizer-value": ('[optimizer]\nlag_days = "seven"\n', "optimizer.lag_days"),
    "sandbox-option": (SANDBOX + "campaigns_per_acount = 3\n", "sources.sandbox.campaigns_per_acount"),
    "meta-option": ('[[sources]]\nname = "meta"\nkind = "meta"\naccess_tokn_env = "T"\n',
                    "sources.meta.access_tokn_env"),
    "google-option": ('[[sources]]\nname = "g"\nkind = "google_ads"\ninclude_removed = "maybe"\n',
                      "sources.g.include_removed"),
    "csv-option": ('[[sources]]\nname = "csv"\nkind = "csv"\ntimezon = "UTC"\n',
                   "sources.csv.timezon"),
    "result-value": ("[optimizer.values]\nreech = 4.0\n", "optimizer.values.reech"),
    "service-key": ("[service]\nprot = 8000\n", "service.prot"),
    "service-value": ('[service]\nshift_ttl_hours = "a day"\n', "service.shift_ttl_hours"),
}


def _commands_with_config(group: Any, prefix: tuple[str, ...] = ()) -> set[str]:
    found: set[str] = set()
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group: `shifts`, `token`, `automation`
            found |= _commands_with_config(command, (*prefix, name))
        elif any("--config" in p.opts for p in command.params):
            found.add(" ".join((*prefix, name)))
    return found


def _leading(command: list[str]) -> str:
    return " ".join(w for w in command[:2] if not w.startswith("-") and w != "results.csv")


def test_the_list_holds_every_command_that_reads_a_config() -> None:
    cli = typer.main.get_command(app)
    assert {_leading(c) for c in COMMANDS} == _commands_with_config(cli)


@pytest.mark.parametrize("typo", TYPOS.values(), ids=TYPOS.keys())
@pytest.mark.parametrize("command", COMMANDS, ids=_leading)
def test_every_command_refuses_a_typo_with_exit_2_and_writes_nothing(
    command: list[str], typo: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import uvicorn

    served: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: served.append(a))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BUDGETPILOT_DATABASE_URL", raising=False)
    monkeypatch.delenv("BUDGETPILOT_CONFIG", raising=False)
    (tmp_path / "results.csv").write_text("date,network\n")
    tail, key = typo
    cfg = tmp_path / "bp.toml"
    cfg.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "bp.db"}"\n'
                   f'[queue]\nbroker_url = "redis://127.0.0.1:1/0"\n{tail}')
    before = sorted(tmp_path.iterdir())
    result = CliRunner().invoke(app, [*command, "--config", str(cfg)])
    assert result.exit_code == EXIT_USAGE, result.output
    assert key in result.stderr, result.stderr
    assert sorted(tmp_path.iterdir()) == before  # no database, no sandbox state
    assert served == []
