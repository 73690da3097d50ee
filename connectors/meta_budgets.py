"""Meta budget reads and writes: minimums, Meta's edit rate limit, and writes sent once."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from decimal import Decimal

from facebook_business.adobjects.adset import AdSet
from facebook_business.adobjects.campaign import Campaign

from connectors.base import BudgetResult, BudgetTarget, ConnectorError
from connectors.errors import classify_meta
from connectors.meta_entities import MetaEntities
from connectors.meta_graph import act_id
from connectors.meta_limits import MetaLimitsAdapter
from connectors.meta_money import currency_offset, to_minor
from connectors.retry import write_once


class MetaBudgets(MetaEntities):
    """Daily budgets of campaigns and ad sets, in the account currency."""

    min_daily_budget: Decimal | None
    max_budget_edits_per_hour: int
    _edits: dict[str, deque[float]]
    _clock: Callable[[], float]
    limits_adapter: MetaLimitsAdapter

    def _node(self, target: BudgetTarget) -> Campaign | AdSet:
        if target.level == "campaign":
            return Campaign(target.external_id, api=self.api)
        if target.level == "adset":
            return AdSet(target.external_id, api=self.api)
        raise ConnectorError(f"Meta has no {target.level!r} budgets", kind="invalid")

    def _read_minor(self, target: BudgetTarget) -> tuple[int | None, int | None]:
        node = self._node(target)
        data = self._retry(
            lambda: node.api_get(fields=["daily_budget", "lifetime_budget"]),
            f"Meta read budget {target.level} {target.external_id}",
        ).export_all_data()
        daily, life = data.get("daily_budget"), data.get("lifetime_budget")
        return (
            int(daily) if daily not in (None, "", "0") else None,
            int(life) if life not in (None, "", "0") else None,
        )

    def read_budget(self, target: BudgetTarget) -> Decimal:
        with self.limits_adapter.on_behalf_of(target.account_external_id):
            daily, _ = self._read_minor(target)
        if daily is None:
            raise ConnectorError(
                f"Meta {target.level} {target.external_id} holds no daily budget", kind="invalid"
            )
        return Decimal(daily) / currency_offset(target.currency, self.currency_offsets)

    def _minimum_minor(self, target: BudgetTarget) -> int:
        offset = currency_offset(target.currency, self.currency_offsets)
        floor = self._account_min_budget.get(act_id(target.account_external_id), 0)
        if self.min_daily_budget is not None:
            floor = max(
                floor, to_minor(self.min_daily_budget, target.currency, self.currency_offsets)
            )
        return floor or offset  # at least one unit of the currency

    def _check_edit_rate(self, target: BudgetTarget) -> None:
        edits = self._edits[target.external_id]
        now = self._clock()
        while edits and now - edits[0] >= 3600:
            edits.popleft()
        if len(edits) >= self.max_budget_edits_per_hour:
            raise ConnectorError(
                f"Meta {target.level} {target.external_id}: already {len(edits)} budget edits "
                "in the last hour; Meta rate-limits budget edits, try again later",
                kind="throttled",
                retry_after=3600 - (now - edits[0]),
            )

    def apply_budget(
        self, target: BudgetTarget, daily_budget: Decimal, *, dry_run: bool = False
    ) -> BudgetResult:
        # The requests go to the campaign's or ad set's own id, but Meta counts them against
        # its ad account: so do the account's shared budget and pauses.
        with self.limits_adapter.on_behalf_of(target.account_external_id):
            return self._apply_budget(target, daily_budget, dry_run=dry_run)

    def _apply_budget(
        self, target: BudgetTarget, daily_budget: Decimal, *, dry_run: bool
    ) -> BudgetResult:
        offset = currency_offset(target.currency, self.currency_offsets)
        wanted = to_minor(daily_budget, target.currency, self.currency_offsets)
        minimum = self._minimum_minor(target)
        if wanted < minimum:
            raise ConnectorError(
                f"Meta {target.level} {target.external_id}: daily budget {daily_budget} "
                f"{target.currency} is below the minimum {Decimal(minimum) / offset}",
                kind="invalid",
            )
        current, lifetime = self._read_minor(target)
        if current is None and lifetime is not None:
            raise ConnectorError(
                f"Meta {target.level} {target.external_id} runs on a lifetime budget; "
                "refusing to switch it to a daily budget",
                kind="invalid",
            )
        rounded = Decimal(wanted) / offset
        if current == wanted or dry_run:
            return BudgetResult(target, daily_budget, rounded, changed=False, dry_run=dry_run)
        self._check_edit_rate(target)
        node = self._node(target)
        what = f"Meta set budget {target.level} {target.external_id}"
        # A write whose answer is lost (HTTP 500, a dropped connection) may have been applied:
        # it is read back before it is sent again, so Meta sees one edit, not three.
        write_once(
            lambda: node.api_update(params={"daily_budget": wanted}),
            lambda: self._read_minor(target)[0] == wanted,
            classify=classify_meta,
            policy=self.policy,
            what=what,
        )
        self._edits[target.external_id].append(self._clock())
        after, _ = self._read_minor(target)
        if after != wanted:
            raise ConnectorError(
                f"{what}: wrote {wanted} minor units but read back {after}", kind="fatal"
            )
        return BudgetResult(target, daily_budget, Decimal(after) / offset, changed=True)
