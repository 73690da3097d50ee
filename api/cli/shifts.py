"""`budgetpilot shifts list|show|approve|reject|apply|export|confirm|rollback`: the shift
lifecycle without curl.

The operator is named with ``--as`` (default: the OS user) and acts with the manager role,
under the same rules as the API: a decision names the version it read (``--expect-version``,
else the version just read), a stale proposal expires instead of being approved, a proposer
does not approve its own large shift, and every change is in the audit log.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from decimal import Decimal
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from sqlmodel import Session

from api.cli.app import (
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_REJECTED,
    EXIT_USAGE,
    ConfigOption,
    actor_name,
    app,
    engine_for,
    handles_errors,
    load,
)
from campaigns.admin.auth import Principal, Role
from campaigns.columns import utcnow
from campaigns.errors import BudgetPilotError, NotFoundError
from campaigns.ingest.names import item_names
from campaigns.jobs.appliers import production_applier
from campaigns.lookup import Page
from campaigns.policy import service_config
from campaigns.shifts import lifecycle as shifts
from campaigns.shifts.delivery import Delivery, file_items

shifts_app = typer.Typer(
    help="Budget shifts: list, show, approve, reject, apply (again, or as a dry run), export "
    "(networks without a write connector), confirm, roll back.",
    no_args_is_help=True,
)
app.add_typer(shifts_app, name="shifts")

P = ParamSpec("P")
R = TypeVar("R")

ShiftId = Annotated[int, typer.Argument(help="The shift's id (see `shifts list`).", min=1)]
AsOption = Annotated[
    str | None,
    typer.Option("--as", help="Who acts (recorded in the audit log); default: the OS user.",
                 show_default=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
VersionOption = Annotated[
    int | None,
    typer.Option("--expect-version", min=1,
                 help="Refuse (exit 3) unless the shift is still at this version (as shown "
                 "by `shifts show`); default: the version read now."),
]


def refuses(fn: Callable[P, R]) -> Callable[P, R]:
    """A refused request (409 / 403 / 422 in the API) exits 3 with the reason; an unknown
    shift exits 2."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except NotFoundError as e:
            typer.echo(f"error: {e.message}", err=True)
            raise typer.Exit(EXIT_USAGE) from None
        except BudgetPilotError as e:
            if e.status_code in (403, 409, 422):
                typer.echo(f"refused: {e.message}", err=True)
                raise typer.Exit(EXIT_REJECTED) from None
            raise

    return handles_errors(wrapper)


def operator(name: str | None) -> Principal:
    return Principal(name=actor_name(name, "operator"), role=Role.manager)


@contextmanager
def unit(config: Any) -> Iterator[tuple[Session, Any]]:
    """One unit of work, as a request: committed on success, rolled back on a refusal
    (an expiry is kept, as the API keeps it)."""
    settings = load(config)
    engine = engine_for(settings)
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session, settings
            session.commit()
        except BudgetPilotError as e:
            if e.keeps_changes:
                session.commit()
            else:
                session.rollback()
            raise
        except BaseException:
            session.rollback()
            raise
    engine.dispose()


def _current(session: Session, shift_id: int, expected: int | None) -> int:
    version = shifts.get_shift(session, shift_id).shift.version
    return expected if expected is not None else version


def _money(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _when(value: dt.datetime | None) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M}"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _item_comments(values: list[str] | None) -> dict[int, str] | None:
    """``ID=TEXT`` options as {item id: text}."""
    out = {}
    for value in values or []:
        key, sep, text = value.partition("=")
        if not sep or not key.strip().isdigit():
            raise typer.BadParameter(f"{value!r}: write ITEM_ID=comment, e.g. 12=keep it",
                                     param_hint="--item-comment")
        out[int(key)] = text.strip()
    return out or None


def shift_json(session: Session, view: shifts.ShiftView, settings: Any) -> dict[str, Any]:
    from api.routes.shifts import detail

    out: dict[str, Any] = detail(view, session, settings).model_dump(mode="json")
    if view.report is not None:
        out["dry_run"] = view.report.dry_run
        out["outcomes"] = [
            {**asdict(o), "new_budget": str(o.new_budget),
             "platform_budget": None if o.platform_budget is None else str(o.platform_budget)}
            for o in view.report.outcomes
        ]
    return out


def render(session: Session, view: shifts.ShiftView, delivery: Delivery | None = None) -> str:
    s = view.shift
    links = ""
    if s.rollback_of is not None:
        links += f"; rolls back shift {s.rollback_of}"
    assert s.id is not None
    undone = shifts.rollbacks_of(session, s.id)
    if undone:
        links += f"; rolled back by {', '.join(f'shift {i}' for i in undone)}"
    lines = [
        f"shift {s.id} ({s.status}, version {s.version}) by {s.created_by} at "
        f"{_when(s.created_at)}; moves {view.change_fraction:.1%}; total "
        f"{_money(s.total_before)} -> {_money(s.total_after)} {s.currency}{links}",
    ]
    if s.decided_by:
        lines.append(f"decided by {s.decided_by} at {_when(s.decided_at)}"
                     + (f": {s.comment}" if s.comment else ""))
    lines.append(f"{'item':>6} {'target':<24} {'network':<8} {'account':<20} {'name':<28} "
                 f"{'cur':<4} {'old':>12} {'new':>12} {'status':<10} {'tries':>5}  note")
    names = item_names(session, view.items)
    for i in view.items:
        assert i.id is not None
        n = names[i.id]
        note = i.error or i.reason
        if i.status == shifts.ItemStatus.FAILED and i.next_attempt_at is not None:
            note = f"{note} (next try after {_when(i.next_attempt_at)})"
        if i.comment:
            note = f"{note} [comment: {i.comment}]"
        name = n.campaign_name + (f" / {n.adset_name}" if n.adset_name else "")
        lines.append(f"{i.id:>6} {i.level + ':' + i.target_external_id:<24} {n.network:<8} "
                     f"{_clip(n.account_name or n.account_external_id, 20):<20} "
                     f"{_clip(name, 28):<28} {i.currency:<4} "
                     f"{_money(i.old_budget):>12} {_money(i.new_budget):>12} {i.status:<10} "
                     f"{i.attempts:>5}  {note}")
    lines += _by_file_lines(session, view, delivery)
    if view.report is not None:
        head = "dry run, nothing written" if view.report.dry_run else "this run"
        for o in view.report.outcomes:
            was = "" if o.platform_budget is None else f"{_money(o.platform_budget)} -> "
            said = {"would_apply": "would apply", "already": "already there",
                    "by_file": "by file", "exported": "awaiting confirmation"}.get(
                o.outcome, o.outcome)
            error = f" ({o.error})" if o.error else ""
            lines.append(f"{head}: item {o.item_id} {o.target}: {was}{_money(o.new_budget)}: "
                         f"{said}{error}")
    return "\n".join(lines)


def _by_file_lines(session: Session, view: shifts.ShiftView, delivery: Delivery | None
                   ) -> list[str]:
    """What awaits confirmation, and (knowing the config) what is still to export."""
    s = view.shift
    lines = []
    awaiting = [i for i in view.items if i.status == shifts.ItemStatus.EXPORTED]
    if awaiting:
        lines.append(
            f"awaiting confirmation: items {', '.join(str(i.id) for i in awaiting)} (exported "
            f"{_when(min(i.exported_at for i in awaiting if i.exported_at))}); they settle "
            "when an import shows the new budgets, or with "
            f"`budgetpilot shifts confirm {s.id}`")
    if delivery is not None:
        todo = file_items(session, [i for i in view.items if i.status in (
            shifts.ItemStatus.APPROVED, shifts.ItemStatus.FAILED)], delivery)
        if todo:
            nets = sorted({f.account.network for f in todo.values()})
            lines.append(f"to export: items {', '.join(str(i) for i in sorted(todo))} "
                         f"({', '.join(nets)}: no write connector): "
                         f"`budgetpilot shifts export {s.id}`")
    for i in view.items:
        if i.confirmed_by:
            lines.append(f"item {i.id} confirmed by {i.confirmed_by} at {_when(i.confirmed_at)}")
    return lines


def _show(session: Session, view: shifts.ShiftView, as_json: bool, settings: Any) -> None:
    if as_json:
        typer.echo(json.dumps(shift_json(session, view, settings), indent=2))
    else:
        typer.echo(render(session, view, Delivery.of(settings)))


@shifts_app.command("list")
@refuses
def list_command(
    config: ConfigOption = None,
    portfolio: Annotated[str | None, typer.Option(help="Only this portfolio.")] = None,
    status: Annotated[str | None, typer.Option(
        help=f"Only this status: {', '.join(shifts.SHIFT_STATUSES)}.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List shifts, newest first."""
    if status is not None and status not in shifts.SHIFT_STATUSES:
        typer.echo(f"error: unknown status {status!r}; one of "
                   f"{', '.join(shifts.SHIFT_STATUSES)}", err=True)
        raise typer.Exit(EXIT_USAGE)
    with unit(config) as (session, _):
        rows, count = shifts.list_shifts(
            session, Page(limit=limit, offset=0), portfolio=portfolio,
            status=None if status is None else shifts.ShiftStatus(status))
        if as_json:
            from api.schemas.shifts import ShiftPublic

            typer.echo(json.dumps({"data": [ShiftPublic.model_validate(r).model_dump(
                mode="json") for r in rows], "count": count}, indent=2))
            return
        typer.echo(f"{'id':>6} {'status':<18} {'ver':>3} {'created':<16} {'by':<12} "
                   f"{'before':>14} {'after':>14} cur")
        for r in rows:
            typer.echo(f"{r.id:>6} {r.status:<18} {r.version:>3} {_when(r.created_at):<16} "
                       f"{r.created_by[:12]:<12} {_money(r.total_before):>14} "
                       f"{_money(r.total_after):>14} {r.currency}"
                       + (f"  (rollback of {r.rollback_of})" if r.rollback_of else ""))
        typer.echo(f"{len(rows)} of {count} shifts")


@shifts_app.command("show")
@refuses
def show_command(shift_id: ShiftId, config: ConfigOption = None,
                 as_json: JsonOption = False) -> None:
    """A shift with its items: current and proposed budget, status, attempts, errors."""
    with unit(config) as (session, settings):
        _show(session, shifts.get_shift(session, shift_id), as_json, settings)


@shifts_app.command("approve")
@refuses
def approve_command(
    shift_id: ShiftId,
    config: ConfigOption = None,
    item: Annotated[list[int] | None, typer.Option(
        "--item", help="Approve only this item (repeatable); the others are rejected.")] = None,
    comment: Annotated[str | None, typer.Option(help="Recorded with the decision.")] = None,
    item_comment: Annotated[list[str] | None, typer.Option(
        "--item-comment", help="ITEM_ID=TEXT: a comment kept on that item (repeatable).")] = None,
    as_: AsOption = None,
    expect_version: VersionOption = None,
    as_json: JsonOption = False,
) -> None:
    """Approve a proposed shift (all its items, or only --item ones; the others keep their
    budgets)."""
    with unit(config) as (session, settings):
        view = shifts.approve(
            session, shift_id, version=_current(session, shift_id, expect_version),
            user=operator(as_), policy=service_config(settings).service, item_ids=item,
            comment=comment, item_comments=_item_comments(item_comment), now=utcnow(),
        )
        _show(session, view, as_json, settings)


@shifts_app.command("reject")
@refuses
def reject_command(
    shift_id: ShiftId,
    config: ConfigOption = None,
    comment: Annotated[str | None, typer.Option(help="Why (recorded).")] = None,
    as_: AsOption = None,
    expect_version: VersionOption = None,
    as_json: JsonOption = False,
) -> None:
    """Reject a proposed shift."""
    with unit(config) as (session, settings):
        view = shifts.reject(session, shift_id,
                             version=_current(session, shift_id, expect_version),
                             user=operator(as_), comment=comment, now=utcnow())
        _show(session, view, as_json, settings)


@shifts_app.command("apply")
@refuses
def apply_command(
    shift_id: ShiftId,
    config: ConfigOption = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Read the platforms and say what would be applied; write nothing.")
    ] = False,
    as_: AsOption = None,
    expect_version: VersionOption = None,
    as_json: JsonOption = False,
) -> None:
    """Apply an approved shift to the platforms, or apply again the failed and unattempted
    items of a partially applied or failed one. Items on networks without a write connector
    are left to `shifts export`. Exit 1 when items failed or are left to export."""
    with unit(config) as (session, settings):
        view = shifts.apply(session, shift_id,
                            version=_current(session, shift_id, expect_version),
                            user=operator(as_), applier=production_applier(settings),
                            now=utcnow(), dry_run=dry_run, delivery=Delivery.of(settings))
        _show(session, view, as_json, settings)
        status = view.shift.status
    if not dry_run and status not in (shifts.ShiftStatus.APPLIED, shifts.ShiftStatus.EXPORTED):
        raise typer.Exit(EXIT_PARTIAL)
    raise typer.Exit(EXIT_OK)


@shifts_app.command("rollback")
@refuses
def rollback_command(
    shift_id: ShiftId,
    config: ConfigOption = None,
    reason: Annotated[str | None, typer.Option(help="Why (recorded).")] = None,
    as_: AsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Propose the inverse of an applied (or partially applied) shift: each applied item back
    to its old budget, as a new proposed shift to approve like any other."""
    with unit(config) as (session, settings):
        view = shifts.rollback(session, shift_id, user=operator(as_),
                               policy=service_config(settings).service, reason=reason,
                               now=utcnow())
        _show(session, view, as_json, settings)


@shifts_app.command("export")
@refuses
def export_command(
    shift_id: ShiftId,
    config: ConfigOption = None,
    network: Annotated[str | None, typer.Option(
        help="Only this network's items (default: every network without a write connector).")
    ] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="The file to write (a folder: shift-ID-NETWORK.csv in it, one per "
        "network); default: shift-ID-NETWORK.csv here.")] = None,
    as_: AsOption = None,
) -> None:
    """Write the approved items on networks without a write connector (TikTok, Snapchat, X,
    LinkedIn, VK, any CSV-imported account) as the platform's bulk-edit file, and mark them
    exported. They settle when an import shows the new budgets, or with `shifts confirm`.
    Exporting again writes the same file and changes nothing."""
    from campaigns.ingest.csv_import.choose import import_formats
    from campaigns.shifts.exporting import export

    with unit(config) as (session, settings):
        result = export(session, shift_id, user=operator(as_), delivery=Delivery.of(settings),
                        network=network, formats=import_formats(settings), now=utcnow())
        paths = _export_paths(shift_id, [f.network for f in result.files], out)
        # Written before the unit commits: a file that cannot be written marks nothing.
        for f, path in zip(result.files, paths, strict=True):
            path.write_bytes(f.content)
        for f, path in zip(result.files, paths, strict=True):
            now_marked = [i for i in f.item_ids if i in result.exported]
            again = "" if now_marked else " (again: nothing changed)"
            typer.echo(f"wrote {path}: {len(f.item_ids)} {f.network} budgets, items "
                       f"{', '.join(map(str, f.item_ids))}{again}")
        typer.echo(f"shift {shift_id} is {result.view.shift.status}; exported items settle when "
                   "an import or sync shows the new budgets, or with "
                   f"`budgetpilot shifts confirm {shift_id}`")


def _export_paths(shift_id: int, networks: list[str], out: Path | None) -> list[Path]:
    names = [Path(f"shift-{shift_id}-{n}.csv") for n in networks]
    if out is None:
        return names
    if out.is_dir():
        return [out / n for n in names]
    if len(networks) > 1:
        raise typer.BadParameter(
            f"the shift has items on {', '.join(networks)}: give a folder, or one --network",
            param_hint="--out")
    if not out.parent.is_dir():
        raise typer.BadParameter(f"{out.parent} is not a folder", param_hint="--out")
    return [out]


@shifts_app.command("confirm")
@refuses
def confirm_command(
    shift_id: ShiftId,
    config: ConfigOption = None,
    items: Annotated[list[str] | None, typer.Option(
        "--items", help="Only these exported items: ids, comma-separated (repeatable); "
        "default: every exported item of the shift.")] = None,
    as_: AsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Say the platform took the exported items (after uploading the file): each becomes
    confirmed, recording who confirmed. Items settled before are left as they are."""
    from campaigns.shifts.settling import confirm

    with unit(config) as (session, settings):
        result = confirm(session, shift_id, user=operator(as_), item_ids=_ids(items),
                         now=utcnow())
        if as_json:
            typer.echo(json.dumps({**shift_json(session, result.view, settings),
                                   "confirmed": result.confirmed, "already": result.already},
                                  indent=2))
            return
        if result.confirmed:
            typer.echo(f"confirmed items {', '.join(map(str, result.confirmed))}")
        if result.already:
            typer.echo(f"already settled, nothing written: items "
                       f"{', '.join(map(str, result.already))}")
        if not result.confirmed and not result.already:
            typer.echo(f"shift {shift_id} has no exported item to confirm")
        typer.echo(render(session, result.view, Delivery.of(settings)))


def _ids(values: list[str] | None) -> list[int] | None:
    if not values:
        return None
    out = []
    for value in values:
        for part in value.split(","):
            if not part.strip().isdigit():
                raise typer.BadParameter(f"{part!r} is not an item id", param_hint="--items")
            out.append(int(part))
    return out
