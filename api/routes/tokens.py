"""API tokens (admin only). The CLI `budgetpilot token` does the same from a shell."""

from __future__ import annotations

from fastapi import APIRouter, status

from api import schemas as s
from api.deps import SessionDep, TokenAdmin
from api.params import PathId
from campaigns import auth

router = APIRouter(prefix="/tokens", tags=["tokens"])


@router.get("", response_model=s.TokensPublic)
def list_tokens(
    session: SessionDep, _: TokenAdmin, include_revoked: bool = False
) -> s.TokensPublic:
    rows = auth.list_tokens(session, include_revoked=include_revoked)
    return s.TokensPublic(data=rows, count=len(rows))  # type: ignore[arg-type]


@router.post("", response_model=s.TokenCreated, status_code=status.HTTP_201_CREATED)
def create_token(session: SessionDep, user: TokenAdmin, body: s.TokenCreate) -> s.TokenCreated:
    row, secret = auth.create_token(session, name=body.name, role=body.role, actor=user.name)
    return s.TokenCreated.model_validate({**s.TokenPublic.model_validate(row).model_dump(),
                                          "token": secret})


@router.delete("/{token_id}", response_model=s.TokenPublic)
def revoke_token(session: SessionDep, user: TokenAdmin, token_id: PathId) -> s.TokenPublic:
    (row,) = auth.revoke_token(session, token_id=token_id, actor=user.name)
    return s.TokenPublic.model_validate(row)
