"""Budget shifts: list, read, approve (all or some items), reject, apply (or retry, or dry
run), export and confirm (networks without a write connector), roll back."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Request, Response, status
from sqlmodel import Session

from api.caching import Responses
from api.deps import ConfigDep, Reader, SessionDep, SettingsDep, ShiftApplier, ShiftDecider
from api.params import Name, PageDep, PathId
from api.schemas import shifts as s
from campaigns.admin.auth import Action
from campaigns.config import Settings
from campaigns.errors import ValidationError
from campaigns.ingest.csv_import.choose import import_formats
from campaigns.ingest.names import item_names
from campaigns.shifts import lifecycle as shifts
from campaigns.shifts.delivery import Delivery, file_items
from campaigns.shifts.exporting import export
from campaigns.shifts.fx import reporting_rates
from campaigns.shifts.lifecycle import ItemApplier, ShiftView
from campaigns.shifts.settling import confirm

router = APIRouter(prefix="/shifts", tags=["shifts"])


def detail(view: ShiftView, session: Session, settings: Settings | None) -> s.ShiftDetail:
    """The shift as the API shows it; ``settings`` say which items go by file."""
    assert view.shift.id is not None
    names = item_names(session, view.items)
    by_file = file_items(session, view.items, Delivery.of(settings))
    total = shifts.approved_total(
        view.shift.total_before, view.items,
        reporting_rates(session, view.shift, view.items)) if view.decided else None
    return s.ShiftDetail.model_validate({
        **s.ShiftPublic.model_validate(view.shift).model_dump(),
        "change_fraction": view.change_fraction,
        "approved_total": total,
        "items": [{**s.ShiftItemPublic.model_validate(i).model_dump(),
                   **asdict(names[i.id]),  # type: ignore[index]
                   "by_file": i.id in by_file} for i in view.items],
        "rolled_back_by": shifts.rollbacks_of(session, view.shift.id),
        "awaiting_confirmation": [i.id for i in view.items
                                  if i.status == shifts.ItemStatus.EXPORTED],
    })


@router.get("", response_model=s.ShiftsPublic)
def list_shifts(
    request: Request, session: SessionDep, user: Reader, page: PageDep,
    status: s.ShiftStatus | None = None, portfolio: Name = None,
) -> s.ShiftsPublic | Response:
    def render() -> s.ShiftsPublic:
        rows, count = shifts.list_shifts(session, page, status=status, portfolio=portfolio)
        totals = shifts.approved_totals(session, rows)
        data = [s.ShiftPublic.model_validate(r).model_copy(
            update={"approved_total": totals.get(r.id or 0)}) for r in rows]
        return s.ShiftsPublic(data=data, count=count)

    responses: Responses = request.app.state.responses
    return responses.answer(request, session, user, Action.read, render)


@router.get("/{shift_id}", response_model=s.ShiftDetail)
def get_shift(
    session: SessionDep, settings: SettingsDep, _: Reader, shift_id: PathId
) -> s.ShiftDetail:
    return detail(shifts.get_shift(session, shift_id), session, settings)


@router.post("/{shift_id}/approve", response_model=s.ShiftDetail)
def approve_shift(
    session: SessionDep, settings: SettingsDep, config: ConfigDep, user: ShiftDecider,
    shift_id: PathId,
    body: s.ShiftApprove,
) -> s.ShiftDetail:
    view = shifts.approve(session, shift_id, version=body.version, user=user,
                          policy=config.service, item_ids=body.item_ids, comment=body.comment,
                          item_comments=s.item_comments(body.item_comments))
    return detail(view, session, settings)


@router.post("/{shift_id}/reject", response_model=s.ShiftDetail)
def reject_shift(
    session: SessionDep, settings: SettingsDep, user: ShiftDecider, shift_id: PathId,
    body: s.ShiftReject,
) -> s.ShiftDetail:
    return detail(shifts.reject(session, shift_id, version=body.version, user=user,
                                comment=body.comment,
                                item_comments=s.item_comments(body.item_comments)),
                  session, settings)


@router.post("/{shift_id}/apply", response_model=s.ShiftApplyResult)
def apply_shift(
    request: Request, session: SessionDep, settings: SettingsDep, user: ShiftApplier,
    shift_id: PathId, body: s.Version, dry_run: bool = False,
) -> s.ShiftApplyResult:
    """Apply an approved shift, or apply again the failed and unattempted items of a
    partially applied or failed one. ``dry_run=true`` writes nothing and reports what would
    be applied. Items on networks without a write connector are left to ``/export``
    (outcome ``by_file``)."""
    applier: ItemApplier = request.app.state.applier
    view = shifts.apply(session, shift_id, version=body.version, user=user, applier=applier,
                        dry_run=dry_run, delivery=Delivery.of(settings))
    outcomes = [asdict(o) for o in getattr(view.report, "outcomes", [])]
    return s.ShiftApplyResult.model_validate(
        {**detail(view, session, settings).model_dump(), "dry_run": dry_run, "outcomes": outcomes})


@router.post("/{shift_id}/rollback", response_model=s.ShiftDetail,
             status_code=status.HTTP_201_CREATED)
def rollback_shift(
    session: SessionDep, settings: SettingsDep, config: ConfigDep, user: ShiftDecider,
    shift_id: PathId,
    body: s.ShiftRollback,
) -> s.ShiftDetail:
    """Propose the inverse of an applied shift (its applied items back to their old
    budgets), to be approved like any other."""
    return detail(shifts.rollback(session, shift_id, user=user, policy=config.service,
                                  reason=body.reason), session, settings)


@router.post("/{shift_id}/export", response_class=Response,
             responses={200: {"content": {"text/csv": {}},
                              "description": "the platform's bulk-edit file"}})
def export_shift(
    session: SessionDep, settings: SettingsDep, user: ShiftApplier, shift_id: PathId,
    body: s.ShiftExport,
) -> Response:
    """The bulk-edit file (the platform's own column titles, the approved budgets with the
    currency's decimals) of the approved items on a network without a write connector;
    they become ``exported``. Exporting again returns the same file and changes nothing."""
    result = export(session, shift_id, user=user, delivery=Delivery.of(settings),
                    network=body.network, formats=import_formats(settings))
    if len(result.files) > 1:
        raise ValidationError(
            f"shift {shift_id} has items on {', '.join(f.network for f in result.files)}: "
            "name one with network")
    f = result.files[0]
    return Response(f.content, media_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{f.name(shift_id)}"',
        "X-Exported-Items": ",".join(map(str, f.item_ids)),
        "X-Shift-Status": str(result.view.shift.status)})


@router.post("/{shift_id}/confirm", response_model=s.ShiftConfirmResult)
def confirm_shift(
    session: SessionDep, settings: SettingsDep, user: ShiftDecider, shift_id: PathId,
    body: s.ShiftConfirm,
) -> s.ShiftConfirmResult:
    """A manager says the platform took the exported items (all, or ``item_ids``); each is
    settled once (``confirmed``, with who and when); items settled before are listed in
    ``already`` and not written again."""
    result = confirm(session, shift_id, user=user, item_ids=body.item_ids)
    return s.ShiftConfirmResult.model_validate({
        **detail(result.view, session, settings).model_dump(), "confirmed": result.confirmed,
        "already": result.already})
