"""Meta conversion action types that contain one another are never summed: the template lists
one family, and a config mixing a total with its parts is refused at load by every command."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli.main import EXIT_USAGE, app
from campaigns.config import load_settings, settings_from_dict
from campaigns.errors import ConfigError
from connectors.meta_actions import overlaps

REPO = Path(__file__).resolve().parents[2]

DOUBLES = [
    ("purchase", "offsite_conversion.fb_pixel_purchase"),
    ("purchase", "onsite_web_purchase"),
    ("purchase", "onsite_web_app_purchase"),
    ("purchase", "app_custom_event.fb_mobile_purchase"),
    ("omni_purchase", "offsite_conversion.fb_pixel_purchase"),
    ("omni_purchase", "onsite_web_app_purchase"),
    ("omni_purchase", "purchase"),
    ("omni_add_to_cart", "add_to_cart"),
    ("add_to_cart", "offsite_conversion.fb_pixel_add_to_cart"),
    ("omni_initiated_checkout", "offsite_conversion.fb_pixel_initiate_checkout"),
    ("initiate_checkout", "app_custom_event.fb_mobile_initiated_checkout"),
    ("lead", "offsite_conversion.fb_pixel_lead"),
]
SOUND = [
    ["purchase"],
    ["omni_purchase"],
    ["offsite_conversion.fb_pixel_purchase", "app_custom_event.fb_mobile_purchase"],
    ["offsite_conversion.fb_pixel_purchase", "onsite_web_purchase"],
    ["purchase", "lead"],
    ["purchase", "offsite_conversion.fb_pixel_lead"],
    ["offsite_conversion.custom.123456789", "purchase"],
]


@pytest.mark.parametrize(("total", "part"), DOUBLES)
def test_a_total_and_what_it_contains_overlap(total: str, part: str) -> None:
    assert overlaps([part, total]) == [(total, part)]
    assert overlaps([total, part]) == [(total, part)]
    with pytest.raises(ConfigError) as info:
        settings_from_dict({"sources": [
            {"name": "meta", "kind": "meta", "conversion_action_types": [total, part]}
        ]})
    assert repr(total) in info.value.message and repr(part) in info.value.message


@pytest.mark.parametrize("types", SOUND)
def test_one_family_or_disjoint_parts_are_accepted(types: list[str]) -> None:
    assert overlaps(types) == []
    settings_from_dict(
        {"sources": [{"name": "meta", "kind": "meta", "conversion_action_types": types}]}
    )


def test_the_production_template_counts_purchases_once() -> None:
    settings = load_settings(REPO / "configs" / "production.example.toml")
    meta = settings.source("meta").options.conversion_action_types
    assert overlaps(meta) == []


@pytest.mark.parametrize("bad", [[], "purchase", [""], [1]])
def test_a_malformed_list_is_refused(bad: object) -> None:
    with pytest.raises(ConfigError, match="conversion_action_types"):
        settings_from_dict(
            {"sources": [{"name": "meta", "kind": "meta", "conversion_action_types": bad}]}
        )


# Every command that reads the config (backtest replays the sandbox and takes none).
COMMANDS = [
    ["init-db"], ["sync"], ["demo"], ["nightly"], ["optimize"], ["serve"],
    ["token", "list"], ["import-csv", "results.csv"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_every_command_refuses_the_doubling_config_with_exit_2(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BUDGETPILOT_DATABASE_URL", raising=False)
    (tmp_path / "results.csv").write_text("date,network\n")
    cfg = tmp_path / "bp.toml"
    cfg.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "bp.db"}"\n'
        '[[sources]]\nname = "meta"\nkind = "meta"\naccess_token_env = "T"\n'
        'conversion_action_types = ["purchase", "offsite_conversion.fb_pixel_purchase"]\n'
    )
    result = CliRunner().invoke(app, [*command, "--config", str(cfg)])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "'purchase'" in result.stderr
    assert "'offsite_conversion.fb_pixel_purchase'" in result.stderr
    assert not (tmp_path / "bp.db").exists()  # refused before anything was touched
