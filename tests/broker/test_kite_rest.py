"""KiteBroker against the paper exchange over loopback — every REST method, Kite's typed
errors, 429s, the idempotent place — and against a scripted transport for the retry and
lookup rules that a live venue cannot be made to show on demand."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import httpx
import pytest

from cockpit.broker.base import (
    Broker,
    BrokerError,
    BrokerEvent,
    BrokerInputError,
    BrokerNetworkError,
    OrderChange,
    Priority,
    RateLimitedError,
    TickMode,
    TokenExpiredError,
)
from cockpit.broker.kite import KiteBroker, RetryPolicy, new_tag
from cockpit.broker.limiter import RateLimiter
from cockpit.broker.login import Session, paper_login
from cockpit.clock import IST, ManualClock
from cockpit.domain.instruments import Exchange, Instrument, InstrumentType
from cockpit.domain.money import Paise, TickRounding, round_to_tick
from cockpit.domain.orders import OrderRequest, OrderStatus, OrderType, Product, Side
from cockpit.exchange.embedded import ExchangeThread
from cockpit.exchange.server import PAPER_API_SECRET, ExchangeConfig

START = datetime(2026, 12, 1, 10, 0, tzinfo=IST)  # a Tuesday: NIFTY's weekly expires today
LOT = 65
_T = TypeVar("_T")


def run(coro: Coroutine[Any, Any, _T]) -> _T:
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def exchange() -> Iterator[ExchangeThread]:
    config = ExchangeConfig(seed=7, speed=0, start=START, rate_limits=False)
    with ExchangeThread(config) as thread:
        yield thread


async def connect(url: str, **options: Any) -> KiteBroker:
    session = await paper_login(url)
    options.setdefault("clock", ManualClock(START))
    options.setdefault("limiter", RateLimiter.unlimited())
    return KiteBroker(session, base_url=url, **options)


async def admin(url: str, what: str, body: dict[str, Any]) -> None:
    """Change the paper exchange (faults, time) through its admin endpoints."""
    async with httpx.AsyncClient(base_url=url) as client:
        session = await paper_login(url, client=client)
        response = await client.post(
            f"/admin/{what}",
            json=body,
            headers={"Authorization": session.authorization, "X-Kite-Version": "3"},
        )
    assert response.status_code == 200, response.text


@dataclass(frozen=True)
class Chain:
    """Nearest-expiry NIFTY calls around the money, by strike."""

    calls: tuple[Instrument, ...]

    @property
    def atm(self) -> Instrument:
        return self.calls[len(self.calls) // 2]

    def key(self, offset: int = 0) -> str:
        return f"NFO:{self.calls[len(self.calls) // 2 + offset].tradingsymbol}"


@pytest.fixture(scope="module")
def chain(exchange: ExchangeThread) -> Chain:
    async def load() -> Chain:
        async with await connect(exchange.url) as broker:
            store = await broker.instruments()
        expiry = store.expiries("NIFTY")[0]
        rows = store.chain("NIFTY", expiry).rows
        return Chain(tuple(row.call for row in rows if row.call is not None))

    return run(load())


def limit(symbol: str, side: Side, quantity: int, price: int, **extra: Any) -> OrderRequest:
    return OrderRequest(
        tradingsymbol=symbol,
        exchange=Exchange.NFO,
        side=side,
        quantity=quantity,
        order_type=OrderType.LIMIT,
        product=Product.NRML,
        price=Paise(price),
        **extra,
    )


async def last_price(broker: KiteBroker, symbol: str) -> int:
    quote = (await broker.quotes([f"NFO:{symbol}"]))[f"NFO:{symbol}"]
    return int(quote.last_price)


def below(price: int, rupees: int) -> int:
    return int(round_to_tick(Paise(price - rupees * 100), 5, TickRounding.DOWN))


# ---- orders ----------------------------------------------------------------------------------


def test_limit_order_rests_is_modified_and_cancelled(
    exchange: ExchangeThread, chain: Chain
) -> None:
    symbol = chain.atm.tradingsymbol

    async def main() -> None:
        async with await connect(exchange.url) as broker:
            ltp = await last_price(broker, symbol)
            request = limit(symbol, Side.BUY, LOT, below(ltp, 10), tag="restlimit1")
            order_id = await broker.place(request)
            book = {o.order_id: o for o in await broker.orders()}
            placed = book[order_id]
            assert (placed.status, placed.tag, placed.price) == (
                OrderStatus.OPEN,
                "restlimit1",
                below(ltp, 10),
            )
            assert placed.trigger_price is None and placed.pending_quantity == LOT

            new_price = below(ltp, 12)
            assert await broker.modify(order_id, OrderChange(price=Paise(new_price))) == order_id
            history = await broker.order_history(order_id)
            assert history[0].status is OrderStatus.PUT_ORDER_REQ_RECEIVED
            assert (history[-1].status, history[-1].price) == (OrderStatus.OPEN, new_price)

            assert await broker.cancel(order_id) == order_id
            final = (await broker.order_history(order_id))[-1]
            assert final.status is OrderStatus.CANCELLED
            assert (final.cancelled_quantity, final.pending_quantity) == (LOT, 0)

    run(main())


def test_market_order_fills_and_shows_in_trades_positions_and_funds(
    exchange: ExchangeThread, chain: Chain
) -> None:
    symbol = chain.calls[len(chain.calls) // 2 + 3].tradingsymbol

    async def main() -> None:
        async with await connect(exchange.url) as broker:
            before = await broker.margins()
            request = OrderRequest(
                tradingsymbol=symbol,
                exchange=Exchange.NFO,
                side=Side.BUY,
                quantity=2 * LOT,
                order_type=OrderType.MARKET,
                product=Product.NRML,
                market_protection=-1,
            )
            order_id = await broker.place(request, priority=Priority.EXIT)
            done = (await broker.order_history(order_id))[-1]
            assert done.status is OrderStatus.COMPLETE
            assert done.filled_quantity == 2 * LOT and done.average_price > 0
            assert done.price is None  # a MARKET order has no price

            fills = await broker.order_trades(order_id)
            assert sum(f.quantity for f in fills) == 2 * LOT
            assert all(f.side is Side.BUY and f.price > 0 for f in fills)
            assert {f.trade_id for f in fills} <= {f.trade_id for f in await broker.trades()}

            held = {p.tradingsymbol: p for p in await broker.positions()}[symbol]
            assert (held.quantity, held.exchange, held.product) == (2 * LOT, "NFO", "NRML")
            assert held.buy_value == sum(f.value for f in fills)

            after = await broker.margins()
            assert after.available < before.available
            assert after.option_premium == 0  # premium paid moves cash, not margin
            assert after.cash == before.cash - held.buy_value

    run(main())


def test_stop_loss_order_waits_for_its_trigger(exchange: ExchangeThread, chain: Chain) -> None:
    symbol = chain.calls[len(chain.calls) // 2 - 2].tradingsymbol

    async def main() -> None:
        async with await connect(exchange.url) as broker:
            ltp = await last_price(broker, symbol)
            trigger = int(round_to_tick(Paise(ltp + 500), 5, TickRounding.UP))
            request = OrderRequest(
                tradingsymbol=symbol,
                exchange=Exchange.NFO,
                side=Side.BUY,
                quantity=LOT,
                order_type=OrderType.SL,
                product=Product.NRML,
                price=Paise(trigger + 100),
                trigger_price=Paise(trigger),
            )
            order_id = await broker.place(request, priority=Priority.EMERGENCY)
            working = (await broker.order_history(order_id))[-1]
            assert working.status is OrderStatus.TRIGGER_PENDING
            assert (working.trigger_price, working.price) == (trigger, trigger + 100)
            assert working.tag is not None and working.tag.startswith("ck")  # tagged for it
            await broker.cancel(order_id, priority=Priority.EMERGENCY)

    run(main())


def test_order_and_basket_margins_for_a_credit_spread(
    exchange: ExchangeThread, chain: Chain
) -> None:
    short_symbol = chain.atm.tradingsymbol
    long_symbol = chain.calls[len(chain.calls) // 2 + 4].tradingsymbol

    async def main() -> None:
        async with await connect(exchange.url) as broker:
            short_ltp = await last_price(broker, short_symbol)
            long_ltp = await last_price(broker, long_symbol)
            spread = [
                limit(long_symbol, Side.BUY, LOT, long_ltp),
                limit(short_symbol, Side.SELL, LOT, short_ltp),
            ]
            bought, sold = await broker.order_margins(spread)
            assert bought.option_premium > 0 and bought.span == 0
            assert sold.span > 0 and sold.total >= sold.span + sold.exposure
            basket = await broker.basket_margins(spread, consider_positions=False)
            assert len(basket.orders) == 2
            # The hedge's benefit: the basket costs less than its legs one by one.
            assert 0 < basket.initial.total < sum(o.total for o in basket.orders)
            assert basket.final.total <= basket.initial.total

    run(main())


# ---- market data -----------------------------------------------------------------------------


def test_quotes_cover_known_keys_and_leave_unknown_ones_out(
    exchange: ExchangeThread, chain: Chain
) -> None:
    async def main() -> None:
        async with await connect(exchange.url) as broker:
            keys = [chain.key(0), chain.key(1), "NFO:NOSUCHSYMBOL", chain.key(0)]
            quotes = await broker.quotes(keys)
            assert set(quotes) == {chain.key(0), chain.key(1)}
            atm = quotes[chain.key(0)]
            assert atm.instrument_token == chain.atm.instrument_token
            assert atm.at.tzinfo is not None and atm.at.astimezone(IST).date() == START.date()
            assert atm.bids and atm.asks
            assert atm.bids[0].price < atm.asks[0].price
            assert all(level.price % 5 == 0 for level in (*atm.bids, *atm.asks))
            assert await broker.quotes([]) == {}

    run(main())


def test_instruments_load_nse_and_nfo_with_lots_and_freeze_limits(
    exchange: ExchangeThread, chain: Chain
) -> None:
    async def main() -> None:
        async with await connect(exchange.url) as broker:
            store = await broker.instruments()
            nfo_only = await broker.instruments("nfo")
        atm = store.get(chain.atm.instrument_token)
        assert (atm.lot_size, atm.freeze_quantity, atm.tick_size_paise) == (65, 1800, 5)
        assert atm.max_order_quantity == 1755
        assert atm.instrument_type is InstrumentType.CE
        exchanges = {instrument.exchange for instrument in store}
        assert exchanges == {Exchange.NSE, Exchange.NFO}
        assert {instrument.exchange for instrument in nfo_only} == {Exchange.NFO}
        assert len(nfo_only) < len(store)

    run(main())


# ---- Kite's refusals -------------------------------------------------------------------------


def test_refusals_are_typed_with_kites_messages(exchange: ExchangeThread, chain: Chain) -> None:
    symbol = chain.atm.tradingsymbol

    async def main() -> None:
        async with await connect(exchange.url) as broker:
            ltp = await last_price(broker, symbol)
            with pytest.raises(BrokerInputError) as lot:
                await broker.place(limit(symbol, Side.BUY, 70, below(ltp, 5)))
            assert lot.value.broker_message == "Quantity should be a multiple of lot size (65)."
            assert lot.value.status == 400
            assert f"place BUY 70 NFO:{symbol}" in str(lot.value)

            with pytest.raises(BrokerInputError) as freeze:
                await broker.place(limit(symbol, Side.BUY, 28 * LOT, below(ltp, 5)))
            assert "exceeds the freeze limit of 1800" in freeze.value.broker_message

            with pytest.raises(BrokerInputError, match="Couldn't find that `order_id`"):
                await broker.order_history("999999999999999")
            with pytest.raises(BrokerInputError):
                await broker.cancel("999999999999999")
            with pytest.raises(BrokerInputError, match="nothing to change"):
                await broker.modify("999999999999999", OrderChange())

    run(main())


def test_insufficient_funds_is_a_rejected_order_with_kites_message(
    exchange: ExchangeThread, chain: Chain
) -> None:
    symbol = chain.atm.tradingsymbol

    async def main() -> None:
        async with await connect(exchange.url) as broker:
            ltp = await last_price(broker, symbol)
            order_id = await broker.place(limit(symbol, Side.SELL, 27 * LOT, ltp))
            final = (await broker.order_history(order_id))[-1]
            assert final.status is OrderStatus.REJECTED
            assert final.status_message is not None
            assert final.status_message.startswith("Insufficient funds. Required margin is ")
            assert final.filled_quantity == 0 and final.remaining_quantity == 0

    run(main())


def test_an_unknown_access_token_is_token_expired_and_not_echoed(
    exchange: ExchangeThread,
) -> None:
    bogus = Session("paper", "0123456789abcdef0123456789abcdef", "PA0001", START)

    async def main() -> None:
        async with KiteBroker(bogus, base_url=exchange.url) as broker:
            with pytest.raises(TokenExpiredError) as expired:
                await broker.orders()
        assert expired.value.status == 403
        assert bogus.access_token not in str(expired.value)

    run(main())


# ---- rate limits -----------------------------------------------------------------------------


@pytest.fixture
def limited_exchange() -> Iterator[ExchangeThread]:
    config = ExchangeConfig(seed=7, speed=0, start=START, rate_limits=True)
    with ExchangeThread(config) as thread:
        yield thread


def test_without_the_limiter_kite_answers_429(
    limited_exchange: ExchangeThread, chain: Chain
) -> None:
    symbol = chain.atm.tradingsymbol

    async def main() -> None:
        broker = await connect(
            limited_exchange.url, limiter=RateLimiter.unlimited(), retry=RetryPolicy(attempts=1)
        )
        async with broker:
            answers = await asyncio.gather(
                *(broker.quotes([f"NFO:{symbol}"]) for _ in range(3)), return_exceptions=True
            )
            refused = [a for a in answers if isinstance(a, BaseException)]
            assert refused and all(isinstance(a, RateLimitedError) for a in refused)
            assert all(a.status == 429 for a in refused if isinstance(a, BrokerError))

            await asyncio.sleep(1.1)
            ltp = await last_price(broker, symbol)
            requests = [limit(symbol, Side.BUY, LOT, below(ltp, 15)) for _ in range(12)]
            placed = await asyncio.gather(
                *(broker.place(r) for r in requests), return_exceptions=True
            )
            rate_limited = [p for p in placed if isinstance(p, RateLimitedError)]
            assert len(rate_limited) == 2  # Kite takes 10 orders a second
            assert len([p for p in placed if isinstance(p, str)]) == 10

    run(main())


def test_the_limiter_keeps_a_burst_under_kites_limits(
    limited_exchange: ExchangeThread, chain: Chain
) -> None:
    symbol = chain.atm.tradingsymbol

    async def main() -> None:
        broker = await connect(
            limited_exchange.url, limiter=RateLimiter(), retry=RetryPolicy(attempts=1)
        )
        async with broker:
            quotes = await asyncio.gather(*(broker.quotes([f"NFO:{symbol}"]) for _ in range(2)))
            assert all(f"NFO:{symbol}" in q for q in quotes)
            ltp = await last_price(broker, symbol)
            requests = [limit(symbol, Side.BUY, LOT, below(ltp, 15)) for _ in range(12)]
            placed = await asyncio.gather(*(broker.place(r) for r in requests))
            assert len(set(placed)) == 12

    run(main())


# ---- the idempotent place --------------------------------------------------------------------


def test_a_place_whose_answer_times_out_is_found_by_tag_and_placed_once(
    exchange: ExchangeThread, chain: Chain, caplog: pytest.LogCaptureFixture
) -> None:
    """The exchange answers after 300 ms, the broker waits 100 ms: it finds the order by tag
    in the order book (the request, left to finish, is not sent again)."""
    caplog.set_level(logging.INFO, logger="cockpit.broker.kite")
    symbol = chain.atm.tradingsymbol
    tag = new_tag()

    async def main() -> str:
        broker = await connect(exchange.url, order_timeout=0.1)
        async with broker:
            ltp = await last_price(broker, symbol)
            await admin(exchange.url, "faults", {"latency_ms": "300-300"})
            try:
                order_id = await broker.place(limit(symbol, Side.BUY, LOT, below(ltp, 10), tag=tag))
            finally:
                await admin(exchange.url, "faults", {"latency_ms": 0})
            tagged = [o for o in await broker.orders() if o.tag == tag]
            assert [o.order_id for o in tagged] == [order_id]
            await broker.cancel(order_id)
            return order_id

    order_id = run(main())
    found = [r.getMessage() for r in caplog.records if "found by tag" in r.getMessage()]
    assert len(found) == 1 and f"as order {order_id}" in found[0]


# ---- scripted transport: retries, lookups, lost answers --------------------------------------


SESSION = Session("key", "sekrit-access-token-0000", "AB1234", START)


class Script:
    """An httpx transport that answers from a list of handlers, recording every request."""

    def __init__(self, *handlers: Callable[[httpx.Request], httpx.Response]) -> None:
        self.handlers = list(handlers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handlers.pop(0)(request)

    def sent(self, method: str, path: str) -> int:
        return sum(1 for r in self.requests if (r.method, r.url.path) == (method, path))


def ok(data: object) -> Callable[[httpx.Request], httpx.Response]:
    return lambda _: httpx.Response(200, json={"status": "success", "data": data})


def fail(status: int, error_type: str, message: str) -> Callable[[httpx.Request], httpx.Response]:
    body = {"status": "error", "message": message, "data": None, "error_type": error_type}
    return lambda _: httpx.Response(status, json=body)


def raises(error: type[httpx.TransportError]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error("scripted", request=request)

    return handler


def scripted(script: Script, sleeps: list[float], **options: Any) -> KiteBroker:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    return KiteBroker(
        SESSION,
        base_url="https://kite.test",
        limiter=RateLimiter.unlimited(),
        transport=httpx.MockTransport(script),
        sleep=sleep,
        **options,
    )


def book_row(tag: str, order_id: str = "1001", quantity: int = LOT) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "exchange_order_id": None,
        "parent_order_id": None,
        "status": "OPEN",
        "status_message": None,
        "order_timestamp": "2026-12-01 10:00:00",
        "exchange_timestamp": None,
        "exchange_update_timestamp": None,
        "variety": "regular",
        "exchange": "NFO",
        "tradingsymbol": "NIFTY26D0124000CE",
        "instrument_token": 1,
        "order_type": "LIMIT",
        "transaction_type": "BUY",
        "validity": "DAY",
        "product": "NRML",
        "quantity": quantity,
        "price": 100.5,
        "trigger_price": 0,
        "average_price": 0,
        "filled_quantity": 0,
        "pending_quantity": quantity,
        "cancelled_quantity": 0,
        "tag": tag,
    }


TAGGED = limit("NIFTY26D0124000CE", Side.BUY, LOT, 10050, tag="ckfeedbeef")


def test_a_lost_answer_found_by_tag_on_a_later_check_returns_that_order() -> None:
    script = Script(raises(httpx.ReadTimeout), ok([]), ok([book_row("ckfeedbeef")]))
    sleeps: list[float] = []

    async def main() -> str:
        async with scripted(script, sleeps) as broker:
            return await broker.place(TAGGED)

    assert run(main()) == "1001"
    assert script.sent("POST", "/orders/regular") == 1
    assert sleeps == [1.0]


def test_a_lost_answer_not_found_is_reported_not_placed_and_never_resent() -> None:
    script = Script(raises(httpx.ReadTimeout), ok([]), ok([]), ok([]))
    sleeps: list[float] = []

    async def main() -> None:
        async with scripted(script, sleeps) as broker:
            with pytest.raises(BrokerNetworkError) as lost:
                await broker.place(TAGGED)
        assert "not placed" in str(lost.value)
        assert "ckfeedbeef" in str(lost.value) and "not sent again" in str(lost.value)

    run(main())
    assert script.sent("POST", "/orders/regular") == 1
    assert script.sent("GET", "/orders") == 3
    assert sleeps == [1.0, 2.0]


def slow(seconds: float, then: Callable[[httpx.Request], httpx.Response]) -> Any:
    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(seconds)
        return then(request)

    return handler


def test_a_slow_answer_not_yet_in_the_book_is_awaited_and_used() -> None:
    script = Script(slow(0.3, ok({"order_id": "3003"})), ok([]))

    async def main() -> str:
        broker = scripted(script, [], order_timeout=0.05, place_lookup_delays=(0.0,))
        async with broker:
            return await broker.place(TAGGED)

    assert run(main()) == "3003"
    assert script.sent("POST", "/orders/regular") == 1


def test_a_slow_refusal_is_raised_with_kites_message() -> None:
    script = Script(slow(0.3, fail(400, "InputException", "Invalid `price`.")), ok([]), ok([]))

    async def main() -> None:
        broker = scripted(script, [], order_timeout=0.05, place_lookup_delays=(0.0,))
        async with broker:
            with pytest.raises(BrokerInputError, match="Invalid `price`"):
                await broker.place(TAGGED)

    run(main())


def test_closing_the_broker_cancels_a_request_still_in_flight() -> None:
    script = Script(slow(5.0, ok({"order_id": "1"})), ok([book_row("ckfeedbeef")]))

    async def main() -> None:
        broker = scripted(script, [], order_timeout=0.05, place_lookup_delays=(0.0,))
        assert await broker.place(TAGGED) == "1001"  # found by tag; the POST still waits
        started = asyncio.get_running_loop().time()
        await broker.aclose()
        assert asyncio.get_running_loop().time() - started < 1.0

    run(main())


def test_a_5xx_on_place_is_resolved_by_tag_too() -> None:
    script = Script(
        fail(503, "NetworkException", "Order could not be placed"),
        ok([book_row("ckfeedbeef", order_id="2002")]),
    )

    async def main() -> str:
        async with scripted(script, []) as broker:
            return await broker.place(TAGGED)

    assert run(main()) == "2002"


def test_when_the_order_book_cannot_be_read_the_outcome_is_unknown() -> None:
    down = raises(httpx.ConnectError)
    script = Script(raises(httpx.RemoteProtocolError), *[down] * 9)

    async def main() -> None:
        async with scripted(script, []) as broker:
            with pytest.raises(BrokerNetworkError, match="outcome unknown") as lost:
                await broker.place(TAGGED)
        assert "do not send it again" in str(lost.value)

    run(main())
    assert script.sent("POST", "/orders/regular") == 1


def test_a_tag_on_a_different_order_is_not_taken_for_this_one() -> None:
    script = Script(raises(httpx.ReadTimeout), ok([book_row("ckfeedbeef", quantity=2 * LOT)]))

    async def main() -> None:
        async with scripted(script, []) as broker:
            with pytest.raises(BrokerNetworkError, match="do not match this request"):
                await broker.place(TAGGED)

    run(main())


def test_a_place_that_could_not_connect_is_not_looked_up() -> None:
    script = Script(raises(httpx.ConnectError))

    async def main() -> None:
        async with scripted(script, []) as broker:
            with pytest.raises(BrokerNetworkError, match="not sent"):
                await broker.place(TAGGED)

    run(main())
    assert len(script.requests) == 1


def test_a_modify_whose_answer_is_lost_is_not_retried() -> None:
    script = Script(raises(httpx.ReadTimeout))

    async def main() -> None:
        async with scripted(script, []) as broker:
            with pytest.raises(BrokerNetworkError, match="re-read order 1001"):
                await broker.modify("1001", OrderChange(price=Paise(10100)))

    run(main())
    assert len(script.requests) == 1


def test_reads_retry_network_errors_5xx_and_429_with_backoff() -> None:
    script = Script(
        raises(httpx.ReadTimeout),
        fail(503, "NetworkException", "Service unavailable"),
        ok([]),
        fail(429, "NetworkException", "Too many requests"),
        ok([]),
    )
    sleeps: list[float] = []

    async def main() -> None:
        async with scripted(script, sleeps) as broker:
            assert await broker.orders() == []
            assert await broker.trades() == []

    run(main())
    assert sleeps == [0.5, 1.0, 1.0]  # backoff 0.5, 1.0; after a 429 at least 1 s


def test_reads_give_up_after_the_retry_budget_and_do_not_retry_refusals() -> None:
    script = Script(
        *[fail(502, "DataException", "Bad gateway")] * 3,
        fail(400, "InputException", "Invalid `order_id`."),
    )

    async def main() -> None:
        async with scripted(script, []) as broker:
            with pytest.raises(BrokerNetworkError, match="Bad gateway"):
                await broker.positions()
            with pytest.raises(BrokerInputError, match="Invalid `order_id`"):
                await broker.order_history("x")

    run(main())
    assert len(script.requests) == 4


def test_requests_carry_kites_headers_and_exact_bodies() -> None:
    script = Script(
        ok({"order_id": "1"}),
        ok([dict.fromkeys(("span", "exposure", "option_premium", "additional", "total"), 0)]),
    )

    async def main() -> None:
        async with scripted(script, []) as broker:
            await broker.place(TAGGED)
            await broker.order_margins([TAGGED])

    run(main())
    place, margins = script.requests
    assert place.headers["X-Kite-Version"] == "3"
    assert place.headers["Authorization"] == "token key:sekrit-access-token-0000"
    assert place.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = dict(httpx.QueryParams(place.content.decode()))
    assert (form["price"], form["quantity"], form["tag"]) == ("100.50", "65", "ckfeedbeef")
    assert margins.headers["Content-Type"] == "application/json"
    assert json.loads(margins.content, parse_float=Decimal)[0]["price"] == Decimal("100.50")


def test_a_margin_answer_with_the_wrong_count_is_a_protocol_error() -> None:
    script = Script(ok([]))

    async def main() -> None:
        async with scripted(script, []) as broker:
            with pytest.raises(BrokerError, match="sent 1 order"):
                await broker.order_margins([TAGGED])

    run(main())


# ---- streaming hooks, protocol and lifecycle ------------------------------------------------


class FakeStream:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []
        self.closed = False

    async def subscribe(self, tokens: Sequence[int], mode: TickMode = TickMode.QUOTE) -> None:
        self.calls.append(("subscribe", (tuple(tokens), mode)))

    async def unsubscribe(self, tokens: Sequence[int]) -> None:
        self.calls.append(("unsubscribe", tuple(tokens)))

    async def events(self) -> AsyncIterator[BrokerEvent]:
        if False:
            yield

    async def aclose(self) -> None:
        self.closed = True


def test_the_stream_is_delegated_to_and_closed_with_the_broker() -> None:
    stream = FakeStream()

    async def main() -> None:
        broker = KiteBroker(SESSION, stream=stream, transport=httpx.MockTransport(Script()))
        assert isinstance(broker, Broker)
        await broker.subscribe([1, 2], TickMode.FULL)
        await broker.unsubscribe([2])
        assert [e async for e in broker.events()] == []
        await broker.aclose()
        await broker.aclose()

    run(main())
    assert stream.calls == [("subscribe", ((1, 2), TickMode.FULL)), ("unsubscribe", (2,))]
    assert stream.closed


def test_without_a_stream_streaming_calls_say_so() -> None:
    async def main() -> None:
        async with KiteBroker(SESSION, transport=httpx.MockTransport(Script())) as broker:
            with pytest.raises(RuntimeError, match="no market-data stream"):
                await broker.subscribe([1])
            broker.attach_stream(FakeStream())
            await broker.subscribe([1])
            with pytest.raises(RuntimeError, match="already attached"):
                broker.attach_stream(FakeStream())
            assert "sekrit" not in repr(broker)

    run(main())


# ---- secrets never leak ----------------------------------------------------------------------


def test_secrets_stay_out_of_logs_and_error_texts(
    exchange: ExchangeThread, chain: Chain, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    symbol = chain.atm.tradingsymbol
    errors: list[str] = []

    async def main() -> Session:
        session = await paper_login(exchange.url)
        broker = KiteBroker(
            session,
            base_url=exchange.url,
            clock=ManualClock(START),
            limiter=RateLimiter.unlimited(),
            order_timeout=0.1,
        )
        async with broker:
            await broker.orders()
            await broker.margins()
            await broker.quotes([f"NFO:{symbol}"])
            try:
                await broker.place(limit(symbol, Side.BUY, 70, 100))
            except BrokerError as error:
                errors.append(str(error))
                errors.append(repr(error))
            try:
                await broker.order_history("nope")
            except BrokerError as error:
                errors.append(str(error))
        bogus = Session(session.api_key, session.access_token[::-1], session.user_id, START)
        async with KiteBroker(bogus, base_url=exchange.url) as refused:
            try:
                await refused.positions()
            except TokenExpiredError as error:
                errors.append(str(error))
        errors.append(repr(session))
        return session

    session = run(main())
    assert len(errors) == 5
    secrets = {
        PAPER_API_SECRET,
        session.access_token,
        session.access_token[::-1],
    }
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert "GET /orders" in logged or "HTTP Request" in logged  # DEBUG/INFO lines were captured
    for secret in secrets:
        assert secret not in logged
        for text in errors:
            assert secret not in text
