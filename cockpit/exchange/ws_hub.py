"""The exchange's WebSocket side: subscriptions, modes, binary ticks and order updates.

Speaks Kite's ticker protocol: the client connects with ``api_key`` and ``access_token`` in the
query, sends ``{"a": "subscribe", "v": [tokens]}``, ``{"a": "unsubscribe", "v": [...]}`` and
``{"a": "mode", "v": ["ltp"|"quote"|"full", [tokens]]}`` (subscribing sets quote mode, as
Kite does); the server sends binary frames of tick packets for subscribed tokens that changed,
a one-byte heartbeat when there is nothing else to say for a second, text frames
``{"type": "order", "data": …}`` for order updates, and ``{"type": "error", "data": "…"}`` for
a bad message (which never closes the socket).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from cockpit.domain.market_data import Quote
from cockpit.exchange.ticks import HEARTBEAT, Mode, encode_frame, encode_packet

log = logging.getLogger(__name__)

MAX_TOKENS_PER_CONNECTION = 3000  # Kite's documented per-connection limit


@dataclass(eq=False)
class Client:
    ws: web.WebSocketResponse
    user: str
    modes: dict[int, Mode] = field(default_factory=dict)
    last_sent: float = 0.0


class TickerHub:
    """Ticker clients and what each subscribed to. ``quote_of`` answers the current quote of a
    token: a client gets it at once when it subscribes or changes mode, then on each change."""

    def __init__(
        self,
        known_token: Callable[[int], bool],
        quote_of: Callable[[int], Quote | None] | None = None,
    ) -> None:
        self._known = known_token
        self._quote_of = quote_of
        self.clients: set[Client] = set()

    async def serve(self, request: web.Request, user: str) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None, max_msg_size=1 << 20)
        try:
            await ws.prepare(request)
        except ConnectionError as exc:
            # The client went away during the handshake (an app closing as it connects). An
            # unprepared WebSocketResponse must not be returned (aiohttp would try to close
            # it); the server's middleware answers a vanished client quietly.
            log.debug("ticker client left during the handshake: %s", exc)
            raise
        client = Client(ws=ws, user=user)
        self.clients.add(client)
        log.info("ticker connected (%d clients)", len(self.clients))
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await self._handle(client, message.data)
                elif message.type == WSMsgType.BINARY:
                    await self._error(client, "binary messages from the client are not understood")
                elif message.type == WSMsgType.ERROR:
                    break
        finally:
            self.clients.discard(client)
            log.info("ticker disconnected (%d clients)", len(self.clients))
        return ws

    async def _handle(self, client: Client, text: str) -> None:
        try:
            message = json.loads(text)
            action = message["a"]
            value = message["v"]
        except (ValueError, KeyError, TypeError):
            expected = '{"a": …, "v": …}'
            await self._error(client, f"invalid message {text[:80]!r}: expected {expected}")
            return
        if action == "subscribe":
            tokens = self._tokens(value)
            if tokens is None:
                await self._error(client, "subscribe expects a list of instrument tokens")
                return
            if len(set(client.modes) | set(tokens)) > MAX_TOKENS_PER_CONNECTION:
                await self._error(
                    client, f"at most {MAX_TOKENS_PER_CONNECTION} instruments per connection"
                )
                return
            for token in tokens:
                client.modes.setdefault(token, Mode.QUOTE)
            await self._snapshot(client, tokens)
        elif action == "unsubscribe":
            tokens = self._tokens(value)
            if tokens is None:
                await self._error(client, "unsubscribe expects a list of instrument tokens")
                return
            for token in tokens:
                client.modes.pop(token, None)
        elif action == "mode":
            try:
                mode = Mode(value[0])
                tokens = self._tokens(value[1])
            except (ValueError, TypeError, IndexError, KeyError):
                tokens = None
                mode = Mode.QUOTE
            if tokens is None:
                await self._error(client, 'mode expects ["ltp"|"quote"|"full", [tokens]]')
                return
            for token in tokens:
                client.modes[token] = mode
            await self._snapshot(client, tokens)
        else:
            await self._error(client, f"unknown action {action!r}")

    def _tokens(self, value: Any) -> list[int] | None:
        if not isinstance(value, list) or not all(
            isinstance(t, int) and not isinstance(t, bool) for t in value
        ):
            return None
        return [t for t in value if self._known(t)]

    async def _snapshot(self, client: Client, tokens: list[int]) -> None:
        if self._quote_of is None or not tokens:
            return
        packets = []
        for token in tokens:
            quote = self._quote_of(token)
            if quote is not None:
                packets.append(encode_packet(quote, client.modes[token]))
        for start in range(0, len(packets), 1000):
            await self._send(client, encode_frame(packets[start : start + 1000]))

    async def _error(self, client: Client, text: str) -> None:
        await self._send(client, json.dumps({"type": "error", "data": text}))

    async def _send(self, client: Client, payload: str | bytes) -> None:
        if client.ws.closed:
            return
        try:
            if isinstance(payload, bytes):
                await client.ws.send_bytes(payload)
            else:
                await client.ws.send_str(payload)
        except (ConnectionError, RuntimeError) as exc:
            log.debug("dropping a ticker client: %s", exc)
            self.clients.discard(client)

    async def push_ticks(self, quotes: dict[int, Quote], now: float) -> int:
        """Send each client the changed quotes it subscribed to; returns packets sent."""
        sent = 0
        for client in list(self.clients):
            packets = [
                encode_packet(quotes[token], mode)
                for token, mode in client.modes.items()
                if token in quotes
            ]
            if packets:
                for start in range(0, len(packets), 1000):
                    await self._send(client, encode_frame(packets[start : start + 1000]))
                client.last_sent = now
                sent += len(packets)
            elif now - client.last_sent >= 1.0:
                await self._send(client, HEARTBEAT)
                client.last_sent = now
        return sent

    async def push_order_update(self, user: str, order: dict[str, Any], text: str) -> None:
        for client in list(self.clients):
            if client.user == user:
                await self._send(client, text)

    def subscribed_tokens(self) -> set[int]:
        tokens: set[int] = set()
        for client in self.clients:
            tokens.update(client.modes)
        return tokens

    async def disconnect_all(self, reason: str = "disconnected by the exchange") -> int:
        clients = list(self.clients)
        for client in clients:
            await client.ws.close(code=1001, message=reason.encode())
        self.clients.clear()
        return len(clients)

    async def close(self) -> None:
        await asyncio.gather(
            *(c.ws.close(code=1001, message=b"exchange shutting down") for c in list(self.clients)),
            return_exceptions=True,
        )
        self.clients.clear()


def tokens_in(quotes: Iterable[Quote]) -> list[int]:
    return [q.instrument_token for q in quotes]
