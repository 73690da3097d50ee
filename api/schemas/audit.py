"""The audit trail: who did what to which entity, before and after."""

from __future__ import annotations

import datetime as dt

from api.schemas.base import Public, RedactedData


class AuditEventPublic(Public):
    id: int
    at: dt.datetime
    actor: str
    action: str
    entity_type: str
    entity_id: str
    before: RedactedData | None
    after: RedactedData | None


class AuditEventsPublic(Public):
    data: list[AuditEventPublic]
    count: int
