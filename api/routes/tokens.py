"""API tokens (admin only). The CLI `budgetpilot token` does the same from a shell."""

from __future__ import annotations

from fastapi import APIRouter, status

from api.deps import SessionDep, TokenAdmin
from api.params import PathId
from api.schemas import tokens as s
from campaigns.admin import auth
from campaigns.models import ApiToken

router = APIRouter(prefix="/tokens", tags=["tokens"])


@router.get("", response_model=s.TokensPublic)
def list_tokens(
    session: SessionDep, _: TokenAdmin, include_revoked: bool = False
) -> s.TokensPublic:
    rows = auth.list_tokens(session, include_revoked=include_revoked)
    scopes = auth.token_portfolios(session, [r.id for r in rows if r.id is not None])
    data = [_public(r, scopes) for r in rows]
    return s.TokensPublic(data=data, count=len(data))


@router.post("", response_model=s.TokenCreated, status_code=status.HTTP_201_CREATED)
def create_token(session: SessionDep, user: TokenAdmin, body: s.TokenCreate) -> s.TokenCreated:
    row, secret = auth.create_token(session, name=body.name, role=body.role, actor=user.name,
                                    portfolios=body.portfolios)
    assert row.id is not None  # the token was flushed
    scopes = auth.token_portfolios(session, [row.id])
    return s.TokenCreated.model_validate({**_public(row, scopes).model_dump(), "token": secret})


@router.delete("/{token_id}", response_model=s.TokenPublic)
def revoke_token(session: SessionDep, user: TokenAdmin, token_id: PathId) -> s.TokenPublic:
    (row,) = auth.revoke_token(session, token_id=token_id, actor=user.name)
    return _public(row, auth.token_portfolios(session, [token_id]))


def _public(row: ApiToken, scopes: dict[int, list[str]]) -> s.TokenPublic:
    public = s.TokenPublic.model_validate(row)
    public.portfolios = scopes.get(row.id)  # type: ignore[arg-type]
    return public
