"""The hard monthly stop: a plan marked ``hard`` is a cap the month must not pass.

For each hard plan of the current month, the spend so far (complete local days, in the
reporting currency) plus what the budgets in force commit for the rest of the month (each
budget × the account's remaining local days, today included, × its platform's allowed
overdelivery: Google Ads may spend 2x a daily budget on a day, Meta 1.75x) is compared with
the plan. When it would pass, every budget in the plan's scope is lowered in the same
proportion, rounded down to the currency's smallest amount, so that the month lands on the
cap and never above it. Everything is Decimal; the clock is passed in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal, localcontext
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlmodel import Session, col

from campaigns import audit
from campaigns.admin.automation import AutomationSettings
from campaigns.admin.fx import FxTable
from campaigns.models import (
    AdAccount,
    BudgetPlan,
    BudgetShift,
    Campaign,
    DailyMetric,
    Portfolio,
    ShiftItem,
)
from campaigns.optimization.inputs import Unit, load_portfolio_data
from campaigns.reports.spend import AccountInfo, account_daily_local, to_reporting
from campaigns.scopes import account_key, campaign_key
from connectors.currencies import minor_unit
from optimizer.pacing import month_bounds

ZERO = Decimal(0)
ACTOR = "hard_stop"  # the proposer of a lowering; the nightly job approves it


@dataclass(frozen=True)
class Committed:
    """What one budget commits for the rest of the month, in the reporting currency."""

    unit_id: str
    budget: Decimal  # daily, in the account's currency
    currency: str
    rate: Decimal  # account currency → reporting currency
    days: int  # local days left in the month, today included
    factor: Decimal  # the platform's allowed overdelivery

    @property
    def amount(self) -> Decimal:
        return self.budget * self.rate * self.days * self.factor


def land_on_cap(spent: Decimal, cap: Decimal, units: Sequence[Committed]) -> dict[str, Decimal]:
    """New daily budgets (only those that go down) so that ``spent`` plus what they commit
    stays within ``cap``: all lowered in one proportion, rounded down. Empty when the month
    fits. A budget with no room left becomes 0 (the caller decides what that means)."""
    with localcontext() as ctx:
        ctx.prec = 60
        rest = sum((u.amount for u in units), ZERO)
        if rest <= 0 or spent + rest <= cap:
            return {}
        room = max(cap - spent, ZERO)
        ctx.rounding = ROUND_FLOOR  # the proportion errs low, never above the cap
        scale = room / rest
        out = {}
        for u in units:
            new = (u.budget * scale).quantize(minor_unit(u.currency), rounding=ROUND_FLOOR)
            if new < u.budget:
                out[u.unit_id] = new
        return out


@dataclass
class Breach:
    """A hard plan the month would pass, and what lands it on the cap."""

    plan_id: int
    scope: str
    scope_key: str
    month: dt.date
    cap: Decimal
    spent: Decimal
    committed: Decimal
    currency: str
    lowered: dict[str, Decimal] = field(default_factory=dict)  # unit id → new budget
    units: list[Unit] = field(default_factory=list)  # every budget in the scope

    @property
    def room(self) -> Decimal:
        return max(self.cap - self.spent, ZERO)

    @property
    def where(self) -> str:
        return f"{self.scope} {self.scope_key}".strip()

    def message(self) -> str:
        q = Decimal("0.01")
        return (f"hard plan {self.plan_id} ({self.where}, {self.month:%Y-%m}): month-to-date "
                f"{self.spent.quantize(q)} + committed {self.committed.quantize(q)} "
                f"{self.currency} would pass the cap of {self.cap.quantize(q)} {self.currency}")


@dataclass
class HardStop:
    breaches: list[Breach]
    units: dict[str, Unit]  # unit id → unit, for every budget of the portfolio

    def lowered(self) -> dict[str, Decimal]:
        """Each unit's lowest new budget over every breached plan (each plan's cap holds,
        since the others only lower it further)."""
        out: dict[str, Decimal] = {}
        for breach in self.breaches:
            for unit_id, budget in breach.lowered.items():
                out[unit_id] = min(budget, out.get(unit_id, budget))
        return out

    def capped(self) -> set[tuple[str, str]]:
        """(account key, budget target) of every budget inside a breached scope."""
        return {(account_key(u.account), u.target_external_id)
                for b in self.breaches for u in b.units}


def local_today(account: AdAccount, now: dt.datetime) -> dt.date:
    return now.astimezone(ZoneInfo(account.timezone or "UTC")).date()


def check(
    session: Session, portfolio: Portfolio, *, now: dt.datetime, settings: AutomationSettings
) -> HardStop:
    """The hard plans of ``portfolio`` for the month of ``now`` (UTC) the budgets in force
    would pass, with the budgets that land each on its cap."""
    today = now.astimezone(dt.UTC).date()
    first, last = month_bounds(today)
    plans = list(session.scalars(select(BudgetPlan).where(
        col(BudgetPlan.portfolio_id) == portfolio.id, col(BudgetPlan.month) == first,
        col(BudgetPlan.hard).is_(True),
    ).order_by(col(BudgetPlan.id))))
    if not plans:
        return HardStop([], {})
    data = load_portfolio_data(session, portfolio, today=today, days=1)
    units = {u.unit_id: u for u in data.units}
    currencies = {u.account.currency for u in data.units}
    accounts = list(session.scalars(select(AdAccount).where(
        col(AdAccount.portfolio_id) == portfolio.id)))
    currencies |= {a.currency for a in accounts}
    fx = FxTable.load(session, portfolio.reporting_currency, currencies, first, today)
    breaches = []
    for plan in plans:
        in_scope = [u for u in data.units if _in_scope(plan, u)]
        committed = [Committed(
            u.unit_id, u.current_budget, u.account.currency, fx.rate(u.account.currency, today),
            _days_left(local_today(u.account, now), first, last),
            settings.factor(u.network),
        ) for u in in_scope]
        spent = _spent(session, plan, accounts, fx, now, first, last)
        rest = sum((c.amount for c in committed), ZERO)
        if spent + rest <= plan.planned_spend:
            continue
        breaches.append(Breach(
            plan.id or 0, plan.scope, plan.scope_key, first, Decimal(plan.planned_spend), spent,
            rest, portfolio.reporting_currency,
            lowered=land_on_cap(spent, Decimal(plan.planned_spend), committed), units=in_scope,
        ))
    return HardStop(breaches, units)


def _days_left(local: dt.date, first: dt.date, last: dt.date) -> int:
    if local > last:
        return 0
    return (last - max(local, first)).days + 1


def _in_scope(plan: BudgetPlan, unit: Unit) -> bool:
    if plan.scope == "total":
        return True
    if plan.scope == "network":
        return unit.network == plan.scope_key
    if plan.scope == "account":
        return account_key(unit.account) == plan.scope_key
    return campaign_key(unit.account, unit.campaign) == plan.scope_key


def _spent(
    session: Session, plan: BudgetPlan, accounts: list[AdAccount], fx: FxTable,
    now: dt.datetime, first: dt.date, last: dt.date,
) -> Decimal:
    """Spend of the plan's scope on the month's complete local days, in the reporting
    currency (today's spend is inside the committed rest)."""
    if plan.scope == "campaign":
        return _campaign_spent(session, plan, accounts, fx, now, first, last)
    chosen = [a for a in accounts if plan.scope == "total"
              or (plan.scope == "network" and a.network == plan.scope_key)
              or (plan.scope == "account" and account_key(a) == plan.scope_key)]
    info = [AccountInfo(a.id or 0, account_key(a), a.network, a.name, a.currency)
            for a in chosen]
    local = account_daily_local(session, info, first, last)
    before = {a.id: local_today(a, now) for a in chosen}
    local = {k: v for k, v in local.items() if k[1] < before[k[0]]}
    return sum((amount for days in to_reporting(local, info, fx).values()
                for amount in days.values()), ZERO)


def _campaign_spent(
    session: Session, plan: BudgetPlan, accounts: list[AdAccount], fx: FxTable,
    now: dt.datetime, first: dt.date, last: dt.date,
) -> Decimal:
    network, account_id, campaign_id = plan.scope_key.split(":", 2)
    account = next((a for a in accounts
                    if a.network == network and a.external_id == account_id), None)
    if account is None:
        return ZERO
    end = min(last, local_today(account, now) - dt.timedelta(days=1))
    rows = session.execute(
        select(col(DailyMetric.date), func.sum(col(DailyMetric.spend)))
        .join(Campaign, col(Campaign.id) == col(DailyMetric.campaign_id))
        .where(col(Campaign.account_id) == account.id, col(Campaign.external_id) == campaign_id,
               col(DailyMetric.date) >= first, col(DailyMetric.date) <= end)
        .group_by(col(DailyMetric.date))
    ).all()
    return sum((Decimal(spend or 0) * fx.rate(account.currency, day) for day, spend in rows),
               ZERO)


def record_shift(
    session: Session, portfolio: Portfolio, stop: HardStop, budgets: dict[str, Decimal], *,
    comment: str, expires_at: dt.datetime,
) -> BudgetShift:
    """The lowering as a shift of its own (``created_by`` ``hard_stop``), so it is approved,
    applied and audited like any other and shows in the shift history."""
    units = [stop.units[k] for k in budgets]
    rate = {u.unit_id: Decimal(repr(u.fx)) for u in units}
    shift = BudgetShift(
        portfolio_id=portfolio.id or 0, currency=portfolio.reporting_currency,
        total_before=sum((u.current_budget * rate[u.unit_id] for u in units), ZERO),
        total_after=sum((budgets[u.unit_id] * rate[u.unit_id] for u in units), ZERO),
        created_by=ACTOR, expires_at=expires_at, comment=comment[:2000],
    )
    session.add(shift)
    session.flush()
    for u in units:
        assert shift.id is not None and u.campaign.id is not None
        session.add(ShiftItem(
            shift_id=shift.id, campaign_id=u.campaign.id, adset_id=u.adset_id, level=u.level,
            target_external_id=u.target_external_id, currency=u.account.currency,
            old_budget=u.current_budget, new_budget=budgets[u.unit_id],
            binding_limit="hard monthly stop", reason=comment[:1000],
        ))
    session.flush()
    audit.record(session, actor=ACTOR, action="shift.propose", entity_type="shift",
                 entity_id=shift.id, after={"status": shift.status, "items": len(units),
                                            "reason": comment})
    return shift
