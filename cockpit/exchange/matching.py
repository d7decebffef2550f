"""The paper exchange's venue and broker: validation, the order lifecycle, fills against the
displayed depth, positions, funds and expiry settlement.

It behaves like NSE behind Zerodha, not like a mock that always fills. Two kinds of refusal,
as Kite has them:

- **Input errors** (HTTP 400 ``InputException``, no order is created): unknown or expired
  instrument, market closed for a regular order, quantity not a positive multiple of the lot,
  quantity above the freeze limit, price or trigger off the tick, a LIMIT/SL price outside the
  price band, a stop whose trigger the last price has already crossed, MARKET and SL-M without
  ``market_protection`` (Kite's rule since 1 Apr 2026), a tag longer than 20 characters.
- **RMS rejections** (the order gets an id and appears in the order book as REJECTED with a
  ``status_message``, as Kite shows margin shortfalls): insufficient funds against the SPAN-like
  margin of :mod:`cockpit.exchange.margin`, and the ``reject_rate`` fault. Autoslice children
  are the exception Kite makes: a child short of margin comes back as a ``MarginException``
  error object in ``children`` and no order.

Matching: a marketable LIMIT takes the displayed depth level by level (a BUY every ask at or
below its limit, a SELL every bid at or above it) at each level's own price, in whole lots;
what is left rests OPEN and is re-checked on every :meth:`MatchingEngine.on_market_step`.
Quantity taken from a level is gone until the market's next step (consumption is tracked per
token and price, cleared each step or when the quote's timestamp changes). MARKET sweeps within
its market protection (a percentage of the touch; −1 = automatic: 5% for options, 2% for the
rest) and the remainder is cancelled; IOC likewise. SL and SL-M wait in TRIGGER PENDING until
the last price reaches the trigger (BUY: ltp ≥ trigger; SELL: ltp ≤ trigger) and then act as
LIMIT and MARKET. DAY orders still open at 15:30 are cancelled; TTL orders after their minutes.
Regular hours are 09:15–15:30 IST on weekdays; AMO orders are taken outside them and sent to
the venue on the first step inside.

Money is integer paise. An order's ``average_price`` is its filled value over its filled
quantity rounded half up to a paisa; positions use Kite's formulas (pnl = sell value − buy
value + quantity × last price). Options and shares move cash when they trade (premium paid or
received, delivery paid for); futures do not — their P&L sits in the position and counts toward
available funds, and reaches cash when the flat position is dropped at the day's rollover.
Blocked margin (SPAN + exposure of positions and open orders, plus premium of open option buys)
is recomputed whenever funds are read, so every fill and every market move is reflected.

The engine is synchronous and single-threaded; given the market and the seed it is
deterministic (faults draw from one seeded ``random.Random`` whose state is persisted).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, fields, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Protocol

from cockpit.clock import IST
from cockpit.domain.market_data import Quote
from cockpit.domain.money import Paise
from cockpit.domain.orders import OrderStatus, OrderType, Product, Side, Validity, Variety
from cockpit.exchange import errors
from cockpit.exchange.errors import ExchangeError
from cockpit.exchange.faults import Faults
from cockpit.exchange.margin import (
    DEFAULT_PARAMETERS,
    BasketMargin,
    InstrumentLike,
    MarginBreakdown,
    MarginLeg,
    MarginParameters,
    PricingMarket,
    basket_margin,
    market_now,
    order_margins,
    portfolio_margin,
)

log = logging.getLogger(__name__)

# Statuses by Kite's wording, so the engine does not depend on the enum's member names.
PUT_ORDER_REQ_RECEIVED = OrderStatus("PUT ORDER REQ RECEIVED")
AMO_REQ_RECEIVED = OrderStatus("AMO REQ RECEIVED")
VALIDATION_PENDING = OrderStatus("VALIDATION PENDING")
OPEN_PENDING = OrderStatus("OPEN PENDING")
OPEN = OrderStatus("OPEN")
TRIGGER_PENDING = OrderStatus("TRIGGER PENDING")
MODIFY_VALIDATION_PENDING = OrderStatus("MODIFY VALIDATION PENDING")
MODIFY_PENDING = OrderStatus("MODIFY PENDING")
CANCEL_PENDING = OrderStatus("CANCEL PENDING")
COMPLETE = OrderStatus("COMPLETE")
CANCELLED = OrderStatus("CANCELLED")
REJECTED = OrderStatus("REJECTED")
TERMINAL = frozenset({COMPLETE, CANCELLED, REJECTED})
WORKING = frozenset({OPEN, TRIGGER_PENDING})

BUY = Side("BUY")
SELL = Side("SELL")
MARKET = OrderType("MARKET")
LIMIT = OrderType("LIMIT")
SL = OrderType("SL")
SL_M = OrderType("SL-M")
DAY = Validity("DAY")
IOC = Validity("IOC")
TTL = Validity("TTL")
REGULAR = Variety("regular")
AMO = Variety("amo")

MAX_MODIFICATIONS = 25
MAX_TAG_LENGTH = 20
SESSION_OPEN = time(9, 15)
SESSION_CLOSE = time(15, 30)
AUTO_PROTECTION_OPTIONS = 5.0
AUTO_PROTECTION_OTHER = 2.0


def regular_session(now: datetime) -> bool:
    """NSE F&O's continuous session, 09:15–15:30 IST on weekdays (holidays are the market's
    business: it does not step on them)."""
    local = now.astimezone(IST)
    return local.weekday() < 5 and SESSION_OPEN <= local.time() < SESSION_CLOSE


def _product_cnc() -> Product:
    try:
        return Product("CNC")
    except ValueError:
        return Product("NRML")


# ---- what the engine reads ----------------------------------------------------------------


class MarketView(PricingMarket, Protocol):
    """The market calls the engine makes (``cockpit.exchange.market.Market`` satisfies it)."""

    def settlement_price(self, underlying: str, expiry: date) -> Paise: ...


class UniverseView(Protocol):
    def get(self, token: int) -> InstrumentLike | None: ...
    def by_symbol(self, exchange: str, tradingsymbol: str) -> InstrumentLike | None: ...


def _lookup_token(universe: UniverseView, token: int) -> InstrumentLike | None:
    try:
        return universe.get(token)
    except (KeyError, LookupError):
        return None


def _lookup_symbol(universe: UniverseView, exchange: str, symbol: str) -> InstrumentLike | None:
    try:
        return universe.by_symbol(exchange, symbol)
    except (KeyError, LookupError):
        return None


def exchange_of(instrument: InstrumentLike) -> str:
    exchange = getattr(instrument, "exchange", None)
    if exchange:
        return str(exchange)
    return "NSE" if str(instrument.instrument_type) == "EQ" else "NFO"


def is_option(instrument: InstrumentLike) -> bool:
    return str(instrument.instrument_type) in {"CE", "PE"}


def is_future(instrument: InstrumentLike) -> bool:
    return str(instrument.instrument_type) == "FUT"


def max_order_quantity(instrument: InstrumentLike) -> int | None:
    """Largest legal single order: whole lots at or below the freeze quantity."""
    freeze = instrument.freeze_quantity
    if not freeze:
        return None
    return freeze // instrument.lot_size * instrument.lot_size


# ---- values the engine answers with -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderParams:
    """A place request as the server parsed it (Kite's field names; prices in paise; a price
    of None or 0 means none given; ``market_protection`` None means not sent)."""

    exchange: str
    tradingsymbol: str
    transaction_type: Side
    order_type: OrderType
    quantity: int
    product: Product
    price: Paise | None = None
    trigger_price: Paise | None = None
    validity: Validity = DAY
    validity_ttl: int | None = None
    disclosed_quantity: int = 0
    tag: str | None = None
    market_protection: float | None = None
    variety: Variety = REGULAR


@dataclass(frozen=True, slots=True)
class ModifyParams:
    """Fields a modification may change; None keeps the current value."""

    quantity: int | None = None
    price: Paise | None = None
    trigger_price: Paise | None = None
    order_type: OrderType | None = None
    validity: Validity | None = None
    disclosed_quantity: int | None = None
    market_protection: float | None = None


@dataclass(frozen=True, slots=True)
class VenueOrder:
    """One row of the order book / order history, Kite's fields (money in paise) plus a few
    fields the venue keeps for itself (after ``modifications``; not part of Kite's JSON)."""

    order_id: str
    exchange_order_id: str | None
    parent_order_id: str | None
    variety: Variety
    status: OrderStatus
    status_message: str | None
    status_message_raw: str | None
    order_timestamp: datetime
    exchange_timestamp: datetime | None
    exchange_update_timestamp: datetime | None
    exchange: str
    tradingsymbol: str
    instrument_token: int
    order_type: OrderType
    transaction_type: Side
    validity: Validity
    validity_ttl: int | None
    product: Product
    quantity: int
    disclosed_quantity: int
    price: Paise
    trigger_price: Paise
    average_price: Paise
    filled_quantity: int
    pending_quantity: int
    cancelled_quantity: int
    market_protection: float
    tag: str | None
    tags: tuple[str, ...]
    modified: bool
    # venue-internal
    modifications: int = 0
    filled_value: int = 0
    not_before: datetime | None = None
    expires_at: datetime | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL


KITE_ORDER_FIELDS = tuple(
    f
    for f in VenueOrder.__dataclass_fields__
    if f not in {"modifications", "filled_value", "not_before", "expires_at"}
)
ORDER_MONEY_FIELDS = frozenset({"price", "trigger_price", "average_price"})


@dataclass(frozen=True, slots=True)
class Trade:
    trade_id: str
    order_id: str
    exchange_order_id: str
    exchange: str
    tradingsymbol: str
    instrument_token: int
    product: Product
    transaction_type: Side
    quantity: int
    average_price: Paise
    fill_timestamp: datetime
    order_timestamp: datetime
    exchange_timestamp: datetime


@dataclass(frozen=True, slots=True)
class AutosliceResult:
    """The parent id and, per child, its order id or the error that stopped it."""

    order_id: str
    children: tuple[str | ExchangeError, ...]


@dataclass(slots=True)
class PositionLedger:
    """What the venue remembers of one (instrument, product) position; Kite's view is computed
    from it with the last price. ``buy_*``/``sell_*`` are cumulative since the position was
    opened; ``day_*`` are today's; the overnight quantity is carried at ``close_price``."""

    instrument_token: int
    product: Product
    exchange: str
    tradingsymbol: str
    instrument_type: str
    overnight_quantity: int = 0
    close_price: int = 0
    buy_quantity: int = 0
    buy_value: int = 0
    sell_quantity: int = 0
    sell_value: int = 0
    day_buy_quantity: int = 0
    day_buy_value: int = 0
    day_sell_quantity: int = 0
    day_sell_value: int = 0

    @property
    def quantity(self) -> int:
        return self.buy_quantity - self.sell_quantity

    @property
    def day_quantity(self) -> int:
        return self.day_buy_quantity - self.day_sell_quantity


@dataclass(frozen=True, slots=True)
class Position:
    """Kite's position row (money in paise; ``multiplier`` is 1 for NSE F&O)."""

    tradingsymbol: str
    exchange: str
    instrument_token: int
    product: Product
    quantity: int
    overnight_quantity: int
    multiplier: int
    average_price: Paise
    close_price: Paise
    last_price: Paise
    value: int
    pnl: int
    m2m: int
    unrealised: int
    realised: int
    buy_quantity: int
    buy_price: Paise
    buy_value: int
    sell_quantity: int
    sell_price: Paise
    sell_value: int
    day_buy_quantity: int
    day_buy_price: Paise
    day_buy_value: int
    day_sell_quantity: int
    day_sell_price: Paise
    day_sell_value: int


@dataclass(frozen=True, slots=True)
class Positions:
    net: tuple[Position, ...]
    day: tuple[Position, ...]


@dataclass(frozen=True, slots=True)
class Funds:
    """The account in paise. ``cash`` = opening balance + option and share cash flows +
    settlements + realised futures P&L; ``futures_pnl`` is the P&L of futures positions not
    yet swept into cash; ``used`` = span + exposure + option_premium blocked for positions and
    open orders; ``available`` = cash + futures_pnl − used (may go negative on a loss)."""

    opening_balance: Paise
    cash: Paise
    futures_pnl: Paise
    span: Paise
    exposure: Paise
    option_premium: Paise
    used: Paise
    available: Paise


@dataclass(frozen=True, slots=True)
class Settlement:
    """One position settled at expiry. ``cash`` is what it moved in the cash ledger (+ in,
    − out: intrinsic value paid or received, shares paid for or sold on delivery);
    ``futures_pnl`` the whole P&L of a future closed at the settlement price (it reaches cash
    at the next day's rollover, like all futures P&L)."""

    tradingsymbol: str
    instrument_token: int
    product: Product
    quantity: int
    settlement_price: Paise
    closing_price: Paise
    cash: int
    futures_pnl: int = 0
    delivered_symbol: str | None = None
    delivered_quantity: int = 0
    delivery_price: Paise | None = None


@dataclass(slots=True)
class AccountState:
    """Counters, cash and the fault generator's state: everything besides orders, trades
    and positions that a restart must bring back."""

    opening_balance: int
    cash: int
    order_seq: int = 0
    trade_seq: int = 0
    session_date: str | None = None
    rng_state: Any = None


@dataclass(frozen=True, slots=True)
class EngineSnapshot:
    account: AccountState
    histories: tuple[tuple[VenueOrder, ...], ...]
    trades: tuple[Trade, ...]
    ledgers: tuple[PositionLedger, ...]


# ---- persistence hook ---------------------------------------------------------------------


class ExchangeStore(Protocol):
    """Where the engine writes each change (``cockpit.exchange.state.ExchangeState``)."""

    def transaction(self) -> AbstractContextManager[None]: ...
    def save_order(self, order: VenueOrder, history_index: int) -> None: ...
    def save_trade(self, trade: Trade) -> None: ...
    def save_position(self, ledger: PositionLedger) -> None: ...
    def delete_position(self, instrument_token: int, product: str) -> None: ...
    def save_account(self, account: AccountState) -> None: ...


class NullStore:
    @contextmanager
    def transaction(self) -> Iterator[None]:
        yield

    def save_order(self, order: VenueOrder, history_index: int) -> None:
        pass

    def save_trade(self, trade: Trade) -> None:
        pass

    def save_position(self, ledger: PositionLedger) -> None:
        pass

    def delete_position(self, instrument_token: int, product: str) -> None:
        pass

    def save_account(self, account: AccountState) -> None:
        pass


# ---- (de)serialisation shared with state.py -----------------------------------------------


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Decimal):
        return str(value)
    return value


def order_to_dict(order: VenueOrder) -> dict[str, Any]:
    return {f.name: _encode(getattr(order, f.name)) for f in fields(VenueOrder)}


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def order_from_dict(data: dict[str, Any]) -> VenueOrder:
    values = dict(data)
    for name in (
        "order_timestamp",
        "exchange_timestamp",
        "exchange_update_timestamp",
        "not_before",
        "expires_at",
    ):
        values[name] = _dt(values.get(name))
    values["variety"] = Variety(values["variety"])
    values["status"] = OrderStatus(values["status"])
    values["order_type"] = OrderType(values["order_type"])
    values["transaction_type"] = Side(values["transaction_type"])
    values["validity"] = Validity(values["validity"])
    values["product"] = Product(values["product"])
    values["tags"] = tuple(values.get("tags") or ())
    for name in ("price", "trigger_price", "average_price"):
        values[name] = Paise(int(values[name]))
    return VenueOrder(**values)


def trade_to_dict(trade: Trade) -> dict[str, Any]:
    return {f.name: _encode(getattr(trade, f.name)) for f in fields(Trade)}


def trade_from_dict(data: dict[str, Any]) -> Trade:
    values = dict(data)
    for name in ("fill_timestamp", "order_timestamp", "exchange_timestamp"):
        values[name] = datetime.fromisoformat(values[name])
    values["product"] = Product(values["product"])
    values["transaction_type"] = Side(values["transaction_type"])
    values["average_price"] = Paise(int(values["average_price"]))
    return Trade(**values)


def ledger_to_dict(ledger: PositionLedger) -> dict[str, Any]:
    return {f.name: _encode(getattr(ledger, f.name)) for f in fields(PositionLedger)}


def ledger_from_dict(data: dict[str, Any]) -> PositionLedger:
    values = dict(data)
    values["product"] = Product(values["product"])
    return PositionLedger(**values)


def account_to_dict(account: AccountState) -> dict[str, Any]:
    return asdict(account)


def _tuplify(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuplify(v) for v in value)
    return value


def account_from_dict(data: dict[str, Any]) -> AccountState:
    values = dict(data)
    values["rng_state"] = _tuplify(values.get("rng_state"))
    return AccountState(**values)


# ---- arithmetic ---------------------------------------------------------------------------


def _round_half_up(numerator: int, denominator: int) -> int:
    if denominator == 0:
        return 0
    return (2 * numerator + denominator) // (2 * denominator)


def _floor_to_tick(value: float, tick: int) -> int:
    return int(value // tick) * tick


def _ceil_to_tick(value: float, tick: int) -> int:
    return -int(-value // tick) * tick


@dataclass(frozen=True, slots=True)
class PriceBand:
    """How far a LIMIT or SL price may be from the last price: ``fraction`` of it, but at
    least ``minimum_paise`` either side (NSE's option bands are wide and dynamic; these keep
    fat-finger prices out without rejecting honest ones). The floor is one tick."""

    option_fraction: float = 0.40
    option_minimum_paise: int = 2000
    future_fraction: float = 0.10
    equity_fraction: float = 0.20

    def limits(self, instrument: InstrumentLike, last_price: int) -> tuple[int, int] | None:
        if last_price <= 0:
            return None
        tick = instrument.tick_size_paise
        if is_option(instrument):
            width = max(last_price * self.option_fraction, self.option_minimum_paise)
        elif is_future(instrument):
            width = last_price * self.future_fraction
        else:
            width = last_price * self.equity_fraction
        low = max(tick, _ceil_to_tick(last_price - width, tick))
        high = _floor_to_tick(last_price + width, tick)
        return low, high


def _band_error(price: int, low: int, high: int) -> errors.InputError:
    if price < low:
        return errors.InputError(
            f"Your order price is lower than the current lower circuit limit of "
            f"{errors.format_rupees(low)}. Place the order at a price within the circuit limits."
        )
    return errors.InputError(
        f"Your order price is higher than the current upper circuit limit of "
        f"{errors.format_rupees(high)}. Place the order at a price within the circuit limits."
    )


# ---- the engine ---------------------------------------------------------------------------


class MatchingEngine:
    """The venue: call :meth:`place`, :meth:`modify`, :meth:`cancel` from the server's loop,
    :meth:`on_market_step` after every market step and :meth:`settle_expired` after an
    expiry's close; read :meth:`orders`, :meth:`order_history`, :meth:`trades`,
    :meth:`positions`, :meth:`funds` and the margin calls."""

    def __init__(
        self,
        market: MarketView,
        universe: UniverseView,
        *,
        opening_funds: Paise,
        seed: int = 0,
        listener: Callable[[VenueOrder], None] | None = None,
        store: ExchangeStore | None = None,
        faults: Faults | None = None,
        margin_parameters: MarginParameters = DEFAULT_PARAMETERS,
        price_band: PriceBand | None = None,
        session: Callable[[datetime], bool] = regular_session,
    ) -> None:
        self._market = market
        self._universe = universe
        self._listener = listener
        self._store: ExchangeStore = store if store is not None else NullStore()
        self.faults = faults if faults is not None else Faults()
        self._params = margin_parameters
        self._band = price_band if price_band is not None else PriceBand()
        self._session = session
        self._rng = random.Random(seed)
        self._account = AccountState(opening_balance=int(opening_funds), cash=int(opening_funds))
        self._orders: dict[str, VenueOrder] = {}
        self._history: dict[str, list[VenueOrder]] = {}
        self._trades: list[Trade] = []
        self._ledgers: dict[tuple[int, str], PositionLedger] = {}
        self._live: dict[str, None] = {}  # non-terminal order ids in time priority
        self._marks: dict[int, int] = {}  # last in-session price per position token
        self._consumed: dict[int, dict[tuple[str, int], int]] = {}
        self._consumed_at: dict[int, datetime] = {}
        self._account.session_date = self._now().date().isoformat()
        self._account.rng_state = self._rng.getstate()

    # -- restore --------------------------------------------------------------------------

    def snapshot(self) -> EngineSnapshot:
        self._account.rng_state = self._rng.getstate()
        return EngineSnapshot(
            account=replace(self._account),
            histories=tuple(tuple(h) for h in self._history.values()),
            trades=tuple(self._trades),
            ledgers=tuple(replace(ledger) for ledger in self._ledgers.values()),
        )

    def restore(self, snapshot: EngineSnapshot) -> None:
        """Replace the whole state with ``snapshot`` (after a restart)."""
        self._account = replace(snapshot.account)
        if self._account.rng_state is not None:
            self._rng.setstate(self._account.rng_state)
        self._history = {h[0].order_id: list(h) for h in snapshot.histories if h}
        self._orders = {oid: h[-1] for oid, h in self._history.items()}
        self._live = {oid: None for oid, o in self._orders.items() if not o.is_terminal}
        self._marks.clear()
        self._trades = list(snapshot.trades)
        self._ledgers = {
            (ledger.instrument_token, str(ledger.product)): replace(ledger)
            for ledger in snapshot.ledgers
        }
        self._consumed.clear()
        self._consumed_at.clear()

    # -- reads ----------------------------------------------------------------------------

    def orders(self) -> list[VenueOrder]:
        return list(self._orders.values())

    def order(self, order_id: str) -> VenueOrder:
        try:
            return self._orders[order_id]
        except KeyError:
            raise errors.unknown_order() from None

    def order_history(self, order_id: str) -> list[VenueOrder]:
        if order_id not in self._history:
            raise errors.unknown_order()
        return list(self._history[order_id])

    def trades(self) -> list[Trade]:
        return list(self._trades)

    def order_trades(self, order_id: str) -> list[Trade]:
        if order_id not in self._orders:
            raise errors.unknown_order()
        return [t for t in self._trades if t.order_id == order_id]

    def positions(self) -> Positions:
        net: list[Position] = []
        day: list[Position] = []
        for ledger in self._ledgers.values():
            last = self._last_price(ledger.instrument_token, ledger.close_price)
            net.append(self._net_position(ledger, last))
            if ledger.day_buy_quantity or ledger.day_sell_quantity:
                day.append(self._day_position(ledger, last))
        return Positions(net=tuple(net), day=tuple(day))

    def funds(self) -> Funds:
        blocked = self._blocked()
        futures_pnl = self._futures_pnl()
        cash = self._account.cash
        return Funds(
            opening_balance=Paise(self._account.opening_balance),
            cash=Paise(cash),
            futures_pnl=Paise(futures_pnl),
            span=blocked.span,
            exposure=blocked.exposure,
            option_premium=blocked.option_premium,
            used=blocked.total,
            available=Paise(cash + futures_pnl - blocked.total),
        )

    def position_legs(self) -> list[MarginLeg]:
        legs = []
        for ledger in self._ledgers.values():
            if ledger.quantity == 0:
                continue
            instrument = _lookup_token(self._universe, ledger.instrument_token)
            if instrument is not None:
                legs.append(MarginLeg(instrument, ledger.quantity))
        return legs

    def order_margins(self, requests: Sequence[OrderParams]) -> list[MarginBreakdown]:
        """``POST /margins/orders``: each order on its own, on top of current positions."""
        legs = [self._margin_leg(r) for r in requests]
        return order_margins(legs, self.position_legs(), self._market, self._params)

    def basket_margin(
        self, requests: Sequence[OrderParams], *, consider_positions: bool
    ) -> BasketMargin:
        legs = [self._margin_leg(r) for r in requests]
        return basket_margin(
            legs,
            self.position_legs(),
            self._market,
            consider_positions=consider_positions,
            params=self._params,
        )

    # -- place ----------------------------------------------------------------------------

    def place(self, params: OrderParams) -> str:
        """Validate and place one order; returns its id. Input errors raise ExchangeError and
        leave no order; RMS rejections return the id of a REJECTED order."""
        with self._store.transaction():
            instrument = self._validate_new(params)
            limit = max_order_quantity(instrument)
            if limit is not None and params.quantity > limit:
                raise errors.freeze_limit(
                    params.quantity, instrument.freeze_quantity or limit, instrument.tradingsymbol
                )
            order = self._receive(params, instrument, parent=None, tags=())
            self._process_new(order, instrument)
            self._save_account()
            return order.order_id

    def place_autoslice(self, params: OrderParams) -> AutosliceResult:
        """Kite's ``autoslice=true``: only above the freeze limit; children of whole lots up to
        the largest legal order, each tagged ``autoslice:<parent id>``."""
        with self._store.transaction():
            instrument = self._validate_new(params)
            limit = max_order_quantity(instrument)
            if limit is None or params.quantity <= limit:
                raise errors.autoslice_not_needed(params.quantity, limit or params.quantity)
            parent_id = self._next_order_id()
            sizes = [limit] * (params.quantity // limit)
            if params.quantity % limit:
                sizes.append(params.quantity % limit)
            children: list[str | ExchangeError] = []
            tag = f"autoslice:{parent_id}"
            for size in sizes:
                child_params = replace(params, quantity=size)
                if params.variety != AMO:
                    # Kite answers a child short of margin with an error object, not an order.
                    try:
                        self._check_margin(self._params_leg(child_params, instrument), exclude=None)
                    except errors.MarginError as error:
                        children.append(error)
                        continue
                child = self._receive(child_params, instrument, parent=None, tags=(tag,))
                self._process_new(child, instrument)
                children.append(child.order_id)
            self._save_account()
            return AutosliceResult(order_id=parent_id, children=tuple(children))

    # -- modify / cancel ------------------------------------------------------------------

    def modify(self, order_id: str, changes: ModifyParams) -> str:
        """Change a working (or AMO) order's quantity, price, trigger, type or validity. At
        most 25 modifications per order; a terminal order cannot be modified. The new values
        are validated like a new order and the margin re-checked; a modification that fails
        leaves the order as it was."""
        with self._store.transaction():
            order = self.order(order_id)
            was = order.status
            if was not in WORKING and was != AMO_REQ_RECEIVED:
                raise errors.cannot_modify()
            if order.modifications >= MAX_MODIFICATIONS:
                raise errors.too_many_modifications()
            instrument = self._instrument(order.instrument_token)
            new_type = changes.order_type or order.order_type
            quantity = changes.quantity if changes.quantity is not None else order.quantity
            price = int(changes.price if changes.price is not None else order.price)
            trigger = int(
                changes.trigger_price if changes.trigger_price is not None else order.trigger_price
            )
            protection = (
                changes.market_protection
                if changes.market_protection is not None
                else order.market_protection
            )
            if new_type in (MARKET, SL_M):
                price = 0
            if new_type in (MARKET, LIMIT):
                trigger = 0
            triggered = was == OPEN and order.order_type in (SL, SL_M)
            candidate = OrderParams(
                exchange=order.exchange,
                tradingsymbol=order.tradingsymbol,
                transaction_type=order.transaction_type,
                order_type=new_type,
                quantity=quantity,
                product=order.product,
                price=Paise(price),
                trigger_price=Paise(trigger),
                validity=changes.validity or order.validity,
                validity_ttl=order.validity_ttl,
                tag=order.tag,
                market_protection=(protection or None) if new_type in (MARKET, SL_M) else None,
                variety=order.variety,
            )
            if quantity <= order.filled_quantity:
                raise errors.InputError(
                    f"Invalid `quantity`: {quantity}. It must be more than the "
                    f"{order.filled_quantity} already filled."
                )
            self._validate_order_fields(candidate, instrument, check_trigger=not triggered)
            limit = max_order_quantity(instrument)
            if limit is not None and quantity > limit:
                raise errors.freeze_limit(
                    quantity, instrument.freeze_quantity or limit, instrument.tradingsymbol
                )
            pending = quantity - order.filled_quantity
            if was != AMO_REQ_RECEIVED:
                self._check_margin(
                    self._leg(instrument, order.transaction_type, pending, price, new_type),
                    exclude=order.order_id,
                )
            if was == AMO_REQ_RECEIVED:
                status = AMO_REQ_RECEIVED
            elif new_type in (SL, SL_M) and not triggered:
                status = TRIGGER_PENDING
            else:
                status = OPEN
            now = self._now()
            order = self._update(
                order, status=MODIFY_VALIDATION_PENDING, exchange_update_timestamp=now
            )
            order = self._update(order, status=MODIFY_PENDING)
            order = self._update(
                order,
                status=status,
                order_type=new_type,
                quantity=quantity,
                pending_quantity=pending,
                price=Paise(price),
                trigger_price=Paise(trigger),
                validity=candidate.validity,
                market_protection=float(candidate.market_protection or 0),
                modified=True,
                modifications=order.modifications + 1,
            )
            if status in WORKING:
                self._work(order, instrument)
            self._save_account()
            return order_id

    def cancel(self, order_id: str) -> str:
        with self._store.transaction():
            order = self.order(order_id)
            if order.status not in WORKING and order.status != AMO_REQ_RECEIVED:
                raise errors.cannot_cancel()
            order = self._update(order, status=CANCEL_PENDING)
            self._finish(order, CANCELLED, None)
            self._save_account()
            return order_id

    # -- market steps ---------------------------------------------------------------------

    def on_market_step(self) -> list[Trade]:
        """Re-check every working order against the market's new state: day rollover, AMO
        release, DAY/TTL expiry at the close, stop triggers, fills of resting orders.
        Returns the trades made."""
        with self._store.transaction():
            now = self._now()
            first_trade = len(self._trades)
            if now.date().isoformat() != self._account.session_date:
                self._rollover(now.date())
            self._consumed.clear()
            self._consumed_at.clear()
            in_session = self._session(now)
            if in_session:
                # The last in-session price of each position is its close for tomorrow's m2m.
                for ledger in self._ledgers.values():
                    token = ledger.instrument_token
                    self._marks[token] = self._last_price(token, self._marks.get(token, 0))
            for order_id in list(self._live):
                current = self._orders[order_id]
                if current.is_terminal:
                    continue
                if current.status == AMO_REQ_RECEIVED:
                    if in_session:
                        self._release_amo(current)
                    continue
                if self._expire_if_due(current, now, in_session):
                    continue
                if in_session:
                    self._work(current, self._instrument(current.instrument_token))
            self._save_account()
            return self._trades[first_trade:]

    def settle_expired(self, today: date) -> list[Settlement]:
        """Settle every position whose contract expired on or before ``today`` (call after the
        expiry's close): index F&O in cash at the settlement price, stock F&O by delivery at
        the strike (options) or settlement price (futures), OTM options worthless."""
        with self._store.transaction():
            results: list[Settlement] = []
            for order_id in list(self._live):
                order = self._orders[order_id]
                instrument = _lookup_token(self._universe, order.instrument_token)
                if (
                    not order.is_terminal
                    and instrument is not None
                    and instrument.expiry is not None
                    and instrument.expiry <= today
                ):
                    self._finish(order, CANCELLED, "Contract expired; the order was cancelled.")
            for ledger in list(self._ledgers.values()):
                instrument = _lookup_token(self._universe, ledger.instrument_token)
                if (
                    instrument is None
                    or instrument.expiry is None
                    or instrument.expiry > today
                    or ledger.quantity == 0
                ):
                    continue
                results.append(self._settle(ledger, instrument))
            self._save_account()
            return results

    # ---- internals: validation ----------------------------------------------------------

    def _validate_new(self, params: OrderParams) -> InstrumentLike:
        if params.variety not in (REGULAR, AMO):
            raise errors.InputError(
                f"Invalid `variety`: {params.variety}. The paper exchange takes regular and amo."
            )
        instrument = _lookup_symbol(self._universe, params.exchange, params.tradingsymbol)
        if instrument is None:
            raise errors.unknown_instrument()
        now = self._now()
        if instrument.expiry is not None and (
            instrument.expiry < now.date()
            or (instrument.expiry == now.date() and now.time() >= SESSION_CLOSE)
        ):
            raise errors.expired_instrument(instrument.tradingsymbol)
        in_session = self._session(now)
        if params.variety == REGULAR and not in_session:
            raise errors.InputError(
                "Markets are closed right now. Place an after market order (AMO) instead."
            )
        if params.variety == AMO and in_session:
            raise errors.InputError(
                "After market orders (AMO) can be placed only when the market is closed."
            )
        self._validate_order_fields(params, instrument)
        return instrument

    def _validate_order_fields(
        self, params: OrderParams, instrument: InstrumentLike, *, check_trigger: bool = True
    ) -> None:
        if params.quantity <= 0:
            raise errors.invalid_quantity(params.quantity)
        if params.quantity % instrument.lot_size:
            raise errors.lot_multiple(instrument.lot_size)
        kind = params.order_type
        price = int(params.price or 0)
        trigger = int(params.trigger_price or 0)
        if kind in (LIMIT, SL) and price <= 0:
            raise errors.missing_price(kind)
        if kind in (SL, SL_M) and trigger <= 0:
            raise errors.missing_trigger(kind)
        if kind in (MARKET, SL_M):
            mp = params.market_protection
            if mp is None or mp == 0:
                raise errors.market_protection_required()
            if mp != -1 and not 0 < mp <= 100:
                raise errors.invalid_market_protection(mp)
        tick = instrument.tick_size_paise
        if kind in (LIMIT, SL) and price % tick:
            raise errors.tick_size(tick)
        if kind in (SL, SL_M) and trigger % tick:
            raise errors.tick_size(tick, trigger=True)
        if params.tag is not None:
            if len(params.tag) > MAX_TAG_LENGTH:
                raise errors.tag_too_long(params.tag)
            if not params.tag.isascii() or not params.tag.isprintable() or " " in params.tag:
                raise errors.invalid_tag(params.tag)
        if params.validity == TTL and not (params.validity_ttl and params.validity_ttl > 0):
            raise errors.InputError("Invalid `validity_ttl`: a TTL order needs minutes above 0.")
        if params.variety == AMO:
            return  # checked against the market when it reaches the venue
        quote = self._market.quote(instrument.instrument_token)
        band = self._band.limits(instrument, int(quote.last_price))
        if band is not None and kind in (LIMIT, SL) and not band[0] <= price <= band[1]:
            raise _band_error(price, *band)
        if kind == SL and params.transaction_type == BUY and trigger > price:
            raise errors.InputError(
                "Trigger price for stoploss buy orders should be less than or equal to the price."
            )
        if kind == SL and params.transaction_type == SELL and trigger < price:
            raise errors.InputError(
                "Trigger price for stoploss sell orders should be greater than or equal to the "
                "price."
            )
        ltp = int(quote.last_price)
        if check_trigger and kind in (SL, SL_M) and ltp > 0:
            if params.transaction_type == BUY and trigger <= ltp:
                raise errors.InputError(
                    "Trigger price for stoploss buy orders should be higher than the last traded "
                    "price."
                )
            if params.transaction_type == SELL and trigger >= ltp:
                raise errors.InputError(
                    "Trigger price for stoploss sell orders should be lower than the last traded "
                    "price."
                )

    # ---- internals: lifecycle -----------------------------------------------------------

    def _receive(
        self,
        params: OrderParams,
        instrument: InstrumentLike,
        *,
        parent: str | None,
        tags: tuple[str, ...],
    ) -> VenueOrder:
        now = self._now()
        order_id = self._next_order_id()
        protection = params.market_protection if params.order_type in (MARKET, SL_M) else None
        expires = None
        if params.validity == TTL and params.validity_ttl:
            expires = now + timedelta(minutes=params.validity_ttl)
        order = VenueOrder(
            order_id=order_id,
            exchange_order_id=None,
            parent_order_id=parent,
            variety=params.variety,
            status=AMO_REQ_RECEIVED if params.variety == AMO else PUT_ORDER_REQ_RECEIVED,
            status_message=None,
            status_message_raw=None,
            order_timestamp=now,
            exchange_timestamp=None,
            exchange_update_timestamp=None,
            exchange=exchange_of(instrument),
            tradingsymbol=instrument.tradingsymbol,
            instrument_token=instrument.instrument_token,
            order_type=params.order_type,
            transaction_type=params.transaction_type,
            validity=params.validity,
            validity_ttl=params.validity_ttl if params.validity == TTL else None,
            product=params.product,
            quantity=params.quantity,
            disclosed_quantity=params.disclosed_quantity,
            price=Paise(int(params.price or 0)) if params.order_type in (LIMIT, SL) else Paise(0),
            trigger_price=(
                Paise(int(params.trigger_price or 0))
                if params.order_type in (SL, SL_M)
                else Paise(0)
            ),
            average_price=Paise(0),
            filled_quantity=0,
            pending_quantity=params.quantity,
            cancelled_quantity=0,
            market_protection=float(protection or 0),
            tag=params.tag,
            tags=tuple(t for t in ((params.tag,) if params.tag else ()) + tags),
            modified=False,
            expires_at=expires,
        )
        self._orders[order_id] = order
        self._history[order_id] = []
        self._record(order)
        return order

    def _process_new(self, order: VenueOrder, instrument: InstrumentLike) -> None:
        if order.status == AMO_REQ_RECEIVED:
            return
        order = self._update(order, status=VALIDATION_PENDING)
        self._run_rms(order, instrument)

    def _run_rms(self, order: VenueOrder, instrument: InstrumentLike) -> None:
        if self.faults.reject_rate > 0 and self._rng.random() < self.faults.reject_rate:
            self._finish(
                order,
                REJECTED,
                "RMS: order rejected by the risk management system (simulated rejection).",
            )
            return
        try:
            self._check_margin(
                self._leg(
                    instrument,
                    order.transaction_type,
                    order.quantity,
                    order.price,
                    order.order_type,
                ),
                exclude=order.order_id,
            )
        except errors.InsufficientFundsError as error:
            self._finish(
                order,
                REJECTED,
                f"{error.message} Check the orderbook for open orders.",
                raw=(
                    f"RMS:Margin Exceeds,Required:{errors.format_rupees(error.required)}, "
                    f"Available:{errors.format_rupees(error.available)} for entity account "
                    "across exchange across segment across product"
                ),
            )
            return
        self._accept(order, instrument)

    def _accept(self, order: VenueOrder, instrument: InstrumentLike) -> None:
        now = self._now()
        order = self._update(order, status=OPEN_PENDING)
        not_before = None
        if self.faults.freeze_seconds > 0:
            not_before = now + timedelta(seconds=self.faults.freeze_seconds)
        order = self._update(
            order,
            status=TRIGGER_PENDING if order.order_type in (SL, SL_M) else OPEN,
            exchange_order_id=self._exchange_order_id(order.order_id),
            exchange_timestamp=now,
            exchange_update_timestamp=now,
            not_before=not_before,
        )
        self._work(order, instrument)

    def _release_amo(self, order: VenueOrder) -> None:
        instrument = self._instrument(order.instrument_token)
        params = OrderParams(
            exchange=order.exchange,
            tradingsymbol=order.tradingsymbol,
            transaction_type=order.transaction_type,
            order_type=order.order_type,
            quantity=order.quantity,
            product=order.product,
            price=order.price,
            trigger_price=order.trigger_price,
            validity=order.validity,
            validity_ttl=order.validity_ttl,
            tag=order.tag,
            market_protection=order.market_protection or None,
            variety=REGULAR,
        )
        order = self._update(order, status=VALIDATION_PENDING)
        try:
            self._validate_order_fields(params, instrument)
        except ExchangeError as error:
            self._finish(order, REJECTED, error.message)
            return
        self._run_rms(order, instrument)

    def _work(self, order: VenueOrder, instrument: InstrumentLike) -> None:
        """Try to trigger and fill a working order now."""
        now = self._now()
        if order.not_before is not None and now < order.not_before:
            return
        if not self._session(now):
            return
        quote = self._market.quote(order.instrument_token)
        if order.status == TRIGGER_PENDING:
            ltp = int(quote.last_price)
            crossed = (
                ltp >= order.trigger_price
                if order.transaction_type == BUY
                else 0 < ltp <= order.trigger_price
            )
            if not crossed:
                return
            order = self._update(order, status=OPEN, exchange_update_timestamp=now)
        marketlike = order.order_type in (MARKET, SL_M)
        if marketlike:
            limit = self._protection_limit(order, instrument, quote)
            if limit is None:
                self._finish(
                    order,
                    CANCELLED,
                    "No opposite orders in the market; the market order was cancelled.",
                )
                return
        else:
            limit = int(order.price)
        order = self._execute(order, instrument, quote, limit)
        if order.pending_quantity == 0:
            return
        if marketlike:
            self._finish(
                order,
                CANCELLED,
                f"Market protection: the unfilled {order.pending_quantity} could not be filled "
                f"within {self._protection_pct(order, instrument):.2f}% of the market "
                f"(limit {errors.format_rupees(limit)}) and were cancelled.",
            )
        elif order.validity == IOC:
            self._finish(order, CANCELLED, None)

    def _protection_pct(self, order: VenueOrder, instrument: InstrumentLike) -> float:
        if order.market_protection == -1:
            return AUTO_PROTECTION_OPTIONS if is_option(instrument) else AUTO_PROTECTION_OTHER
        return order.market_protection

    def _protection_limit(
        self, order: VenueOrder, instrument: InstrumentLike, quote: Quote
    ) -> int | None:
        pct = self._protection_pct(order, instrument) / 100.0
        tick = instrument.tick_size_paise
        if order.transaction_type == BUY:
            if quote.best_ask is None:
                return None
            return _floor_to_tick(quote.best_ask.price * (1 + pct), tick)
        if quote.best_bid is None:
            return None
        return max(tick, _ceil_to_tick(quote.best_bid.price * (1 - pct), tick))

    def _consumption(self, token: int, quote: Quote) -> dict[tuple[str, int], int]:
        if self._consumed_at.get(token) != quote.at:
            self._consumed[token] = {}
            self._consumed_at[token] = quote.at
        return self._consumed.setdefault(token, {})

    def _execute(
        self, order: VenueOrder, instrument: InstrumentLike, quote: Quote, limit: int
    ) -> VenueOrder:
        buying = order.transaction_type == BUY
        side = "ask" if buying else "bid"
        levels = quote.asks if buying else quote.bids
        consumed = self._consumption(order.instrument_token, quote)
        lot = instrument.lot_size
        plan: list[tuple[int, int]] = []
        wanted = order.pending_quantity
        for level in levels:
            if (buying and level.price > limit) or (not buying and level.price < limit):
                break
            free = level.quantity - consumed.get((side, int(level.price)), 0)
            take = min(free // lot * lot, wanted)
            if take > 0:
                plan.append((int(level.price), take))
                wanted -= take
            if wanted == 0:
                break
        fillable = sum(q for _, q in plan)
        if fillable == 0:
            return order
        lots = fillable // lot
        rate = self.faults.partial_fill_rate
        if rate > 0 and lots >= 2 and self._rng.random() < rate:
            cap = self._rng.randint(1, lots - 1) * lot
            trimmed: list[tuple[int, int]] = []
            for price, qty in plan:
                take = min(qty, cap)
                if take > 0:
                    trimmed.append((price, take))
                cap -= take
            plan = trimmed
        now = self._now()
        value = order.filled_value
        filled = order.filled_quantity
        for price, qty in plan:
            key = (side, price)
            consumed[key] = consumed.get(key, 0) + qty
            self._book_trade(order, instrument, price, qty, now)
            value += price * qty
            filled += qty
        pending = order.quantity - filled - order.cancelled_quantity
        return self._update(
            order,
            status=COMPLETE if pending == 0 else order.status,
            filled_quantity=filled,
            filled_value=value,
            pending_quantity=pending,
            average_price=Paise(_round_half_up(value, filled)),
            exchange_update_timestamp=now,
        )

    def _book_trade(
        self, order: VenueOrder, instrument: InstrumentLike, price: int, qty: int, now: datetime
    ) -> None:
        self._account.trade_seq += 1
        trade = Trade(
            trade_id=f"{self._account.trade_seq:08d}",
            order_id=order.order_id,
            exchange_order_id=order.exchange_order_id or "",
            exchange=order.exchange,
            tradingsymbol=order.tradingsymbol,
            instrument_token=order.instrument_token,
            product=order.product,
            transaction_type=order.transaction_type,
            quantity=qty,
            average_price=Paise(price),
            fill_timestamp=now,
            order_timestamp=order.order_timestamp,
            exchange_timestamp=now,
        )
        self._trades.append(trade)
        self._store.save_trade(trade)
        self._post(instrument, order.product, order.transaction_type, qty, price)

    def _post(
        self, instrument: InstrumentLike, product: Product, side: Side, qty: int, price: int
    ) -> None:
        """Book a fill (or a settlement) into the position ledger and cash."""
        key = (instrument.instrument_token, str(product))
        ledger = self._ledgers.get(key)
        if ledger is None:
            ledger = PositionLedger(
                instrument_token=instrument.instrument_token,
                product=product,
                exchange=exchange_of(instrument),
                tradingsymbol=instrument.tradingsymbol,
                instrument_type=str(instrument.instrument_type),
            )
            self._ledgers[key] = ledger
        value = price * qty
        if side == BUY:
            ledger.buy_quantity += qty
            ledger.buy_value += value
            ledger.day_buy_quantity += qty
            ledger.day_buy_value += value
        else:
            ledger.sell_quantity += qty
            ledger.sell_value += value
            ledger.day_sell_quantity += qty
            ledger.day_sell_value += value
        if not is_future(instrument):
            self._account.cash += -value if side == BUY else value
        self._store.save_position(ledger)

    def _finish(
        self,
        order: VenueOrder,
        status: OrderStatus,
        message: str | None,
        raw: str | None = None,
    ) -> None:
        """End an order. As in Kite's order book, a CANCELLED order keeps its last
        ``pending_quantity`` beside ``cancelled_quantity`` (the unfilled part), and a REJECTED
        one shows neither pending nor cancelled quantity (zerodha/kiteconnect-mocks
        ``orders.json``): read ``quantity`` and ``filled_quantity`` for what happened."""
        now = self._now()
        if status == CANCELLED:
            cancelled, pending = (
                order.cancelled_quantity + order.pending_quantity,
                (order.pending_quantity),
            )
        elif status == REJECTED:
            cancelled, pending = order.cancelled_quantity, 0
        else:
            cancelled, pending = order.cancelled_quantity, order.pending_quantity
        self._update(
            order,
            status=status,
            status_message=message,
            status_message_raw=raw if raw is not None else message,
            cancelled_quantity=cancelled,
            pending_quantity=pending,
            exchange_update_timestamp=now if order.exchange_order_id else None,
        )

    def _expire_if_due(self, order: VenueOrder, now: datetime, in_session: bool) -> bool:
        if order.status not in WORKING:
            return False
        if order.expires_at is not None and now >= order.expires_at:
            self._finish(order, CANCELLED, "TTL expired; the order was cancelled.")
            return True
        # The session an order belongs to is the one it reached the venue in (an AMO placed
        # last evening belongs to today's).
        placed_day = (order.exchange_timestamp or order.order_timestamp).astimezone(IST).date()
        local = now.astimezone(IST)
        after_close = local.date() > placed_day or (
            not in_session and local.time() >= SESSION_CLOSE
        )
        if after_close:
            self._finish(order, CANCELLED, "Market closed; the DAY order was cancelled.")
            return True
        return False

    # ---- internals: margin ---------------------------------------------------------------

    def _leg(
        self,
        instrument: InstrumentLike,
        side: Side,
        quantity: int,
        price: int | None,
        order_type: OrderType,
    ) -> MarginLeg:
        signed = quantity if side == BUY else -quantity
        limit = Paise(int(price)) if price and order_type in (LIMIT, SL) else None
        return MarginLeg(instrument, signed, limit)

    def _params_leg(self, params: OrderParams, instrument: InstrumentLike) -> MarginLeg:
        return self._leg(
            instrument, params.transaction_type, params.quantity, params.price, params.order_type
        )

    def _margin_leg(self, request: OrderParams) -> MarginLeg:
        instrument = _lookup_symbol(self._universe, request.exchange, request.tradingsymbol)
        if instrument is None:
            raise errors.unknown_instrument()
        if request.quantity <= 0:
            raise errors.invalid_quantity(request.quantity)
        return self._leg(
            instrument,
            request.transaction_type,
            request.quantity,
            request.price,
            request.order_type,
        )

    def _open_order_legs(self, exclude: str | None = None) -> list[MarginLeg]:
        legs = []
        for order in self._orders.values():
            if order.status not in WORKING or order.order_id == exclude:
                continue
            instrument = _lookup_token(self._universe, order.instrument_token)
            if instrument is None:
                continue
            legs.append(
                self._leg(
                    instrument,
                    order.transaction_type,
                    order.pending_quantity,
                    order.price,
                    order.order_type,
                )
            )
        return legs

    def _blocked(self, exclude: str | None = None) -> MarginBreakdown:
        return portfolio_margin(
            self._open_order_legs(exclude), self.position_legs(), self._market, self._params
        )

    def _futures_pnl(self) -> int:
        total = 0
        for ledger in self._ledgers.values():
            if ledger.instrument_type != "FUT":
                continue
            last = self._last_price(ledger.instrument_token, ledger.close_price)
            total += ledger.sell_value - ledger.buy_value + ledger.quantity * last
        return total

    def _check_margin(self, leg: MarginLeg, *, exclude: str | None) -> None:
        """Raise MarginError unless the funds cover what ``leg`` adds to the blocked margin.
        ``exclude`` leaves out an order being replaced (a modification) or placed."""
        others = self._open_order_legs(exclude)
        positions = self.position_legs()
        before = portfolio_margin(others, positions, self._market, self._params)
        after = portfolio_margin([*others, leg], positions, self._market, self._params)
        required = after.minus(before).total
        available = self._account.cash + self._futures_pnl() - before.total
        if required > available:
            raise errors.insufficient_funds(required, max(available, 0))

    # ---- internals: positions -------------------------------------------------------------

    def _last_price(self, token: int, fallback: int) -> int:
        try:
            price = int(self._market.quote(token).last_price)
        except (KeyError, LookupError, ValueError):
            return fallback
        return price or fallback

    def _net_position(self, ledger: PositionLedger, last: int) -> Position:
        qty = ledger.quantity
        buy_avg = _round_half_up(ledger.buy_value, ledger.buy_quantity)
        sell_avg = _round_half_up(ledger.sell_value, ledger.sell_quantity)
        average = buy_avg if qty > 0 else sell_avg if qty < 0 else 0
        pnl = ledger.sell_value - ledger.buy_value + qty * last
        m2m = (
            ledger.day_sell_value
            - ledger.day_buy_value
            + qty * last
            - ledger.overnight_quantity * ledger.close_price
        )
        unrealised = qty * (last - average)
        return Position(
            tradingsymbol=ledger.tradingsymbol,
            exchange=ledger.exchange,
            instrument_token=ledger.instrument_token,
            product=ledger.product,
            quantity=qty,
            overnight_quantity=ledger.overnight_quantity,
            multiplier=1,
            average_price=Paise(average),
            close_price=Paise(ledger.close_price),
            last_price=Paise(last),
            value=ledger.sell_value - ledger.buy_value,
            pnl=pnl,
            m2m=m2m,
            unrealised=unrealised,
            realised=pnl - unrealised,
            buy_quantity=ledger.buy_quantity,
            buy_price=Paise(buy_avg),
            buy_value=ledger.buy_value,
            sell_quantity=ledger.sell_quantity,
            sell_price=Paise(sell_avg),
            sell_value=ledger.sell_value,
            day_buy_quantity=ledger.day_buy_quantity,
            day_buy_price=Paise(_round_half_up(ledger.day_buy_value, ledger.day_buy_quantity)),
            day_buy_value=ledger.day_buy_value,
            day_sell_quantity=ledger.day_sell_quantity,
            day_sell_price=Paise(_round_half_up(ledger.day_sell_value, ledger.day_sell_quantity)),
            day_sell_value=ledger.day_sell_value,
        )

    def _day_position(self, ledger: PositionLedger, last: int) -> Position:
        qty = ledger.day_quantity
        buy_avg = _round_half_up(ledger.day_buy_value, ledger.day_buy_quantity)
        sell_avg = _round_half_up(ledger.day_sell_value, ledger.day_sell_quantity)
        average = buy_avg if qty > 0 else sell_avg if qty < 0 else 0
        pnl = ledger.day_sell_value - ledger.day_buy_value + qty * last
        unrealised = qty * (last - average)
        return Position(
            tradingsymbol=ledger.tradingsymbol,
            exchange=ledger.exchange,
            instrument_token=ledger.instrument_token,
            product=ledger.product,
            quantity=qty,
            overnight_quantity=0,
            multiplier=1,
            average_price=Paise(average),
            close_price=Paise(ledger.close_price),
            last_price=Paise(last),
            value=ledger.day_sell_value - ledger.day_buy_value,
            pnl=pnl,
            m2m=pnl,
            unrealised=unrealised,
            realised=pnl - unrealised,
            buy_quantity=ledger.day_buy_quantity,
            buy_price=Paise(buy_avg),
            buy_value=ledger.day_buy_value,
            sell_quantity=ledger.day_sell_quantity,
            sell_price=Paise(sell_avg),
            sell_value=ledger.day_sell_value,
            day_buy_quantity=ledger.day_buy_quantity,
            day_buy_price=Paise(buy_avg),
            day_buy_value=ledger.day_buy_value,
            day_sell_quantity=ledger.day_sell_quantity,
            day_sell_price=Paise(sell_avg),
            day_sell_value=ledger.day_sell_value,
        )

    def _rollover(self, today: date) -> None:
        """A new trading day: flat positions are dropped (a future's P&L moves to cash), open
        ones carry their quantity overnight at the last price."""
        for key, ledger in list(self._ledgers.items()):
            last = self._marks.get(ledger.instrument_token) or self._last_price(
                ledger.instrument_token, ledger.close_price
            )
            if ledger.quantity == 0:
                if ledger.instrument_type == "FUT":
                    self._account.cash += ledger.sell_value - ledger.buy_value
                del self._ledgers[key]
                self._store.delete_position(ledger.instrument_token, str(ledger.product))
                continue
            ledger.overnight_quantity = ledger.quantity
            ledger.close_price = last
            ledger.day_buy_quantity = ledger.day_buy_value = 0
            ledger.day_sell_quantity = ledger.day_sell_value = 0
            self._store.save_position(ledger)
        self._account.session_date = today.isoformat()

    def _settle(self, ledger: PositionLedger, instrument: InstrumentLike) -> Settlement:
        assert instrument.expiry is not None
        qty = ledger.quantity
        settlement = int(self._market.settlement_price(instrument.name, instrument.expiry))
        strike = int(Decimal(instrument.strike or 0) * 100)
        index = self._params.is_index(instrument.name)
        closing_side = SELL if qty > 0 else BUY
        cash_before = self._account.cash
        futures_pnl = 0
        delivered_symbol: str | None = None
        delivered = 0
        delivery_price: int | None = None
        if is_option(instrument):
            call = str(instrument.instrument_type) == "CE"
            intrinsic = max(0, settlement - strike) if call else max(0, strike - settlement)
            equity = None if index or intrinsic == 0 else self._equity_of(instrument.name)
            if equity is None:
                closing = intrinsic
                self._post(instrument, ledger.product, closing_side, abs(qty), closing)
            else:
                # Exercise / assignment: the option goes at zero, the shares at the strike.
                closing = 0
                self._post(instrument, ledger.product, closing_side, abs(qty), 0)
                long_shares = (qty > 0) == call
                delivered = abs(qty) if long_shares else -abs(qty)
                delivered_symbol = equity.tradingsymbol
                delivery_price = strike
                self._post(equity, _product_cnc(), BUY if long_shares else SELL, abs(qty), strike)
        else:
            closing = settlement
            self._post(instrument, ledger.product, closing_side, abs(qty), settlement)
            futures_pnl = ledger.sell_value - ledger.buy_value
            equity = None if index else self._equity_of(instrument.name)
            if equity is not None:
                delivered = qty
                delivered_symbol = equity.tradingsymbol
                delivery_price = settlement
                self._post(equity, _product_cnc(), BUY if qty > 0 else SELL, abs(qty), settlement)
        return Settlement(
            tradingsymbol=instrument.tradingsymbol,
            instrument_token=instrument.instrument_token,
            product=ledger.product,
            quantity=qty,
            settlement_price=Paise(settlement),
            closing_price=Paise(closing),
            cash=self._account.cash - cash_before,
            futures_pnl=futures_pnl,
            delivered_symbol=delivered_symbol,
            delivered_quantity=delivered,
            delivery_price=Paise(delivery_price) if delivery_price is not None else None,
        )

    def _equity_of(self, underlying: str) -> InstrumentLike | None:
        equity = _lookup_symbol(self._universe, "NSE", underlying)
        if equity is None:
            log.warning("no NSE equity for %s: settling in cash instead of delivery", underlying)
        return equity

    # ---- internals: bookkeeping ----------------------------------------------------------

    def _now(self) -> datetime:
        return market_now(self._market)

    def _instrument(self, token: int) -> InstrumentLike:
        instrument = _lookup_token(self._universe, token)
        if instrument is None:
            raise errors.unknown_instrument()
        return instrument

    def _next_order_id(self) -> str:
        self._account.order_seq += 1
        return f"{self._now():%y%m%d}{self._account.order_seq:09d}"

    @staticmethod
    def _exchange_order_id(order_id: str) -> str:
        return f"1{order_id[-15:]:0>15}"

    def _update(self, order: VenueOrder, **changes: Any) -> VenueOrder:
        updated = replace(order, **changes)
        self._orders[order.order_id] = updated
        self._record(updated)
        return updated

    def _record(self, order: VenueOrder) -> None:
        if order.is_terminal:
            self._live.pop(order.order_id, None)
        else:
            self._live.setdefault(order.order_id, None)
        history = self._history[order.order_id]
        history.append(order)
        self._store.save_order(order, len(history) - 1)
        if self._listener is not None:
            try:
                self._listener(order)
            except Exception:
                log.exception("order listener failed on %s", order.order_id)

    def _save_account(self) -> None:
        self._account.rng_state = self._rng.getstate()
        self._store.save_account(self._account)


__all__ = [
    "KITE_ORDER_FIELDS",
    "ORDER_MONEY_FIELDS",
    "AccountState",
    "AutosliceResult",
    "EngineSnapshot",
    "ExchangeStore",
    "Funds",
    "MarketView",
    "MatchingEngine",
    "ModifyParams",
    "NullStore",
    "OrderParams",
    "Position",
    "PositionLedger",
    "Positions",
    "PriceBand",
    "Settlement",
    "Trade",
    "UniverseView",
    "VenueOrder",
    "regular_session",
]
