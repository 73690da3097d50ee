"""Google Ads budget reads and writes: one decision per budget, shared budgets kept whole.

A target's external id is the campaign *budget* id (level "campaign" for a campaign's own
budget, "shared" for a budget several campaigns draw on): budgets are their own resource on
Google Ads, with ids of their own, and are read and mutated as
``customers/{cid}/campaignBudgets/{budget_id}``. A per-campaign change to a shared budget is
refused rather than silently moving the other campaigns' budgets.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from connectors.base import BudgetOutcome, BudgetResult, BudgetTarget, ConnectorError
from connectors.google_ads_money import MICROS, billable_unit_micros, from_micros, to_micros
from connectors.google_ads_mutate import GoogleAdsBudgetMutations, PlatformBudget
from connectors.google_ads_stream import customer_id

# (index of the change in the caller's list, its target, the daily budget asked for)
_Change = tuple[int, BudgetTarget, Decimal]


class GoogleAdsBudgets(GoogleAdsBudgetMutations):
    """Daily campaign budgets, applied in one request per customer."""

    min_daily_budget: Decimal | None
    billable_units: dict[str, int]

    def _budget(self, target: BudgetTarget) -> PlatformBudget:
        cid = _budget_customer(target)
        budget = self._read_budgets(cid, [target.external_id]).get(target.external_id)
        if budget is None:
            raise _not_found(target, cid)
        return budget

    def read_budget(self, target: BudgetTarget) -> Decimal:
        return from_micros(self._budget(target).amount_micros)

    def read_budgets(self, targets: Sequence[BudgetTarget]) -> list[Decimal | ConnectorError]:
        """The budgets of the targets (see connectors.base.BudgetListing): one GAQL query over
        ``campaign_budget`` per customer (per 500 ids), each checked as a write would check
        it (found; a campaign's own budget not shared), so a write after it needs no read."""
        out: list[Decimal | ConnectorError | None] = [None] * len(targets)
        per_customer: dict[str, list[int]] = {}
        for index, target in enumerate(targets):
            try:
                per_customer.setdefault(_budget_customer(target), []).append(index)
            except ConnectorError as err:
                out[index] = err
        for cid, indexes in per_customer.items():
            try:
                found = self._read_budgets(cid, [targets[i].external_id for i in indexes])
            except ConnectorError as err:
                for i in indexes:
                    out[i] = err
                continue
            for i in indexes:
                try:
                    out[i] = from_micros(_writable(targets[i], found.get(targets[i].external_id),
                                                   cid).amount_micros)
                except ConnectorError as err:
                    out[i] = err
        assert all(o is not None for o in out)
        return out  # type: ignore[return-value]

    def apply_budget(
        self, target: BudgetTarget, daily_budget: Decimal, *, dry_run: bool = False,
        current: Decimal | None = None,
    ) -> BudgetResult:
        outcome = self.apply_budgets([(target, daily_budget)], dry_run=dry_run,
                                     current=None if current is None else [current])[0]
        if isinstance(outcome, ConnectorError):
            raise outcome
        return outcome

    def apply_budgets(
        self, changes: Sequence[tuple[BudgetTarget, Decimal]], *, dry_run: bool = False,
        current: Sequence[Decimal] | None = None,
    ) -> list[BudgetOutcome]:
        """Set several budgets: one outcome per change, in order (see connectors.base).

        Per customer, the budgets are read in one query, then every change that is needed goes
        in one ``MutateCampaignBudgets`` with ``partial_failure``: a rejected operation leaves
        the others applied, and only the rejected ones are sent again (transient kinds, with
        backoff, up to the policy's attempts). With ``dry_run`` the platform validates
        (``validate_only``) and nothing changes. ``current``: the budgets :meth:`read_budgets`
        just gave, one per change; they are not read again (nor checked again: it did).
        """
        outcomes: list[BudgetOutcome | None] = [None] * len(changes)
        per_customer: dict[str, list[int]] = {}
        for index, (target, _) in enumerate(changes):
            try:
                per_customer.setdefault(_budget_customer(target), []).append(index)
            except ConnectorError as err:
                outcomes[index] = err
        for cid, indexes in per_customer.items():
            known = None if current is None else {
                changes[i][0].external_id: current[i] for i in indexes}
            self._apply_customer(cid, [(i, *changes[i]) for i in indexes], outcomes, dry_run,
                                 known)
        assert all(o is not None for o in outcomes)
        return outcomes  # type: ignore[return-value]

    def _apply_customer(
        self,
        cid: str,
        items: list[_Change],
        outcomes: list[BudgetOutcome | None],
        dry_run: bool,
        known: dict[str, Decimal] | None = None,
    ) -> None:
        """Read one customer's budgets (unless ``known``: budget id -> amount, as read by
        :meth:`read_budgets`), write those that change, and check what the mutate answers
        each budget now holds (no read-back query)."""
        try:
            current = (self._read_budgets(cid, [t.external_id for _, t, _ in items])
                       if known is None else _as_read(known))
        except ConnectorError as err:
            for index, _, _ in items:
                outcomes[index] = err
            return
        wanted, waiting = self._plan_writes(cid, items, current, outcomes, dry_run)
        if not wanted:
            return
        done, failed = self._mutate_budgets(cid, wanted, validate_only=dry_run)
        for bid, failure in failed.items():
            for index in waiting[bid]:
                outcomes[index] = failure
        changes = {index: (target, amount) for index, target, amount in items}
        for bid, held in done.items():
            for index in waiting[bid]:
                target, amount = changes[index]
                outcomes[index] = _written(target, amount, wanted[bid], held, dry_run)

    def _plan_writes(
        self,
        cid: str,
        items: list[_Change],
        current: dict[str, PlatformBudget],
        outcomes: list[BudgetOutcome | None],
        dry_run: bool,
    ) -> tuple[dict[str, int], dict[str, list[int]]]:
        """(budget id -> micros to write, budget id -> indexes of the changes it settles).

        A change that needs no write, or must not be written, gets its outcome here.
        """
        wanted: dict[str, int] = {}  # budget id -> micros to write
        waiting: dict[str, list[int]] = {}  # budget id -> indexes of the changes it settles
        for index, target, amount in items:
            try:
                micros = self._checked_micros(target, amount, current.get(target.external_id), cid)
            except ConnectorError as err:
                outcomes[index] = err
                continue
            bid = target.external_id
            if current[bid].amount_micros == micros:
                outcomes[index] = BudgetResult(
                    target, amount, from_micros(micros), changed=False, dry_run=dry_run
                )
            elif wanted.setdefault(bid, micros) != micros:
                outcomes[index] = ConnectorError(
                    f"Google Ads budget {bid}: two changes in one request "
                    f"({from_micros(wanted[bid])} and {from_micros(micros)}); refusing the second",
                    kind="invalid",
                )
            else:
                waiting.setdefault(bid, []).append(index)
        return wanted, waiting

    def _checked_micros(
        self, target: BudgetTarget, amount: Decimal, budget: PlatformBudget | None, cid: str
    ) -> int:
        """The micros to write for one change, or the reason it must not be written."""
        budget = _writable(target, budget, cid)
        micros = to_micros(amount, target.currency, self.billable_units)
        minimum = billable_unit_micros(target.currency, self.billable_units)
        if self.min_daily_budget is not None:
            minimum = max(
                minimum, to_micros(self.min_daily_budget, target.currency, self.billable_units)
            )
        if micros < minimum:
            raise ConnectorError(
                f"Google Ads budget {budget.budget_id}: {amount} {target.currency} is "
                f"below the minimum {from_micros(minimum)}",
                kind="invalid",
            )
        return micros


def _writable(target: BudgetTarget, budget: PlatformBudget | None, cid: str) -> PlatformBudget:
    """The budget, if a change of ``target`` may be written to it, or why not."""
    if budget is None:
        raise _not_found(target, cid)
    if target.level == "campaign" and (budget.shared or budget.reference_count > 1):
        raise ConnectorError(
            f"Google Ads campaign budget {budget.budget_id} is shared by "
            f"{budget.reference_count} campaigns: changing it would move the others' "
            "budgets too; decide it as one shared budget (level 'shared')",
            kind="invalid",
        )
    return budget


def _as_read(known: dict[str, Decimal]) -> dict[str, PlatformBudget]:
    """Budgets :meth:`GoogleAdsBudgets.read_budgets` already read and checked, as the write
    plan takes them (their sharing was checked there: not again)."""
    return {bid: PlatformBudget(bid, int(amount * MICROS), shared=False, reference_count=1)
            for bid, amount in known.items()}


def _written(
    target: BudgetTarget,
    amount: Decimal,
    micros: int,
    held: int | None,
    dry_run: bool,
) -> BudgetOutcome:
    """The outcome of a change whose budget was sent: validated, or answered as written."""
    if dry_run:
        return BudgetResult(target, amount, from_micros(micros), changed=False, dry_run=True)
    if held == micros:
        return BudgetResult(target, amount, from_micros(micros), changed=True)
    got = "nothing" if held is None else f"{held} micros"
    return ConnectorError(
        f"Google Ads budget {target.external_id}: wrote {micros} micros but the platform "
        f"answered it holds {got}",
        kind="fatal",
    )


def _budget_customer(target: BudgetTarget) -> str:
    if target.level not in ("campaign", "shared"):
        raise ConnectorError("Google Ads ad groups hold no budget", kind="invalid")
    if not str(target.external_id).isdigit():
        raise ConnectorError(
            f"Google Ads campaign budget id must be a number, got {target.external_id!r}",
            kind="invalid",
        )
    return customer_id(target.account_external_id)


def _not_found(target: BudgetTarget, cid: str) -> ConnectorError:
    return ConnectorError(
        f"Google Ads campaign budget {target.external_id} not found in customer {cid}",
        kind="invalid",
    )

