"""The Kite Connect v3 REST adapter: :class:`KiteBroker` speaks HTTP to Kite (or the paper
exchange) and answers the :class:`~cockpit.broker.base.Broker` protocol in domain values.

One pooled ``httpx.AsyncClient`` with explicit timeouts carries every call, with Kite's
``X-Kite-Version: 3`` and ``Authorization: token api_key:access_token`` headers, form bodies
(JSON for the margin calculators), through the :class:`~cockpit.broker.limiter.RateLimiter`;
payloads are checked and converted by :mod:`cockpit.broker.payloads`. **Retries only where
safe:** reads (and the side-effect-free margin calculators) retry a bounded number of times
with backoff on network errors, 5xx and 429; an order is never sent twice. Every order is
tagged (a fresh tag if the request has none). When a place gets no answer in time, or its
answer is lost (connection dropped after sending, or a 5xx), the order is looked up by tag in
``GET /orders`` while the request itself is left to finish: found → its id; not found after
the re-check schedule → the request's own late answer if it brings one, then one last look,
then :class:`~cockpit.broker.base.BrokerNetworkError` saying *not placed* (and not resent): the
journal keeps the intent's tag and reconciliation adopts a late arrival. If the order book
cannot be read the error says the outcome is *unknown*. A lost answer to a modify or cancel is
reported as unknown: re-read the order. Streaming (ticks, order updates) is a separate object
the broker delegates ``subscribe``/``unsubscribe``/``events`` to (:class:`BrokerStreamLike`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import httpx

from cockpit.broker import payloads
from cockpit.broker.base import (
    AccountMargins,
    BasketMarginEstimate,
    BrokerError,
    BrokerEvent,
    BrokerInputError,
    BrokerNetworkError,
    BrokerProtocolError,
    MarginEstimate,
    OrderChange,
    Position,
    Priority,
    RateLimitedError,
    TickMode,
)
from cockpit.broker.limiter import Category, RateLimiter
from cockpit.broker.login import KITE_API_URL, KITE_VERSION, Session
from cockpit.clock import Clock, SystemClock
from cockpit.domain.instruments import ContractSpecTable, Exchange, InstrumentStore
from cockpit.domain.market_data import Quote
from cockpit.domain.orders import Fill, Order, OrderRequest, Variety

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
#: How long a place waits for its answer before it starts looking for the order by tag (the
#: request itself is left to finish, within the client's timeout).
DEFAULT_ORDER_ANSWER_S = 5.0
DEFAULT_POOL = httpx.Limits(max_connections=10, max_keepalive_connections=5, keepalive_expiry=30)
#: When a place's answer is lost: look the tag up now, after 1 s and after 2 s more.
DEFAULT_PLACE_LOOKUP_DELAYS = (0.0, 1.0, 2.0)
#: Instruments per ``GET /quote`` call (Kite's limit is 500).
QUOTE_BATCH = 500
#: The dump's exchanges Cockpit trades: NSE cash and indices, NFO derivatives.
INSTRUMENT_EXCHANGES = (Exchange.NSE, Exchange.NFO)
_TAG_PREFIX = "ck"

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries for reads: ``attempts`` in all, waiting ``base_delay_s`` × 2ⁿ (capped)
    between them, and at least ``rate_limited_delay_s`` after a 429."""

    attempts: int = 3
    base_delay_s: float = 0.5
    max_delay_s: float = 4.0
    rate_limited_delay_s: float = 1.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be ≥ 1, got {self.attempts}")

    def delay(self, attempt: int, *, rate_limited: bool = False) -> float:
        """The wait after failed attempt number ``attempt`` (1-based)."""
        wait = min(self.base_delay_s * 2.0 ** (attempt - 1), self.max_delay_s)
        return max(wait, self.rate_limited_delay_s) if rate_limited else wait


class BrokerStreamLike(Protocol):
    """The streaming half of the broker (Kite's WebSocket): ticks, order updates and
    connection changes. ``KiteBroker`` delegates to one when it is attached."""

    async def subscribe(self, tokens: Sequence[int], mode: TickMode = TickMode.QUOTE) -> None: ...

    async def unsubscribe(self, tokens: Sequence[int]) -> None: ...

    def events(self) -> AsyncIterator[BrokerEvent]: ...

    async def aclose(self) -> None: ...


class _AnswerLostError(Exception):
    """An order write reached (or may have reached) the broker, but no usable answer came."""

    def __init__(self, failure: BrokerNetworkError) -> None:
        super().__init__(failure.message)
        self.failure = failure


def _transport_problem(error: httpx.TransportError) -> str:
    detail = str(error).strip()
    name = type(error).__name__
    return f"{name}: {detail}" if detail else name


def _not_sent(error: httpx.TransportError) -> bool:
    """No byte of the request can have reached the broker."""
    return isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def new_tag() -> str:
    """A fresh order tag: ``ck`` + 18 hex digits (20 characters, Kite's maximum)."""
    return _TAG_PREFIX + secrets.token_hex(9)


def _describe(request: OrderRequest) -> str:
    return (
        f"{request.side.value} {request.quantity} {request.exchange.value}:"
        f"{request.tradingsymbol} {request.order_type.value} (tag {request.tag})"
    )


class KiteBroker:
    """Kite Connect v3 over HTTP. Build it with a :class:`~cockpit.broker.login.Session`;
    ``await aclose()`` (or ``async with``) when done."""

    def __init__(
        self,
        session: Session,
        *,
        base_url: str = KITE_API_URL,
        limiter: RateLimiter | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        order_timeout: float = DEFAULT_ORDER_ANSWER_S,
        retry: RetryPolicy | None = None,
        place_lookup_delays: Sequence[float] = DEFAULT_PLACE_LOOKUP_DELAYS,
        stream: BrokerStreamLike | None = None,
        clock: Clock | None = None,
        specs: ContractSpecTable | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        pool: httpx.Limits = DEFAULT_POOL,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """``limiter`` defaults to Kite's limits (pass ``RateLimiter.unlimited()`` to send
        without holding back); ``clock`` gives today's IST date for the instruments' freeze
        limits; ``transport`` replaces the network (tests)."""
        if not place_lookup_delays:
            raise ValueError("place_lookup_delays needs at least one lookup")
        if not order_timeout > 0:
            raise ValueError(f"order_timeout must be positive seconds, got {order_timeout}")
        self._session = session
        self.base_url = base_url.rstrip("/")
        self._limiter = limiter if limiter is not None else RateLimiter()
        self._order_timeout = order_timeout
        self._retry = retry if retry is not None else RetryPolicy()
        self._lookup_delays = tuple(place_lookup_delays)
        self._stream = stream
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._specs = specs
        self._sleep = sleep
        self._closed = False
        self._unanswered: set[asyncio.Task[Any]] = set()
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers={
                "X-Kite-Version": KITE_VERSION,
                "Authorization": session.authorization,
                "User-Agent": "cockpit",
            },
            timeout=timeout,
            limits=pool,
            transport=transport,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"KiteBroker({self.base_url!r}, user {self._session.user_id})"

    @property
    def user_id(self) -> str:
        return self._session.user_id

    # ---- HTTP ----------------------------------------------------------------------------

    async def _read(
        self,
        method: str,
        path: str,
        *,
        category: Category = Category.OTHER,
        priority: Priority = Priority.READ,
        **request: Any,
    ) -> Any:
        """A call without side effects: retried on network errors, 5xx and 429."""
        where = f"{method} {path}"
        attempt = 0
        while True:
            attempt += 1
            await self._limiter.acquire(category, priority)
            started = time.monotonic()
            failure: BrokerNetworkError
            try:
                response = await self._client.request(method, path, **request)
            except httpx.TransportError as error:
                failure = BrokerNetworkError(f"{where}: {_transport_problem(error)}")
            else:
                log.debug(
                    "%s → HTTP %d in %.0f ms",
                    where,
                    response.status_code,
                    (time.monotonic() - started) * 1000,
                )
                try:
                    return self._data(response, where)
                except BrokerNetworkError as error:
                    failure = error
            if attempt >= self._retry.attempts:
                raise failure
            wait = self._retry.delay(attempt, rate_limited=isinstance(failure, RateLimitedError))
            log.warning("%s; retrying in %.1f s", failure, wait)
            await self._sleep(wait)

    def _data(self, response: httpx.Response, where: str) -> Any:
        return payloads.read_response(
            response.status_code, response.headers.get("content-type"), response.content, where
        )

    async def _write(self, method: str, path: str, form: dict[str, str], *, where: str) -> Any:
        """An order write, sent once (the caller has passed the rate limiter). Raises
        :class:`_AnswerLostError` when the broker may have it but no answer came (timeout or
        dropped connection after sending, or a 5xx)."""
        started = time.monotonic()
        try:
            response = await self._client.request(method, path, data=form)
        except httpx.TransportError as error:
            if _not_sent(error):
                raise BrokerNetworkError(
                    f"{where}: not sent, the broker could not be reached "
                    f"({_transport_problem(error)}); nothing was placed or changed"
                ) from error
            raise _AnswerLostError(
                BrokerNetworkError(f"{where}: no answer ({_transport_problem(error)})")
            ) from error
        log.debug(
            "%s → HTTP %d in %.0f ms",
            where,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        try:
            return self._data(response, where)
        except RateLimitedError:
            raise  # refused before it was taken: nothing happened
        except BrokerNetworkError as failure:
            raise _AnswerLostError(failure) from failure

    # ---- orders --------------------------------------------------------------------------

    async def place(self, request: OrderRequest, *, priority: Priority = Priority.ORDER) -> str:
        """Send one order and return its id; it is never sent twice.

        Untagged requests get a fresh tag. If no answer comes within ``order_timeout`` (or the
        answer is lost), the order is looked up by its tag while the request is left to
        finish — aborting it would make the outcome depend on how far the broker had read it.
        Found → its id. Not found → the request's own late answer if it brings one, else a
        last look, else :class:`BrokerNetworkError` saying it was not placed.
        """
        if request.tag is None:
            request = _with_tag(request, new_tag())
        where = f"place {_describe(request)}"
        await self._limiter.acquire(Category.ORDERS, priority)
        log.info("%s", where)
        sending = self._own(
            self._write(
                "POST",
                f"/orders/{request.variety.value}",
                payloads.order_form(request),
                where=where,
            ),
            name=f"kite-place-{request.tag}",
        )
        await asyncio.wait({sending}, timeout=self._order_timeout)
        if sending.done():
            try:
                return self._placed(sending.result(), where)
            except _AnswerLostError as lost:
                failure = lost.failure
        else:
            failure = BrokerNetworkError(
                f"{where}: no answer within {self._order_timeout:g} s (the request is left to "
                "finish)"
            )
        found = await self._find_placed(request, failure, priority, self._lookup_delays)
        if found is not None:
            return found
        if not sending.done():
            try:
                return self._placed(await sending, where)
            except _AnswerLostError as lost:
                failure = lost.failure
            found = await self._find_placed(request, failure, priority, (0.0,))
            if found is not None:
                return found
        checked = sum(self._lookup_delays)
        raise BrokerNetworkError(
            f"{failure.message}; not placed: no order tagged {request.tag} in the order book "
            f"after {len(self._lookup_delays)} checks over {checked:g} s; it was not sent again",
            broker_message=failure.broker_message,
            status=failure.status,
        )

    def _placed(self, data: Any, where: str) -> str:
        placed = payloads.order_id(data, where)
        log.info("%s: order %s", where, placed)
        return placed

    def _own(self, work: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        """A task the broker keeps until it ends (and cancels on ``aclose``): an order request
        whose caller stopped waiting still finishes, and its late answer is logged."""
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._unanswered.add(task)
        task.add_done_callback(self._request_ended)
        return task

    def _request_ended(self, task: asyncio.Task[Any]) -> None:
        self._unanswered.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is None:
            log.debug("%s answered: %s", task.get_name(), task.result())
        elif isinstance(error, BrokerError | _AnswerLostError):
            log.debug("%s ended: %s", task.get_name(), error)
        else:
            log.error("%s failed: %r", task.get_name(), error)

    async def _find_placed(
        self,
        request: OrderRequest,
        failure: BrokerNetworkError,
        priority: Priority,
        delays: Sequence[float],
    ) -> str | None:
        """The id of the order tagged like ``request`` in the order book, looking at each of
        ``delays``; None if it is not there. Raises when the book cannot be read or the tag
        is on an order that is not this one: the outcome is then unknown."""
        tag = request.tag
        log.warning("%s; looking the order up by tag %s", failure, tag)
        book_read = False
        last_error: BrokerError | None = None
        for wait in delays:
            if wait > 0:
                await self._sleep(wait)
            try:
                book = await self._orders(priority)
            except BrokerError as error:
                last_error = error
                log.warning("tag lookup for %s failed: %s", tag, error)
                continue
            book_read = True
            tagged = [o for o in book if o.tag == tag]
            mine = [o for o in tagged if _same_order(o, request)]
            if len(mine) == 1:
                log.warning("%s: found by tag %s as order %s", failure, tag, mine[0].order_id)
                return mine[0].order_id
            if tagged:
                ids = ", ".join(o.order_id for o in tagged)
                raise BrokerNetworkError(
                    f"{failure.message}; outcome unknown: tag {tag} is on order(s) {ids} that "
                    "do not match this request one-to-one; check the order book before "
                    "sending again",
                    broker_message=failure.broker_message,
                    status=failure.status,
                )
        if not book_read:
            raise BrokerNetworkError(
                f"{failure.message}; outcome unknown: the order book could not be read to look "
                f"for tag {tag} ({last_error}); do not send it again before reconciling",
                broker_message=failure.broker_message,
                status=failure.status,
            ) from last_error
        return None

    async def modify(
        self,
        order_id: str,
        change: OrderChange,
        *,
        variety: Variety = Variety.REGULAR,
        priority: Priority = Priority.ORDER,
    ) -> str:
        form = payloads.modify_form(change)
        where = f"modify order {order_id}"
        if not form:
            raise BrokerInputError(f"{where}: nothing to change")
        await self._limiter.acquire(Category.ORDERS, priority)
        try:
            data = await self._write(
                "PUT", f"/orders/{variety.value}/{order_id}", form, where=where
            )
        except _AnswerLostError as lost:
            raise _unknown_outcome(lost.failure, order_id) from None
        return payloads.order_id(data, where)

    async def cancel(
        self,
        order_id: str,
        *,
        variety: Variety = Variety.REGULAR,
        priority: Priority = Priority.ORDER,
    ) -> str:
        where = f"cancel order {order_id}"
        await self._limiter.acquire(Category.ORDERS, priority)
        try:
            data = await self._write(
                "DELETE", f"/orders/{variety.value}/{order_id}", {}, where=where
            )
        except _AnswerLostError as lost:
            raise _unknown_outcome(lost.failure, order_id) from None
        return payloads.order_id(data, where)

    # ---- reads ---------------------------------------------------------------------------

    async def _orders(self, priority: Priority) -> list[Order]:
        return payloads.orders(await self._read("GET", "/orders", priority=priority), "GET /orders")

    async def orders(self) -> list[Order]:
        return await self._orders(Priority.READ)

    async def order_history(self, order_id: str) -> list[Order]:
        path = f"/orders/{order_id}"
        return payloads.orders(await self._read("GET", path), f"GET {path}")

    async def trades(self) -> list[Fill]:
        return payloads.fills(await self._read("GET", "/trades"), "GET /trades")

    async def order_trades(self, order_id: str) -> list[Fill]:
        path = f"/orders/{order_id}/trades"
        return payloads.fills(await self._read("GET", path), f"GET {path}")

    async def positions(self) -> list[Position]:
        path = "/portfolio/positions"
        return payloads.positions(await self._read("GET", path), f"GET {path}")

    async def margins(self) -> AccountMargins:
        path = "/user/margins/equity"
        return payloads.account_margins(await self._read("GET", path), f"GET {path}")

    async def order_margins(self, requests: Sequence[OrderRequest]) -> list[MarginEstimate]:
        where = "POST /margins/orders"
        data = await self._read(
            "POST",
            "/margins/orders",
            content=payloads.margin_orders_json(requests),
            headers={"Content-Type": "application/json"},
        )
        estimates = payloads.margin_estimates(data, where)
        _check_count(where, len(requests), len(estimates))
        return estimates

    async def basket_margins(
        self, requests: Sequence[OrderRequest], *, consider_positions: bool = True
    ) -> BasketMarginEstimate:
        where = "POST /margins/basket"
        data = await self._read(
            "POST",
            "/margins/basket",
            params={"consider_positions": "true" if consider_positions else "false"},
            content=payloads.margin_orders_json(requests),
            headers={"Content-Type": "application/json"},
        )
        estimate = payloads.basket(data, where)
        _check_count(where, len(requests), len(estimate.orders))
        return estimate

    async def quotes(self, keys: Sequence[str]) -> dict[str, Quote]:
        """Full quotes for ``EXCHANGE:TRADINGSYMBOL`` keys, ``QUOTE_BATCH`` a call; unknown
        keys are left out, as Kite leaves them out."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, Quote] = {}
        for start in range(0, len(wanted), QUOTE_BATCH):
            batch = wanted[start : start + QUOTE_BATCH]
            data = await self._read(
                "GET", "/quote", category=Category.QUOTE, params=[("i", key) for key in batch]
            )
            found.update(payloads.quotes(data, "GET /quote"))
        return found

    async def instruments(self, exchange: str | None = None) -> InstrumentStore:
        """The instruments dump of ``exchange``, or of NSE and NFO together, with NFO freeze
        limits from the contract-spec table in force today (IST)."""
        chosen = (Exchange(exchange.upper()),) if exchange else INSTRUMENT_EXCHANGES
        texts = [await self._instruments_csv(e) for e in chosen]
        text = _join_csv(texts, "GET /instruments")
        specs = self._specs
        if specs is None:
            from cockpit.reference_data import load_contract_specs

            specs = self._specs = await asyncio.to_thread(load_contract_specs)
        today = self._clock.now().date()
        try:
            return await asyncio.to_thread(
                InstrumentStore.from_csv, text, specs, today, exchanges=chosen
            )
        except ValueError as error:
            names = "+".join(e.value for e in chosen)
            raise BrokerProtocolError(f"GET /instruments ({names}): {error}") from None

    async def _instruments_csv(self, exchange: Exchange) -> str:
        path = f"/instruments/{exchange.value}"
        where = f"GET {path}"
        attempt = 0
        while True:
            attempt += 1
            await self._limiter.acquire(Category.OTHER, Priority.READ)
            try:
                response = await self._client.get(path)
            except httpx.TransportError as error:
                failure = BrokerNetworkError(f"{where}: {_transport_problem(error)}")
            else:
                content_type = response.headers.get("content-type", "")
                if response.status_code == 200 and "csv" in content_type.lower():
                    try:
                        return response.content.decode("utf-8")
                    except UnicodeDecodeError:
                        raise BrokerProtocolError(f"{where}: the dump is not UTF-8") from None
                try:
                    # An error envelope (or a non-CSV answer): typed error or protocol error.
                    self._data(response, where)
                except BrokerNetworkError as error:
                    failure = error
                else:
                    raise BrokerProtocolError(
                        f"{where}: expected a CSV dump, got {content_type or 'no content type'}"
                    )
            if attempt >= self._retry.attempts:
                raise failure
            await self._sleep(
                self._retry.delay(attempt, rate_limited=isinstance(failure, RateLimitedError))
            )

    # ---- streaming -----------------------------------------------------------------------

    @property
    def stream(self) -> BrokerStreamLike | None:
        return self._stream

    def attach_stream(self, stream: BrokerStreamLike) -> None:
        """Attach the WebSocket side (if not given to the constructor); ``aclose`` closes it."""
        if self._stream is not None:
            raise RuntimeError("a stream is already attached to this broker")
        self._stream = stream

    def _require_stream(self) -> BrokerStreamLike:
        if self._stream is None:
            raise RuntimeError("no market-data stream is attached to this KiteBroker")
        return self._stream

    async def subscribe(self, tokens: Sequence[int], mode: TickMode = TickMode.QUOTE) -> None:
        await self._require_stream().subscribe(tokens, mode)

    async def unsubscribe(self, tokens: Sequence[int]) -> None:
        await self._require_stream().unsubscribe(tokens)

    def events(self) -> AsyncIterator[BrokerEvent]:
        return self._require_stream().events()

    # ---- lifecycle -----------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the stream (if attached) and the HTTP client; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._stream is not None:
                await self._stream.aclose()
        finally:
            pending = list(self._unanswered)
            for task in pending:
                log.warning("closing with %s unanswered; its outcome is unknown", task.get_name())
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            await self._client.aclose()

    async def __aenter__(self) -> KiteBroker:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _with_tag(request: OrderRequest, tag: str) -> OrderRequest:
    return replace(request, tag=tag)


def _same_order(order: Order, request: OrderRequest) -> bool:
    return (
        order.tradingsymbol == request.tradingsymbol
        and order.exchange is request.exchange
        and order.side is request.side
        and order.quantity == request.quantity
    )


def _unknown_outcome(failure: BrokerNetworkError, order_id: str) -> BrokerNetworkError:
    return BrokerNetworkError(
        f"{failure.message}; outcome unknown: re-read order {order_id} before acting again",
        broker_message=failure.broker_message,
        status=failure.status,
    )


def _check_count(where: str, sent: int, answered: int) -> None:
    if sent != answered:
        raise BrokerProtocolError(f"{where}: sent {sent} order(s) but got {answered} answer(s)")


def _join_csv(texts: list[str], where: str) -> str:
    """One dump from several exchanges' dumps (same header)."""
    first, *rest = texts
    lines = first.splitlines()
    header = lines[0] if lines else ""
    for text in rest:
        more = text.splitlines()
        if not more or more[0].strip() != header.strip():
            raise BrokerProtocolError(f"{where}: the exchanges' dumps have different headers")
        lines.extend(more[1:])
    return "\n".join(lines) + "\n"


__all__ = [
    "DEFAULT_ORDER_ANSWER_S",
    "DEFAULT_PLACE_LOOKUP_DELAYS",
    "DEFAULT_TIMEOUT",
    "BrokerStreamLike",
    "KiteBroker",
    "RetryPolicy",
    "new_tag",
]
