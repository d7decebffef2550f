"""Exercise and assignment: what an option position will turn into at expiry, told in time.

This module is responsible for warning the trader, in the last trading days before expiry,
about option positions that expire in the money or close to it, and for recording what the
broker reports when they settle. Since Oct 2019 stock options settle physically and ITM
options are exercised automatically (the "do not exercise" facility ended in March 2023), so
an ITM stock option is a delivery obligation: a short put or a long call must buy the shares,
a short call or a long put must deliver them, each at the strike; index options settle in cash
(intrinsic value × quantity). :func:`exercise_alert` grades one position: CRITICAL for a short
ITM stock option in the window, WARNING for a long ITM stock option (it too must pay or
deliver) and for any near-ITM stock option, INFO for an ITM index option's cash settlement.
The delivery margin NSE ramps up on ITM stock options (10% / 25% / 45% / 70% of VaR + ELM +
ad-hoc margin on E-4 / E-3 / E-2 / E-1, from ``shared/reference/nse-fo.md``) is estimated on
the shares' value at spot; the stock's VaR + ELM + ad-hoc rate is not in the reference, so
:class:`ExerciseRules` assumes 20% unless told the rate per underlying. On expiry day itself
the E-1 figure (70%) is assumed still to apply. Index versus stock is told by the underlying's
name (:data:`INDEX_UNDERLYINGS`): Kite's dump gives index and stock options the same segment,
``NFO-OPT``. :func:`settlement_record` turns a position change at expiry into a journal-ready
:class:`SettlementRecord`. It is pure: the caller passes spot prices and the date.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from cockpit.clock import IST
from cockpit.domain.calendar import TradingCalendar
from cockpit.domain.events import AlertSeverity
from cockpit.domain.instruments import Instrument, Right
from cockpit.domain.money import Paise, format_inr, paise
from cockpit.risk.alerts import AlertDraft

SOURCE = "exercise-monitor"
SETTLEMENT_ENTRY_KIND = "position.settled"

INDEX_UNDERLYINGS: frozenset[str] = frozenset(
    {"NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY", "NIFTYNXT50", "SENSEX", "BANKEX"}
)
"""Underlyings whose options settle in cash; every other option settles physically."""

DELIVERY_MARGIN_STAGES: Mapping[int, Decimal] = MappingProxyType(
    {4: Decimal(10), 3: Decimal(25), 2: Decimal(45), 1: Decimal(70), 0: Decimal(70)}
)
"""Trading days to expiry → % of the stock's VaR + ELM + ad-hoc margin levied as delivery
margin on ITM stock options (NSE: E-4 10%, E-3 25%, E-2 45%, E-1 70%; expiry day assumed to
keep E-1's 70%)."""


class Settlement(StrEnum):
    PHYSICAL = "physical"
    CASH = "cash"


class Moneyness(StrEnum):
    ITM = "itm"
    NEAR_ITM = "near_itm"
    OTM = "otm"


class Delivery(StrEnum):
    """Which way the shares go if a stock option settles in the money."""

    BUY = "buy"  # take delivery: pay strike × quantity (short put, long call)
    DELIVER = "deliver"  # give the shares, receive strike × quantity (short call, long put)


class SettlementOutcome(StrEnum):
    EXERCISED = "exercised"  # a long position settled in the money
    ASSIGNED = "assigned"  # a short position settled in the money
    EXPIRED = "expired"  # out of (or at) the money: lapsed worthless


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class ExerciseRules:
    """When and how to warn. ``alert_trading_days``: warn from this many trading days
    before expiry (3 = from E-3) through expiry day. ``near_itm_pct``: an OTM option whose
    strike is within this % of spot is near the money. ``applicable_margin_pct``: the stock's
    VaR + ELM + ad-hoc margin rate, % of value (an assumption; ``margin_pct_by_underlying``
    gives the real rate per stock)."""

    alert_trading_days: int = 3
    near_itm_pct: Decimal = Decimal(2)
    applicable_margin_pct: Decimal = Decimal(20)
    margin_pct_by_underlying: Mapping[str, Decimal] = field(
        default_factory=lambda: MappingProxyType({})
    )
    delivery_margin_stages: Mapping[int, Decimal] = field(
        default_factory=lambda: DELIVERY_MARGIN_STAGES
    )
    index_underlyings: frozenset[str] = INDEX_UNDERLYINGS

    def __post_init__(self) -> None:
        if not _is_int(self.alert_trading_days) or self.alert_trading_days < 0:
            raise ValueError(
                f"exercise rules: alert_trading_days must be ≥ 0, got {self.alert_trading_days!r}"
            )
        for name in ("near_itm_pct", "applicable_margin_pct"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                raise ValueError(f"exercise rules: {name} must be a Decimal ≥ 0, got {value!r}")

    def settlement(self, instrument: Instrument) -> Settlement:
        return Settlement.CASH if instrument.name in self.index_underlyings else Settlement.PHYSICAL

    def margin_pct(self, underlying: str) -> Decimal:
        return self.margin_pct_by_underlying.get(underlying, self.applicable_margin_pct)


@dataclass(frozen=True, slots=True)
class ExerciseAlert:
    """One option position to warn about before expiry. Money in paise; ``quantity`` signed
    (+ long). Physical settlement fills the ``delivery*`` fields (the value is strike ×
    quantity; the margin an estimate at ``delivery_margin_pct`` of ``applicable_margin_pct``
    of the shares' value at spot); cash settlement fills ``cash_settlement`` (intrinsic ×
    quantity: + received, − paid)."""

    instrument_token: int
    tradingsymbol: str
    underlying: str
    expiry: date
    strike: Decimal
    right: Right
    quantity: int
    spot: Paise
    intrinsic: Paise
    moneyness: Moneyness
    settlement: Settlement
    trading_days_to_expiry: int
    severity: AlertSeverity
    message: str
    delivery: Delivery | None = None
    delivery_value: Paise | None = None
    delivery_margin: Paise | None = None
    delivery_margin_pct: Decimal | None = None
    applicable_margin_pct: Decimal | None = None
    cash_settlement: Paise | None = None

    @property
    def key(self) -> str:
        """The alert key: one alert per contract, escalated as the position goes deeper."""
        return f"{SOURCE}:{self.instrument_token}"


def trading_days_to_expiry(calendar: TradingCalendar, today: date, expiry: date) -> int:
    """Trading days after ``today`` up to and including ``expiry``: 0 on expiry day, 1 on
    E-1. ValueError once the contract has expired."""
    if today > expiry:
        raise ValueError(f"the contract expired on {expiry.isoformat()}, before {today}")
    days, current = 0, today
    while True:
        current = calendar.next_trading_day(current)
        if current > expiry:
            return days
        days += 1


def intrinsic_value(instrument: Instrument, spot: Paise) -> Paise:
    """Per-unit intrinsic value in paise at ``spot``: spot − strike for a call, strike − spot
    for a put, never below 0."""
    strike = _strike_paise(instrument)
    if instrument.right is Right.CE:
        return Paise(max(spot - strike, 0))
    return Paise(max(strike - spot, 0))


def _strike_paise(instrument: Instrument) -> int:
    if not instrument.is_option or instrument.strike is None or instrument.expiry is None:
        raise ValueError(f"{instrument.tradingsymbol} is not an option")
    return paise(instrument.strike)


def moneyness(instrument: Instrument, spot: Paise, near_itm_pct: Decimal) -> Moneyness:
    """ITM when intrinsic value is positive; NEAR_ITM when not, but the strike is within
    ``near_itm_pct`` % of spot (at the money counts as near); else OTM."""
    if intrinsic_value(instrument, spot) > 0:
        return Moneyness.ITM
    distance = abs(_strike_paise(instrument) - spot)
    return Moneyness.NEAR_ITM if distance * 100 <= near_itm_pct * spot else Moneyness.OTM


def delivery_side(right: Right, quantity: int) -> Delivery:
    """Which way the shares go on exercise or assignment."""
    long = quantity > 0
    buys = (right is Right.CE) == long  # long call or short put
    return Delivery.BUY if buys else Delivery.DELIVER


def _ceil(value: Decimal) -> Paise:
    return Paise(int(value.to_integral_value(ROUND_CEILING)))


@dataclass(frozen=True, slots=True)
class _Terms:
    """The settlement-specific part of an :class:`ExerciseAlert`."""

    severity: AlertSeverity
    text: str
    delivery: Delivery | None = None
    delivery_value: Paise | None = None
    delivery_margin: Paise | None = None
    delivery_margin_pct: Decimal | None = None
    applicable_margin_pct: Decimal | None = None
    cash_settlement: Paise | None = None


def _physical_terms(
    instrument: Instrument,
    quantity: int,
    spot: Paise,
    state: Moneyness,
    days: int,
    rules: ExerciseRules,
) -> _Terms:
    units = abs(quantity)
    side = delivery_side(Right(instrument.instrument_type.value), quantity)
    value = Paise(_strike_paise(instrument) * units)
    worth = Paise(spot * units)
    stage = rules.delivery_margin_stages.get(days, Decimal(0))
    rate = rules.margin_pct(instrument.name)
    margin = _ceil(Decimal(worth) * rate * stage / 10_000)
    if state is Moneyness.ITM:
        severity = AlertSeverity.CRITICAL if quantity < 0 else AlertSeverity.WARNING
        lead = "settles physically"
    else:
        severity = AlertSeverity.WARNING
        lead = "would settle physically if it ends in the money"
    verb, pay = ("buy", "paying") if side is Delivery.BUY else ("deliver", "receiving")
    text = (
        f"{lead}: must {verb} {units} shares of {instrument.name}, {pay} "
        f"{format_inr(value)}; estimated delivery margin {format_inr(margin)} "
        f"({stage.normalize():f}% of a {rate.normalize():f}% VaR+ELM on {format_inr(worth)} "
        "at spot)"
    )
    return _Terms(severity, text, side, value, margin, stage, rate)


def _cash_terms(intrinsic: Paise, quantity: int) -> _Terms:
    cash = Paise(intrinsic * quantity)
    flow = "receive" if cash > 0 else "pay"
    text = (
        f"settles in cash: {flow} about {format_inr(Paise(abs(cash)))} "
        f"({format_inr(intrinsic)} intrinsic × {abs(quantity)})"
    )
    return _Terms(AlertSeverity.INFO, text, cash_settlement=cash)


def exercise_alert(
    instrument: Instrument,
    quantity: int,
    spot: Paise,
    today: date,
    calendar: TradingCalendar,
    rules: ExerciseRules | None = None,
) -> ExerciseAlert | None:
    """The alert for holding ``quantity`` (signed, + long) of ``instrument`` with the
    underlying at ``spot`` on ``today``, or None: nothing held, outside the window, OTM, or an
    index option that is not ITM (it expires worthless)."""
    rules = rules or ExerciseRules()
    strike = _strike_paise(instrument)
    assert instrument.expiry is not None and instrument.strike is not None
    if quantity == 0 or today > instrument.expiry:
        return None
    days = trading_days_to_expiry(calendar, today, instrument.expiry)
    if days > rules.alert_trading_days:
        return None
    state = moneyness(instrument, spot, rules.near_itm_pct)
    settlement = rules.settlement(instrument)
    if state is Moneyness.OTM or (settlement is Settlement.CASH and state is not Moneyness.ITM):
        return None
    intrinsic = intrinsic_value(instrument, spot)
    if settlement is Settlement.CASH:
        terms = _cash_terms(intrinsic, quantity)
    else:
        terms = _physical_terms(instrument, quantity, spot, state, days, rules)
    position = "long" if quantity > 0 else "short"
    head = (
        f"{instrument.tradingsymbol} {position} {abs(quantity)} {state.name.replace('_', '-')} "
        f"(spot {format_inr(spot)}, strike {format_inr(Paise(strike))}; {days} trading days "
        f"to expiry {instrument.expiry.isoformat()})"
    )
    return ExerciseAlert(
        instrument_token=instrument.instrument_token,
        tradingsymbol=instrument.tradingsymbol,
        underlying=instrument.name,
        expiry=instrument.expiry,
        strike=instrument.strike,
        right=Right(instrument.instrument_type.value),
        quantity=quantity,
        spot=spot,
        intrinsic=intrinsic,
        moneyness=state,
        settlement=settlement,
        trading_days_to_expiry=days,
        severity=terms.severity,
        message=f"{head} {terms.text}",
        delivery=terms.delivery,
        delivery_value=terms.delivery_value,
        delivery_margin=terms.delivery_margin,
        delivery_margin_pct=terms.delivery_margin_pct,
        applicable_margin_pct=terms.applicable_margin_pct,
        cash_settlement=terms.cash_settlement,
    )


def exercise_alerts(
    holdings: Iterable[tuple[Instrument, int]],
    spots: Mapping[str, Paise],
    today: date,
    calendar: TradingCalendar,
    rules: ExerciseRules | None = None,
) -> list[ExerciseAlert]:
    """Alerts for every (option, signed quantity) held whose underlying has a spot in
    ``spots`` (by underlying name), most severe first. Non-options are skipped."""
    found = []
    for instrument, quantity in holdings:
        spot = spots.get(instrument.name)
        if not instrument.is_option or spot is None:
            continue
        alert = exercise_alert(instrument, quantity, spot, today, calendar, rules)
        if alert is not None:
            found.append(alert)
    rank = {AlertSeverity.CRITICAL: 0, AlertSeverity.WARNING: 1, AlertSeverity.INFO: 2}
    return sorted(found, key=lambda a: (rank[a.severity], a.expiry, a.tradingsymbol))


def exercise_alert_draft(alert: ExerciseAlert) -> AlertDraft:
    """The alert-centre draft for ``alert``, keyed by contract."""
    kind = "assignment" if alert.quantity < 0 else "exercise"
    if alert.settlement is Settlement.CASH:
        title = f"Cash settlement: {alert.tradingsymbol}"
    else:
        title = f"Physical {kind} risk: {alert.tradingsymbol}"
    return AlertDraft(
        key=alert.key,
        severity=alert.severity,
        title=title,
        message=alert.message,
        source=SOURCE,
    )


@dataclass(frozen=True, slots=True)
class SettlementRecord:
    """What became of an option position at expiry, as the broker reported it. ``quantity``
    is the signed quantity that settled; ``settlement_price`` the underlying's final
    settlement price; ``delivery_value`` strike × shares for physical settlement in the money
    (0 otherwise); ``cash_amount`` intrinsic × quantity for cash settlement (+ received)."""

    at: datetime
    instrument_token: int
    tradingsymbol: str
    underlying: str
    expiry: date
    strike: Decimal
    right: Right
    settlement: Settlement
    quantity: int
    settlement_price: Paise
    intrinsic: Paise
    outcome: SettlementOutcome
    delivery: Delivery | None
    delivery_quantity: int
    delivery_value: Paise
    cash_amount: Paise

    def to_row(self) -> dict[str, Any]:
        """JSON-safe data for the journal entry (kind :data:`SETTLEMENT_ENTRY_KIND`)."""
        return {
            "at": self.at.isoformat(),
            "instrument_token": self.instrument_token,
            "tradingsymbol": self.tradingsymbol,
            "underlying": self.underlying,
            "expiry": self.expiry.isoformat(),
            "strike": str(self.strike),
            "right": self.right.value,
            "settlement": self.settlement.value,
            "quantity": self.quantity,
            "settlement_price": self.settlement_price,
            "intrinsic": self.intrinsic,
            "outcome": self.outcome.value,
            "delivery": None if self.delivery is None else self.delivery.value,
            "delivery_quantity": self.delivery_quantity,
            "delivery_value": self.delivery_value,
            "cash_amount": self.cash_amount,
        }


def settlement_record(
    instrument: Instrument,
    quantity_before: int,
    quantity_after: int,
    settlement_price: Paise,
    at: datetime,
    rules: ExerciseRules | None = None,
) -> SettlementRecord:
    """The record of the broker's position in ``instrument`` going from ``quantity_before``
    to ``quantity_after`` (signed, usually 0) at expiry, the underlying settling at
    ``settlement_price``. ValueError if it is not a settlement: not an option, before expiry,
    nothing settled, or the position grew or flipped."""
    rules = rules or ExerciseRules()
    strike = _strike_paise(instrument)
    assert instrument.expiry is not None and instrument.strike is not None
    symbol = instrument.tradingsymbol
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{symbol}: settlement time must be timezone-aware, got {at!r}")
    if at.astimezone(IST).date() < instrument.expiry:
        raise ValueError(
            f"{symbol}: a position change on {at.astimezone(IST).date()} is a trade, not a "
            f"settlement; the contract expires on {instrument.expiry.isoformat()}"
        )
    settled = quantity_before - quantity_after
    if (
        quantity_before == 0
        or quantity_after * quantity_before < 0
        or abs(quantity_after) >= abs(quantity_before)
    ):
        raise ValueError(
            f"{symbol}: {quantity_before:+d} → {quantity_after:+d} is not a settlement "
            "(the position must shrink toward 0 without flipping)"
        )
    if not _is_int(settlement_price) or settlement_price <= 0:
        raise ValueError(f"{symbol}: settlement price must be positive paise")
    right = Right(instrument.instrument_type.value)
    settlement = rules.settlement(instrument)
    intrinsic = intrinsic_value(instrument, settlement_price)
    if intrinsic == 0:
        outcome = SettlementOutcome.EXPIRED
    else:
        outcome = SettlementOutcome.EXERCISED if settled > 0 else SettlementOutcome.ASSIGNED
    physical = settlement is Settlement.PHYSICAL and intrinsic > 0
    shares = abs(settled) if physical else 0
    return SettlementRecord(
        at=at,
        instrument_token=instrument.instrument_token,
        tradingsymbol=symbol,
        underlying=instrument.name,
        expiry=instrument.expiry,
        strike=instrument.strike,
        right=right,
        settlement=settlement,
        quantity=settled,
        settlement_price=settlement_price,
        intrinsic=intrinsic,
        outcome=outcome,
        delivery=delivery_side(right, settled) if physical else None,
        delivery_quantity=shares,
        delivery_value=Paise(strike * shares),
        cash_amount=Paise(intrinsic * settled if settlement is Settlement.CASH else 0),
    )
