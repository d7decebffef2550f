"""The paper exchange's server: Kite Connect v3 over HTTP and WebSocket on loopback (aiohttp).

:class:`PaperExchange` wires the parts into one venue on one asyncio loop: the
:class:`~cockpit.exchange.universe.Universe` of listed contracts, the seeded
:class:`~cockpit.exchange.market.Market`, the :class:`~cockpit.exchange.matching.MatchingEngine`
(validation, fills, positions, funds, settlement), the exchange's own state file, the ticker
hub, Kite's rate limits and the injected faults.

**Time.** The market has its own clock, fed from the wall clock × ``speed`` every
``step_interval_s``. A fresh exchange starts at the wall-clock time in IST; with
``skip_closed`` (the default) a closed market is skipped: the clock jumps to the next session's
open at start and after every close, so a new user can trade at once at any hour. Each
session close runs in order: the engine's step at 15:30 (DAY orders expire), settlement of the
contracts that expired that day (index options in cash, ITM stock options by delivery), and —
on a new trading day — the universe's roll to that day's contracts. A restarted exchange
resumes its market where its state file left it.

**HTTP.** Kite's paths, form-encoded bodies (JSON for the margin calculators), the
``Authorization: token api_key:access_token`` header and Kite's envelopes and HTTP statuses.
Every failure is an :class:`~cockpit.exchange.errors.ExchangeError` answered with Kite's error
envelope — bad fields, unknown ids, garbage bodies, unknown routes — never a 500 with a stack
trace. ``/admin/…`` (outside Kite's paths, same authorisation) changes faults, moves time,
gaps an underlying and drops WebSocket clients, for tests and demos.

**WebSocket.** ``GET /`` (or ``/ws``) with ``api_key`` and ``access_token`` in the query, as
KiteTicker connects: binary ticks for subscribed instruments that changed each step, and
``{"type": "order"}`` text messages for the user's order updates.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from cockpit.clock import IST
from cockpit.domain.calendar import TradingCalendar
from cockpit.domain.instruments import ContractSpecTable, Instrument, InstrumentType
from cockpit.domain.market_data import Quote
from cockpit.domain.money import Paise
from cockpit.domain.orders import OrderStatus, OrderType, Product, Side, Validity, Variety
from cockpit.exchange import errors, kite_json
from cockpit.exchange.errors import ExchangeError
from cockpit.exchange.faults import FaultDice, FaultError, Faults
from cockpit.exchange.market import Market, MarketClock
from cockpit.exchange.matching import (
    MatchingEngine,
    ModifyParams,
    OrderParams,
    PriceBand,
    Settlement,
    VenueOrder,
)
from cockpit.exchange.ratelimit import RateLimiter, category_of
from cockpit.exchange.sessions import SessionAuthority
from cockpit.exchange.state import ExchangeState
from cockpit.exchange.universe import UnderlyingModel, Universe, build_universe
from cockpit.exchange.wire import JSON_TYPE, Fields, dumps, error_body, kite_time, success
from cockpit.exchange.ws_hub import TickerHub

log = logging.getLogger(__name__)

#: A fresh account's funds: ₹10,00,000 — enough for a few lots of hedged index spreads.
DEFAULT_OPENING_FUNDS = Paise(10_00_000_00)
#: The paper exchange's well-known credentials. They guard play money on loopback only; a real
#: Kite account's secret lives in the OS keyring, never in code.
PAPER_API_KEY = "paper"
PAPER_API_SECRET = "paper-secret"
PAPER_USER_ID = "PA0001"

_SIDES = {m.value: m for m in Side}
_ORDER_TYPES = {m.value: m for m in OrderType}
_PRODUCTS = {m.value: m for m in Product}
_VALIDITIES = {m.value: m for m in Validity}
_VARIETIES = {m.value: m for m in Variety}
_PUSHED_STATUSES = frozenset(
    {
        OrderStatus("OPEN"),
        OrderStatus("TRIGGER PENDING"),
        OrderStatus("COMPLETE"),
        OrderStatus("CANCELLED"),
        OrderStatus("REJECTED"),
        OrderStatus("AMO REQ RECEIVED"),
    }
)
_PUBLIC_ROUTES = frozenset({("POST", "/session/token"), ("GET", "/instruments")})
_MAX_BODY = 1 << 20
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ExchangeConfig:
    """How to run one paper exchange (the ``cockpit exchange`` flags)."""

    host: str = "127.0.0.1"
    port: int = 0
    seed: int = 20261124
    state_path: Path | None = None
    speed: float = 1.0
    faults: Faults = field(default_factory=Faults)
    start: datetime | None = None  # market time of a fresh exchange; None: the wall clock
    skip_closed: bool = True
    step_interval_s: float = 0.25
    snapshot_interval_s: float = 5.0
    opening_funds: Paise = DEFAULT_OPENING_FUNDS
    api_key: str = PAPER_API_KEY
    api_secret: str = PAPER_API_SECRET
    user_id: str = PAPER_USER_ID
    user_name: str = "Paper Trader"
    rate_limits: bool = True

    def __post_init__(self) -> None:
        if self.host not in {"127.0.0.1", "localhost", "::1"}:
            raise ValueError(
                f"the paper exchange binds to loopback only (127.0.0.1, localhost or ::1), "
                f"not {self.host!r}"
            )
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0-65535, got {self.port}")
        if not (self.speed >= 0 and self.speed <= 10_000):
            raise ValueError(f"speed must be 0 to 10000 (0 pauses the market), got {self.speed}")
        if self.start is not None and self.start.tzinfo is None:
            raise ValueError("the exchange's start time must be timezone-aware")
        if not 0.01 <= self.step_interval_s <= 10:
            raise ValueError(f"step_interval_s must be 0.01-10, got {self.step_interval_s}")


class _CurrentUniverse:
    """The engine's view of the universe, following rolls to a new day's contracts."""

    def __init__(self, universe: Universe) -> None:
        self.universe = universe

    def get(self, token: int) -> Instrument | None:
        try:
            return self.universe.get(token)
        except LookupError:
            return None

    def by_symbol(self, exchange: str, tradingsymbol: str) -> Instrument | None:
        try:
            return self.universe.by_symbol(exchange, tradingsymbol)
        except (LookupError, ValueError):
            return None


def _load_reference() -> tuple[TradingCalendar, ContractSpecTable, tuple[UnderlyingModel, ...]]:
    from cockpit.exchange.universe import load_underlyings
    from cockpit.reference_data import load_calendar, load_contract_specs

    return load_calendar(), load_contract_specs(), load_underlyings()


class PaperExchange:
    """One running paper exchange. ``await start()``, use :attr:`url`, ``await stop()``."""

    def __init__(
        self,
        config: ExchangeConfig,
        *,
        calendar: TradingCalendar | None = None,
        specs: ContractSpecTable | None = None,
        underlyings: tuple[UnderlyingModel, ...] | None = None,
        wall_clock: Callable[[], float] = time.monotonic,
        wall_now: Callable[[], datetime] | None = None,
    ) -> None:
        if calendar is None or specs is None or underlyings is None:
            loaded = _load_reference()
            calendar = calendar or loaded[0]
            specs = specs or loaded[1]
            underlyings = underlyings or loaded[2]
        self.config = config
        self.calendar = calendar
        self._specs = specs
        self._models = underlyings
        self._monotonic = wall_clock
        self._wall_now = wall_now or (lambda: datetime.now(IST))
        self.faults = config.faults
        self._dice = FaultDice(config.seed)
        self._sessions = SessionAuthority(config.api_key, config.api_secret)
        self._limiter = RateLimiter() if config.rate_limits else None
        self._band = PriceBand()
        self._updates: list[VenueOrder] = []
        self._state: ExchangeState | None = None
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()
        self.url = ""
        self.settlements: list[Settlement] = []
        self.hub = TickerHub(self._known_token, self._quote_or_none)
        self._build_venue()

    # ---- construction ------------------------------------------------------------------

    def _build_venue(self) -> None:
        config = self.config
        saved_market: Mapping[str, Any] | None = None
        if config.state_path is not None:
            self._state = ExchangeState.open(config.state_path)
            saved_market = self._state.load_market()
        if saved_market is not None:
            # The snapshot's clock: microseconds since the Unix epoch (Market.snapshot).
            at = (_UNIX_EPOCH + timedelta(microseconds=int(saved_market["now_us"]))).astimezone(IST)
            universe = build_universe(self._models, self._specs, self.calendar, at.date())
            self.market = Market.restore(universe, self.calendar, saved_market)
        else:
            start = (config.start or self._wall_now()).astimezone(IST)
            if config.skip_closed and not self.calendar.session_state(start).is_open:
                start = self.calendar.next_open(start)
            universe = build_universe(self._models, self._specs, self.calendar, start.date())
            self.market = Market(universe, self.calendar, seed=config.seed, start=start)
        self._universe = _CurrentUniverse(universe)
        self.engine = MatchingEngine(
            self.market,
            self._universe,
            opening_funds=config.opening_funds,
            seed=config.seed,
            listener=self._updates.append,
            store=self._state,
            faults=self.faults,
        )
        if self._state is not None:
            snapshot = self._state.load()
            if snapshot is not None:
                self.engine.restore(snapshot)
                log.info(
                    "paper exchange state restored from %s: %d orders, %d trades",
                    config.state_path,
                    len(self.engine.orders()),
                    len(self.engine.trades()),
                )
        self._updates.clear()
        self._clock = MarketClock(self._monotonic(), config.speed)
        # A restored market may stand at a closed moment: settle and skip as the loop would.
        self._advance(0.0)
        self._save_market()

    @property
    def universe(self) -> Universe:
        return self._universe.universe

    # ---- lifecycle -----------------------------------------------------------------------

    def build_app(self) -> web.Application:
        app = web.Application(
            middlewares=[self._error_middleware, self._auth_middleware],
            client_max_size=_MAX_BODY,
        )
        r = app.router
        r.add_get("/", self._websocket)
        r.add_get("/ws", self._websocket)
        r.add_get("/connect/login", self._login_page)
        r.add_post("/session/token", self._session_token)
        r.add_delete("/session/token", self._session_logout)
        r.add_get("/user/profile", self._profile)
        r.add_get("/user/margins", self._margins)
        r.add_get("/user/margins/{segment}", self._margins)
        r.add_get("/instruments", self._instruments)
        r.add_get("/instruments/{exchange}", self._instruments)
        r.add_get("/quote", self._quote)
        r.add_get("/quote/ohlc", self._quote)
        r.add_get("/quote/ltp", self._quote)
        r.add_get("/orders", self._orders)
        r.add_post("/orders/{variety}", self._place)
        r.add_get("/orders/{order_id}", self._order_history)
        r.add_put("/orders/{variety}/{order_id}", self._modify)
        r.add_delete("/orders/{variety}/{order_id}", self._cancel)
        r.add_get("/orders/{order_id}/trades", self._order_trades)
        r.add_get("/trades", self._trades)
        r.add_get("/portfolio/positions", self._positions)
        r.add_get("/portfolio/holdings", self._holdings)
        r.add_post("/margins/orders", self._order_margins)
        r.add_post("/margins/basket", self._basket_margins)
        r.add_get("/admin/status", self._admin_status)
        r.add_post("/admin/faults", self._admin_faults)
        r.add_post("/admin/gap", self._admin_gap)
        r.add_post("/admin/time", self._admin_time)
        r.add_post("/admin/speed", self._admin_speed)
        r.add_post("/admin/disconnect", self._admin_disconnect)
        return app

    async def start(self) -> str:
        """Bind, start serving and stepping the market; returns the base URL."""
        self._runner = web.AppRunner(self.build_app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        host = "[::1]" if self.config.host == "::1" else "127.0.0.1"
        self.url = f"http://{host}:{port}"
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._run_market(), name="paper-exchange-market"),
            loop.create_task(self._run_snapshots(), name="paper-exchange-snapshots"),
        ]
        log.info("paper exchange listening on %s (market time %s)", self.url, self.market.now)
        return self.url

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.hub.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._save_market()
        if self._state is not None:
            self._state.close()
            self._state = None
        log.info("paper exchange stopped")

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1) + "/"

    # ---- the market loop -----------------------------------------------------------------

    async def _run_market(self) -> None:
        while True:
            await asyncio.sleep(self.config.step_interval_s)
            try:
                async with self._lock:
                    due = self._clock.take(self._monotonic())
                    if due > 0:
                        self._advance(due)
                await self._publish()
            except Exception:
                # One bad step must not stop the venue: log it and keep stepping.
                log.exception("paper exchange: market step failed")

    async def _run_snapshots(self) -> None:
        while True:
            await asyncio.sleep(self.config.snapshot_interval_s)
            self._save_market()

    def _save_market(self) -> None:
        if self._state is not None:
            self._state.save_market(self.market.snapshot())

    def _advance(self, seconds: float, *, skip_closed: bool | None = None) -> None:
        """Move market time by ``seconds``: each new trading day rolls the universe at its
        open and each session close runs :meth:`_close_session` on the way; with
        ``skip_closed`` a close jumps straight to the next open."""
        skip = self.config.skip_closed if skip_closed is None else skip_closed
        now = self.market.now
        target = now + timedelta(seconds=seconds)
        day = now.astimezone(IST).date()
        if skip and not self.calendar.session_state(now).is_open:
            # Started or restored while closed: finish a session already over (its close is
            # idempotent), then skip to the next open.
            if self.calendar.is_trading_day(day) and now >= self.calendar.session_close(day):
                self._close_session(day, skip=True)
            else:
                self.market.set_time(self.calendar.next_open(now))
                self._roll_if_new_day()
            self.engine.on_market_step()
            return
        while True:
            now = self.market.now
            self._roll_if_new_day()
            day = self._next_session_day(now)
            opens, closes = self.calendar.session_open(day), self.calendar.session_close(day)
            if now < opens <= target:
                self.market.advance((opens - now).total_seconds())
                continue  # the loop's top rolls the universe to the new day
            if closes <= target:
                self.market.advance((closes - now).total_seconds())
                self._close_session(day, skip=skip)
                if skip:
                    break
                continue
            if target > now:
                self.market.advance((target - now).total_seconds())
            break
        self._roll_if_new_day()
        self.engine.on_market_step()

    def _next_session_day(self, now: datetime) -> date:
        """The trading day whose session is open at ``now`` or is the next to open."""
        day = now.astimezone(IST).date()
        if self.calendar.is_trading_day(day) and now < self.calendar.session_close(day):
            return day
        return self.calendar.next_trading_day(day)

    def _close_session(self, day: date, *, skip: bool) -> None:
        self.engine.on_market_step()  # DAY orders expire at the close
        settled = self.engine.settle_expired(day)
        if settled:
            self.settlements.extend(settled)
            for item in settled:
                log.info(
                    "settled %s %d at %s",
                    item.tradingsymbol,
                    item.quantity,
                    errors.format_rupees(item.settlement_price),
                )
        if skip:
            self.market.set_time(self.calendar.next_open(self.market.now))
            self._roll_if_new_day()
        self._save_market()

    def _roll_if_new_day(self) -> None:
        day = self.market.now.astimezone(IST).date()
        universe = self._universe.universe
        if day > universe.today and self.calendar.is_trading_day(day):
            # Anything that expired before today and was missed is settled before its
            # contract leaves the universe.
            self.settlements.extend(self.engine.settle_expired(day - timedelta(days=1)))
            rolled = universe.roll(day)
            self._universe.universe = rolled
            self.market.set_universe(rolled)
            log.info(
                "paper exchange: new trading day %s, %d contracts", day, len(rolled.instruments)
            )

    async def _publish(self) -> None:
        if self.hub.clients:
            wanted = self.hub.subscribed_tokens()
            if wanted:
                changed = self.market.changed_tokens() & wanted
                quotes = {t: q for t in changed if (q := self._quote_or_none(t)) is not None}
                await self.hub.push_ticks(quotes, self._monotonic())
            else:
                await self.hub.push_ticks({}, self._monotonic())
        await self._flush_updates()

    async def _flush_updates(self) -> None:
        updates, self._updates[:] = list(self._updates), []
        for venue in updates:
            if venue.status not in _PUSHED_STATUSES:
                continue
            if self._dice.drop_update(self.faults):
                log.debug("fault: dropped the order update of %s", venue.order_id)
                continue
            payload = {"type": "order", "data": kite_json.order_update(venue, self.config.user_id)}
            await self.hub.push_order_update(self.config.user_id, payload, dumps(payload))

    def _known_token(self, token: int) -> bool:
        return self._universe.get(token) is not None

    def _quote_or_none(self, token: int) -> Quote | None:
        try:
            return self.market.quote(token)
        except (LookupError, ValueError):
            return None

    # ---- middlewares ---------------------------------------------------------------------

    @web.middleware
    async def _error_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except ExchangeError as error:
            return _error_response(error)
        except web.HTTPException as http:
            if http.status == 404:
                return _error_response(
                    errors.not_found(f"Route not found: {request.method} {request.path}")
                )
            if http.status == 405:
                return _error_response(
                    errors.general_error(
                        f"Method {request.method} is not allowed on {request.path}.",
                        http_status=405,
                    )
                )
            if http.status == 413:
                return _error_response(
                    errors.input_error(f"Request body too large (limit {_MAX_BODY} bytes).")
                )
            if http.status < 400:
                raise
            return _error_response(
                errors.general_error(
                    f"{http.reason} ({request.method} {request.path}).", http_status=http.status
                )
            )
        except asyncio.CancelledError:
            raise
        except ConnectionError as gone:
            # The client hung up mid-request: nobody to answer, nothing wrong with the venue.
            log.debug("client left during %s %s: %s", request.method, request.path, gone)
            return _error_response(errors.network_error("The client closed the connection."))
        except Exception:
            log.exception("paper exchange: unhandled error on %s %s", request.method, request.path)
            return _error_response(
                errors.general_error("The paper exchange failed to process this request.")
            )

    @web.middleware
    async def _auth_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        version = request.headers.get("X-Kite-Version")
        if version is not None and version.strip() != "3":
            raise errors.input_error(f"Invalid `X-Kite-Version` header {version!r}; expected 3.")
        path = request.path
        public = (
            (request.method, path) in _PUBLIC_ROUTES
            or path.startswith("/instruments")
            or path in {"/", "/ws", "/connect/login"}
        )
        if not public:
            self._sessions.authorise(request.headers.get("Authorization"))
        if self._limiter is not None and not path.startswith("/admin") and path not in {"/", "/ws"}:
            category = category_of(request.method, path)
            if not self._limiter.allow(self.config.user_id, category, self._monotonic()):
                raise errors.rate_limited(f"Too many requests: Kite allows {category} at a limit.")
        if not path.startswith("/admin"):
            delay = self._dice.latency_s(self.faults)
            if delay > 0:
                await asyncio.sleep(delay)
        return await handler(request)

    # ---- session and user ----------------------------------------------------------------

    async def _login_page(self, request: web.Request) -> web.StreamResponse:
        """Kite's login page stands here for a paper user: no password, straight back with a
        request token (to ``redirect_url`` if given, else as JSON)."""
        api_key = request.query.get("api_key", "")
        if api_key != self.config.api_key:
            raise errors.input_error("Invalid `api_key`.")
        token = self._sessions.new_request_token()
        redirect = request.query.get("redirect_url")
        if redirect and redirect.startswith(("http://127.0.0.1", "http://localhost")):
            raise web.HTTPFound(f"{redirect}?action=login&status=success&request_token={token}")
        return _json_response(success({"request_token": token}))

    async def _session_token(self, request: web.Request) -> web.StreamResponse:
        fields = Fields(await _form(request))
        access = self._sessions.exchange(
            fields.required_text("api_key"),
            fields.required_text("request_token"),
            fields.required_text("checksum"),
        )
        data = self._profile_data()
        data.update(
            {
                "api_key": self.config.api_key,
                "access_token": access,
                "public_token": access[:16],
                "refresh_token": "",
                "enctoken": "",
                "login_time": kite_time(self._wall_now()),
            }
        )
        return _json_response(success(data))

    async def _session_logout(self, request: web.Request) -> web.StreamResponse:
        token = request.query.get("access_token", "")
        if token:
            self._sessions.revoke(token)
        return _json_response(success(True))

    def _profile_data(self) -> dict[str, Any]:
        return {
            "user_id": self.config.user_id,
            "user_type": "individual",
            "email": "paper@localhost",
            "user_name": self.config.user_name,
            "user_shortname": self.config.user_name.split()[0],
            "broker": "PAPER",
            "exchanges": ["NSE", "NFO"],
            "products": ["CNC", "NRML", "MIS"],
            "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
            "avatar_url": None,
            "meta": {"demat_consent": "physical"},
        }

    async def _profile(self, request: web.Request) -> web.StreamResponse:
        return _json_response(success(self._profile_data()))

    async def _margins(self, request: web.Request) -> web.StreamResponse:
        segment = request.match_info.get("segment")
        if segment is not None and segment not in {"equity", "commodity"}:
            raise errors.input_error(
                f"Invalid segment {segment!r}; expected `equity` or `commodity`."
            )
        async with self._lock:
            funds = self.engine.funds()
        return _json_response(success(kite_json.margins(funds, segment)))

    # ---- market data ---------------------------------------------------------------------

    async def _instruments(self, request: web.Request) -> web.StreamResponse:
        exchange = request.match_info.get("exchange")
        text = self.universe.to_kite_csv()
        if exchange is not None:
            lines = text.splitlines()
            wanted = exchange.upper()
            text = "\n".join([lines[0], *(ln for ln in lines[1:] if ln.endswith("," + wanted))])
            text += "\n"
        response = web.Response(
            body=text.encode(), headers={"Content-Type": "text/csv; charset=utf-8"}
        )
        response.enable_compression()
        return response

    def _resolve(self, key: str) -> Instrument | None:
        exchange, sep, symbol = key.partition(":")
        if sep:
            return self._universe.by_symbol(exchange.upper(), symbol)
        if key.isdigit():
            return self._universe.get(int(key))
        return None

    async def _quote(self, request: web.Request) -> web.StreamResponse:
        keys = request.query.getall("i", [])
        if not keys:
            raise errors.input_error("Missing `i`: pass instruments as i=EXCHANGE:TRADINGSYMBOL.")
        if len(keys) > 1000:
            raise errors.input_error(f"Too many instruments ({len(keys)}); at most 1000 a call.")
        kind = request.path.rsplit("/", 1)[-1]
        data: dict[str, Any] = {}
        async with self._lock:
            for key in keys:
                instrument = self._resolve(key)
                if instrument is None:
                    continue  # Kite leaves unknown instruments out of the answer
                quote = self._quote_or_none(instrument.instrument_token)
                if quote is None:
                    continue
                if kind == "ltp":
                    data[key] = kite_json.ltp_quote(quote)
                elif kind == "ohlc":
                    data[key] = kite_json.ohlc_quote(quote)
                else:
                    band = (
                        self._band.limits(instrument, int(quote.last_price))
                        if instrument.instrument_type is not InstrumentType.EQ
                        or instrument.segment != "INDICES"
                        else None
                    )
                    low, high = band if band is not None else (0, 0)
                    data[key] = kite_json.full_quote(quote, lower_circuit=low, upper_circuit=high)
        return _json_response(success(data))

    # ---- orders --------------------------------------------------------------------------

    async def _place(self, request: web.Request) -> web.StreamResponse:
        variety = _variety(request.match_info["variety"])
        fields = Fields(await _form(request))
        params = _order_params(fields, variety)
        autoslice = (fields.text("autoslice", required=False) or "").lower() in {"true", "1"}
        async with self._lock:
            if autoslice:
                result = self.engine.place_autoslice(params)
                children = [
                    {"order_id": child}
                    if isinstance(child, str)
                    else {"error": {**child.as_dict(), "code": child.http_status}}
                    for child in result.children
                ]
                body = success({"order_id": result.order_id, "children": children})
            else:
                body = success({"order_id": self.engine.place(params)})
        await self._flush_updates()
        return _json_response(body)

    async def _modify(self, request: web.Request) -> web.StreamResponse:
        _variety(request.match_info["variety"])
        order_id = request.match_info["order_id"]
        fields = Fields(await _form(request))
        changes = ModifyParams(
            quantity=fields.integer("quantity", required=False),
            price=fields.price("price"),
            trigger_price=fields.price("trigger_price"),
            order_type=fields.choice("order_type", _ORDER_TYPES, required=False),
            validity=fields.choice("validity", _VALIDITIES, required=False),
            disclosed_quantity=fields.integer("disclosed_quantity", required=False),
            market_protection=_protection(fields),
        )
        async with self._lock:
            result = self.engine.modify(order_id, changes)
        await self._flush_updates()
        return _json_response(success({"order_id": result}))

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        _variety(request.match_info["variety"])
        async with self._lock:
            result = self.engine.cancel(request.match_info["order_id"])
        await self._flush_updates()
        return _json_response(success({"order_id": result}))

    async def _orders(self, request: web.Request) -> web.StreamResponse:
        user = self.config.user_id
        async with self._lock:
            rows = [kite_json.order(o, user) for o in self.engine.orders()]
        return _json_response(success(rows))

    async def _order_history(self, request: web.Request) -> web.StreamResponse:
        user = self.config.user_id
        async with self._lock:
            history = self.engine.order_history(request.match_info["order_id"])
        return _json_response(success([kite_json.order(o, user) for o in history]))

    async def _trades(self, request: web.Request) -> web.StreamResponse:
        async with self._lock:
            rows = [kite_json.trade(t) for t in self.engine.trades()]
        return _json_response(success(rows))

    async def _order_trades(self, request: web.Request) -> web.StreamResponse:
        async with self._lock:
            trades = self.engine.order_trades(request.match_info["order_id"])
        return _json_response(success([kite_json.trade(t) for t in trades]))

    async def _positions(self, request: web.Request) -> web.StreamResponse:
        async with self._lock:
            positions = self.engine.positions()
        return _json_response(
            success(
                {
                    "net": [kite_json.position(p) for p in positions.net],
                    "day": [kite_json.position(p) for p in positions.day],
                }
            )
        )

    async def _holdings(self, request: web.Request) -> web.StreamResponse:
        rows = []
        async with self._lock:
            for ledger in self.engine.snapshot().ledgers:
                if str(ledger.product) != "CNC" or ledger.quantity == 0:
                    continue
                quote = self._quote_or_none(ledger.instrument_token)
                last = int(quote.last_price) if quote is not None else ledger.close_price
                rows.append(kite_json.holding(ledger, last, self.config.user_id))
        return _json_response(success(rows))

    # ---- margins -------------------------------------------------------------------------

    async def _margin_requests(self, request: web.Request) -> list[OrderParams]:
        raw = await _json_body(request)
        if not isinstance(raw, list) or not raw:
            raise errors.input_error("The body must be a non-empty JSON list of orders.")
        if len(raw) > 100:
            raise errors.input_error(f"Too many orders ({len(raw)}); at most 100 a call.")
        requests = []
        for index, item in enumerate(raw):
            if not isinstance(item, dict):
                raise errors.input_error(f"orders[{index}] must be a JSON object.")
            flat: dict[str, str] = {}
            for key, value in item.items():
                if isinstance(value, dict | list):
                    raise errors.input_error(f"orders[{index}].{key} must be a plain value.")
                if value is None:
                    continue
                flat[str(key)] = (
                    str(value).lower() if isinstance(value, bool) else _number_text(value)
                )
            fields = Fields(flat)
            try:
                variety = _variety(fields.text("variety", required=False) or "regular")
                params = _order_params(fields, variety, margin_only=True)
            except ExchangeError as error:
                raise errors.input_error(f"orders[{index}]: {error.message}") from None
            if self._universe.by_symbol(params.exchange, params.tradingsymbol) is None:
                raise errors.input_error(
                    f"orders[{index}]: unknown instrument {params.exchange}:{params.tradingsymbol}."
                )
            if params.quantity <= 0:
                raise errors.input_error(f"orders[{index}]: quantity must be above 0.")
            requests.append(params)
        return requests

    async def _order_margins(self, request: web.Request) -> web.StreamResponse:
        requests = await self._margin_requests(request)
        async with self._lock:
            breakdowns = self.engine.order_margins(requests)
        data = [
            kite_json.margin_breakdown(b, exchange=r.exchange, tradingsymbol=r.tradingsymbol)
            for b, r in zip(breakdowns, requests, strict=True)
        ]
        return _json_response(success(data))

    async def _basket_margins(self, request: web.Request) -> web.StreamResponse:
        requests = await self._margin_requests(request)
        consider = request.query.get("consider_positions", "true").lower() in {"true", "1"}
        compact = request.query.get("mode", "") == "compact"
        async with self._lock:
            result = self.engine.basket_margin(requests, consider_positions=consider)
        symbols = [(r.exchange, r.tradingsymbol) for r in requests]
        return _json_response(success(kite_json.basket(result, symbols, compact=compact)))

    # ---- WebSocket -----------------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        api_key = request.query.get("api_key", "")
        token = request.query.get("access_token", "")
        if not self._sessions.is_valid(api_key, token):
            raise errors.token_error()
        if request.headers.get("Upgrade", "").lower() != "websocket":
            raise errors.input_error("This path is the WebSocket; connect with an Upgrade.")
        return await self.hub.serve(request, self.config.user_id)

    # ---- admin ---------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        session = self.calendar.session_state(self.market.now)
        return {
            "market_time": self.market.now.isoformat(),
            "session": str(session.state),
            "session_reason": session.reason,
            "trading_day": self.universe.today.isoformat(),
            "speed": self._clock.speed,
            "seed": self.config.seed,
            "steps": self.market.step_count,
            "faults": self.faults.as_dict(),
            "ticker_clients": len(self.hub.clients),
            "settlements": len(self.settlements),
        }

    async def _admin_status(self, request: web.Request) -> web.StreamResponse:
        return _json_response(success(self.status()))

    def set_faults(self, changes: Mapping[str, Any]) -> Faults:
        try:
            self.faults = self.faults.with_changes(dict(changes))
        except FaultError as error:
            raise errors.input_error(str(error)) from None
        self.engine.faults = self.faults
        log.info("paper exchange faults: %s", self.faults.as_dict())
        return self.faults

    async def _admin_faults(self, request: web.Request) -> web.StreamResponse:
        body = await _json_object(request)
        async with self._lock:
            faults = self.set_faults(body)
        return _json_response(success(faults.as_dict()))

    async def _admin_gap(self, request: web.Request) -> web.StreamResponse:
        body = await _json_object(request)
        underlying = body.get("underlying")
        pct = body.get("pct")
        if not isinstance(underlying, str) or not isinstance(pct, int | float):
            raise errors.input_error('Expected {"underlying": "NIFTY", "pct": -3.0}.')
        async with self._lock:
            try:
                self.market.gap(underlying, float(pct))
            except (LookupError, ValueError) as error:
                raise errors.input_error(f"Cannot gap {underlying}: {error}") from None
            self.engine.on_market_step()
            spot = self.market.spot(underlying)
        await self._publish()
        return _json_response(success({"underlying": underlying, "spot": spot / 100}))

    async def _admin_time(self, request: web.Request) -> web.StreamResponse:
        body = await _json_object(request)
        async with self._lock:
            now = self.market.now
            if "advance_s" in body:
                seconds = body["advance_s"]
                if not isinstance(seconds, int | float) or not 0 <= seconds <= 400 * 86_400:
                    raise errors.input_error("`advance_s` must be 0 to 34560000 seconds.")
                target = now + timedelta(seconds=float(seconds))
            elif body.get("to") == "next_open":
                target = self.calendar.next_open(now)
            elif isinstance(body.get("to"), str):
                try:
                    target = datetime.fromisoformat(body["to"])
                except ValueError:
                    raise errors.input_error(f"`to` {body['to']!r} is not an ISO time.") from None
                if target.tzinfo is None:
                    target = target.replace(tzinfo=IST)
                if target < now:
                    raise errors.input_error(f"Market time cannot go back from {now.isoformat()}.")
            else:
                raise errors.input_error(
                    'Expected {"advance_s": seconds} or {"to": ISO time | "next_open"}.'
                )
            # An explicit move goes where it is told, closed or not.
            self._advance((target - now).total_seconds(), skip_closed=False)
            self._save_market()
        await self._publish()
        return _json_response(success(self.status()))

    async def _admin_speed(self, request: web.Request) -> web.StreamResponse:
        body = await _json_object(request)
        speed = body.get("speed")
        if not isinstance(speed, int | float) or not 0 <= speed <= 10_000:
            raise errors.input_error("`speed` must be a number from 0 (pause) to 10000.")
        async with self._lock:
            due = self._clock.set_speed(float(speed), self._monotonic())
            if due > 0:
                self._advance(due)
        return _json_response(success(self.status()))

    async def _admin_disconnect(self, request: web.Request) -> web.StreamResponse:
        count = await self.hub.disconnect_all("disconnected by the exchange (fault)")
        return _json_response(success({"disconnected": count}))


# ---- request parsing ---------------------------------------------------------------------


def _json_response(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type=JSON_TYPE)


def _error_response(error: ExchangeError) -> web.Response:
    return _json_response(error_body(error.error_type, error.message), status=error.http_status)


async def _form(request: web.Request) -> dict[str, str]:
    try:
        form = await request.post()
    except ExchangeError:
        raise
    except web.HTTPException:
        raise
    except Exception:
        raise errors.input_error("Malformed request body: expected form fields.") from None
    values: dict[str, str] = {}
    for key, value in form.items():
        if not isinstance(value, str):
            raise errors.input_error(f"Invalid `{key}`: file uploads are not accepted.")
        values[key] = value
    for key, value in request.query.items():
        values.setdefault(key, value)
    return values


async def _json_body(request: web.Request) -> Any:
    try:
        text = await request.text()
    except UnicodeDecodeError:
        raise errors.input_error("The request body is not UTF-8 text.") from None
    try:
        return json.loads(text)
    except ValueError:
        raise errors.input_error("The request body is not valid JSON.") from None


async def _json_object(request: web.Request) -> dict[str, Any]:
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise errors.input_error("The request body must be a JSON object.")
    return body


def _number_text(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _variety(text: str) -> Variety:
    try:
        return _VARIETIES[text]
    except KeyError:
        options = ", ".join(sorted(_VARIETIES))
        raise errors.input_error(
            f"Invalid `variety`: {text!r}; expected one of {options}."
        ) from None


def _protection(fields: Fields) -> float | None:
    raw = fields.text("market_protection", required=False)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise errors.input_error(
            f"Invalid `market_protection`: {raw!r}. Use a percentage from 0 to 100, or -1."
        ) from None
    if not math.isfinite(value):
        raise errors.input_error(f"Invalid `market_protection`: {raw!r}.")
    return value


def _order_params(fields: Fields, variety: Variety, *, margin_only: bool = False) -> OrderParams:
    quantity = fields.integer("quantity")
    assert quantity is not None
    validity = fields.choice("validity", _VALIDITIES, required=False) or Validity.DAY
    order_type = fields.choice("order_type", _ORDER_TYPES, required=not margin_only)
    return OrderParams(
        exchange=fields.required_text("exchange").upper(),
        tradingsymbol=fields.required_text("tradingsymbol"),
        transaction_type=fields.choice("transaction_type", _SIDES),
        order_type=order_type or OrderType.MARKET,
        quantity=quantity,
        product=fields.choice("product", _PRODUCTS, required=not margin_only) or Product.NRML,
        price=fields.price("price"),
        trigger_price=fields.price("trigger_price"),
        validity=validity,
        validity_ttl=fields.integer("validity_ttl", required=False),
        disclosed_quantity=fields.integer("disclosed_quantity", required=False, default=0) or 0,
        tag=fields.text("tag", required=False),
        market_protection=_protection(fields),
        variety=variety,
    )


__all__ = [
    "DEFAULT_OPENING_FUNDS",
    "PAPER_API_KEY",
    "PAPER_API_SECRET",
    "PAPER_USER_ID",
    "ExchangeConfig",
    "PaperExchange",
]
