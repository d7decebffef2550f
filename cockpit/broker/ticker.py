"""Kite's market-data WebSocket as an asyncio client: one connection, kept alive.

:class:`KiteTicker` connects to ``wss://ws.kite.trade`` (or the paper exchange) with the
api_key and access token in the query, sends Kite's ``subscribe``/``unsubscribe``/``mode``
messages, decodes binary frames with :mod:`cockpit.broker.ticks` and hands the ticks, the raw
``{"type": "order"}`` payloads and every connection-state change to the callbacks in
:class:`TickerHandlers` (parsing an order dict is the caller's business). A connection that
delivers nothing — not even Kite's one-byte heartbeat — for ``heartbeat_timeout_s`` is
presumed dead. After any drop it reconnects with exponential backoff and jitter (sleep, clock
and random draw injected, so tests do not wait) and resubscribes every token in its mode; a
refused token (HTTP 401/403) stops it, since only a new login helps. The access token is never
written to a log or a state detail. Callbacks run on the loop; one that raises is logged and
the stream goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import aiohttp

from cockpit.broker.base import BrokerProtocolError, TickMode
from cockpit.broker.ticks import ParsedTick, parse_frame
from cockpit.clock import Clock, SystemClock
from cockpit.domain.events import ConnectionChanged, ConnectionState

log = logging.getLogger(__name__)

KITE_TICKER_URL = "wss://ws.kite.trade"
MAX_TOKENS_PER_CONNECTION = 3000  # Kite's documented limit
_MASK = "***"
_REFUSED = frozenset({401, 403})


@dataclass(frozen=True, slots=True)
class Backoff:
    """Reconnect delays: ``initial_s × factor^attempt`` capped at ``max_s``, less a random
    fraction (at most ``jitter``) so many clients do not return in step."""

    initial_s: float = 0.5
    factor: float = 2.0
    max_s: float = 30.0
    jitter: float = 0.25

    def __post_init__(self) -> None:
        if not 0 < self.initial_s <= self.max_s:
            raise ValueError(
                f"backoff needs 0 < initial_s ≤ max_s, got {self.initial_s} and {self.max_s}"
            )
        if self.factor < 1:
            raise ValueError(f"backoff factor must be ≥ 1, got {self.factor}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"backoff jitter must be in [0, 1), got {self.jitter}")

    def delay(self, attempt: int, draw: float) -> float:
        """Seconds to wait before reconnect ``attempt`` (0-based); ``draw`` is uniform in [0, 1)."""
        base = min(self.max_s, self.initial_s * self.factor ** min(attempt, 64))
        return base * (1 - self.jitter * draw)


@dataclass(frozen=True, slots=True)
class TickerConfig:
    url: str
    api_key: str
    access_token: str = field(repr=False)
    heartbeat_timeout_s: float = 5.0
    connect_timeout_s: float = 10.0
    close_timeout_s: float = 1.0
    backoff: Backoff = field(default_factory=Backoff)

    def __post_init__(self) -> None:
        for name in ("heartbeat_timeout_s", "connect_timeout_s", "close_timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"ticker {name} must be positive, got {getattr(self, name)}")


@dataclass(frozen=True, slots=True)
class TickerHandlers:
    """Where the ticker delivers: decoded ticks (one call per frame), raw order-update dicts
    (``data`` of ``{"type": "order"}``) and connection-state changes."""

    on_ticks: Callable[[list[ParsedTick]], None]
    on_order_update: Callable[[dict[str, Any]], None]
    on_state: Callable[[ConnectionChanged], None]


class KiteTicker:
    """One WebSocket connection to Kite's ticker with reconnects; see the module docstring."""

    def __init__(
        self,
        config: TickerConfig,
        handlers: TickerHandlers,
        *,
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        draw: Callable[[], float] = random.random,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self._config = config
        self._handlers = handlers
        self._clock: Clock = clock or SystemClock()
        self._sleep = sleep
        self._draw = draw
        self._session = session
        self._owns_session = session is None
        self._modes: dict[int, TickMode] = {}
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task[None] | None = None
        self._state = ConnectionState.DISCONNECTED
        self._secrets = tuple(
            s for s in {config.access_token, quote(config.access_token, safe="")} if s
        )
        self.frames_rejected = 0
        self.connects = 0

    # ---- public ----------------------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def subscriptions(self) -> dict[int, TickMode]:
        """Every subscribed token and its mode (what a reconnect restores)."""
        return dict(self._modes)

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("the ticker is already started")
        if self._session is None:
            self._session = aiohttp.ClientSession()
        self._task = asyncio.create_task(self._run(), name="kite-ticker")

    async def subscribe(self, tokens: Iterable[int], mode: TickMode = TickMode.QUOTE) -> None:
        """Subscribe ``tokens`` in ``mode`` now if connected, and on every reconnect."""
        wanted = _tokens(tokens)
        mode = TickMode(mode)
        total = len(self._modes.keys() | set(wanted))
        if total > MAX_TOKENS_PER_CONNECTION:
            raise ValueError(
                f"Kite allows {MAX_TOKENS_PER_CONNECTION} instruments per connection; this "
                f"subscription would make {total}"
            )
        for token in wanted:
            self._modes[token] = mode
        if wanted:
            await self._send_now(
                [{"a": "subscribe", "v": wanted}, {"a": "mode", "v": [mode, wanted]}]
            )

    async def unsubscribe(self, tokens: Iterable[int]) -> None:
        gone = _tokens(tokens)
        for token in gone:
            self._modes.pop(token, None)
        if gone:
            await self._send_now([{"a": "unsubscribe", "v": gone}])

    async def aclose(self) -> None:
        """Stop: cancel the connection task, close the socket (and the session if ours)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._ws is not None:
            await self._ws.close()
            self._ws = None
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None
        self._set_state(ConnectionState.DISCONNECTED, "closed")

    # ---- the connection loop ----------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        while True:
            self._set_state(
                ConnectionState.CONNECTING,
                "connecting" if attempt == 0 else f"reconnecting (attempt {attempt + 1})",
            )
            try:
                ws = await self._connect()
            except aiohttp.WSServerHandshakeError as refused:
                if refused.status in _REFUSED:
                    self._set_state(
                        ConnectionState.DISCONNECTED,
                        f"the broker refused the access token (HTTP {refused.status}): "
                        "log in again",
                    )
                    log.error(
                        "ticker: access token refused (HTTP %d); not retrying", refused.status
                    )
                    return
                detail = f"handshake refused (HTTP {refused.status})"
                log.debug("ticker: handshake refused: %s", self._safe(refused))
            except (aiohttp.ClientError, OSError, TimeoutError) as error:
                detail = f"cannot connect: {self._safe(error)}"
            except Exception as error:  # a bug or an odd URL: report it, keep trying
                detail = f"cannot connect ({type(error).__name__}): {self._safe(error)}"
                log.error("ticker: unexpected error while connecting: %s", detail)
            else:
                detail, delivered = await self._serve(ws)
                if delivered:
                    attempt = 0
            self._set_state(ConnectionState.DISCONNECTED, detail)
            delay = self._config.backoff.delay(attempt, self._draw())
            attempt += 1
            log.info("ticker: %s; reconnecting in %.2f s", detail, delay)
            await self._sleep(delay)

    async def _connect(self) -> aiohttp.ClientWebSocketResponse:
        assert self._session is not None
        config = self._config
        async with asyncio.timeout(config.connect_timeout_s):
            return await self._session.ws_connect(
                config.url,
                params={"api_key": config.api_key, "access_token": config.access_token},
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=config.close_timeout_s),
                autoping=True,
                heartbeat=None,
                max_msg_size=1 << 22,
            )

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse) -> tuple[str, bool]:
        """Resubscribe, then read until the connection ends; returns why it ended and whether
        any frame arrived (a connection that delivered resets the backoff)."""
        self._ws = ws
        self.connects += 1
        delivered = False
        timeout = self._config.heartbeat_timeout_s
        try:
            await self._send(ws, self._subscription_messages())
            self._set_state(ConnectionState.CONNECTED, "")
            while True:
                try:
                    message = await ws.receive(timeout=timeout)
                except TimeoutError:
                    return f"no data for {timeout:g} s: connection presumed dead", delivered
                if message.type is aiohttp.WSMsgType.BINARY:
                    delivered = True
                    self._on_binary(message.data)
                elif message.type is aiohttp.WSMsgType.TEXT:
                    delivered = True
                    self._on_text(message.data)
                elif message.type is aiohttp.WSMsgType.ERROR:
                    return f"connection error: {self._safe(ws.exception())}", delivered
                elif message.type in (
                    aiohttp.WSMsgType.CLOSE,
                    aiohttp.WSMsgType.CLOSING,
                    aiohttp.WSMsgType.CLOSED,
                ):
                    reason = f": {self._safe(message.extra)}" if message.extra else ""
                    return f"closed by the broker (code {ws.close_code}){reason}", delivered
        except (aiohttp.ClientError, ConnectionError) as error:
            return f"connection lost: {self._safe(error)}", delivered
        finally:
            self._ws = None
            with contextlib.suppress(aiohttp.ClientError, ConnectionError):
                await ws.close()

    # ---- messages --------------------------------------------------------------------------

    def _subscription_messages(self) -> list[dict[str, Any]]:
        by_mode: dict[TickMode, list[int]] = {}
        for token, mode in self._modes.items():
            by_mode.setdefault(mode, []).append(token)
        if not by_mode:
            return []
        messages: list[dict[str, Any]] = [{"a": "subscribe", "v": list(self._modes)}]
        messages += [{"a": "mode", "v": [mode, tokens]} for mode, tokens in by_mode.items()]
        return messages

    async def _send_now(self, messages: list[dict[str, Any]]) -> None:
        ws = self._ws
        if ws is None or ws.closed:
            return  # sent on the next connect
        try:
            await self._send(ws, messages)
        except (aiohttp.ClientError, ConnectionError) as error:
            log.debug("ticker: send failed (%s); the reconnect resubscribes", self._safe(error))

    @staticmethod
    async def _send(ws: aiohttp.ClientWebSocketResponse, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            await ws.send_str(json.dumps(message))

    def _on_binary(self, data: bytes) -> None:
        try:
            ticks = parse_frame(data, received_at=self._clock.now())
        except BrokerProtocolError as error:
            self.frames_rejected += 1
            log.warning("ticker: dropped a malformed frame of %d bytes: %s", len(data), error)
            return
        if ticks:
            self._deliver(self._handlers.on_ticks, ticks)

    def _on_text(self, text: str) -> None:
        try:
            # Decimal, as every Kite payload: the order's prices must never pass through a float.
            message = json.loads(text, parse_float=Decimal)
        except ValueError:
            log.warning("ticker: ignored a text message that is not JSON (%d chars)", len(text))
            return
        if not isinstance(message, dict):
            log.warning("ticker: ignored a text message that is not an object")
            return
        kind, data = message.get("type"), message.get("data")
        if kind == "order":
            if isinstance(data, dict):
                self._deliver(self._handlers.on_order_update, data)
            else:
                log.warning("ticker: ignored an order message without an order object")
        elif kind == "error":
            log.warning("ticker: the broker reported: %s", self._safe(data))
        elif kind == "message":
            log.info("ticker: message from the broker: %s", self._safe(data))
        else:
            log.debug("ticker: ignored a text message of type %r", kind)

    def _deliver(self, handler: Callable[[Any], None], value: Any) -> None:
        try:
            handler(value)
        except Exception:
            log.exception("ticker: a handler failed; the stream goes on")

    def _set_state(self, state: ConnectionState, detail: str) -> None:
        if state is self._state:
            return
        self._state = state
        event = ConnectionChanged(at=self._clock.now(), state=state, detail=detail)
        log.debug("ticker: %s %s", state, detail)
        self._deliver(self._handlers.on_state, event)

    def _safe(self, value: object) -> str:
        """``value`` as text with the access token masked (aiohttp's errors quote the URL)."""
        text = str(value)
        for secret in self._secrets:
            text = text.replace(secret, _MASK)
        return text


def _tokens(tokens: Iterable[int]) -> list[int]:
    unique: dict[int, None] = {}
    for token in tokens:
        if isinstance(token, bool) or not isinstance(token, int) or token <= 0:
            raise ValueError(f"instrument tokens are positive integers, got {token!r}")
        unique[token] = None
    return list(unique)
