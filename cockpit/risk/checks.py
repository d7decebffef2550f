"""Pre-trade checks: whether an order group may leave VALIDATED, and if not, why, in numbers.

This module is responsible for the checks run on an :class:`~cockpit.domain.groups.OrderGroup`
before its first order leaves: whole lots of the contract's current lot size, freeze-limit
slicing that is possible and not absurdly many orders, the market open, margin (with a buffer)
within the funds available, the group's and the day's worst loss within their limits, the
broker's order-rate budget, and the expiry-day rule. :func:`pre_trade_checks` takes the group,
a :class:`CheckContext` of what the caller knows now (time, calendar, funds, margin estimate,
the day's P&L, the rate budget) and :class:`RiskLimits`, and returns every
:class:`CheckFailure`, each naming what was wrong and the figures. HARD failures (the exchange
or the broker would refuse, or the funds are not there) cannot be overridden; SOFT ones are
the trader's own limits, which :func:`apply_override` lifts given a written reason. The limits
that exist to stop *new* risk (group and day loss, the expiry-day rule) apply to ENTRY groups
only: blocking an exit or a hedge would keep the trader in the risk the limit is there to cut.
It reads no clock and sends nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, time
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum

from cockpit.clock import IST
from cockpit.domain.calendar import TradingCalendar
from cockpit.domain.groups import GroupKind, GroupState, Leg, LegRole, OrderGroup
from cockpit.domain.instruments import Instrument
from cockpit.domain.money import Paise, format_inr
from cockpit.domain.orders import NO_PAISE
from cockpit.execution.slicing import slice_by_freeze_limit


class CheckCode(StrEnum):
    NO_LEGS = "no_legs"
    UNKNOWN_INSTRUMENT = "unknown_instrument"
    LOT_MULTIPLE = "lot_multiple"
    FREEZE_SLICING = "freeze_slicing"
    TOO_MANY_SLICES = "too_many_slices"
    MARKET_CLOSED = "market_closed"
    MARGIN_EXCEEDS_FUNDS = "margin_exceeds_funds"
    MARGIN_BUFFER = "margin_buffer"
    GROUP_MAX_LOSS = "group_max_loss"
    DAY_LOSS_LIMIT = "day_loss_limit"
    RATE_BUDGET_DAY = "rate_budget_day"
    RATE_BUDGET_MINUTE = "rate_budget_minute"
    EXPIRY_DAY = "expiry_day"


HARD_CODES: frozenset[CheckCode] = frozenset(
    {
        CheckCode.NO_LEGS,
        CheckCode.UNKNOWN_INSTRUMENT,
        CheckCode.LOT_MULTIPLE,
        CheckCode.FREEZE_SLICING,
        CheckCode.TOO_MANY_SLICES,
        CheckCode.MARKET_CLOSED,
        CheckCode.MARGIN_EXCEEDS_FUNDS,
        # The day's order count does not refill: orders beyond it bounce off the broker midway
        # through the group, leaving its legs half done. No reason makes that acceptable.
        CheckCode.RATE_BUDGET_DAY,
    }
)
"""Failures no override lifts: the exchange or broker would refuse, or the money is not there."""


class ExpiryDayRule(StrEnum):
    """What an ENTRY group may do on a contract that expires today."""

    ALLOW = "allow"
    NO_SHORT_AFTER_CUTOFF = "no_short_after_cutoff"  # no new short from the cutoff time on
    NO_ENTRY = "no_entry"  # no entry on an expiring contract all day


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """The trader's limits. Money in paise; None means no limit. ``margin_buffer_pct`` is
    added on top of the margin required (margin rises intraday with SPAN revisions and
    premium moves); ``max_slices_per_leg`` caps freeze-limit slicing (a fat-finger guard);
    ``rate_reserve_orders`` is kept free in the rate budget for exits and emergency hedges."""

    margin_buffer_pct: Decimal = Decimal(10)
    max_loss_per_group: Paise | None = None
    max_loss_per_day: Paise | None = None
    max_slices_per_leg: int = 10
    rate_reserve_orders: int = 10
    expiry_day_rule: ExpiryDayRule = ExpiryDayRule.NO_SHORT_AFTER_CUTOFF
    expiry_day_cutoff: time = time(14, 30)

    def __post_init__(self) -> None:
        pct = self.margin_buffer_pct
        if not isinstance(pct, Decimal) or not pct.is_finite() or pct < 0:
            raise ValueError(f"risk limits: margin_buffer_pct must be a Decimal ≥ 0, got {pct!r}")
        for name in ("max_loss_per_group", "max_loss_per_day"):
            value = getattr(self, name)
            if value is not None and (not _is_int(value) or value < 0):
                raise ValueError(f"risk limits: {name} must be paise ≥ 0 or None, got {value!r}")
        if not _is_int(self.max_slices_per_leg) or self.max_slices_per_leg < 1:
            raise ValueError(
                f"risk limits: max_slices_per_leg must be ≥ 1, got {self.max_slices_per_leg!r}"
            )
        if not _is_int(self.rate_reserve_orders) or self.rate_reserve_orders < 0:
            raise ValueError(
                f"risk limits: rate_reserve_orders must be ≥ 0, got {self.rate_reserve_orders!r}"
            )


@dataclass(frozen=True, slots=True)
class RateBudget:
    """A snapshot of the orders the broker will still accept (Kite: 10/s, 400/min,
    5,000/day). The per-second window is not checked: the rate limiter paces a burst within
    it at the cost of a second; the minute and the day are."""

    per_minute: int | None = None
    per_day: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckContext:
    """What the caller knows when the group is checked.

    ``margin_estimate`` is Cockpit's own margin for the group (premium received NOT netted);
    ``broker_margin`` the broker's basket figure if asked for. ``group_max_loss`` is the
    group's worst loss at expiry, None when unbounded. ``day_realised_pnl`` and
    ``day_open_pnl`` are today's P&L so far, signed (a loss is negative). ``instruments``
    finds the current contract by token (``InstrumentStore.get``; KeyError if unknown): the
    dump's lot size and freeze limit win over the ones the leg was built with.
    """

    now: datetime
    calendar: TradingCalendar
    margin_estimate: Paise
    available_funds: Paise
    broker_margin: Paise | None = None
    group_max_loss: Paise | None = None
    day_realised_pnl: Paise = NO_PAISE
    day_open_pnl: Paise = NO_PAISE
    rate_budget: RateBudget | None = None
    instruments: Callable[[int], Instrument] | None = None

    def __post_init__(self) -> None:
        if self.now.tzinfo is None or self.now.utcoffset() is None:
            raise ValueError(f"check context: now must be timezone-aware, got {self.now!r}")


@dataclass(frozen=True, slots=True)
class CheckFailure:
    code: CheckCode
    message: str
    hard: bool


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _fail(code: CheckCode, message: str) -> CheckFailure:
    return CheckFailure(code=code, message=message, hard=code in HARD_CODES)


def _pct(value: Decimal) -> str:
    return f"{value.normalize():f}%"


@dataclass(frozen=True, slots=True)
class _LegContract:
    """A leg with the lot size and freeze limit that apply to it now."""

    leg: Leg
    lot_size: int
    freeze_quantity: int | None


def _contracts(
    group: OrderGroup, context: CheckContext, failures: list[CheckFailure]
) -> list[_LegContract]:
    found = []
    for leg in group.legs:
        spec = leg.spec
        lot, freeze = spec.lot_size, spec.freeze_quantity
        if context.instruments is not None:
            try:
                instrument = context.instruments(spec.instrument_token)
            except KeyError:
                failures.append(
                    _fail(
                        CheckCode.UNKNOWN_INSTRUMENT,
                        f"{spec.tradingsymbol}: token {spec.instrument_token} is not in the "
                        "instruments dump (expired or delisted?)",
                    )
                )
                continue
            lot, freeze = instrument.lot_size, instrument.freeze_quantity
        found.append(_LegContract(leg, lot, freeze))
    return found


def _to_send(leg: Leg) -> int:
    return max(0, leg.open_quantity)


def _check_lots_and_slices(
    contracts: list[_LegContract], limits: RiskLimits, failures: list[CheckFailure]
) -> int:
    """Lot and slicing failures for each leg; returns the number of orders the group sends."""
    orders = 0
    for contract in contracts:
        spec, quantity = contract.leg.spec, _to_send(contract.leg)
        if quantity == 0:
            continue
        if quantity % contract.lot_size:
            failures.append(
                _fail(
                    CheckCode.LOT_MULTIPLE,
                    f"{spec.tradingsymbol}: quantity {quantity} is not a whole number of lots "
                    f"of {contract.lot_size} (the leg was built with lot {spec.lot_size})",
                )
            )
            continue
        try:
            slices = slice_by_freeze_limit(quantity, contract.lot_size, contract.freeze_quantity)
        except ValueError as error:
            failures.append(_fail(CheckCode.FREEZE_SLICING, f"{spec.tradingsymbol}: {error}"))
            continue
        if len(slices) > limits.max_slices_per_leg:
            failures.append(
                _fail(
                    CheckCode.TOO_MANY_SLICES,
                    f"{spec.tradingsymbol}: quantity {quantity} needs {len(slices)} orders of at "
                    f"most {slices[0]} (freeze limit {contract.freeze_quantity}), more than the "
                    f"{limits.max_slices_per_leg} allowed per leg",
                )
            )
        orders += len(slices)
    return orders


def _check_market(context: CheckContext, failures: list[CheckFailure]) -> None:
    session = context.calendar.session_state(context.now)
    if not session.is_open:
        when = context.now.astimezone(IST).strftime("%Y-%m-%d %H:%M")
        failures.append(
            _fail(
                CheckCode.MARKET_CLOSED,
                f"market is {session.label.lower()} at {when} IST ({session.reason}); "
                "orders are accepted 09:15-15:30 on trading days",
            )
        )


def _check_margin(context: CheckContext, limits: RiskLimits, failures: list[CheckFailure]) -> None:
    # A broker basket margin nets the premium the short legs will receive (OpenAlgo #1620),
    # so a hedged basket looks cheaper than what is blocked while its legs fill one by one.
    # The larger of our estimate and the broker's figure is the margin we can rely on.
    estimate, broker = context.margin_estimate, context.broker_margin
    required = estimate if broker is None else max(estimate, broker)
    if broker is not None and estimate > broker:
        source = f"our estimate; the broker's {format_inr(broker)} nets premium received"
    elif broker is not None:
        source = f"the broker's figure; our estimate is {format_inr(estimate)}"
    else:
        source = "our estimate"
    buffer = int((required * limits.margin_buffer_pct / 100).to_integral_value(ROUND_CEILING))
    total = required + buffer
    available = context.available_funds
    if total <= available:
        return
    head = (
        f"margin {format_inr(Paise(required))} ({source}) + {_pct(limits.margin_buffer_pct)} "
        f"buffer {format_inr(Paise(buffer))} = {format_inr(Paise(total))} exceeds available "
        f"{format_inr(available)}"
    )
    if required > available:
        short = format_inr(Paise(required - available))
        failures.append(
            _fail(CheckCode.MARGIN_EXCEEDS_FUNDS, f"{head}; the margin alone is short by {short}")
        )
    else:
        failures.append(
            _fail(CheckCode.MARGIN_BUFFER, f"{head}; the margin alone fits, the buffer does not")
        )


def _check_losses(context: CheckContext, limits: RiskLimits, failures: list[CheckFailure]) -> None:
    group_loss = context.group_max_loss
    group_text = "unbounded" if group_loss is None else format_inr(group_loss)
    group_limit = limits.max_loss_per_group
    if group_limit is not None and (group_loss is None or group_loss > group_limit):
        failures.append(
            _fail(
                CheckCode.GROUP_MAX_LOSS,
                f"this group's max loss {group_text} exceeds the per-group limit "
                f"{format_inr(group_limit)}",
            )
        )
    day_limit = limits.max_loss_per_day
    if day_limit is None:
        return
    lost = max(0, -(context.day_realised_pnl + context.day_open_pnl))
    lost_text = (
        f"today's loss {format_inr(Paise(lost))} (realised "
        f"{format_inr(context.day_realised_pnl)}, open {format_inr(context.day_open_pnl)})"
    )
    if group_loss is None:
        failures.append(
            _fail(
                CheckCode.DAY_LOSS_LIMIT,
                f"{lost_text} + this group's unbounded max loss may exceed the day's limit "
                f"{format_inr(day_limit)}",
            )
        )
    elif lost + group_loss > day_limit:
        failures.append(
            _fail(
                CheckCode.DAY_LOSS_LIMIT,
                f"{lost_text} + this group's max loss {format_inr(group_loss)} = "
                f"{format_inr(Paise(lost + group_loss))} exceeds the day's limit "
                f"{format_inr(day_limit)}",
            )
        )


def _check_rate(
    orders: int, context: CheckContext, limits: RiskLimits, failures: list[CheckFailure]
) -> None:
    budget = context.rate_budget
    if budget is None or orders == 0:
        return
    needed = orders + limits.rate_reserve_orders
    reserve = f"{orders} orders + {limits.rate_reserve_orders} kept for exits and hedges"
    if budget.per_day is not None and needed > budget.per_day:
        failures.append(
            _fail(
                CheckCode.RATE_BUDGET_DAY,
                f"{reserve} = {needed} exceeds the {budget.per_day} orders left today",
            )
        )
    if budget.per_minute is not None and needed > budget.per_minute:
        failures.append(
            _fail(
                CheckCode.RATE_BUDGET_MINUTE,
                f"{reserve} = {needed} exceeds the {budget.per_minute} orders left this minute; "
                "the rest would wait for the window and the legs would fill apart",
            )
        )


def _check_expiry_day(
    group: OrderGroup, context: CheckContext, limits: RiskLimits, failures: list[CheckFailure]
) -> None:
    rule = limits.expiry_day_rule
    if rule is ExpiryDayRule.ALLOW:
        return
    local = context.now.astimezone(IST)
    today = local.date()
    expiring = [leg.spec for leg in group.legs if leg.spec.expiry == today and _to_send(leg)]
    if not expiring:
        return
    if rule is ExpiryDayRule.NO_ENTRY:
        symbols = ", ".join(spec.tradingsymbol for spec in expiring)
        failures.append(
            _fail(
                CheckCode.EXPIRY_DAY,
                f"{symbols} expire(s) today ({today.isoformat()}); entries on expiring "
                "contracts are blocked on expiry day",
            )
        )
        return
    cutoff = limits.expiry_day_cutoff
    shorts = [spec for spec in expiring if spec.role is LegRole.RISK]
    if shorts and local.time().replace(tzinfo=None) >= cutoff:
        symbols = ", ".join(spec.tradingsymbol for spec in shorts)
        failures.append(
            _fail(
                CheckCode.EXPIRY_DAY,
                f"{symbols}: no new short on a contract expiring today after "
                f"{cutoff.strftime('%H:%M')} IST (now {local.strftime('%H:%M')})",
            )
        )


_CHECKABLE = frozenset({GroupState.CREATED, GroupState.VALIDATED})


def pre_trade_checks(
    group: OrderGroup, context: CheckContext, limits: RiskLimits | None = None
) -> list[CheckFailure]:
    """Every check ``group`` fails, hard ones and soft ones, in a stable order; an empty list
    means it may go. ValueError if the group has already left VALIDATED."""
    if group.state not in _CHECKABLE:
        raise ValueError(
            f"group {group.group_id} is {group.state}; pre-trade checks run before it leaves "
            "validated"
        )
    limits = limits or RiskLimits()
    failures: list[CheckFailure] = []
    if not group.legs:
        failures.append(_fail(CheckCode.NO_LEGS, f"group {group.group_id} has no legs"))
    contracts = _contracts(group, context, failures)
    orders = _check_lots_and_slices(contracts, limits, failures)
    _check_market(context, failures)
    _check_margin(context, limits, failures)
    if group.kind is GroupKind.ENTRY:
        _check_losses(context, limits, failures)
        _check_expiry_day(group, context, limits, failures)
    _check_rate(orders, context, limits, failures)
    return failures


def overridable(failures: Iterable[CheckFailure]) -> bool:
    """True when no failure is hard: a written override reason would let the group go."""
    return not any(failure.hard for failure in failures)


def apply_override(failures: Iterable[CheckFailure], reason: str) -> list[CheckFailure]:
    """What still blocks after the trader overrides the soft failures with ``reason`` (the
    hard ones). ValueError if the reason is empty: an override must say why, for the
    journal."""
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError("an override needs a reason: say why these limits do not apply")
    return [failure for failure in failures if failure.hard]
