"""A Broker over the paper exchange's own venue, in process: the real matching engine, market,
validation and faults, without sockets — so hundreds of seeded execution runs take seconds.

Orders and quotes cross the same JSON shapes as over the wire (``kite_json`` out, ``payloads``
in), so what the coordinator sees is what it would see from Kite. Order updates are delivered
as :class:`OrderUpdated` events on the bus after an optional latency, as the WebSocket would;
:meth:`step` moves the market and lets resting orders fill. :attr:`observers` are called after
every venue change with the venue itself — the invariant checks hang there.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from cockpit.broker import payloads
from cockpit.broker.base import (
    AccountMargins,
    BasketMarginEstimate,
    BrokerInputError,
    MarginShortfallError,
    OrderChange,
    OrderRefusedError,
    Position,
    Priority,
    TickMode,
)
from cockpit.bus import EventBus
from cockpit.clock import IST
from cockpit.domain.events import OrderUpdated
from cockpit.domain.instruments import InstrumentStore
from cockpit.domain.market_data import Quote
from cockpit.domain.money import Paise
from cockpit.domain.orders import Fill, Order, OrderRequest
from cockpit.exchange import kite_json
from cockpit.exchange.errors import ExchangeError, MarginError
from cockpit.exchange.faults import Faults
from cockpit.exchange.market import Market
from cockpit.exchange.matching import MatchingEngine, ModifyParams, OrderParams, VenueOrder
from cockpit.exchange.universe import Universe, build_universe, load_underlyings
from cockpit.exchange.wire import dumps
from cockpit.reference_data import load_calendar, load_contract_specs

START = datetime(2026, 12, 2, 10, 0, tzinfo=IST)  # a Wednesday


def _wire(data: Any) -> Any:
    return json.loads(dumps(data), parse_float=Decimal)


class EngineBroker:
    def __init__(
        self,
        bus: EventBus,
        *,
        seed: int = 1,
        faults: Faults | None = None,
        latency_s: float = 0.0,
        start: datetime = START,
        funds_paise: int = 50_00_000_00,
    ) -> None:
        calendar = load_calendar()
        self.universe: Universe = build_universe(
            load_underlyings(), load_contract_specs(), calendar, start.date()
        )
        self.market = Market(self.universe, calendar, seed=seed, start=start)
        self._updates: list[VenueOrder] = []
        self.engine = MatchingEngine(
            self.market,
            self.universe,
            opening_funds=Paise(funds_paise),
            seed=seed,
            listener=self._updates.append,
            faults=faults or Faults(),
        )
        self.store = InstrumentStore(self.universe.instruments)
        self._bus = bus
        self._latency = latency_s
        self.observers: list[Callable[[EngineBroker], None]] = []
        self.placed_tags: list[str] = []
        self._tasks: set[asyncio.Task[None]] = set()

    # ---- the venue --------------------------------------------------------------------------

    def step(self, seconds: float = 1.0) -> None:
        self.market.advance(seconds)
        self.engine.on_market_step()
        self._flush()

    def _flush(self) -> None:
        updates, self._updates[:] = list(self._updates), []
        for observer in self.observers:
            observer(self)
        for venue in updates:
            order = payloads.order(_wire(kite_json.order(venue, "PA0001")))
            if self._latency:
                task = asyncio.get_running_loop().create_task(self._later(order))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            else:
                self._bus.publish(OrderUpdated(at=order.placed_at, order=order))

    async def _later(self, order: Order) -> None:
        await asyncio.sleep(self._latency)
        self._bus.publish(OrderUpdated(at=order.placed_at, order=order))

    async def _pause(self) -> None:
        await asyncio.sleep(self._latency)

    def _params(self, request: OrderRequest) -> OrderParams:
        form = payloads.order_form(request)
        return OrderParams(
            exchange=form["exchange"],
            tradingsymbol=form["tradingsymbol"],
            transaction_type=request.side,
            order_type=request.order_type,
            quantity=request.quantity,
            product=request.product,
            price=request.price,
            trigger_price=request.trigger_price,
            validity=request.validity,
            tag=request.tag,
            market_protection=float(request.market_protection)
            if request.market_protection is not None
            else None,
            variety=request.variety,
        )

    # ---- Broker ----------------------------------------------------------------------------

    async def place(self, request: OrderRequest, *, priority: Priority = Priority.ORDER) -> str:
        await self._pause()
        try:
            order_id = self.engine.place(self._params(request))
        except MarginError as error:
            raise MarginShortfallError(error.message, broker_message=error.message) from None
        except ExchangeError as error:
            raise BrokerInputError(error.message, broker_message=error.message) from None
        finally:
            self._flush()
        if request.tag:
            self.placed_tags.append(request.tag)
        return order_id

    async def modify(
        self, order_id: str, change: OrderChange, *, variety: Any = None, priority: Any = None
    ) -> str:
        await self._pause()
        try:
            return self.engine.modify(
                order_id,
                ModifyParams(
                    quantity=change.quantity,
                    price=change.price,
                    trigger_price=change.trigger_price,
                    order_type=change.order_type,
                ),
            )
        except ExchangeError as error:
            raise BrokerInputError(error.message, broker_message=error.message) from None
        finally:
            self._flush()

    async def cancel(self, order_id: str, *, variety: Any = None, priority: Any = None) -> str:
        await self._pause()
        try:
            return self.engine.cancel(order_id)
        except ExchangeError as error:
            raise BrokerInputError(error.message, broker_message=error.message) from None
        finally:
            self._flush()

    async def orders(self) -> list[Order]:
        return [payloads.order(_wire(kite_json.order(o, "PA0001"))) for o in self.engine.orders()]

    async def order_history(self, order_id: str) -> list[Order]:
        try:
            history = self.engine.order_history(order_id)
        except ExchangeError as error:
            raise OrderRefusedError(error.message) from None
        return [payloads.order(_wire(kite_json.order(o, "PA0001"))) for o in history]

    async def trades(self) -> list[Fill]:
        return [payloads.fill(_wire(kite_json.trade(t))) for t in self.engine.trades()]

    async def order_trades(self, order_id: str) -> list[Fill]:
        return [
            payloads.fill(_wire(kite_json.trade(t))) for t in self.engine.order_trades(order_id)
        ]

    async def positions(self) -> list[Position]:
        net = self.engine.positions().net
        return [payloads.position(_wire(kite_json.position(p))) for p in net]

    async def margins(self) -> AccountMargins:
        return payloads.account_margins(
            _wire(kite_json.margins(self.engine.funds(), "equity")), "m"
        )

    async def order_margins(self, requests: Sequence[OrderRequest]) -> list[Any]:
        raise NotImplementedError("not used by these tests")

    async def basket_margins(
        self, requests: Sequence[OrderRequest], *, consider_positions: bool = True
    ) -> BasketMarginEstimate:
        params = [self._params(r) for r in requests]
        result = self.engine.basket_margin(params, consider_positions=consider_positions)
        symbols = [(p.exchange, p.tradingsymbol) for p in params]
        return payloads.basket(_wire(kite_json.basket(result, symbols, compact=False)), "basket")

    async def quotes(self, keys: Sequence[str]) -> dict[str, Quote]:
        out = {}
        for key in keys:
            exchange, _, symbol = key.partition(":")
            try:
                instrument = self.universe.by_symbol(exchange, symbol)
            except LookupError:
                continue
            out[key] = self.market.quote(instrument.instrument_token)
        return out

    async def instruments(self, exchange: str | None = None) -> InstrumentStore:
        return self.store

    async def subscribe(self, tokens: Sequence[int], mode: TickMode = TickMode.QUOTE) -> None:
        return None

    async def unsubscribe(self, tokens: Sequence[int]) -> None:
        return None

    def events(self) -> Any:
        raise NotImplementedError("events arrive on the bus directly")

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
