"""Budget shifts: list, read, approve (all or some items), reject, apply."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api import schemas_shifts as s
from api.deps import ConfigDep, Reader, SessionDep, ShiftApplier, ShiftDecider
from api.fastpath import ResponseCache
from api.params import Name, PageDep, PathId
from campaigns import shifts
from campaigns.auth import Action
from campaigns.shifts import ItemApplier, ShiftView

router = APIRouter(prefix="/shifts", tags=["shifts"])


def detail(view: ShiftView) -> s.ShiftDetail:
    return s.ShiftDetail.model_validate({
        **s.ShiftPublic.model_validate(view.shift).model_dump(),
        "change_fraction": view.change_fraction,
        "items": [s.ShiftItemPublic.model_validate(i) for i in view.items],
    })


@router.get("", response_model=s.ShiftsPublic)
def list_shifts(
    request: Request, session: SessionDep, _: Reader, page: PageDep,
    status: s.ShiftStatus | None = None, portfolio: Name = None,
) -> s.ShiftsPublic | Response:
    responses: ResponseCache = request.app.state.responses
    stamp = responses.stamp("shifts", session)
    key = ("shifts", page.limit, page.offset, status, portfolio)
    where = {"request": request, "kind": "shifts", "action": Action.read}
    hit = responses.get(key, stamp, **where)
    if hit is not None:
        return hit
    rows, count = shifts.list_shifts(session, page, status=status, portfolio=portfolio)
    return responses.put(key, stamp, s.ShiftsPublic(data=rows, count=count),  # type: ignore[arg-type]
                         **where)


@router.get("/{shift_id}", response_model=s.ShiftDetail)
def get_shift(session: SessionDep, _: Reader, shift_id: PathId) -> s.ShiftDetail:
    return detail(shifts.get_shift(session, shift_id))


@router.post("/{shift_id}/approve", response_model=s.ShiftDetail)
def approve_shift(
    session: SessionDep, config: ConfigDep, user: ShiftDecider, shift_id: PathId,
    body: s.ShiftApprove,
) -> s.ShiftDetail:
    view = shifts.approve(session, shift_id, version=body.version, user=user,
                          policy=config.service, item_ids=body.item_ids, comment=body.comment)
    return detail(view)


@router.post("/{shift_id}/reject", response_model=s.ShiftDetail)
def reject_shift(
    session: SessionDep, user: ShiftDecider, shift_id: PathId, body: s.ShiftReject
) -> s.ShiftDetail:
    return detail(shifts.reject(session, shift_id, version=body.version, user=user,
                                comment=body.comment))


@router.post("/{shift_id}/apply", response_model=s.ShiftDetail)
def apply_shift(
    request: Request, session: SessionDep, user: ShiftApplier, shift_id: PathId,
    body: s.Version,
) -> s.ShiftDetail:
    applier: ItemApplier = request.app.state.applier
    return detail(shifts.apply(session, shift_id, version=body.version, user=user,
                               applier=applier))
