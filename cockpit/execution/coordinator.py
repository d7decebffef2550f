"""The coordinator: the only code that sends orders. It owns every order group and drives each
through its lifecycle, hedge first.

**Entry.** Protection legs go first — the leg covering the most risk first — sliced into child
orders at the freeze limit and priced by each leg's :class:`PricePolicy` (a limit at mid ±
ticks, chased a bounded number of times, then given up). Risk legs are released only as
protection fills: per underlying/expiry/right, the risk sent never exceeds the protection
filled, pro rata and in whole lots. When protection stops short (not filled within its chase),
risk is sized to what did fill. When risk cannot be done, the filled protection is unwound (or
kept, by setting): if no risk filled the group unwinds to FLAT; if some did, only the excess
protection is sold back and the smaller group is COMPLETE. Exits are groups of their own whose
first phase buys the shorts back and whose second sells protection — never more than the
shorts bought back — so the same engine keeps the invariant in both directions.

**Write-ahead.** Every child order is journalled (durably) before it leaves, with its unique
client tag, and its broker order id when the broker answers; every transition, order update
and fill is journalled. An order whose answer is lost is resolved by its tag, never sent again.

**Watching.** Order updates arrive as events (WebSocket or the polling safety net) and wake
the group; exposure is recomputed on each one and by a 100 ms watchdog; a breach of the hedged
invariant goes to the :class:`~cockpit.execution.hedger.Hedger`, whose proposals are sent at
once (policy ``auto``) or after the window's countdown unless the trader holds (``confirm``).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import logging
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from cockpit.broker.base import (
    Broker,
    BrokerError,
    BrokerNetworkError,
    OrderChange,
    Position,
    Priority,
)
from cockpit.bus import EventBus
from cockpit.clock import Clock
from cockpit.domain.events import AlertRaised, AlertSeverity, OrderUpdated, Tick
from cockpit.domain.groups import (
    ChildOrder,
    GroupKind,
    GroupState,
    Leg,
    LegRole,
    LegSpec,
    OrderGroup,
    PricePolicy,
)
from cockpit.domain.instruments import Exchange, Instrument, InstrumentStore, OptionChain
from cockpit.domain.money import Paise, format_inr
from cockpit.domain.orders import Order, OrderRequest, OrderStatus, OrderType, Product, Side
from cockpit.execution.events import ExposureChanged, GroupChanged, HedgeProposed, HedgeResolved
from cockpit.execution.exposure import (
    ExposureKey,
    ExposureTimer,
    PositionLine,
    Uncovered,
    uncovered_by_key,
)
from cockpit.execution.hedger import HedgePolicy, Hedger, Proposal, ShortLine
from cockpit.execution.pretrade import PreTradeGate
from cockpit.execution.restore import RestoredGroup, policy_row
from cockpit.execution.slicing import slice_by_freeze_limit
from cockpit.execution.stoploss import (
    HybridStopLoss,
    StopEvent,
    StopLossConfig,
    StopSpec,
    StopState,
)
from cockpit.risk.checks import CheckFailure, apply_override, overridable
from cockpit.store.journal import Entry, Journal

log = logging.getLogger(__name__)


class RiskFailure(enum.StrEnum):
    """What to do with filled protection when the risk legs cannot be done."""

    UNWIND = "unwind"
    KEEP_PROTECTION = "keep"


@dataclass(frozen=True, slots=True)
class ExecutionSettings:
    hedge_policy: HedgePolicy = HedgePolicy.CONFIRM
    hedge_countdown_s: float = 10.0
    hedge_debounce_s: float = 0.5
    on_risk_failure: RiskFailure = RiskFailure.UNWIND
    watchdog_s: float = 0.1
    reread_after_s: float = 3.0  # re-read a working child's order if it has been silent this long
    # After a restart, an entry older than this is wound down rather than continued.
    resume_within_s: float = 300.0
    hedge_policy_price: PricePolicy = field(
        default_factory=lambda: PricePolicy(
            offset_ticks=20,
            chase_steps=10,
            chase_every_s=0.5,
            chase_step_ticks=20,
            max_chase_ticks=200,
        )
    )
    exit_price_policy: PricePolicy = field(
        default_factory=lambda: PricePolicy(offset_ticks=4, chase_steps=8, max_chase_ticks=80)
    )


class GroupRejectedError(ValueError):
    """A group failed validation or its pre-trade checks; the message says why (it is also
    journalled). ``failures`` are the checks that failed; ``overridable`` says whether all of
    them are the trader's own soft limits, which a resubmission with a reason may override."""

    def __init__(self, message: str, failures: Sequence[CheckFailure] = ()) -> None:
        super().__init__(message)
        self.failures = tuple(failures)

    @property
    def overridable(self) -> bool:
        return bool(self.failures) and overridable(self.failures)


@dataclass(slots=True)
class _Pending:
    """A hedge proposal waiting for the trader (policy confirm)."""

    proposal: Proposal
    deadline: float
    held: bool = False


class Coordinator:
    def __init__(
        self,
        broker: Broker,
        journal: Journal,
        bus: EventBus,
        clock: Clock,
        store: InstrumentStore,
        *,
        settings: ExecutionSettings | None = None,
        gate: PreTradeGate | None = None,
    ) -> None:
        self._broker = broker
        self.gate = gate
        self._journal = journal
        self._bus = bus
        self._clock = clock
        self._store = store
        self.settings = settings or ExecutionSettings()
        self.groups: dict[str, OrderGroup] = {}
        self._by_order_id: dict[str, tuple[str, str]] = {}
        self._by_tag: dict[str, tuple[str, str]] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._quotes: dict[int, tuple[Paise | None, Paise | None, Paise]] = {}
        self._timer = ExposureTimer()
        self._hedger = Hedger(debounce_s=self.settings.hedge_debounce_s)
        self._pending: dict[str, _Pending] = {}
        self._hedge_groups: dict[str, ExposureKey] = {}
        self.exposures: dict[ExposureKey, Uncovered] = {}
        self._seq = itertools.count(1)
        self._sent_tags: set[str] = set()
        self._closed = False
        self._unsubscribe = [
            bus.subscribe(OrderUpdated, lambda e: self.on_order_update(e.order)),
            bus.subscribe(Tick, self._on_tick),
        ]
        self.orders_sent = 0
        self.fill_seen_at: dict[str, float] = {}
        self._child_meta: dict[str, _ChildMeta] = {}
        self._given_up: dict[str, set[int]] = defaultdict(set)
        self._exits: dict[str, str] = {}  # entry group → its exit group
        self._accepted: set[ExposureKey] = set()  # exposures the trader chose to keep
        self.stops: dict[str, HybridStopLoss] = {}
        self._exit_checked: dict[str, float] = {}
        self._quoted_at: dict[int, datetime] = {}
        # Broker positions no group explains (an external order, a discovery at reconciliation).
        self.external: dict[int, tuple[Instrument, int]] = {}
        # The broker's positions as the last reconciliation read them (others reuse the read).
        self.broker_positions: list[Position] = []
        # Legs appended to sell filled protection back (never risk of their own).
        self._unwind_legs: dict[str, set[int]] = defaultdict(set)
        self._restored: dict[str, RestoredGroup] = {}
        self._drivers: dict[str, asyncio.Task[Any]] = {}
        # Set while the kill switch is engaged: (when, why). New entries are refused.
        self.halted: tuple[datetime, str] | None = None

    # ---- public ---------------------------------------------------------------------------

    def start(self) -> None:
        self._spawn("coordinator-watchdog", self._watchdog())

    async def submit(self, group: OrderGroup, override_reason: str = "") -> OrderGroup:
        """Validate ``group``, run the pre-trade checks and start driving it; returns at once
        (or raises GroupRejectedError after journalling the rejection). Soft limits the
        checks report are overridden only with ``override_reason`` (journalled); hard ones
        never."""
        if self._closed:
            raise RuntimeError("the coordinator is shut down")
        if override_reason.strip() and len(override_reason.strip()) < 5:
            raise ValueError("an override needs a reason of at least 5 characters")
        self.groups[group.group_id] = group
        self._wake[group.group_id] = asyncio.Event()
        await self._journal_group(group, "group.created")
        problem = self._validate(group)
        if problem is not None:
            await self._transition(group, GroupState.REJECTED, problem)
            raise GroupRejectedError(f"group {group.group_id}: {problem}")
        if self.halted is not None and group.kind is GroupKind.ENTRY:
            since, why = self.halted
            reason = f"the kill switch is engaged (since {since:%H:%M:%S}: {why}); re-arm to trade"
            await self._transition(group, GroupState.REJECTED, reason)
            raise GroupRejectedError(f"group {group.group_id}: {reason}")
        await self._transition(group, GroupState.VALIDATED, "checks passed")
        if self.gate is not None:
            failures = await self.gate.check(group)
            blocking = failures
            if failures and override_reason.strip() and overridable(failures):
                blocking = apply_override(failures, override_reason)
                await self._override(
                    "pre-trade soft limits",
                    override_reason,
                    group_id=group.group_id,
                    limits=[f.message for f in failures],
                )
            if blocking:
                reason = "; ".join(f.message for f in blocking)
                await self._transition(group, GroupState.REJECTED, f"pre-trade: {reason}")
                raise GroupRejectedError(f"group {group.group_id}: {reason}", blocking)
        self._drivers[group.group_id] = self._spawn(f"group-{group.group_id}", self._drive(group))
        return group

    async def wait(self, group_id: str, within: float | None = None) -> OrderGroup:
        """Until the group is terminal (or NEEDS_ATTENTION)."""
        group = self.groups[group_id]

        async def until_done() -> None:
            while not (group.is_terminal or group.state is GroupState.NEEDS_ATTENTION):
                event = self._wake[group_id]
                event.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), 0.2)

        await asyncio.wait_for(until_done(), within)
        return group

    def on_order_update(self, order: Order) -> None:
        """The broker's latest view of an order (WebSocket, polling or a re-read)."""
        for stop in self.stops.values():
            stop.on_order_update(order)
        where = self._by_order_id.get(order.order_id)
        if where is None and order.tag:
            where = self._by_tag.get(order.tag)
            if where is not None:
                self._by_order_id[order.order_id] = where
        if where is None:
            return
        group = self.groups.get(where[0])
        if group is None:
            return
        child = group.child(where[1])
        if child.order_id is None:
            child.order_id = order.order_id
        if not _newer(child, order):
            return
        before = child.filled_quantity
        child.status = order.status
        child.filled_quantity = order.filled_quantity
        child.average_price = order.average_price
        if order.filled_quantity > before:
            self.fill_seen_at[child.child_id] = self._clock.monotonic()
            self._journal_nowait(
                Entry(
                    kind="fill",
                    group_id=group.group_id,
                    data={
                        "child_id": child.child_id,
                        "order_id": order.order_id,
                        "filled_quantity": order.filled_quantity,
                        "new_quantity": order.filled_quantity - before,
                        "average_price": int(order.average_price),
                    },
                    state=("children", child.child_id, _child_row(group, child)),
                )
            )
        else:
            self._journal_nowait(
                Entry(
                    kind="order.update",
                    group_id=group.group_id,
                    data={
                        "child_id": child.child_id,
                        "order_id": order.order_id,
                        "status": str(order.status),
                    },
                    state=("children", child.child_id, _child_row(group, child)),
                )
            )
        self._recompute_exposure()
        self._publish_group(group, f"{child.tag} {order.status}")
        self._wake[group.group_id].set()

    async def close_group(self, group_id: str, reason: str) -> OrderGroup:
        """Take a completed entry off: an exit group that buys the shorts back first and sells
        the protection after (never more than was bought back). Also the force-close
        override, journalled with its reason."""
        entry = self.groups[group_id]
        if entry.kind is not GroupKind.ENTRY or entry.state is not GroupState.COMPLETE:
            raise ValueError(f"group {group_id} is {entry.state}: only a complete entry closes")
        if group_id in self._exits:
            return self.groups[self._exits[group_id]]
        legs: list[Leg] = []
        for leg in entry.legs:
            net = leg.signed_filled
            if net == 0:
                continue
            # Buying back a short is the exit's protection; selling a long is its risk.
            role = LegRole.PROTECTION if net < 0 else LegRole.RISK
            side = Side.BUY if net < 0 else Side.SELL
            legs.append(
                Leg(
                    spec=replace(
                        leg.spec,
                        role=role,
                        side=side,
                        quantity=abs(net),
                        price_policy=self.settings.exit_price_policy,
                    )
                )
            )
        exit_group = OrderGroup(
            group_id=f"X{secrets.token_hex(4)}",
            kind=GroupKind.EXIT,
            legs=legs,
            created_at=self._clock.now(),
            parent_id=group_id,
        )
        self._exits[group_id] = exit_group.group_id
        await self._journal.write(
            Entry(
                kind="group.exit",
                group_id=group_id,
                data={"exit_group_id": exit_group.group_id, "reason": reason},
            )
        )
        await self.submit(exit_group)
        return exit_group

    def _check_exit_rules(self, token: int) -> None:
        """On a tick: take off any complete entry whose target or stop is reached."""
        now = self._clock.monotonic()
        for group in list(self.groups.values()):
            rules = group.exit_rules
            if (
                rules is None
                or group.kind is not GroupKind.ENTRY
                or group.state is not GroupState.COMPLETE
                or group.group_id in self._exits
                or not any(leg.spec.instrument_token == token for leg in group.legs)
                or now - self._exit_checked.get(group.group_id, -1.0) < 0.2
            ):
                continue
            credit = group.credit
            cost = self._cost_to_close(group)
            if credit <= 0 or cost is None or cost < 0:
                continue  # a credit spread never pays to close: a negative cost is bad data
            self._exit_checked[group.group_id] = now
            if rules.target_hit(credit, cost):
                reason = (
                    f"target: close for {cost} paise ≤ {rules.target_pct_of_credit}% of {credit}"
                )
                severity, said = AlertSeverity.INFO, "profit target reached"
            elif rules.stop_hit(credit, cost):
                reason = (
                    f"stop: close for {cost} paise loses ≥ {rules.stop_pct_of_credit}% of {credit}"
                )
                severity, said = AlertSeverity.WARNING, "stop reached"
            else:
                continue
            log.info("group %s: %s", group.group_id, reason)
            self._alert(
                group,
                severity,
                f"{said}: closing costs {format_inr(cost)} against a credit of "
                f"{format_inr(credit)} — buying the shorts back first",
            )
            self._spawn(f"exit-{group.group_id}", self.close_group(group.group_id, reason))

    def _cost_to_close(self, group: OrderGroup) -> Paise | None:
        """Premium to pay to close at the touch now (shorts at the ask, longs at the bid);
        None unless every leg's quote is from within two seconds of the others' (ticks come
        one instrument at a time: a fresh short and a stale long is not a price)."""
        stamps = [self._quoted_at.get(leg.spec.instrument_token) for leg in group.legs]
        if any(s is None for s in stamps):
            return None
        known = [s for s in stamps if s is not None]
        if (max(known) - min(known)).total_seconds() > 2:
            return None
        cost = 0
        for leg in group.legs:
            net = leg.signed_filled
            if net == 0:
                continue
            bid, ask, _ = self._quotes.get(leg.spec.instrument_token, (None, None, Paise(0)))
            price = ask if net < 0 else bid
            if price is None:
                return None
            cost += -net * price
        return Paise(cost)

    # ---- manual overrides (each journalled with the trader's reason) -----------------------

    async def _override(self, what: str, reason: str, **details: Any) -> str:
        if len(reason.strip()) < 5:
            raise ValueError("an override needs a reason of at least 5 characters")
        override_id = f"o{next(self._seq)}-{secrets.token_hex(3)}"
        row = {"what": what, "reason": reason.strip(), **details}
        await self._journal.write(
            Entry(
                kind="override",
                group_id=details.get("group_id"),
                data=row,
                state=("overrides", override_id, row),
            )
        )
        log.warning("manual override %s: %s (%s)", override_id, what, reason.strip())
        return override_id

    async def force_close(self, group_id: str, reason: str) -> OrderGroup:
        await self._override("force close", reason, group_id=group_id)
        return await self.close_group(group_id, f"force close: {reason}")

    async def cancel_child(self, group_id: str, child_id: str, reason: str) -> None:
        await self._override("cancel order", reason, group_id=group_id, child_id=child_id)
        group = self.groups[group_id]
        child = group.child(child_id)
        if group.legs[child.leg_index].spec.role is LegRole.PROTECTION:
            # A cancelled protection order caps the risk it would have released.
            self._given_up[group_id].add(child.leg_index)
        await self._cancel(group, child, f"manual: {reason}")
        self._wake[group_id].set()

    async def engage_kill_switch(self, reason: str = "kill switch") -> int:
        """Stop trading now: every entry and exit stops sending, every working order of theirs
        is cancelled (risk legs first), and each unfinished group goes to NEEDS_ATTENTION as
        it truly stands; new entries are refused until :meth:`rearm`. Emergency hedges and
        stop-losses are left working: they only ever reduce a short, and removing them would
        break the promise the kill switch exists to keep. Journalled; returns the number of
        orders cancelled."""
        now = self._clock.now()
        self.halted = (now, reason.strip() or "kill switch")
        await self._journal.write(
            Entry(kind="kill_switch.engaged", data={"reason": self.halted[1]})
        )
        log.warning("kill switch engaged: %s", self.halted[1])
        stopping = [
            g for g in self.groups.values() if not g.is_terminal and g.kind is not GroupKind.HEDGE
        ]
        drivers = [
            task
            for g in stopping
            if (task := self._drivers.get(g.group_id)) is not None and not task.done()
        ]
        for task in drivers:
            task.cancel()
        await asyncio.gather(*drivers, return_exceptions=True)
        cancelled = 0
        for group in stopping:
            working = sorted(
                (c for leg in group.legs for c in leg.children if c.is_working and c.order_id),
                key=lambda c: group.legs[c.leg_index].spec.role is LegRole.PROTECTION,
            )
            for child in working:
                await self._cancel(group, child, "kill switch")
                cancelled += 1
        # A driver stopped between journalling an intent and hearing the broker's answer
        # leaves an order we know only by its tag: sweep the broker's book for those.
        stopped = {g.group_id for g in stopping}
        with contextlib.suppress(BrokerError):
            for order in await self._broker.orders():
                where = self._by_tag.get(order.tag or "")
                if where is None or where[0] not in stopped or order.status.is_terminal:
                    continue
                group = self.groups[where[0]]
                child = group.child(where[1])
                child.order_id = child.order_id or order.order_id
                self._by_order_id[order.order_id] = where
                await self._cancel(group, child, "kill switch (found by tag)")
                cancelled += 1
        for group in stopping:
            await self._attention(
                group,
                f"kill switch ({reason.strip()}): working orders cancelled, nothing more sent",
            )
        self._alert(
            None,
            AlertSeverity.CRITICAL,
            f"Kill switch engaged: {cancelled} working order(s) cancelled; new entries are "
            "refused until re-armed",
        )
        return cancelled

    async def rearm(self, reason: str) -> None:
        """Lift the kill switch (journalled with the trader's reason)."""
        if self.halted is None:
            return
        await self._override("re-arm trading", reason)
        self.halted = None
        self._alert(None, AlertSeverity.INFO, f"Trading re-armed: {reason.strip()}")

    async def resolve_attention(self, group_id: str, reason: str) -> None:
        """The trader has looked: the group ends as it truly stands (flat when nothing is
        held, else complete); any breach left is the hedger's, as always."""
        group = self.groups[group_id]
        if group.state is not GroupState.NEEDS_ATTENTION:
            raise ValueError(f"group {group_id} is {group.state}, not needs_attention")
        await self._override("resolve needs_attention", reason, group_id=group_id)
        held = any(leg.signed_filled for leg in group.legs)
        to = GroupState.COMPLETE if held else GroupState.FLAT
        await self._transition(group, to, f"resolved by the trader: {reason}")

    async def accept_exposure(self, group_id: str, reason: str) -> None:
        """The trader chooses to keep the uncovered shorts of this group's keys: no hedge is
        proposed for them until the exposure closes."""
        group = self.groups[group_id]
        keys = {_key(leg.spec) for leg in group.legs}
        await self._override(
            "accept unhedged exposure",
            reason,
            group_id=group_id,
            keys=sorted(_key_text(k) for k in keys),
        )
        self._accepted.update(keys)
        for proposal_id, pending in list(self._pending.items()):
            if pending.proposal.key in keys:
                await self.hold(proposal_id, f"accepted: {reason}")

    # ---- stop-losses ------------------------------------------------------------------------

    async def arm_stop(self, spec: StopSpec, config: StopLossConfig | None = None) -> str:
        """A hybrid stop (SL-limit, then market only after the cancel is confirmed); the
        coordinator forwards its order updates and polls it on the watchdog. The stop is
        journalled (``stops``) before its order leaves, and every move after, so a restart
        takes it over (:meth:`resume_stops`)."""
        config = config or StopLossConfig()
        stop = self._stop(spec, config)
        await self._journal.write(
            Entry(
                kind="stop.intent",
                data={"tag": spec.tag},
                state=("stops", spec.tag, _stop_row(stop)),
            )
        )
        self.stops[spec.tag] = stop
        try:
            return await stop.arm()
        except BrokerError:
            self._journal_nowait(
                Entry(kind="stop.failed", data={"tag": spec.tag},
                      state=("stops", spec.tag, _stop_row(stop)))
            )  # fmt: skip
            raise

    def _stop(self, spec: StopSpec, config: StopLossConfig) -> HybridStopLoss:
        holder: list[HybridStopLoss] = []

        def on_event(event: StopEvent) -> None:
            self._journal_nowait(
                Entry(
                    kind="stop.event",
                    data={
                        "tag": spec.tag,
                        "state": str(event.state),
                        "detail": event.detail,
                        "filled_quantity": event.filled_quantity,
                        "order_id": event.order_id,
                    },
                    state=("stops", spec.tag, _stop_row(holder[0])) if holder else None,
                )
            )
            if event.state is StopState.FAILED:
                self._alert(None, AlertSeverity.CRITICAL, f"stop-loss failed: {event.detail}")

        stop = HybridStopLoss(spec, self._broker, self._clock, config=config, on_event=on_event)
        holder.append(stop)
        return stop

    async def resume_stops(self) -> dict[str, str]:
        """Take over every stop the journal holds that had not finished: found at the broker
        by tag (broker wins) and driven on from there, or placed if its SL never left."""
        rows = await self._journal.state("stops")
        live = {tag: row for tag, row in rows.items() if row.get("state") not in ("DONE", "FAILED")}
        if not live:
            return {}
        orders = await self._broker.orders()
        outcome: dict[str, str] = {}
        for tag, row in sorted(live.items()):
            try:
                spec, config = _stop_from_row(row)
            except (KeyError, TypeError, ValueError) as error:
                outcome[tag] = f"cannot be rebuilt: {error}"
                self._alert(None, AlertSeverity.CRITICAL, f"stop {tag} cannot be rebuilt: {error}")
                continue
            stop = self._stop(spec, config)
            self.stops[tag] = stop
            try:
                if not await stop.resume(orders, StopState(row["state"])):
                    await stop.arm()
            except BrokerError as error:
                outcome[tag] = f"could not be re-armed: {error}"
                continue
            outcome[tag] = str(stop.state)
        return outcome

    async def reconcile_positions(self) -> dict[int, tuple[Instrument, int]]:
        """Compare the broker's positions with what the groups filled; the difference is
        external — shown, alerted, and counted in exposure so a naked short from anywhere is
        hedged like one of ours. Broker wins: its quantity is the truth."""
        positions = await self._broker.positions()
        self.broker_positions = positions
        explained: dict[int, int] = defaultdict(int)
        for group in self.groups.values():
            for leg in group.legs:
                explained[leg.spec.instrument_token] += leg.signed_filled
        external: dict[int, tuple[Instrument, int]] = {}
        for position in positions:
            difference = position.quantity - explained.get(position.instrument_token, 0)
            if difference == 0:
                continue
            try:
                instrument = self._store.get(position.instrument_token)
            except LookupError:
                continue
            if instrument.expiry is None or str(instrument.instrument_type) not in {"CE", "PE"}:
                continue
            external[position.instrument_token] = (instrument, difference)
            known = self.external.get(position.instrument_token)
            if known is None or known[1] != difference:
                self._alert(
                    None,
                    AlertSeverity.WARNING,
                    f"external position: {instrument.tradingsymbol} {difference:+d} is not "
                    "explained by any group",
                )
        self.external = external
        self._recompute_exposure()
        return external

    @property
    def hedges_pending(self) -> bool:
        """A hedge proposal is waiting (for its countdown or the trader)."""
        return bool(self._pending)

    def alert(self, severity: AlertSeverity, message: str, group_id: str | None = None) -> None:
        """Raise (journal and publish) an alert on behalf of recovery or reconciliation."""
        self._alert(self.groups.get(group_id) if group_id else None, severity, message)

    async def reconcile(self) -> list[str]:
        """Continuous reconciliation, by the start-up rules: every order of ours at the broker
        is folded in (broker wins — a status or fill the stream missed is taken as news), a
        broker that shows fewer fills than we hold is reported, then positions are compared
        (:meth:`reconcile_positions`). Returns the differences found (each also alerted)."""
        differences: list[str] = []
        for order in await self._broker.orders():
            where = self._by_order_id.get(order.order_id) or (
                self._by_tag.get(order.tag) if order.tag else None
            )
            if where is None or where[0] not in self.groups:
                continue
            child = self.groups[where[0]].child(where[1])
            if order.filled_quantity < child.filled_quantity:
                differences.append(
                    f"{child.tag}: we hold {child.filled_quantity} filled, the broker says "
                    f"{order.filled_quantity}"
                )
                continue
            if _newer(child, order):
                # News the stream had not brought yet (or lost): the broker's word is taken.
                log.info(
                    "reconciliation: %s %s %d → broker %s %d",
                    child.tag,
                    child.status,
                    child.filled_quantity,
                    order.status,
                    order.filled_quantity,
                )
                self.on_order_update(order)
        for difference in differences:
            self._alert(None, AlertSeverity.WARNING, f"reconciliation: {difference}")
        await self.reconcile_positions()
        return differences

    # ---- after a restart --------------------------------------------------------------------

    def adopt(self, restored: RestoredGroup) -> None:
        """Take over a group rebuilt from the journal, terminal or not: its fills count in the
        exposure and explain broker positions; its orders are known by id and by tag (a tag is
        never sent again). Call :meth:`resume` to continue one that is not finished."""
        group = restored.group
        group_id = group.group_id
        self.groups[group_id] = group
        self._wake.setdefault(group_id, asyncio.Event())
        self._restored[group_id] = restored
        if restored.unwind_legs:
            self._unwind_legs[group_id] = set(restored.unwind_legs)
        now = self._clock.monotonic()
        for leg in group.legs:
            for child in leg.children:
                self._by_tag[child.tag] = (group_id, child.child_id)
                self._sent_tags.add(child.tag)
                if child.order_id is not None:
                    self._by_order_id[child.order_id] = (group_id, child.child_id)
                if child.is_working:
                    # The chase starts again from the limit the order rests at.
                    self._child_meta[child.child_id] = _ChildMeta(
                        sent_at=now, first_limit=child.price
                    )
        if group.kind is GroupKind.EXIT and group.parent_id:
            self._exits[group.parent_id] = group_id
        if group.kind is GroupKind.HEDGE and group.legs and not group.is_terminal:
            self._hedge_groups[group_id] = _key(group.legs[0].spec)

    async def resume(self, group_id: str) -> str:
        """Continue an adopted group from where it truly is (the broker's word is already in
        its children) and say what was done. Working orders keep working and are chased;
        risk is released only against protection filled; an unwind goes on from what is
        still long. An entry older than ``settings.resume_within_s`` is not continued — the
        trader did not choose to open risk that late: its working orders are cancelled and
        it is finished with what filled (unwound if no risk filled). A group that never sent
        anything is refused; NEEDS_ATTENTION stays with the trader."""
        group = self.groups[group_id]
        restored = self._restored.get(group_id)
        if group.is_terminal:
            return f"already {group.state}"
        if group.state is GroupState.NEEDS_ATTENTION:
            self._alert(group, AlertSeverity.CRITICAL, "still needs attention after a restart")
            return "left for the trader (needs attention)"
        if group.state in (GroupState.CREATED, GroupState.VALIDATED):
            await self._transition(
                group, GroupState.REJECTED, "the app stopped before any order was sent"
            )
            return "refused: nothing had been sent"
        age = (self._clock.now() - group.created_at).total_seconds()
        stale = group.kind is GroupKind.ENTRY and age > self.settings.resume_within_s
        await self._journal.write(
            Entry(
                kind="group.resumed",
                group_id=group_id,
                data={"state": str(group.state), "age_s": round(age, 3), "wind_down": stale},
            )
        )
        if stale:
            self._drivers[group_id] = self._spawn(
                f"resume-{group_id}", self._drive_resumed(group, restored, wind_down=True)
            )
            limit = self.settings.resume_within_s
            return f"winding down: created {age:,.0f} s ago, beyond {limit:g} s"
        self._drivers[group_id] = self._spawn(
            f"resume-{group_id}", self._drive_resumed(group, restored, wind_down=False)
        )
        return f"resumed from {group.state}"

    async def _drive_resumed(
        self, group: OrderGroup, restored: RestoredGroup | None, *, wind_down: bool
    ) -> None:
        try:
            await self._continue(group, restored, wind_down=wind_down)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.exception("group %s: resumed driver failed", group.group_id)
            await self._attention(group, f"the coordinator failed resuming it: {error}")

    async def _continue(
        self, group: OrderGroup, restored: RestoredGroup | None, *, wind_down: bool
    ) -> None:
        protection, risk = self._roles(group)
        given_up = self._given_up[group.group_id]
        unwind = sorted(self._unwind_legs.get(group.group_id, set()))
        if wind_down:
            given_up.update(protection + risk)
            for index in protection + risk:
                for child in group.legs[index].children:
                    if child.is_working:
                        await self._cancel(group, child, "winding down after a restart")
        # An unwind that was under way finishes first: it only sells what was bought.
        for index in unwind:
            leg = group.legs[index]
            if leg.filled_quantity < leg.spec.quantity and not await self._work_unwind_leg(
                group, index
            ):
                return
        if group.state is GroupState.UNWINDING:
            # Only protection no filled short needs is sold (all of it, unless a risk order
            # the broker filled after all turned up at reconciliation).
            await self._unwind(group, self._excess_protection(group))
            if group.state is GroupState.UNWINDING:
                if any(group.legs[i].filled_quantity for i in risk):
                    await self._attention(
                        group, "a risk leg filled while unwinding: hedged, the trader decides"
                    )
                else:
                    await self._transition(group, GroupState.FLAT, "protection unwound")
            return
        if group.state is GroupState.EMERGENCY_HEDGING:
            # The hedger covers any breach from the exposure; the group's own work goes on.
            await self._transition(group, GroupState.RISK_WORKING, "resumed after a restart")
        if group.state is GroupState.PROTECTION_WORKING and not wind_down and restored:
            # Protection the crash kept from leaving (a slice never sent) goes now.
            for index in protection:
                unsent = group.legs[index].spec.quantity - restored.sent_quantity(index)
                unsent -= unsent % group.legs[index].spec.lot_size
                if unsent > 0:
                    await self._send_leg(group, index, unsent)
        await self._work(group, protection, risk)

    def approve(self, proposal_id: str, remedy: str | None = None, reason: str = "") -> None:
        """The trader approves a hedge (the default remedy, or another)."""
        pending = self._pending.get(proposal_id)
        if pending is None:
            raise KeyError(f"no hedge proposal {proposal_id} is waiting")
        self._spawn(f"hedge-{proposal_id}", self._send_hedge(pending, remedy, reason or "approved"))

    async def hold(self, proposal_id: str, reason: str) -> None:
        """The trader holds a hedge: a journalled manual override accepting the exposure."""
        if not reason.strip():
            raise ValueError("a hold needs a reason: it is journalled as a manual override")
        pending = self._pending.pop(proposal_id, None)
        if pending is None:
            raise KeyError(f"no hedge proposal {proposal_id} is waiting")
        pending.held = True
        proposal = pending.proposal
        self._hedger.settled(proposal.key, proposal.quantity)
        await self._journal.write(
            Entry(
                kind="override",
                data={
                    "what": "hold hedge",
                    "proposal_id": proposal_id,
                    "reason": reason,
                    "key": _key_text(proposal.key),
                    "quantity": proposal.quantity,
                },
                state=("overrides", proposal_id, {"what": "hold hedge", "reason": reason}),
            )
        )
        self._bus.publish(
            HedgeResolved(
                at=self._clock.now(), proposal_id=proposal_id, outcome="held", reason=reason
            )
        )

    async def aclose(self) -> None:
        self._closed = True
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # ---- validation -----------------------------------------------------------------------

    def _validate(self, group: OrderGroup) -> str | None:
        if not group.legs:
            return "a group needs at least one leg"
        for leg in group.legs:
            spec = leg.spec
            if spec.quantity <= 0 or spec.quantity % spec.lot_size:
                return (
                    f"{spec.tradingsymbol}: quantity {spec.quantity} is not a positive multiple "
                    f"of the lot size {spec.lot_size}"
                )
        if group.kind is GroupKind.ENTRY:
            # Hedged by construction: per key, the risk (shorts) never exceeds the protection.
            short: dict[ExposureKey, int] = defaultdict(int)
            long: dict[ExposureKey, int] = defaultdict(int)
            for leg in group.legs:
                key = _key(leg.spec)
                if leg.spec.side is Side.SELL:
                    short[key] += leg.spec.quantity
                else:
                    long[key] += leg.spec.quantity
            for key, quantity in short.items():
                if quantity > long.get(key, 0):
                    return (
                        f"{_key_text(key)}: {quantity} short against {long.get(key, 0)} long — "
                        "an entry must not leave a naked short"
                    )
        return None

    # ---- driving a group ------------------------------------------------------------------

    async def _drive(self, group: OrderGroup) -> None:
        try:
            await self._run_group(group)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.exception("group %s: driver failed", group.group_id)
            await self._attention(group, f"the coordinator failed: {error}")

    async def _run_group(self, group: OrderGroup) -> None:
        protection, risk = self._roles(group)
        if protection:
            await self._transition(group, GroupState.PROTECTION_WORKING, "protection first")
            for i in protection:
                await self._send_leg(group, i, group.legs[i].spec.quantity)
        else:
            await self._transition(group, GroupState.RISK_WORKING, "no protection legs")
        await self._work(group, protection, risk)

    def _roles(self, group: OrderGroup) -> tuple[list[int], list[int]]:
        """Protection legs (covering the most risk first) and risk legs; unwind legs are
        neither: they are worked by :meth:`_unwind` alone."""
        unwind = self._unwind_legs.get(group.group_id, set())
        protection = [
            i
            for i, leg in enumerate(group.legs)
            if leg.spec.role is LegRole.PROTECTION and i not in unwind
        ]
        risk = [
            i
            for i, leg in enumerate(group.legs)
            if leg.spec.role is LegRole.RISK and i not in unwind
        ]
        protection.sort(key=lambda i: -self._risk_covered(group, i))
        return protection, risk

    async def _work(self, group: OrderGroup, protection: list[int], risk: list[int]) -> None:
        """Release risk as protection fills, chase, and finish — from wherever the group is."""
        given_up = self._given_up[group.group_id]
        while True:
            await self._release_risk(group, risk, given_up)
            await self._chase(group, given_up)
            protection_done = all(self._leg_done(group, i, given_up) for i in protection)
            if protection_done and group.state is GroupState.PROTECTION_WORKING:
                filled = sum(group.legs[i].filled_quantity for i in protection)
                if filled == 0:
                    await self._transition(group, GroupState.FLAT, "no protection filled")
                    return
                await self._transition(group, GroupState.PROTECTION_FILLED, "protection done")
            if group.state is GroupState.PROTECTION_FILLED:
                await self._transition(group, GroupState.RISK_WORKING, "risk sized to it")
                # Risk legs are capped by the protection that actually filled.
                for i in risk:
                    self._cap_risk(group, i)
                continue
            if group.state is GroupState.RISK_WORKING and all(
                self._leg_done(group, i, given_up) for i in risk
            ):
                await self._finish(group, protection, risk)
                return
            event = self._wake[group.group_id]
            event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), 0.1)

    def _risk_covered(self, group: OrderGroup, index: int) -> int:
        key = _key(group.legs[index].spec)
        return sum(
            leg.spec.quantity
            for leg in group.legs
            if leg.spec.role is LegRole.RISK and _key(leg.spec) == key
        )

    def _leg_done(self, group: OrderGroup, index: int, given_up: set[int]) -> bool:
        leg = group.legs[index]
        if leg.working_quantity > 0:
            return False
        if leg.filled_quantity >= leg.spec.quantity or index in given_up:
            return True
        if leg.spec.role is LegRole.PROTECTION:
            # Protection is sent once; when all its children are final, it is what it is.
            return bool(leg.children) and all(c.is_terminal for c in leg.children)
        # Risk is done when it can no longer grow: protection finished, nothing sendable.
        return group.state is GroupState.RISK_WORKING and self._sendable(group, index) == 0

    def _cap_risk(self, group: OrderGroup, index: int) -> None:
        """Shrink a risk leg to what the filled protection of its key allows."""
        leg = group.legs[index]
        allowed = self._risk_allowance(group, index, include_working=True)
        sent = leg.filled_quantity + leg.working_quantity
        leg.spec = replace(leg.spec, quantity=min(leg.spec.quantity, sent + max(0, allowed)))

    def _risk_allowance(self, group: OrderGroup, index: int, *, include_working: bool) -> int:
        """How much more of risk leg ``index`` may be sent now: protection filled for its key,
        less risk of that key already sent, in whole lots."""
        spec = group.legs[index].spec
        key = _key(spec)
        protected = sum(
            leg.filled_quantity
            for leg in group.legs
            if leg.spec.role is LegRole.PROTECTION and _key(leg.spec) == key
        )
        used = sum(
            leg.filled_quantity + (leg.working_quantity if include_working else 0)
            for leg in group.legs
            if leg.spec.role is LegRole.RISK and _key(leg.spec) == key
        )
        room = protected - used
        return max(0, room - room % spec.lot_size)

    def _sendable(self, group: OrderGroup, index: int) -> int:
        leg = group.legs[index]
        remaining = leg.spec.quantity - leg.filled_quantity - leg.working_quantity
        if leg.spec.role is LegRole.RISK:
            remaining = min(remaining, self._risk_allowance(group, index, include_working=True))
        return max(0, remaining)

    async def _release_risk(self, group: OrderGroup, risk: list[int], given_up: set[int]) -> None:
        """Send what the filled protection now allows of each risk leg (never what was given
        up: a refused or exhausted risk leg is not retried)."""
        for i in risk:
            leg = group.legs[i]
            if any(
                c.status is OrderStatus.REJECTED and not c.filled_quantity for c in leg.children
            ):
                given_up.add(i)
            if i in given_up:
                continue
            quantity = self._sendable(group, i)
            if quantity > 0:
                await self._send_leg(group, i, quantity)

    async def _chase(self, group: OrderGroup, given_up: set[int]) -> None:
        now = self._clock.monotonic()
        for index, leg in enumerate(group.legs):
            policy = leg.spec.price_policy
            for child in leg.children:
                if not child.is_working or child.order_id is None:
                    continue
                meta = self._child_meta.setdefault(child.child_id, _ChildMeta(sent_at=now))
                if now - meta.last_check >= self.settings.reread_after_s:
                    meta.last_check = now
                    self._spawn(f"reread-{child.child_id}", self._reread(child.order_id))
                if now - meta.moved_at < policy.chase_every_s:
                    continue
                meta.moved_at = now
                if meta.first_limit is None:
                    continue
                meta.step += 1
                new_limit = policy.chased_limit(
                    leg.spec.side, meta.first_limit, meta.step, leg.spec.tick_size_paise
                )
                if new_limit is None:
                    # Chased as far as allowed: stop and decide — give up the rest.
                    given_up.add(index)
                    await self._cancel(group, child, "chase exhausted")
                    continue
                try:
                    await self._broker.modify(
                        child.order_id, OrderChange(price=new_limit), priority=_priority(group)
                    )
                    child.price = new_limit
                    self._journal_nowait(
                        Entry(
                            kind="child.chased",
                            group_id=group.group_id,
                            data={
                                "child_id": child.child_id,
                                "price": int(new_limit),
                                "step": meta.step,
                            },
                        )
                    )
                except BrokerError as error:
                    # Usually it has just filled or ended: read it now rather than wait.
                    log.info("group %s: chase of %s refused: %s", group.group_id, child.tag, error)
                    await self._reread(child.order_id)

    async def _reread(self, order_id: str) -> None:
        with contextlib.suppress(BrokerError):
            history = await self._broker.order_history(order_id)
            if history:
                self.on_order_update(history[-1])

    async def _finish(self, group: OrderGroup, protection: list[int], risk: list[int]) -> None:
        risk_filled = sum(group.legs[i].filled_quantity for i in risk)
        risk_planned = sum(group.legs[i].spec.quantity for i in risk)
        excess = self._excess_protection(group)
        # An exit or hedge never unwinds what it bought: that would re-open the risk.
        keep = (
            self.settings.on_risk_failure is RiskFailure.KEEP_PROTECTION
            or group.kind is not GroupKind.ENTRY
        )
        if risk and risk_filled == 0 and not keep:
            await self._transition(group, GroupState.UNWINDING, "risk legs could not be done")
            await self._unwind(group, {i: group.legs[i].filled_quantity for i in protection})
            await self._transition(group, GroupState.FLAT, "protection unwound")
            return
        if excess and not keep:
            await self._unwind(group, excess)
        detail = (
            "all legs filled"
            if risk_filled == risk_planned
            else f"risk {risk_filled} of {risk_planned}: sized to the protection filled"
        )
        await self._transition(group, GroupState.COMPLETE, detail)

    def _excess_protection(self, group: OrderGroup) -> dict[int, int]:
        """Per protection leg, the filled quantity no filled risk of its key needs, less what
        unwind legs have already sold back (filled or working)."""
        excess: dict[int, int] = {}
        if group.kind is not GroupKind.ENTRY:
            return excess
        unwind = self._unwind_legs.get(group.group_id, set())
        need: dict[ExposureKey, int] = defaultdict(int)
        unwound: dict[int, int] = defaultdict(int)
        for i, leg in enumerate(group.legs):
            if i in unwind:
                unwound[leg.spec.instrument_token] += leg.released_quantity
            elif leg.spec.role is LegRole.RISK:
                need[_key(leg.spec)] += leg.filled_quantity
        for i, leg in enumerate(group.legs):
            if leg.spec.role is not LegRole.PROTECTION or i in unwind:
                continue
            key, token = _key(leg.spec), leg.spec.instrument_token
            use = min(leg.filled_quantity, need[key])
            need[key] -= use
            spare = leg.filled_quantity - use
            sold = min(spare, unwound[token])
            unwound[token] -= sold
            spare -= sold
            if spare > 0:
                excess[i] = spare
        return excess

    async def _unwind(self, group: OrderGroup, quantities: dict[int, int]) -> None:
        """Close ``quantities`` of the given (protection) legs with aggressive limit orders,
        chased until done; this runs inside the group and is journalled like any child. The
        unwind leg is journalled with the group before its first order leaves, so a restart
        knows it for what it is."""
        for index, quantity in quantities.items():
            if quantity <= 0:
                continue
            spec = group.legs[index].spec
            closing = replace(
                spec,
                role=LegRole.RISK,
                side=Side.SELL if spec.side is Side.BUY else Side.BUY,
                quantity=quantity,
                price_policy=self.settings.hedge_policy_price,
            )
            group.legs.append(Leg(spec=closing))
            new_index = len(group.legs) - 1
            self._unwind_legs[group.group_id].add(new_index)
            await self._journal_group(group, "group.unwind_leg")
            if not await self._work_unwind_leg(group, new_index):
                return

    async def _work_unwind_leg(self, group: OrderGroup, index: int) -> bool:
        """Sell leg ``index`` (an unwind leg) until its quantity is filled: chased, re-sent
        when nothing works, at market once chased to its bound. False when it could not be
        done in time (the group then needs the trader)."""
        leg = group.legs[index]
        quantity = leg.spec.quantity
        deadline = self._clock.monotonic() + 60
        given_up = self._given_up[group.group_id]
        market_sent = False
        while leg.filled_quantity < quantity:
            if self._clock.monotonic() > deadline:
                await self._attention(group, f"could not unwind {leg.spec.tradingsymbol}")
                return False
            if index in given_up and not market_sent:
                # Chased to its bound: getting out matters more than the price now.
                left = quantity - leg.filled_quantity
                if leg.working_quantity == 0 and left > 0:
                    market_sent = True
                    await self._send_leg(group, index, left, market=True)
                    continue
            await self._chase(group, given_up)
            if leg.working_quantity == 0 and index not in given_up:
                left = quantity - leg.filled_quantity
                if left > 0:
                    await self._send_leg(group, index, left)
            event = self._wake[group.group_id]
            event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), 0.1)
        return True

    # ---- sending ------------------------------------------------------------------------

    async def _send_leg(
        self, group: OrderGroup, index: int, quantity: int, *, market: bool = False
    ) -> None:
        leg = group.legs[index]
        spec = leg.spec
        try:
            sizes = slice_by_freeze_limit(quantity, spec.lot_size, spec.freeze_quantity)
        except ValueError as error:
            await self._attention(group, f"{spec.tradingsymbol}: {error}")
            return
        bid, ask, _last = self._quotes.get(spec.instrument_token, (None, None, Paise(0)))
        if bid is None or ask is None:
            bid, ask = await self._fetch_touch(spec)
        first = (
            None
            if market
            else spec.price_policy.first_limit(spec.side, bid, ask, spec.tick_size_paise)
        )
        if first is None and group.kind is GroupKind.ENTRY and not market:
            # No two-sided market: an entry never crosses blindly; the leg is given up.
            self._given_up[group.group_id].add(index)
            self._alert(group, AlertSeverity.WARNING, f"{spec.tradingsymbol}: no two-sided market")
            self._wake[group.group_id].set()
            return
        for size in sizes:
            seq = len(leg.children) + 1
            child = ChildOrder(
                child_id=f"{group.group_id}-{index}-{seq}",
                leg_index=index,
                seq=seq,
                tag=self._new_tag(group, index, seq),
                quantity=size,
                price=first,
            )
            leg.children.append(child)
            await self._place(group, child, spec, first)

    async def _fetch_touch(self, spec: LegSpec) -> tuple[Paise | None, Paise | None]:
        key = f"{spec.exchange}:{spec.tradingsymbol}"
        try:
            quote = (await self._broker.quotes([key])).get(key)
        except BrokerError as error:
            log.warning("no quote for %s: %s", spec.tradingsymbol, error)
            return None, None
        if quote is None:
            return None, None
        bid = quote.bids[0].price if quote.bids else None
        ask = quote.asks[0].price if quote.asks else None
        self._quotes[spec.instrument_token] = (bid, ask, quote.last_price)
        self._quoted_at[spec.instrument_token] = quote.at
        return bid, ask

    def _new_tag(self, group: OrderGroup, index: int, seq: int) -> str:
        tag = f"c{group.group_id[-8:]}{index:x}{seq:03x}"
        while tag in self._sent_tags:
            tag = "c" + secrets.token_hex(6)
        return tag[:20]

    async def _place(
        self, group: OrderGroup, child: ChildOrder, spec: LegSpec, price: Paise | None
    ) -> None:
        child.sent = True
        self._by_tag[child.tag] = (group.group_id, child.child_id)
        self._sent_tags.add(child.tag)
        # Write-ahead: the intent is durable before the order leaves.
        await self._journal.write(
            Entry(
                kind="child.intent",
                group_id=group.group_id,
                data=_child_row(group, child),
                state=("children", child.child_id, _child_row(group, child)),
            )
        )
        if price is None:
            request = OrderRequest(
                tradingsymbol=spec.tradingsymbol,
                exchange=Exchange(spec.exchange),
                side=spec.side,
                quantity=child.quantity,
                order_type=OrderType.MARKET,
                product=spec.product,
                tag=child.tag,
                market_protection=-1,
            )
        else:
            request = OrderRequest(
                tradingsymbol=spec.tradingsymbol,
                exchange=Exchange(spec.exchange),
                side=spec.side,
                quantity=child.quantity,
                order_type=OrderType.LIMIT,
                product=spec.product,
                price=price,
                tag=child.tag,
            )
        self._child_meta[child.child_id] = _ChildMeta(
            sent_at=self._clock.monotonic(), first_limit=price
        )
        try:
            order_id = await self._broker.place(request, priority=_priority(group))
        except BrokerNetworkError as error:
            # The broker adapter already looked for the tag; an unknown outcome is resolved by
            # reconciliation, never by sending again.
            child.status = OrderStatus.REJECTED
            self._journal_nowait(
                Entry(
                    kind="child.unknown",
                    group_id=group.group_id,
                    data={"child_id": child.child_id, "error": str(error)},
                )
            )
            self._alert(group, AlertSeverity.WARNING, f"{spec.tradingsymbol}: {error}")
            return
        except BrokerError as error:
            child.status = OrderStatus.REJECTED
            self._journal_nowait(
                Entry(
                    kind="child.rejected",
                    group_id=group.group_id,
                    data={"child_id": child.child_id, "error": str(error)},
                    state=("children", child.child_id, _child_row(group, child)),
                )
            )
            self._alert(group, AlertSeverity.WARNING, f"{spec.tradingsymbol} refused: {error}")
            self._wake[group.group_id].set()
            return
        self.orders_sent += 1
        child.order_id = child.order_id or order_id
        if child.status is None:
            child.status = OrderStatus.OPEN
        self._by_order_id[order_id] = (group.group_id, child.child_id)
        self._journal_nowait(
            Entry(
                kind="child.acked",
                group_id=group.group_id,
                data={"child_id": child.child_id, "order_id": order_id},
                state=("children", child.child_id, _child_row(group, child)),
            )
        )
        self._publish_group(group, f"{child.tag} sent")
        self._spawn(f"reread-{child.child_id}", self._reread(order_id))

    async def _cancel(self, group: OrderGroup, child: ChildOrder, reason: str) -> None:
        if child.order_id is None:
            return
        try:
            await self._broker.cancel(child.order_id, priority=_priority(group))
        except BrokerError as error:
            log.info("group %s: cancel of %s: %s", group.group_id, child.tag, error)
        await self._reread(child.order_id)
        self._journal_nowait(
            Entry(
                kind="child.cancel",
                group_id=group.group_id,
                data={"child_id": child.child_id, "reason": reason},
            )
        )

    # ---- state, journal, events -----------------------------------------------------------

    async def _transition(self, group: OrderGroup, to: GroupState, reason: str) -> None:
        before = group.state
        group.transition(to, self._clock.now(), reason)
        await self._journal.write(
            Entry(
                kind="group.transition",
                group_id=group.group_id,
                data={"from": str(before), "to": str(to), "reason": reason},
                state=("groups", group.group_id, self._row(group)),
            )
        )
        log.info("group %s: %s → %s (%s)", group.group_id, before, to, reason)
        self._publish_group(group, reason)
        self._wake[group.group_id].set()
        if to is GroupState.REJECTED or to is GroupState.NEEDS_ATTENTION:
            severity = (
                AlertSeverity.CRITICAL
                if to is GroupState.NEEDS_ATTENTION
                else (AlertSeverity.WARNING)
            )
            self._alert(group, severity, f"{to}: {reason}")

    async def _attention(self, group: OrderGroup, reason: str) -> None:
        if group.is_terminal or group.state is GroupState.NEEDS_ATTENTION:
            return
        if group.state in (GroupState.CREATED, GroupState.VALIDATED):
            # Nothing was sent yet: the group is simply refused.
            await self._transition(group, GroupState.REJECTED, reason)
            return
        await self._transition(group, GroupState.NEEDS_ATTENTION, reason)

    async def _journal_group(self, group: OrderGroup, kind: str) -> None:
        await self._journal.write(
            Entry(
                kind=kind,
                group_id=group.group_id,
                data=self._row(group),
                state=("groups", group.group_id, self._row(group)),
            )
        )

    def _row(self, group: OrderGroup) -> dict[str, Any]:
        return _group_row(group, self._unwind_legs.get(group.group_id, set()))

    def _journal_nowait(self, entry: Entry) -> None:
        future = self._journal.write_nowait(entry)
        future.add_done_callback(_log_journal_failure)

    def _publish_group(self, group: OrderGroup, detail: str) -> None:
        self._bus.publish(
            GroupChanged(
                at=self._clock.now(), group_id=group.group_id, state=str(group.state), detail=detail
            )
        )

    def _alert(self, group: OrderGroup | None, severity: AlertSeverity, message: str) -> None:
        alert_id = f"a{next(self._seq)}-{secrets.token_hex(3)}"
        title = f"group {group.group_id}" if group is not None else "exposure"
        self._journal_nowait(
            Entry(
                kind="alert",
                group_id=group.group_id if group else None,
                data={"severity": str(severity), "message": message},
                state=("alerts", alert_id, {"severity": str(severity), "message": message}),
            )
        )
        self._bus.publish(
            AlertRaised(
                at=self._clock.now(),
                alert_id=alert_id,
                severity=severity,
                title=title,
                message=message,
                source="coordinator",
            )
        )

    # ---- exposure and hedging -------------------------------------------------------------

    def _lines(self) -> list[PositionLine]:
        lines = [
            PositionLine(
                key=ExposureKey(
                    instrument.name, instrument.expiry, str(instrument.instrument_type)
                ),
                strike=instrument.strike,
                quantity=quantity,
                average_price=Paise(0),
            )
            for instrument, quantity in self.external.values()
            if instrument.expiry is not None and instrument.strike is not None
        ]
        for group in self.groups.values():
            for leg in group.legs:
                filled = leg.filled_quantity
                if not filled:
                    continue
                lines.append(
                    PositionLine(
                        key=_key(leg.spec),
                        strike=leg.spec.strike,
                        quantity=leg.spec.side.sign * filled,
                        average_price=leg.average_price,
                    )
                )
        return lines

    def _recompute_exposure(self) -> None:
        now = self._clock.monotonic()
        self.exposures = uncovered_by_key(_net_lines(self._lines()))
        self._timer.update(self.exposures, now)
        self._bus.publish(
            ExposureChanged(
                at=self._clock.now(),
                monotonic=now,
                exposures=tuple(self.exposures.values()),
                open_windows=tuple(self._timer.open_windows()),
            )
        )
        self._check_hedges(now)

    def _check_hedges(self, now: float) -> None:
        if self._closed:
            return
        shorts = self._shorts()
        working = self._working_hedges()
        watched = {k: v for k, v in self.exposures.items() if k not in self._accepted}
        for key, exposure in self.exposures.items():
            if key in self._accepted and exposure.uncovered_quantity == 0:
                self._accepted.discard(key)  # accepted until the exposure closes
        proposals = self._hedger.evaluate(
            watched, working, shorts, self._chain_of, self._ask_of, now
        )
        for proposal in proposals:
            auto = self.settings.hedge_policy is HedgePolicy.AUTO
            deadline = now + self.settings.hedge_countdown_s
            pending = _Pending(proposal, deadline)
            self._pending[proposal.proposal_id] = pending
            since = self._hedger.breach_since(proposal.key) or now
            self._bus.publish(
                HedgeProposed(
                    at=self._clock.now(),
                    proposal_id=proposal.proposal_id,
                    key=proposal.key,
                    uncovered_quantity=proposal.quantity,
                    unhedged_since=since,
                    remedies=proposal.remedies,
                    default_remedy=proposal.default_remedy,
                    deadline=None if auto else deadline,
                )
            )
            self._journal_nowait(
                Entry(
                    kind="hedge.proposed",
                    data={
                        "proposal_id": proposal.proposal_id,
                        "key": _key_text(proposal.key),
                        "quantity": proposal.quantity,
                        "policy": str(self.settings.hedge_policy),
                    },
                )
            )
            self._alert(
                None,
                AlertSeverity.CRITICAL,
                f"{_key_text(proposal.key)}: {proposal.quantity} short uncovered — "
                + ("hedging now" if auto else "hedge proposed"),
            )
            if auto:
                self._spawn(
                    f"hedge-{proposal.proposal_id}", self._send_hedge(pending, None, "auto")
                )
        for proposal_id, pending in list(self._pending.items()):
            if not pending.held and now >= pending.deadline:
                self._spawn(f"hedge-{proposal_id}", self._send_hedge(pending, None, "countdown"))

    async def _send_hedge(self, pending: _Pending, remedy: str | None, reason: str) -> None:
        proposal = pending.proposal
        if self._pending.pop(proposal.proposal_id, None) is None:
            return  # already sent or held
        exposure = self.exposures.get(proposal.key)
        working = self._working_hedges().get(proposal.key, 0)
        still = (exposure.uncovered_quantity if exposure else 0) - working
        if still <= 0:
            self._hedger.settled(proposal.key, proposal.quantity)
            self._bus.publish(
                HedgeResolved(
                    at=self._clock.now(),
                    proposal_id=proposal.proposal_id,
                    outcome="overtaken",
                    reason="the exposure closed",
                )
            )
            return
        name = remedy or proposal.default_remedy
        legs = proposal.legs.get(name) or next(iter(proposal.legs.values()))
        quantity = min(still, proposal.quantity)
        group = OrderGroup(
            group_id=f"H{secrets.token_hex(4)}",
            kind=GroupKind.HEDGE,
            legs=[],
            created_at=self._clock.now(),
        )
        left = quantity
        for instrument, leg_quantity in legs:
            take = min(left, leg_quantity)
            if take <= 0:
                break
            group.legs.append(Leg(spec=self._hedge_spec(instrument, take)))
            left -= take
        self._hedge_groups[group.group_id] = proposal.key
        self._hedger.settled(proposal.key, proposal.quantity)
        try:
            await self.submit(group)
        except GroupRejectedError as error:
            log.error("hedge %s rejected: %s", proposal.proposal_id, error)
            return
        self._bus.publish(
            HedgeResolved(
                at=self._clock.now(),
                proposal_id=proposal.proposal_id,
                outcome="sent",
                remedy=name,
                group_id=group.group_id,
                reason=reason,
            )
        )

    def _hedge_spec(self, instrument: Instrument, quantity: int) -> LegSpec:
        return LegSpec.for_instrument(
            instrument, LegRole.PROTECTION, quantity, self.settings.hedge_policy_price
        )

    def _working_hedges(self) -> dict[ExposureKey, int]:
        """Buy quantity working (sent, not yet filled) in hedge groups, per key."""
        working: dict[ExposureKey, int] = defaultdict(int)
        for group_id in self._hedge_groups:
            group = self.groups.get(group_id)
            if group is None:
                continue
            for leg in group.legs:
                if leg.spec.side is Side.BUY:
                    pending = (
                        leg.spec.quantity - leg.filled_quantity if not group.is_terminal else 0
                    )
                    working[_key(leg.spec)] += max(0, pending)
        return working

    def _shorts(self) -> list[ShortLine]:
        by_token: dict[int, ShortLine] = {}
        net: dict[int, int] = defaultdict(int)
        specs: dict[int, LegSpec] = {}
        for group in self.groups.values():
            for leg in group.legs:
                net[leg.spec.instrument_token] += leg.spec.side.sign * leg.filled_quantity
                specs[leg.spec.instrument_token] = leg.spec
        for token, (instrument, quantity) in self.external.items():
            net[token] += quantity
            if token not in specs and instrument.expiry is not None:
                specs[token] = self._hedge_spec(instrument, instrument.lot_size)
        for token, quantity in net.items():
            if quantity < 0:
                spec = specs[token]
                by_token[token] = ShortLine(
                    _key(spec), spec.strike, spec.tradingsymbol, token, -quantity
                )
        return list(by_token.values())

    def _chain_of(self, key: ExposureKey) -> OptionChain | None:
        try:
            return self._store.chain(key.underlying, key.expiry)
        except LookupError:
            return None

    def _ask_of(self, token: int) -> Paise | None:
        quote = self._quotes.get(token)
        return quote[1] if quote is not None else None

    def _on_tick(self, tick: Tick) -> None:
        self._quotes[tick.instrument_token] = (tick.bid, tick.ask, tick.last_price)
        self._quoted_at[tick.instrument_token] = tick.at
        if not self._closed:
            self._check_exit_rules(tick.instrument_token)

    async def _watchdog(self) -> None:
        while True:
            await asyncio.sleep(self.settings.watchdog_s)
            try:
                self._recompute_exposure()
                for stop in list(self.stops.values()):
                    if not stop.state.is_final:
                        await stop.poll()
            except Exception:
                log.exception("exposure watchdog failed; it keeps running")

    def _spawn(self, name: str, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


@dataclass(slots=True)
class _ChildMeta:
    sent_at: float
    first_limit: Paise | None = None
    step: int = 0
    moved_at: float = field(default=0.0)
    last_check: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.moved_at = self.moved_at or self.sent_at
        self.last_check = self.last_check or self.sent_at


def _log_journal_failure(future: asyncio.Future[int]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("journal write failed: %s", future.exception())


def _newer(child: ChildOrder, order: Order) -> bool:
    """Whether ``order`` is news for ``child``: fills never go backwards and a terminal state
    is final (late or duplicate updates are dropped)."""
    if order.filled_quantity < child.filled_quantity:
        return False
    if child.is_terminal and order.filled_quantity == child.filled_quantity:
        return False
    return not (order.status == child.status and order.filled_quantity == child.filled_quantity)


def _priority(group: OrderGroup) -> Priority:
    if group.kind is GroupKind.HEDGE:
        return Priority.EMERGENCY
    if group.kind is GroupKind.EXIT:
        return Priority.EXIT
    return Priority.ORDER


def _key(spec: LegSpec) -> ExposureKey:
    return ExposureKey(spec.underlying, spec.expiry, spec.right)


def _key_text(key: ExposureKey) -> str:
    return f"{key.underlying} {key.expiry:%d %b} {key.right}"


def _net_lines(lines: Iterable[PositionLine]) -> list[PositionLine]:
    """Net the lines per strike (an entry and its exit on one contract cancel out)."""
    net: dict[tuple[ExposureKey, Any], list[int]] = {}
    for line in lines:
        slot = net.setdefault((line.key, line.strike), [0, 0, 0])
        slot[0] += line.quantity
        slot[1] += abs(line.quantity) * int(line.average_price)
        slot[2] += abs(line.quantity)
    out = []
    for (key, strike), (quantity, value, units) in net.items():
        if quantity == 0:
            continue
        out.append(
            PositionLine(
                key=key,
                strike=strike,
                quantity=quantity,
                average_price=Paise(value // units if units else 0),
            )
        )
    return out


def _child_row(group: OrderGroup, child: ChildOrder) -> dict[str, Any]:
    spec = group.legs[child.leg_index].spec
    return {
        "child_id": child.child_id,
        "group_id": group.group_id,
        "leg_index": child.leg_index,
        "seq": child.seq,
        "tag": child.tag,
        "tradingsymbol": spec.tradingsymbol,
        "side": str(spec.side),
        "quantity": child.quantity,
        "price": int(child.price) if child.price is not None else None,
        "order_id": child.order_id,
        "status": str(child.status) if child.status is not None else None,
        "filled_quantity": child.filled_quantity,
        "average_price": int(child.average_price),
    }


def _group_row(
    group: OrderGroup, unwind: set[int] | frozenset[int] = frozenset()
) -> dict[str, Any]:
    """Everything :func:`cockpit.execution.restore.restore_group` needs to rebuild the group."""
    rules = group.exit_rules
    return {
        "group_id": group.group_id,
        "kind": str(group.kind),
        "state": str(group.state),
        "created_at": group.created_at.isoformat(),
        "parent_id": group.parent_id,
        "exit_rules": None
        if rules is None
        else {
            "target_pct_of_credit": rules.target_pct_of_credit,
            "stop_pct_of_credit": rules.stop_pct_of_credit,
        },
        "legs": [
            {
                "role": str(leg.spec.role),
                "side": str(leg.spec.side),
                "tradingsymbol": leg.spec.tradingsymbol,
                "instrument_token": leg.spec.instrument_token,
                "exchange": leg.spec.exchange,
                "underlying": leg.spec.underlying,
                "expiry": leg.spec.expiry.isoformat(),
                "strike": str(leg.spec.strike),
                "right": leg.spec.right,
                "lot_size": leg.spec.lot_size,
                "tick_size_paise": leg.spec.tick_size_paise,
                "freeze_quantity": leg.spec.freeze_quantity,
                "product": str(leg.spec.product),
                "price_policy": policy_row(leg.spec.price_policy),
                "quantity": leg.spec.quantity,
                "filled_quantity": leg.filled_quantity,
                "unwind": index in unwind,
            }
            for index, leg in enumerate(group.legs)
        ],
    }


def _stop_row(stop: HybridStopLoss) -> dict[str, Any]:
    spec, config = stop.spec, stop.config
    return {
        "tag": spec.tag,
        "tradingsymbol": spec.tradingsymbol,
        "exchange": str(spec.exchange),
        "side": str(spec.side),
        "quantity": spec.quantity,
        "trigger_paise": int(spec.trigger),
        "tick_size_paise": spec.tick_size_paise,
        "product": str(spec.product),
        "limit_buffer_pct": str(config.limit_buffer_pct),
        "fallback_after_s": config.fallback_after_s,
        "market_protection": config.market_protection,
        "confirm_timeout_s": config.confirm_timeout_s,
        "state": str(stop.state),
        "filled_quantity": stop.filled_quantity,
        "orders": list(stop.orders),
    }


def _stop_from_row(row: dict[str, Any]) -> tuple[StopSpec, StopLossConfig]:
    spec = StopSpec(
        tradingsymbol=str(row["tradingsymbol"]),
        exchange=Exchange(row["exchange"]),
        side=Side(row["side"]),
        quantity=int(row["quantity"]),
        trigger=Paise(int(row["trigger_paise"])),
        tick_size_paise=int(row["tick_size_paise"]),
        product=Product(row["product"]),
        tag=str(row["tag"]),
    )
    config = StopLossConfig(
        limit_buffer_pct=Decimal(row["limit_buffer_pct"]),
        fallback_after_s=float(row["fallback_after_s"]),
        market_protection=int(row["market_protection"]),
        confirm_timeout_s=float(row["confirm_timeout_s"]),
    )
    return spec, config
