"""Order groups: the legs Cockpit sends together, their child orders and the group's lifecycle.

This module is responsible for what an order group *is* and which states it may move
through: :class:`LegSpec` (one leg as the trader asked for it, checked for whole lots, tick
and role), :class:`ChildOrder` (one order actually sent for a leg, after freeze-limit
slicing, with what the broker said of it), :class:`Leg` (a spec and its children, with
filled / working / not-yet-sent quantities), :class:`OrderGroup` (the legs, the state and a
journal-ready history of :class:`StateChange`) and the one :data:`TRANSITIONS` table every
state change is checked against; :class:`PricePolicy` says how a leg's limit price is set and
chased, :class:`ExitRules` when a credit spread is taken off. It sends nothing and reads no
clock: the coordinator owns the groups and passes the time in.

Roles. A leg's role says what it does to short exposure, so every kind of group runs the same
way: **PROTECTION legs buy** (they open a long that covers a short, or buy a short back) and
always go first; **RISK legs sell** (they open a short, or sell away a long that covered one)
and are released only pro rata to the protection actually filled
(:func:`cockpit.execution.slicing.risk_release`). An option purchase can never create naked
short exposure and a sale can, so :class:`LegSpec` refuses a SELL marked PROTECTION or a BUY
marked RISK.

The states each kind uses (:data:`KIND_STATES`, enforced by :meth:`OrderGroup.transition`):

- ENTRY opens a position: buy protection (PROTECTION_WORKING), release the shorts in tranches
  as it fills (PROTECTION_FILLED ⇄ RISK_WORKING), COMPLETE. A failure before any short fills
  ends FLAT (nothing filled) or UNWINDING → FLAT (sell back what filled); a short that got
  ahead of its protection is EMERGENCY_HEDGING. Every state is open to it.
- EXIT closes one in reverse: its PROTECTION legs are the buy-backs of the shorts and go
  first; its RISK legs sell the longs and are released only as the buy-backs fill. Same path
  as an entry, but an EXIT group never enters UNWINDING: unwinding an exit would sell the
  shorts again, re-opening the risk the trader is closing. If it cannot finish it goes to
  NEEDS_ATTENTION (leftover longs are safe); nothing filled ends FLAT (the group changed
  nothing). It may be EMERGENCY_HEDGING if a breach shows on its contracts while it works.
- HEDGE buys protection for a breach (its ``parent_id`` is the group or alert it covers): it
  has PROTECTION legs only and uses CREATED → VALIDATED → PROTECTION_WORKING →
  PROTECTION_FILLED → COMPLETE, or FLAT (nothing filled) / REJECTED / NEEDS_ATTENTION. It may
  pass through RISK_WORKING on the way to COMPLETE (it has no risk legs, so nothing works
  there), which lets a coordinator drive every kind along one path. It never unwinds (selling
  a hedge back re-opens the naked short) and never hedges itself.

Refinements of the lifecycle in ARCHITECTURE.md, each for the reason given: PROTECTION_FILLED
→ COMPLETE, for a group with no risk legs (every HEDGE, an exit that only buys shorts back,
a single-leg buy), which is done once its protection fills; PROTECTION_FILLED → UNWINDING,
when the risk cannot be sent (no two-sided market to price it, a pre-send check or the kill
switch stops it, the trader cancels) and the filled protection is sold back; PROTECTION_FILLED
→ NEEDS_ATTENTION, as from every working state, when the coordinator cannot tell what
happened. Two edges are guarded by the group's shape: VALIDATED → RISK_WORKING only for a
group without protection legs (otherwise shorts would go first) and PROTECTION_FILLED →
COMPLETE only for a group without risk legs. Every transition out of NEEDS_ATTENTION is a
**manual override**: the trader chose it, and its ``reason`` must say so; the coordinator
never leaves NEEDS_ATTENTION on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

from cockpit.domain.instruments import Exchange, Instrument
from cockpit.domain.money import Paise
from cockpit.domain.orders import MAX_TAG_LENGTH, NO_PAISE, OrderStatus, Product, Side


class LegRole(StrEnum):
    """PROTECTION legs buy and go first; RISK legs sell and follow the protection filled."""

    PROTECTION = "protection"
    RISK = "risk"

    @property
    def side(self) -> Side:
        """The only side a leg of this role may take."""
        return Side.BUY if self is LegRole.PROTECTION else Side.SELL


class GroupKind(StrEnum):
    ENTRY = "entry"
    EXIT = "exit"
    HEDGE = "hedge"


class GroupState(StrEnum):
    CREATED = "created"
    VALIDATED = "validated"
    PROTECTION_WORKING = "protection_working"
    PROTECTION_FILLED = "protection_filled"
    RISK_WORKING = "risk_working"
    COMPLETE = "complete"
    EMERGENCY_HEDGING = "emergency_hedging"
    UNWINDING = "unwinding"
    FLAT = "flat"
    REJECTED = "rejected"
    NEEDS_ATTENTION = "needs_attention"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES


_S = GroupState

TRANSITIONS: Mapping[GroupState, frozenset[GroupState]] = MappingProxyType(
    {
        _S.CREATED: frozenset({_S.VALIDATED, _S.REJECTED}),
        # RISK_WORKING directly: only a group with no protection legs (guarded).
        _S.VALIDATED: frozenset({_S.PROTECTION_WORKING, _S.RISK_WORKING, _S.REJECTED}),
        # FLAT: nothing filled, nothing to unwind. UNWINDING: some protection filled, sell it.
        _S.PROTECTION_WORKING: frozenset(
            {_S.PROTECTION_FILLED, _S.UNWINDING, _S.FLAT, _S.NEEDS_ATTENTION}
        ),
        # COMPLETE: a group with no risk legs (guarded). UNWINDING: the risk cannot be sent.
        _S.PROTECTION_FILLED: frozenset(
            {_S.RISK_WORKING, _S.COMPLETE, _S.UNWINDING, _S.NEEDS_ATTENTION}
        ),
        # PROTECTION_FILLED again: more protection filled, release the next risk tranche.
        _S.RISK_WORKING: frozenset(
            {
                _S.COMPLETE,
                _S.EMERGENCY_HEDGING,
                _S.UNWINDING,
                _S.NEEDS_ATTENTION,
                _S.PROTECTION_FILLED,
            }
        ),
        # RISK_WORKING: hedged, the remaining risk may be worked again.
        _S.EMERGENCY_HEDGING: frozenset(
            {_S.COMPLETE, _S.UNWINDING, _S.NEEDS_ATTENTION, _S.RISK_WORKING}
        ),
        _S.UNWINDING: frozenset({_S.FLAT, _S.NEEDS_ATTENTION}),
        # Manual override only: the trader decides how a group leaves NEEDS_ATTENTION.
        _S.NEEDS_ATTENTION: frozenset({_S.COMPLETE, _S.FLAT, _S.UNWINDING, _S.EMERGENCY_HEDGING}),
        _S.COMPLETE: frozenset(),
        _S.FLAT: frozenset(),
        _S.REJECTED: frozenset(),
    }
)
"""The one table of allowed state changes: state → the states it may move to."""

TERMINAL_STATES: frozenset[GroupState] = frozenset({_S.COMPLETE, _S.FLAT, _S.REJECTED})

MANUAL_OVERRIDE_STATES: frozenset[GroupState] = frozenset({_S.NEEDS_ATTENTION})
"""States a group leaves only by the trader's explicit, journalled decision."""

KIND_STATES: Mapping[GroupKind, frozenset[GroupState]] = MappingProxyType(
    {
        GroupKind.ENTRY: frozenset(GroupState),
        # Unwinding an exit would sell the shorts again.
        GroupKind.EXIT: frozenset(GroupState) - {_S.UNWINDING},
        # A hedge only buys: it never unwinds (that re-opens the short) nor hedges itself.
        GroupKind.HEDGE: frozenset(GroupState) - {_S.EMERGENCY_HEDGING, _S.UNWINDING},
    }
)
"""The states a group of each kind may be in (see the module docstring)."""


# Where a malformed group may still go: refused, given up with nothing done, or to the trader.
_WAY_OUT = frozenset({_S.REJECTED, _S.FLAT, _S.NEEDS_ATTENTION})


class IllegalTransitionError(ValueError):
    """A state change the lifecycle does not allow; journalled as an alert by the caller."""

    def __init__(
        self,
        group_id: str,
        before: GroupState,
        after: GroupState,
        allowed: frozenset[GroupState],
        why: str = "",
    ) -> None:
        listed = ", ".join(sorted(allowed)) if allowed else "none"
        if before in TERMINAL_STATES:
            listed += f" — {before} is terminal"
        note = f"; {why}" if why else ""
        super().__init__(
            f"group {group_id}: {before} → {after} is not allowed (allowed: {listed}){note}"
        )
        self.group_id = group_id
        self.before = before
        self.after = after
        self.allowed = allowed


class UnknownChildError(KeyError):
    """A child order id or object that is not part of the group."""

    def __str__(self) -> str:
        # KeyError quotes its argument; the message is meant to be read as a sentence.
        return str(self.args[0]) if self.args else ""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _require_aware(value: object, what: str) -> None:
    if not isinstance(value, datetime):
        raise ValueError(f"{what} must be a datetime, got {type(value).__name__} {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {value.isoformat()}")


def _require_tick(tick: int) -> None:
    if not _is_int(tick) or tick <= 0:
        raise ValueError(f"tick must be a positive number of paise, got {tick!r}")


@dataclass(frozen=True, slots=True)
class PricePolicy:
    """How a leg's limit price is set from the market and chased while it works.

    The first limit is the mid ± ``offset_ticks`` toward the other side of the book (a buy
    pays up from the mid, a sell gives down), put on the tick grid in our favour only (a buy
    rounds down, a sell up). A working order is repriced up to ``chase_steps`` times, every
    ``chase_every_s`` seconds, each time ``chase_step_ticks`` further toward crossing, never
    more than ``max_chase_ticks`` beyond the first limit.
    """

    offset_ticks: int = 0
    chase_steps: int = 3
    chase_every_s: float = 1.0
    chase_step_ticks: int = 2
    max_chase_ticks: int = 10

    def __post_init__(self) -> None:
        for name in ("offset_ticks", "chase_steps", "chase_step_ticks", "max_chase_ticks"):
            value = getattr(self, name)
            if not _is_int(value) or value < 0:
                raise ValueError(f"price policy: {name} must be a whole number ≥ 0, got {value!r}")
        every = self.chase_every_s
        if isinstance(every, bool) or not isinstance(every, int | float) or not 0 < every < 1e9:
            raise ValueError(
                f"price policy: chase_every_s must be a positive number of seconds, got {every!r}"
            )

    def first_limit(
        self, side: Side, bid: Paise | None, ask: Paise | None, tick: int
    ) -> Paise | None:
        """The opening limit price, or None when there is no two-sided market (a side of the
        book is empty, or bid > ask)."""
        _require_tick(tick)
        if bid is None or ask is None or bid <= 0 or ask <= 0 or bid > ask:
            return None
        # Twice the price, so a mid between two paise stays exact.
        twice = bid + ask + 2 * side.sign * self.offset_ticks * tick
        halves = 2 * tick
        # Floor for a buy, ceiling for a sell: rounding only ever improves our price.
        limit = twice // halves * tick if side is Side.BUY else -(-twice // halves) * tick
        return Paise(max(limit, tick))

    def chased_limit(self, side: Side, first: Paise, step: int, tick: int) -> Paise | None:
        """The limit for chase ``step`` (1 … ``chase_steps``), or None when the steps are used
        up or the limit can move no further (the ``max_chase_ticks`` bound, or a sell already
        at the lowest price of one tick)."""
        _require_tick(tick)
        if not _is_int(step) or step < 1:
            raise ValueError(f"chase step must be 1 or more, got {step!r}")
        if not _is_int(first) or first <= 0 or first % tick:
            raise ValueError(
                f"first limit {first!r} must be a positive price on the {tick}-paise grid"
            )
        if step > self.chase_steps:
            return None
        price = self._chase_price(side, first, step, tick)
        if price == self._chase_price(side, first, step - 1, tick):
            return None
        return price

    def _chase_price(self, side: Side, first: Paise, step: int, tick: int) -> Paise:
        ticks = min(step * self.chase_step_ticks, self.max_chase_ticks)
        return Paise(max(first + side.sign * ticks * tick, tick))


@dataclass(frozen=True, slots=True)
class ExitRules:
    """When a credit spread is taken off, as percentages of the credit received.

    Target: the spread can be bought back for at most ``target_pct_of_credit`` % of the credit
    (50: half the credit kept). Stop: the loss (cost to close − credit) is at least
    ``stop_pct_of_credit`` % of the credit. Both compare exact integer paise.
    """

    target_pct_of_credit: int = 50
    stop_pct_of_credit: int = 100

    def __post_init__(self) -> None:
        target, stop = self.target_pct_of_credit, self.stop_pct_of_credit
        if not _is_int(target) or not 0 <= target < 100:
            raise ValueError(f"exit rules: target must be 0 to 99 % of the credit, got {target!r}")
        if not _is_int(stop) or stop <= 0:
            raise ValueError(f"exit rules: stop must be a positive % of the credit, got {stop!r}")

    def target_hit(self, credit: Paise, cost_to_close: Paise) -> bool:
        """True when buying the spread back for ``cost_to_close`` keeps the target profit."""
        _require_credit(credit)
        return cost_to_close * 100 <= credit * self.target_pct_of_credit

    def stop_hit(self, credit: Paise, cost_to_close: Paise) -> bool:
        """True when closing for ``cost_to_close`` loses at least the stop share of the credit."""
        _require_credit(credit)
        return (cost_to_close - credit) * 100 >= credit * self.stop_pct_of_credit


def _require_credit(credit: Paise) -> None:
    if not _is_int(credit) or credit <= 0:
        raise ValueError(f"exit rules apply to a credit received; got {credit!r} paise")


@dataclass(frozen=True, slots=True)
class LegSpec:
    """One leg as the trader asked for it: the contract, the side, the size in units.

    ``quantity`` is whole lots in units (65 for one FINNIFTY lot; 0 only for a risk leg cut
    back to the protection that filled — a trader's order of 0 is the coordinator's to refuse);
    ``freeze_quantity`` is the
    exchange's largest single order, None if unknown; ``right`` is ``"CE"`` or ``"PE"`` and
    ``exchange`` a Kite exchange (``"NFO"``). The role must match the side (module docstring).
    """

    role: LegRole
    side: Side
    tradingsymbol: str
    instrument_token: int
    exchange: str
    underlying: str
    expiry: date
    strike: Decimal
    right: str
    lot_size: int
    tick_size_paise: int
    freeze_quantity: int | None
    quantity: int
    product: Product = Product.NRML
    price_policy: PricePolicy = PricePolicy()

    @classmethod
    def for_instrument(
        cls,
        instrument: Instrument,
        role: LegRole,
        quantity: int,
        price_policy: PricePolicy | None = None,
    ) -> LegSpec:
        """The leg of ``role`` (its side follows the role) in an option from the dump."""
        if instrument.expiry is None or instrument.strike is None:
            raise ValueError(f"{instrument.tradingsymbol}: a leg needs an option with an expiry")
        return cls(
            role=role,
            side=role.side,
            tradingsymbol=instrument.tradingsymbol,
            instrument_token=instrument.instrument_token,
            exchange=str(instrument.exchange),
            underlying=instrument.name,
            expiry=instrument.expiry,
            strike=instrument.strike,
            right=str(instrument.instrument_type),
            lot_size=instrument.lot_size,
            tick_size_paise=instrument.tick_size_paise,
            freeze_quantity=instrument.freeze_quantity,
            quantity=quantity,
            price_policy=price_policy or PricePolicy(),
        )

    def __post_init__(self) -> None:
        symbol = self.tradingsymbol
        if not isinstance(symbol, str) or not symbol:
            raise ValueError(f"leg: tradingsymbol must be given, got {symbol!r}")

        def fail(message: str) -> ValueError:
            return ValueError(f"leg {symbol}: {message}")

        if not isinstance(self.role, LegRole):
            raise fail(f"role must be a LegRole, got {self.role!r}")
        if not isinstance(self.side, Side):
            raise fail(f"side must be a Side, got {self.side!r}")
        if self.side is not self.role.side:
            raise fail(
                f"a {self.role} leg must {self.role.side}, got {self.side} "
                "(protection buys and goes first; risk sells and follows the protection filled)"
            )
        if not _is_int(self.instrument_token) or self.instrument_token <= 0:
            raise fail(f"instrument_token must be positive, got {self.instrument_token!r}")
        if self.exchange not in set(Exchange):
            raise fail(f"exchange {self.exchange!r} is not a Kite exchange")
        if not isinstance(self.underlying, str) or not self.underlying:
            raise fail(f"underlying must be given, got {self.underlying!r}")
        if not isinstance(self.expiry, date) or isinstance(self.expiry, datetime):
            raise fail(f"expiry must be a date, got {self.expiry!r}")
        if not isinstance(self.strike, Decimal) or not self.strike.is_finite() or self.strike <= 0:
            raise fail(f"strike must be a positive Decimal, got {self.strike!r}")
        if self.right not in ("CE", "PE"):
            raise fail(f"right must be CE or PE, got {self.right!r}")
        if not _is_int(self.lot_size) or self.lot_size <= 0:
            raise fail(f"lot size must be positive, got {self.lot_size!r}")
        if not _is_int(self.tick_size_paise) or self.tick_size_paise <= 0:
            raise fail(f"tick size must be positive paise, got {self.tick_size_paise!r}")
        freeze = self.freeze_quantity
        if freeze is not None and (not _is_int(freeze) or freeze < self.lot_size):
            raise fail(f"freeze quantity {freeze!r} is below one lot of {self.lot_size}")
        quantity = self.quantity
        if not _is_int(quantity) or quantity < 0:
            raise fail(f"quantity must be a whole number ≥ 0, got {quantity!r}")
        if quantity % self.lot_size:
            raise fail(
                f"quantity {quantity} is not a whole number of lots of {self.lot_size} "
                f"(nearest: {quantity // self.lot_size * self.lot_size or self.lot_size})"
            )
        if not isinstance(self.product, Product):
            raise fail(f"product must be a Product, got {self.product!r}")
        if not isinstance(self.price_policy, PricePolicy):
            raise fail(f"price_policy must be a PricePolicy, got {self.price_policy!r}")

    @property
    def lots(self) -> int:
        return self.quantity // self.lot_size

    @property
    def signed_quantity(self) -> int:
        return self.side.sign * self.quantity

    @property
    def contract_key(self) -> tuple[str, date, str]:
        """(underlying, expiry, right): the key the hedged invariant is checked on."""
        return (self.underlying, self.expiry, self.right)


@dataclass(slots=True)
class ChildOrder:
    """One order sent (or about to be sent) for a leg: a slice of it no larger than the
    freeze limit. ``tag`` is the client tag it is found by after a crash (Kite's rules:
    alphanumeric, at most 20 characters). ``sent`` is set before the intent leaves, so an
    order the broker may have received is never counted as not yet sent."""

    child_id: str
    leg_index: int
    seq: int
    tag: str
    quantity: int
    price: Paise | None = None
    order_id: str | None = None
    status: OrderStatus | None = None
    filled_quantity: int = 0
    average_price: Paise = NO_PAISE
    sent: bool = False

    def __post_init__(self) -> None:
        where = f"child order {self.child_id!r}"
        if not isinstance(self.child_id, str) or not self.child_id:
            raise ValueError(f"child order: child_id must be given, got {self.child_id!r}")
        for name in ("leg_index", "seq"):
            value = getattr(self, name)
            if not _is_int(value) or value < 0:
                raise ValueError(f"{where}: {name} must be a whole number ≥ 0, got {value!r}")
        tag = self.tag
        if (
            not isinstance(tag, str)
            or not tag
            or len(tag) > MAX_TAG_LENGTH
            or not (tag.isascii() and tag.isalnum())
        ):
            raise ValueError(
                f"{where}: tag {tag!r} must be 1 to {MAX_TAG_LENGTH} letters and digits "
                "(Kite's rule)"
            )
        if not _is_int(self.quantity) or self.quantity <= 0:
            raise ValueError(f"{where}: quantity must be positive, got {self.quantity!r}")
        if not _is_int(self.filled_quantity) or not 0 <= self.filled_quantity <= self.quantity:
            raise ValueError(
                f"{where}: filled quantity {self.filled_quantity!r} must be 0 to {self.quantity}"
            )

    @property
    def is_terminal(self) -> bool:
        """The broker said COMPLETE, CANCELLED or REJECTED: it will never fill again."""
        return self.status is not None and self.status.is_terminal

    @property
    def is_working(self) -> bool:
        """Sent and not terminal: its unfilled quantity may still fill."""
        return self.sent and not self.is_terminal

    @property
    def remaining(self) -> int:
        """Quantity that may still fill: the unfilled part of a working child, else 0."""
        return self.quantity - self.filled_quantity if self.is_working else 0

    @property
    def filled_value(self) -> int:
        """Paise paid or received for the filled quantity (average × filled)."""
        return self.average_price * self.filled_quantity


@dataclass(slots=True)
class Leg:
    """A leg's spec and the child orders sent for it."""

    spec: LegSpec
    children: list[ChildOrder] = field(default_factory=list)

    @property
    def filled_quantity(self) -> int:
        return sum(c.filled_quantity for c in self.children)

    @property
    def working_quantity(self) -> int:
        """Unfilled quantity of working children: it may still fill."""
        return sum(c.remaining for c in self.children)

    @property
    def released_quantity(self) -> int:
        """Filled plus working: what has gone to the broker and still counts (the
        ``already_released`` of :func:`cockpit.execution.slicing.risk_release`)."""
        return self.filled_quantity + self.working_quantity

    @property
    def open_quantity(self) -> int:
        """Not yet sent: the spec's quantity less filled and working. Includes the unfilled
        part of children that ended (cancelled, rejected); negative only if children were
        over-allocated, which is a bug the caller should see."""
        return self.spec.quantity - self.filled_quantity - self.working_quantity

    @property
    def is_filled(self) -> bool:
        return self.filled_quantity >= self.spec.quantity

    @property
    def signed_filled(self) -> int:
        """Filled quantity with the side's sign: + bought, − sold."""
        return self.spec.side.sign * self.filled_quantity

    @property
    def filled_value(self) -> int:
        """Paise paid (buy) or received (sell) for everything filled, exact."""
        return sum(c.filled_value for c in self.children)

    @property
    def average_price(self) -> Paise:
        """Fill-weighted average price in paise, half a paisa rounded up; 0 before a fill."""
        filled = self.filled_quantity
        if filled == 0:
            return Paise(0)
        return Paise((2 * self.filled_value + filled) // (2 * filled))


@dataclass(frozen=True, slots=True)
class StateChange:
    """One transition of a group, as journalled."""

    at: datetime
    before: GroupState
    after: GroupState
    reason: str = ""


@dataclass(slots=True)
class OrderGroup:
    """Legs sent together under one lifecycle, owned by the coordinator.

    ``state`` may be given (a group recovered from the journal) but must be one its kind
    uses; thereafter it changes only through :meth:`transition`. ``legs`` may start empty and
    be appended to before the group is submitted; the coordinator's checks refuse an empty
    group.
    """

    group_id: str
    kind: GroupKind
    legs: list[Leg]
    created_at: datetime
    state: GroupState = GroupState.CREATED
    parent_id: str | None = None
    exit_rules: ExitRules | None = None
    history: list[StateChange] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not isinstance(self.group_id, str) or not self.group_id:
            raise ValueError(f"order group: group_id must be given, got {self.group_id!r}")
        where = f"group {self.group_id}"
        if not isinstance(self.kind, GroupKind):
            raise ValueError(f"{where}: kind must be a GroupKind, got {self.kind!r}")
        if not isinstance(self.state, GroupState):
            raise ValueError(f"{where}: state must be a GroupState, got {self.state!r}")
        _require_aware(self.created_at, f"{where}: created_at")
        if self.state not in KIND_STATES[self.kind]:
            raise ValueError(f"{where}: {self.kind} groups are never {self.state}")
        if self.kind is GroupKind.HEDGE and self.risk_legs:
            symbols = ", ".join(leg.spec.tradingsymbol for _, leg in self.risk_legs)
            raise ValueError(f"{where}: a hedge group only buys; it has risk legs {symbols}")
        seen: set[str] = set()
        for index, leg in enumerate(self.legs):
            for child in leg.children:
                if child.leg_index != index:
                    raise ValueError(
                        f"{where}: child {child.child_id} is under leg {index} but says "
                        f"leg {child.leg_index}"
                    )
                if child.child_id in seen:
                    raise ValueError(f"{where}: child id {child.child_id} repeats")
                seen.add(child.child_id)

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def protection_legs(self) -> list[tuple[int, Leg]]:
        return [(i, leg) for i, leg in enumerate(self.legs) if leg.spec.role is LegRole.PROTECTION]

    @property
    def risk_legs(self) -> list[tuple[int, Leg]]:
        return [(i, leg) for i, leg in enumerate(self.legs) if leg.spec.role is LegRole.RISK]

    def protection_for(self, leg_index: int) -> list[tuple[int, Leg]]:
        """The protection legs on the same (underlying, expiry, right) as leg ``leg_index``:
        the ones whose fills release that risk leg."""
        key = self.legs[leg_index].spec.contract_key
        return [(i, leg) for i, leg in self.protection_legs if leg.spec.contract_key == key]

    @property
    def credit(self) -> Paise:
        """Premium received less premium paid over what has filled (positive for a credit
        spread), exact paise."""
        return Paise(sum(-leg.spec.side.sign * leg.filled_value for leg in self.legs))

    @property
    def allowed_next(self) -> frozenset[GroupState]:
        """The states this group may move to now: :data:`TRANSITIONS` narrowed to its kind
        and shape."""
        return frozenset(s for s in TRANSITIONS[self.state] if not self._refusal(s))

    def can_transition(self, to: GroupState) -> bool:
        return to in self.allowed_next

    def _refusal(self, to: GroupState) -> str:
        """Why ``to`` is refused beyond the table ('' if it is not)."""
        if to not in KIND_STATES[self.kind]:
            return f"{self.kind} groups never enter {to}"
        if self.kind is GroupKind.HEDGE and self.risk_legs and to not in _WAY_OUT:
            return "a hedge group only buys, but it has risk legs"
        if self.state is _S.VALIDATED and to is _S.RISK_WORKING and self.protection_legs:
            return "it has protection legs, which must go before any risk"
        if self.state is _S.PROTECTION_FILLED and to is _S.COMPLETE and self.risk_legs:
            return "it has risk legs still to work"
        return ""

    def transition(self, to: GroupState, at: datetime, reason: str = "") -> StateChange:
        """Move to ``to`` at ``at`` (timezone-aware) and record it; raises
        :class:`IllegalTransitionError` (state unchanged) if the lifecycle does not allow it."""
        to = GroupState(to)
        _require_aware(at, f"group {self.group_id}: transition time")
        if to not in TRANSITIONS[self.state]:
            raise IllegalTransitionError(self.group_id, self.state, to, self.allowed_next)
        why = self._refusal(to)
        if why:
            raise IllegalTransitionError(self.group_id, self.state, to, self.allowed_next, why)
        change = StateChange(at=at, before=self.state, after=to, reason=reason)
        self.state = to
        self.history.append(change)
        return change

    def child(self, child_id: str) -> ChildOrder:
        for leg in self.legs:
            for child in leg.children:
                if child.child_id == child_id:
                    return child
        raise UnknownChildError(f"group {self.group_id} has no child order {child_id}")

    def leg_of(self, child: ChildOrder) -> Leg:
        index = child.leg_index
        if 0 <= index < len(self.legs) and any(c is child for c in self.legs[index].children):
            return self.legs[index]
        raise UnknownChildError(
            f"child order {child.child_id} is not one of group {self.group_id}'s"
        )
