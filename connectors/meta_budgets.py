"""Meta budget reads and writes: minimums, Meta's edit rate limit, and writes sent once."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from decimal import Decimal

from facebook_business.adobjects.adset import AdSet
from facebook_business.adobjects.campaign import Campaign

from connectors.base import BudgetOutcome, BudgetResult, BudgetTarget, ConnectorError, stops
from connectors.errors import classify_meta
from connectors.meta_entities import ADSET_STATUSES, CAMPAIGN_STATUSES, MetaEntities
from connectors.meta_graph import act_id
from connectors.meta_limits import MetaLimitsAdapter
from connectors.meta_money import currency_offset, to_minor
from connectors.retry import write_once

# level -> (the account's edge listing it, the SDK class of its rows, the statuses asked for)
_EDGES: dict[str, tuple[str, type, list[str]]] = {
    "campaign": ("campaigns", Campaign, CAMPAIGN_STATUSES),
    "adset": ("adsets", AdSet, ADSET_STATUSES),
}


def _minor(value: object) -> int | None:
    """A budget field in minor units; Meta leaves an unset budget out, empty or "0"."""
    return int(str(value)) if value not in (None, "", "0") else None


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
        return _minor(data.get("daily_budget")), _minor(data.get("lifetime_budget"))

    def read_budget(self, target: BudgetTarget) -> Decimal:
        with self.limits_adapter.on_behalf_of(target.account_external_id):
            return self._daily(target, self._read_minor(target))

    def _daily(self, target: BudgetTarget, minor: tuple[int | None, int | None]) -> Decimal:
        """The daily budget of a (daily, lifetime) pair in minor units, or why it has none."""
        daily, lifetime = minor
        if daily is None and lifetime is not None:
            raise ConnectorError(
                f"Meta {target.level} {target.external_id} runs on a lifetime budget; "
                "refusing to switch it to a daily budget",
                kind="invalid",
            )
        if daily is None:
            raise ConnectorError(
                f"Meta {target.level} {target.external_id} holds no daily budget", kind="invalid"
            )
        return Decimal(daily) / currency_offset(target.currency, self.currency_offsets)

    def read_budgets(self, targets: Sequence[BudgetTarget]) -> list[Decimal | ConnectorError]:
        """Budgets of one account's campaigns and ad sets (see connectors.base.BudgetListing):
        one listing of the account's ``campaigns`` or ``adsets`` edge (``fields=id,
        daily_budget,lifetime_budget``, paged by ``page_size``) per level with more than one
        target, instead of a read each; Meta counts every call against the ad account's
        limit. A target the listing does not show (another account's) is read alone."""
        groups: dict[tuple[str, str], list[BudgetTarget]] = defaultdict(list)
        for target in targets:
            groups[(act_id(target.account_external_id), target.level)].append(target)
        listed: dict[tuple[str, str], dict[str, tuple[int | None, int | None]]] = {}
        failed: dict[tuple[str, str], ConnectorError] = {}
        for (account, level), group in groups.items():
            if level in _EDGES and len(group) > 1:
                try:
                    with self.limits_adapter.on_behalf_of(account):
                        listed[(account, level)] = self._list_minor(
                            account, level, {str(t.external_id) for t in group})
                except ConnectorError as err:  # every target of the listing fails with it
                    failed[(account, level)] = err
        out: list[Decimal | ConnectorError] = []
        for target in targets:
            key = (act_id(target.account_external_id), target.level)
            try:
                if key in failed:
                    raise failed[key]
                minor = listed.get(key, {}).get(str(target.external_id))
                if minor is None:
                    with self.limits_adapter.on_behalf_of(target.account_external_id):
                        minor = self._read_minor(target)
                out.append(self._daily(target, minor))
            except ConnectorError as err:
                out.append(err)
        return out

    def _list_minor(self, account: str, level: str, wanted: set[str]
                    ) -> dict[str, tuple[int | None, int | None]]:
        """id -> (daily, lifetime) in minor units of the ``wanted`` campaigns or ad sets of
        the account, from its edge. The listing stops once all are found, or when the next
        page would cost more than reading the ones still missing one by one (an account of
        thousands of campaigns with a few changes): those are left out, read alone."""
        edge, cls, statuses = _EDGES[level]
        params = {"limit": self.page_size, "effective_status": self._statuses(statuses)}
        rows = self._iterate(account, edge, cls, ["id", "daily_budget", "lifetime_budget"],
                             params, f"Meta {edge} budgets of {account}")
        found: dict[str, tuple[int | None, int | None]] = {}
        for n, row in enumerate(rows, 1):
            if (rid := str(row["id"])) in wanted:
                found[rid] = (_minor(row.get("daily_budget")), _minor(row.get("lifetime_budget")))
            missing = len(wanted) - len(found)
            if not missing or (n % self.page_size == 0 and n // self.page_size >= missing):
                break  # at a page's end: the next page is not fetched
        return found

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
        self, target: BudgetTarget, daily_budget: Decimal, *, dry_run: bool = False,
        current: Decimal | None = None,
    ) -> BudgetResult:
        """``current``: the daily budget just read by :meth:`read_budgets` (which refused a
        lifetime budget): it is not read again before the write."""
        # The requests go to the campaign's or ad set's own id, but Meta counts them against
        # its ad account: so do the account's shared budget and pauses.
        with self.limits_adapter.on_behalf_of(target.account_external_id):
            return self._apply_budget(target, daily_budget, dry_run=dry_run, known=current)

    def _apply_budget(
        self, target: BudgetTarget, daily_budget: Decimal, *, dry_run: bool,
        known: Decimal | None,
    ) -> BudgetResult:
        sent = self._send_budget(target, daily_budget, dry_run=dry_run, known=known)
        if isinstance(sent, BudgetResult):
            return sent
        after, _ = self._read_minor(target)
        return self._verified(target, daily_budget, sent, after)

    def apply_budgets(
        self, changes: Sequence[tuple[BudgetTarget, Decimal]], *, dry_run: bool = False,
        current: Sequence[Decimal] | None = None,
    ) -> list[BudgetOutcome]:
        """Several budgets of one account (see connectors.base.apply_budgets): each written
        on its own (Meta has no budget mutation for several objects), then read back
        together, in one listing of the account's edge per level, instead of one read-back
        each (Meta answers a write with ``{"success": true}``, not the value). After an
        auth, throttling or deadline failure nothing more is sent and the list ends there:
        those changes go back unattempted."""
        outcomes: list[BudgetOutcome] = []
        sent: dict[int, int] = {}  # index -> minor units written
        for index, (target, amount) in enumerate(changes):
            try:
                with self.limits_adapter.on_behalf_of(target.account_external_id):
                    done = self._send_budget(target, amount, dry_run=dry_run,
                                             known=None if current is None else current[index])
            except ConnectorError as err:
                outcomes.append(err)
                if stops(err):
                    break
                continue
            outcomes.append(done if isinstance(done, BudgetResult)
                            else ConnectorError("not read back yet"))
            if not isinstance(done, BudgetResult):
                sent[index] = done
        if sent:
            found = self.read_budgets([changes[i][0] for i in sent])
            for (index, wanted), after in zip(sent.items(), found, strict=True):
                target, amount = changes[index]
                try:
                    if isinstance(after, ConnectorError):
                        raise after  # the write may have landed: the next attempt reads first
                    outcomes[index] = self._verified(
                        target, amount, wanted,
                        to_minor(after, target.currency, self.currency_offsets))
                except ConnectorError as err:
                    outcomes[index] = err
        return outcomes

    def _verified(self, target: BudgetTarget, daily_budget: Decimal, wanted: int,
                  after: int | None) -> BudgetResult:
        """The outcome of a write of ``wanted`` minor units, read back as ``after``."""
        if after != wanted:
            raise ConnectorError(
                f"Meta set budget {target.level} {target.external_id}: wrote {wanted} minor "
                f"units but read back {after}", kind="fatal"
            )
        offset = currency_offset(target.currency, self.currency_offsets)
        return BudgetResult(target, daily_budget, Decimal(after) / offset, changed=True)

    def _send_budget(
        self, target: BudgetTarget, daily_budget: Decimal, *, dry_run: bool,
        known: Decimal | None,
    ) -> BudgetResult | int:
        """Check and send one write: its outcome when none is needed (already there, or a
        dry run), else the minor units sent, to be read back."""
        offset = currency_offset(target.currency, self.currency_offsets)
        wanted = to_minor(daily_budget, target.currency, self.currency_offsets)
        minimum = self._minimum_minor(target)
        if wanted < minimum:
            raise ConnectorError(
                f"Meta {target.level} {target.external_id}: daily budget {daily_budget} "
                f"{target.currency} is below the minimum {Decimal(minimum) / offset}",
                kind="invalid",
            )
        current, lifetime = (
            self._read_minor(target) if known is None
            else (to_minor(known, target.currency, self.currency_offsets), None))
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
        return wanted
