"""Market data values: a quote with five levels of depth, as Kite's full-mode tick carries it.

The paper exchange produces these and the broker adapter decodes them from Kite's binary
ticks and ``/quote`` responses, so both sides speak one type. Prices are integer paise
(see :mod:`cockpit.domain.money`); quantities are units, not lots.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cockpit.domain.money import Paise

DEPTH_LEVELS = 5


@dataclass(frozen=True, slots=True)
class DepthLevel:
    price: Paise
    quantity: int
    orders: int

    def __post_init__(self) -> None:
        if self.price < 0:
            raise ValueError(f"depth price {self.price} paise is negative")
        if self.quantity < 0 or self.orders < 0:
            raise ValueError(
                f"depth level at {self.price} paise has negative quantity or orders "
                f"({self.quantity}, {self.orders})"
            )


@dataclass(frozen=True, slots=True)
class Ohlc:
    open: Paise
    high: Paise
    low: Paise
    close: Paise


@dataclass(frozen=True, slots=True)
class Quote:
    """One instrument's market at one instant. ``bids`` best first (highest), ``asks`` best
    first (lowest); empty levels are omitted, so a one-sided market has an empty tuple."""

    instrument_token: int
    at: datetime
    last_price: Paise
    last_quantity: int = 0
    average_price: Paise = Paise(0)  # noqa: RUF009 - Paise is an int NewType: immutable
    volume: int = 0
    open_interest: int = 0
    ohlc: Ohlc | None = None
    bids: tuple[DepthLevel, ...] = ()
    asks: tuple[DepthLevel, ...] = ()

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError(f"quote for token {self.instrument_token} has a naive timestamp")
        if len(self.bids) > DEPTH_LEVELS or len(self.asks) > DEPTH_LEVELS:
            raise ValueError(
                f"quote for token {self.instrument_token} has more than {DEPTH_LEVELS} levels"
            )
        if any(a.price < b.price for a, b in zip(self.bids, self.bids[1:], strict=False)):
            raise ValueError(f"quote for token {self.instrument_token}: bids not best-first")
        if any(a.price > b.price for a, b in zip(self.asks, self.asks[1:], strict=False)):
            raise ValueError(f"quote for token {self.instrument_token}: asks not best-first")

    @property
    def best_bid(self) -> DepthLevel | None:
        return self.bids[0] if self.bids else None

    @property
    def best_ask(self) -> DepthLevel | None:
        return self.asks[0] if self.asks else None

    @property
    def mid(self) -> Paise | None:
        """Mid price rounded down to a paisa; None unless both sides are quoted."""
        if not self.bids or not self.asks:
            return None
        return Paise((self.bids[0].price + self.asks[0].price) // 2)

    @property
    def spread(self) -> Paise | None:
        if not self.bids or not self.asks:
            return None
        return Paise(self.asks[0].price - self.bids[0].price)

    @property
    def total_bid_quantity(self) -> int:
        return sum(level.quantity for level in self.bids)

    @property
    def total_ask_quantity(self) -> int:
        return sum(level.quantity for level in self.asks)
