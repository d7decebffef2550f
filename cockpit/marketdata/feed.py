"""The live chain: which underlying and expiry the trader watches, the latest quote of each of
its contracts, and the valued :class:`~cockpit.marketdata.chain.ChainView` on demand.

:class:`ChainFeed` is an app service. Selecting a chain subscribes its options, the underlying's
spot and the same expiry's future in full mode (bid and ask come from the depth) and fills every
quote at once from one REST ``quotes`` call, so the table is complete before the first tick.
Ticks arrive as :class:`~cockpit.domain.events.Tick` events on the bus and only update a dict
and a version counter: valuing the chain (implied volatility and greeks for every strike) is
done when someone asks for :meth:`ChainFeed.view`, at most once per version, so a thousand
ticks a second cost a thousand dict writes and the window's ten repaints a second cost ten
valuations.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from cockpit.broker.base import Broker, BrokerError, TickMode
from cockpit.bus import EventBus
from cockpit.domain.events import Tick
from cockpit.domain.instruments import Exchange, InstrumentStore, OptionChain
from cockpit.domain.market_data import DepthLevel, Quote
from cockpit.domain.money import Paise
from cockpit.marketdata.chain import DEFAULT_RATE, ChainView, value_chain

log = logging.getLogger(__name__)

#: Kite's spot symbols of the indices (the dump's ``NSE`` rows in segment ``INDICES``).
INDEX_SPOT_SYMBOLS = {
    "NIFTY": "NIFTY 50",
    "BANKNIFTY": "NIFTY BANK",
    "FINNIFTY": "NIFTY FIN SERVICE",
    "MIDCPNIFTY": "NIFTY MID SELECT",
    "NIFTYNXT50": "NIFTY NEXT 50",
}


@dataclass(frozen=True, slots=True)
class ChainSelection:
    underlying: str
    expiry: date
    chain: OptionChain
    spot_token: int | None
    future_token: int | None

    @property
    def tokens(self) -> list[int]:
        tokens = [i.instrument_token for r in self.chain.rows for i in (r.call, r.put) if i]
        tokens += [t for t in (self.spot_token, self.future_token) if t is not None]
        return tokens


def _tick_quote(tick: Tick, previous: Quote | None) -> Quote:
    """A tick as a quote: best bid and ask, last price, OI (the rest kept from before)."""
    bids: tuple[DepthLevel, ...] = (DepthLevel(tick.bid, 0, 0),) if tick.bid is not None else ()
    asks: tuple[DepthLevel, ...] = (DepthLevel(tick.ask, 0, 0),) if tick.ask is not None else ()
    if previous is not None and tick.bid is None and tick.ask is None:
        bids, asks = previous.bids, previous.asks  # an ltp-mode tick carries no book
    return Quote(
        instrument_token=tick.instrument_token,
        at=tick.at,
        last_price=tick.last_price,
        volume=tick.volume,
        open_interest=tick.oi,
        ohlc=previous.ohlc if previous is not None else None,
        bids=bids,
        asks=asks,
    )


def resolve_selection(
    store: InstrumentStore, underlying: str, expiry: date | None
) -> ChainSelection:
    """The chain of ``underlying`` expiring ``expiry`` (None: the nearest), with its spot and
    same-expiry future; an unknown underlying or expiry raises LookupError naming what is
    listed."""
    expiries = store.expiries(underlying)
    chosen = expiry if expiry is not None else expiries[0]
    chain = store.chain(underlying, chosen)
    spot_symbol = INDEX_SPOT_SYMBOLS.get(underlying, underlying)
    try:
        spot_token: int | None = store.by_symbol(Exchange.NSE, spot_symbol).instrument_token
    except LookupError:
        spot_token = None
    future = next((f for f in store.futures(underlying) if f.expiry == chosen), None)
    return ChainSelection(
        underlying=underlying,
        expiry=chosen,
        chain=chain,
        spot_token=spot_token,
        future_token=future.instrument_token if future is not None else None,
    )


def instrument_key(store: InstrumentStore, token: int) -> str | None:
    """``EXCHANGE:TRADINGSYMBOL`` of a token, as ``/quote`` takes it."""
    try:
        instrument = store.get(token)
    except LookupError:
        return None
    return f"{instrument.exchange}:{instrument.tradingsymbol}"


class ChainFeed:
    def __init__(
        self,
        broker: Broker,
        store: InstrumentStore,
        bus: EventBus,
        *,
        now: Callable[[], datetime],
        rate: float = DEFAULT_RATE,
    ) -> None:
        self._broker = broker
        self.store = store
        self._now = now
        self._rate = rate
        self._quotes: dict[int, Quote] = {}
        self._selection: ChainSelection | None = None
        self._view: ChainView | None = None
        self._view_version = -1
        self.version = 0
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe = bus.subscribe(Tick, self._on_tick)

    @property
    def selection(self) -> ChainSelection | None:
        return self._selection

    def underlyings(self) -> list[str]:
        return sorted(self.store.underlyings())

    def expiries(self, underlying: str) -> tuple[date, ...]:
        return self.store.expiries(underlying)

    def resolve(self, underlying: str, expiry: date | None) -> ChainSelection:
        return resolve_selection(self.store, underlying, expiry)

    async def select(self, underlying: str, expiry: date | None = None) -> ChainSelection:
        """Watch this chain: subscribe its contracts and fill their quotes now."""
        selection = self.resolve(underlying, expiry)
        previous = self._selection
        self._selection = selection
        self._bump()
        if previous is not None:
            stale = set(previous.tokens) - set(selection.tokens)
            if stale:
                await self._broker.unsubscribe(sorted(stale))
        await self._broker.subscribe(selection.tokens, TickMode.FULL)
        keys = [self._key(t) for t in selection.tokens]
        quotes = await self._broker.quotes([k for k in keys if k])
        for quote in quotes.values():
            # A tick that arrived while the REST call was out is newer: keep it.
            known = self._quotes.get(quote.instrument_token)
            if known is None or known.at <= quote.at:
                self._quotes[quote.instrument_token] = quote
        self._bump()
        log.info(
            "watching %s %s: %d strikes, %d quotes",
            underlying,
            selection.expiry,
            len(selection.chain.rows),
            len(quotes),
        )
        return selection

    def request(self, underlying: str, expiry: date | None = None) -> asyncio.Task[None]:
        """:meth:`select` from a widget: runs in the background, failures are logged."""
        if self._task is not None and not self._task.done():
            self._task.cancel()

        async def run() -> None:
            try:
                await self.select(underlying, expiry)
            except BrokerError as error:
                log.error("could not load the %s chain: %s", underlying, error)

        self._task = asyncio.get_running_loop().create_task(run(), name="chain-select")
        return self._task

    def _key(self, token: int) -> str | None:
        return instrument_key(self.store, token)

    def _on_tick(self, tick: Tick) -> None:
        self.ticks += 1
        self._quotes[tick.instrument_token] = _tick_quote(
            tick, self._quotes.get(tick.instrument_token)
        )
        self._bump()

    def _bump(self) -> None:
        self.version += 1

    def quote(self, token: int) -> Quote | None:
        return self._quotes.get(token)

    def view(self) -> ChainView | None:
        """The selected chain valued with the latest quotes (cached per version)."""
        selection = self._selection
        if selection is None:
            return None
        if self._view is None or self._view_version != self.version:
            spot = self._quotes.get(selection.spot_token) if selection.spot_token else None
            future = self._quotes.get(selection.future_token) if selection.future_token else None
            self._view = value_chain(
                selection.chain,
                self._quotes,
                now=self._now(),
                spot=Paise(spot.last_price) if spot is not None else None,
                future=future,
                rate=self._rate,
            )
            self._view_version = self.version
        return self._view

    async def aclose(self) -> None:
        self._unsubscribe()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
