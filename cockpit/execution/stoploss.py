"""The hybrid stop-loss: one stop exit for one instrument, a stop-limit order first and a market
order only when the stop-limit has provably stopped working.

:class:`HybridStopLoss` places an SL order whose limit sits a small buffer beyond the trigger
(:func:`stop_limit_price`), so an ordinary trigger fills at a bounded price. When the market
gaps through the limit the SL triggers (TRIGGER PENDING → OPEN) but cannot fill; if it is still
not completely filled ``fallback_after_s`` after the trigger, the stop cancels it and, only once
the broker has confirmed the SL's final state (CANCELLED, or COMPLETE if it filled meanwhile),
sends one MARKET order, with market protection, for exactly the quantity the SL left unfilled.
The market order is never live while the SL may still fill, so the quantity ever working in
exit orders never exceeds the stop's quantity. A lost or refused cancel is resolved by the
order's real final state (an order update, else a re-read of ``order_history``), never by
guessing; a fallback that fails (rejected, cancelled by market protection, refused) is
reported as :attr:`StopState.FAILED` with the broker's words and never retried here — the
coordinator turns it into an alert or an emergency. The owner forwards every order update to
:meth:`HybridStopLoss.on_order_update` and calls :meth:`HybridStopLoss.poll` about every
100 ms; all timing reads the injected :class:`~cockpit.clock.Clock`, so nothing here sleeps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum

from cockpit.broker.base import (
    Broker,
    BrokerError,
    BrokerInputError,
    BrokerNetworkError,
    Priority,
)
from cockpit.clock import Clock
from cockpit.domain.instruments import Exchange
from cockpit.domain.money import Paise, TickRounding, round_to_tick, rupees
from cockpit.domain.orders import (
    MAX_TAG_LENGTH,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    Product,
    Side,
)

log = logging.getLogger(__name__)

#: Suffixes appended to :attr:`StopSpec.tag`: the SL order and the fallback MARKET order.
STOP_TAG_SUFFIX = "SL"
FALLBACK_TAG_SUFFIX = "MK"
#: Longest :attr:`StopSpec.tag` that still fits Kite's 20-character tag with a suffix.
MAX_STOP_TAG_LENGTH = MAX_TAG_LENGTH - max(len(STOP_TAG_SUFFIX), len(FALLBACK_TAG_SUFFIX))

# Float sums such as 1.9 + 0.1 must count as 2 s on the clock.
_TIME_EPSILON = 1e-9


class StopLossError(ValueError):
    """A stop-loss specification or configuration that cannot work; the message names it."""


class IllegalStopTransitionError(RuntimeError):
    """A move the stop's transition table forbids: a bug, never a market condition."""


@dataclass(frozen=True, slots=True)
class StopLossConfig:
    """``limit_buffer_pct``: how far beyond the trigger the SL's limit sits (percent of the
    trigger). ``fallback_after_s``: how long a triggered, not completely filled SL may work
    before it is cancelled for a market order. ``market_protection``: the fallback's (−1 =
    Kite's automatic). ``confirm_timeout_s``: how long to wait for an order update before
    re-reading the order's history (and re-sending a cancel that did not take)."""

    limit_buffer_pct: Decimal = Decimal("0.5")
    fallback_after_s: float = 2.0
    market_protection: int = -1
    confirm_timeout_s: float = 1.0

    def __post_init__(self) -> None:
        buffer = self.limit_buffer_pct
        if (
            isinstance(buffer, bool)
            or not isinstance(buffer, Decimal | int)
            or not Decimal(buffer).is_finite()
            or not 0 <= buffer < 100
        ):
            raise StopLossError(
                f"limit_buffer_pct must be a Decimal percentage from 0 to below 100, got {buffer!r}"
            )
        for name in ("fallback_after_s", "confirm_timeout_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise StopLossError(f"{name} must be a number of seconds ≥ 0, got {value!r}")
        if self.confirm_timeout_s <= 0:
            raise StopLossError(
                f"confirm_timeout_s must be above 0 s, got {self.confirm_timeout_s!r}"
            )


class StopState(StrEnum):
    """ARMING: the SL is being placed. ARMED: it waits for its trigger. TRIGGERED: the market
    went through the trigger and the SL works as a limit order. CANCELLING: the fallback time
    ran out; the SL is being cancelled and its final state awaited. FALLBACK: the SL is final
    and a MARKET order works the remainder. DONE: the whole quantity is exited. FAILED: the
    stop cannot finish by itself (SL refused or ended untriggered, fallback rejected)."""

    ARMING = "ARMING"
    ARMED = "ARMED"
    TRIGGERED = "TRIGGERED"
    CANCELLING = "CANCELLING"
    FALLBACK = "FALLBACK"
    DONE = "DONE"
    FAILED = "FAILED"

    @property
    def is_final(self) -> bool:
        return self in (StopState.DONE, StopState.FAILED)


#: Every move a stop may make. A triggered SL that ends on its own (filled, or cancelled or
#: rejected by the venue) goes straight to DONE or FALLBACK without CANCELLING.
STOP_TRANSITIONS: dict[StopState, frozenset[StopState]] = {
    StopState.ARMING: frozenset({StopState.ARMED, StopState.FAILED}),
    StopState.ARMED: frozenset({StopState.TRIGGERED, StopState.FAILED}),
    StopState.TRIGGERED: frozenset({StopState.CANCELLING, StopState.FALLBACK, StopState.DONE}),
    StopState.CANCELLING: frozenset({StopState.FALLBACK, StopState.DONE}),
    StopState.FALLBACK: frozenset({StopState.DONE, StopState.FAILED}),
    StopState.DONE: frozenset(),
    StopState.FAILED: frozenset(),
}


def check_stop_transition(current: StopState, new: StopState) -> None:
    """Raise :class:`IllegalStopTransitionError` unless ``STOP_TRANSITIONS`` allows the move."""
    if new not in STOP_TRANSITIONS[current]:
        raise IllegalStopTransitionError(f"stop-loss cannot move from {current} to {new}")


@dataclass(frozen=True, slots=True)
class StopSpec:
    """One stop exit: ``side`` is the exit's side (BUY to buy back a short), ``trigger`` on the
    instrument's tick. ``tag`` (alphanumeric, at most :data:`MAX_STOP_TAG_LENGTH` characters)
    names the stop's orders at the broker with a suffix each."""

    tradingsymbol: str
    exchange: Exchange
    side: Side
    quantity: int
    trigger: Paise
    tick_size_paise: int
    product: Product = Product.NRML
    tag: str = field(kw_only=True)

    def __post_init__(self) -> None:
        symbol = self.tradingsymbol
        if not isinstance(symbol, str) or not symbol.strip():
            raise StopLossError(f"stop-loss: tradingsymbol must be given, got {symbol!r}")
        for name, kind in (("exchange", Exchange), ("side", Side), ("product", Product)):
            if not isinstance(getattr(self, name), kind):
                raise StopLossError(
                    f"{symbol}: stop {name} must be a {kind.__name__}, got {getattr(self, name)!r}"
                )
        for name in ("quantity", "tick_size_paise", "trigger"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise StopLossError(
                    f"{symbol}: stop {name} must be a positive integer, got {value!r}"
                )
        tick = self.tick_size_paise
        if self.trigger % tick:
            below = round_to_tick(self.trigger, tick, TickRounding.DOWN)
            above = round_to_tick(self.trigger, tick, TickRounding.UP)
            raise StopLossError(
                f"{symbol}: stop trigger {rupees(self.trigger)} is not on the "
                f"{rupees(Paise(tick))} tick; use {rupees(below)} or {rupees(above)}"
            )
        tag = self.tag
        if (
            not isinstance(tag, str)
            or not tag
            or len(tag) > MAX_STOP_TAG_LENGTH
            or not (tag.isascii() and tag.isalnum())
        ):
            raise StopLossError(
                f"{symbol}: stop tag {tag!r} must be 1 to {MAX_STOP_TAG_LENGTH} letters or "
                f"digits (Kite allows {MAX_TAG_LENGTH} with the stop's 2-character suffix)"
            )

    @property
    def stop_tag(self) -> str:
        return self.tag + STOP_TAG_SUFFIX

    @property
    def fallback_tag(self) -> str:
        return self.tag + FALLBACK_TAG_SUFFIX


@dataclass(frozen=True, slots=True)
class StopEvent:
    """Something the owner should know: ``state`` after the change, ``filled_quantity`` exited
    so far (SL and fallback together), ``order_id`` the order the event is about."""

    at: float
    state: StopState
    detail: str
    filled_quantity: int
    order_id: str | None


def stop_limit_price(
    side: Side, trigger: Paise, tick_size_paise: int, buffer_pct: Decimal
) -> Paise:
    """The SL's limit: a BUY stop's at trigger × (1 + buffer) rounded up to the tick, a SELL
    stop's at trigger × (1 − buffer) rounded down to the tick and never below one tick.
    ``buffer_pct`` is in percent: ``Decimal("0.5")`` puts a 100.00 BUY stop's limit at 100.50."""
    fraction = Decimal(buffer_pct) / 100
    if side is Side.BUY:
        exact = Decimal(trigger) * (1 + fraction)
        whole = Paise(int(exact.to_integral_value(rounding=ROUND_CEILING)))
        return round_to_tick(whole, tick_size_paise, TickRounding.UP)
    exact = Decimal(trigger) * (1 - fraction)
    whole = Paise(int(exact.to_integral_value(rounding=ROUND_FLOOR)))
    return Paise(max(tick_size_paise, round_to_tick(whole, tick_size_paise, TickRounding.DOWN)))


def _ignore_event(event: StopEvent) -> None:
    return None


def _broker_words(error: BrokerError) -> str:
    return error.broker_message or error.message


class _TrackedOrder:
    """What the stop knows of one of its orders: the broker's latest word, folded so that a
    stale row never undoes a final state or shrinks a fill."""

    __slots__ = (
        "filled",
        "heard_at",
        "message",
        "order_id",
        "quantity",
        "reread_wanted",
        "status",
        "tag",
        "triggered",
    )

    def __init__(self, tag: str, quantity: int, now: float) -> None:
        self.tag = tag
        self.quantity = quantity
        self.order_id: str | None = None
        self.status: OrderStatus | None = None
        self.filled = 0
        self.message = ""
        self.triggered = False
        self.heard_at = now
        self.reread_wanted = False

    @property
    def final(self) -> bool:
        return self.status is not None and self.status.is_terminal

    @property
    def unfilled(self) -> int:
        return max(self.quantity - self.filled, 0)

    def absorb(self, order: Order, now: float) -> bool:
        """Fold one broker row in; True when it told us something new."""
        self.heard_at = now
        if self.final:
            return False  # the final word is in: later rows are stale copies
        changed = False
        if order.filled_quantity > self.filled:
            self.filled = order.filled_quantity
            changed = True
        if order.status is OrderStatus.UPDATE:
            # Kite's "something changed" cue carries no status of its own: read the order.
            self.reread_wanted = True
        elif order.status is not self.status:
            self.status = order.status
            changed = True
        if order.status_message:
            self.message = order.status_message
        if not self.triggered and (
            self.status in (OrderStatus.OPEN, OrderStatus.COMPLETE) or self.filled > 0
        ):
            self.triggered = True
        if self.final:
            self.reread_wanted = False
        return changed

    def describe(self) -> str:
        status = self.status.value if self.status is not None else "unknown"
        words = f" ({self.message})" if self.message else ""
        return f"{status}, {self.filled} of {self.quantity} filled{words}"


class HybridStopLoss:
    """One stop exit through its lifecycle (see the module docstring). Drive it with
    :meth:`arm`, :meth:`on_order_update` and :meth:`poll`; read :attr:`state`,
    :attr:`filled_quantity`, :attr:`market_order_id` and :attr:`orders`."""

    def __init__(
        self,
        spec: StopSpec,
        broker: Broker,
        clock: Clock,
        *,
        config: StopLossConfig = StopLossConfig(),
        on_event: Callable[[StopEvent], None] = _ignore_event,
    ) -> None:
        self.spec = spec
        self.config = config
        self._broker = broker
        self._clock = clock
        self._on_event = on_event
        self.limit_price = stop_limit_price(
            spec.side, spec.trigger, spec.tick_size_paise, config.limit_buffer_pct
        )
        # Built now so a stop that could never be placed fails at construction, not at a gap.
        self._stop_request = OrderRequest(
            tradingsymbol=spec.tradingsymbol,
            exchange=spec.exchange,
            side=spec.side,
            quantity=spec.quantity,
            order_type=OrderType.SL,
            product=spec.product,
            price=self.limit_price,
            trigger_price=spec.trigger,
            tag=spec.stop_tag,
        )
        self._fallback_request(spec.quantity)
        self.state = StopState.ARMING
        self._sl = _TrackedOrder(spec.stop_tag, spec.quantity, clock.monotonic())
        self._market: _TrackedOrder | None = None
        self._orders: list[str] = []
        self._arm_started = False
        self._polling = False
        self._triggered_at: float | None = None
        self._cancel_sent_at: float | None = None

    # ---- what the owner reads ------------------------------------------------------------

    @property
    def filled_quantity(self) -> int:
        """Quantity exited so far: the SL's fills plus the fallback's."""
        return self._sl.filled + (self._market.filled if self._market is not None else 0)

    @property
    def market_order_id(self) -> str | None:
        return self._market.order_id if self._market is not None else None

    @property
    def stop_order_id(self) -> str | None:
        return self._sl.order_id

    @property
    def orders(self) -> tuple[str, ...]:
        """Ids of every order this stop has at the broker, in the order they were sent."""
        return tuple(self._orders)

    # ---- driving it ----------------------------------------------------------------------

    async def arm(self) -> str:
        """Place the SL order and return its id. A refusal moves the stop to FAILED and the
        broker's error is raised to the caller."""
        if self._arm_started:
            raise RuntimeError(f"{self.spec.tradingsymbol}: stop {self.spec.tag} is already armed")
        self._arm_started = True
        spec = self.spec
        self._emit(
            f"{spec.tradingsymbol}: placing SL {spec.side} {spec.quantity} trigger "
            f"{rupees(spec.trigger)} limit {rupees(self.limit_price)}",
            None,
        )
        try:
            order_id = await self._broker.place(self._stop_request, priority=Priority.EXIT)
        except BrokerError as error:
            self._move(
                StopState.FAILED,
                f"{spec.tradingsymbol}: stop order not placed: {_broker_words(error)}",
                None,
            )
            raise
        if self._sl.order_id not in (None, order_id):
            log.warning(
                "%s: an update tagged %s named order %s, the broker placed %s",
                spec.tradingsymbol,
                self._sl.tag,
                self._sl.order_id,
                order_id,
            )
        self._sl.order_id = order_id
        self._remember(order_id)
        self._move(
            StopState.ARMED,
            f"{spec.tradingsymbol}: SL {spec.side} {spec.quantity} placed as {order_id} "
            f"(trigger {rupees(spec.trigger)}, limit {rupees(self.limit_price)})",
            order_id,
        )
        self._react()
        return order_id

    def on_order_update(self, order: Order) -> None:
        """Take one order update (WebSocket, polling or a re-read); orders that are not this
        stop's are ignored. Until an order's id is known it is recognised by its tag."""
        tracked = self._match(order)
        if tracked is None:
            return
        if tracked.order_id is None:
            tracked.order_id = order.order_id
        changed = tracked.absorb(order, self._clock.monotonic())
        if not self._arm_started or (tracked is self._sl and self.state is StopState.ARMING):
            return  # arm() finishes the move to ARMED once the broker has answered
        if changed and self.state.is_final:
            self._emit(
                f"{self.spec.tradingsymbol}: late news of order {order.order_id}: "
                f"{tracked.describe()}",
                order.order_id,
            )
            return
        self._react()

    async def resume(self, orders: list[Order], last_state: StopState) -> bool:
        """Take over, after a restart, a stop an earlier run armed: its orders are found at
        the broker by tag and the broker's word decides where it stands (``last_state`` is
        what the journal last heard). False when the SL never reached the broker — then
        :meth:`arm` places it (its tag was never used). A triggered SL's fallback timer starts
        again from now; a final SL with quantity left whose trigger is in doubt is read back
        from the order's history: OPEN there means it triggered, so the market fallback goes;
        never triggered means the stop failed (the trader is told, nothing is sent)."""
        if self._arm_started:
            raise RuntimeError(f"{self.spec.tradingsymbol}: stop {self.spec.tag} is already armed")
        spec = self.spec
        by_tag = {o.tag: o for o in orders if o.tag}
        found = by_tag.get(spec.stop_tag)
        if found is None:
            return False
        self._arm_started = True
        now = self._clock.monotonic()
        sl = self._sl
        sl.order_id = found.order_id
        self._remember(found.order_id)
        sl.absorb(found, now)
        market = by_tag.get(spec.fallback_tag)
        if market is not None:
            tracked = _TrackedOrder(spec.fallback_tag, market.quantity, now)
            tracked.order_id = market.order_id
            self._remember(market.order_id)
            tracked.absorb(market, now)
            self._market = tracked
            self.state = StopState.FALLBACK
        elif sl.final and sl.unfilled == 0:
            self.state = StopState.DONE
        elif sl.final:
            triggered = sl.triggered or last_state in (StopState.TRIGGERED, StopState.CANCELLING)
            if not triggered:
                try:
                    history = await self._broker.order_history(found.order_id)
                except BrokerError:
                    history = []
                triggered = any(row.status is OrderStatus.OPEN for row in history)
            sl.triggered = triggered
            self.state = StopState.CANCELLING if triggered else StopState.ARMED
            self._cancel_sent_at = now
        elif sl.triggered:
            self._triggered_at = now
            self.state = StopState.TRIGGERED
        elif last_state is StopState.CANCELLING:
            self.state = StopState.CANCELLING
            self._cancel_sent_at = now - self.config.confirm_timeout_s  # ask again at once
        else:
            self.state = StopState.ARMED
        self._emit(
            f"{spec.tradingsymbol}: stop {spec.tag} taken over after a restart: SL "
            f"{sl.order_id} {sl.describe()}; {self.state}",
            sl.order_id,
        )
        self._react()
        return True

    async def poll(self) -> None:
        """Do what time calls for: the fallback cancel, re-reads when a confirmation is late,
        re-sent cancels, the fallback order. Concurrent calls do nothing while one runs."""
        if self._polling or not self._arm_started:
            return
        self._polling = True
        try:
            await self._poll_once()
        finally:
            self._polling = False

    # ---- internals -----------------------------------------------------------------------

    async def _poll_once(self) -> None:
        sl = self._sl
        if sl.reread_wanted and not sl.final:
            await self._reread(sl)
        market = self._market
        if market is not None and market.reread_wanted and not market.final:
            await self._reread(market)
        now = self._clock.monotonic()
        timeout = self.config.confirm_timeout_s
        if self.state is StopState.TRIGGERED and not sl.final:
            assert self._triggered_at is not None
            if now - self._triggered_at + _TIME_EPSILON >= self.config.fallback_after_s:
                self._move(
                    StopState.CANCELLING,
                    f"{self.spec.tradingsymbol}: SL {sl.order_id} not filled "
                    f"{self.config.fallback_after_s:g} s after its trigger "
                    f"({sl.filled} of {sl.quantity} filled); cancelling it",
                    sl.order_id,
                )
                await self._send_cancel()
        elif self.state is StopState.CANCELLING and not sl.final:
            if now - sl.heard_at + _TIME_EPSILON >= timeout:
                await self._reread(sl)
            assert self._cancel_sent_at is not None
            if (
                self.state is StopState.CANCELLING
                and not sl.final
                and sl.status is not OrderStatus.CANCEL_PENDING
                and self._clock.monotonic() - self._cancel_sent_at + _TIME_EPSILON >= timeout
            ):
                # Still working after a refused, lost or ignored cancel: ask again.
                await self._send_cancel()
        if self.state is StopState.FALLBACK:
            market = self._market
            if market is None:
                await self._send_fallback()
            elif (
                market.order_id is not None
                and not market.final
                and self._clock.monotonic() - market.heard_at + _TIME_EPSILON >= timeout
            ):
                await self._reread(market)

    async def _send_cancel(self) -> None:
        sl = self._sl
        assert sl.order_id is not None
        symbol = self.spec.tradingsymbol
        self._cancel_sent_at = self._clock.monotonic()
        sl.heard_at = self._cancel_sent_at
        try:
            await self._broker.cancel(sl.order_id, priority=Priority.EXIT)
        except BrokerInputError as error:
            # Kite's "being processed": usually the SL has just filled. Act on its final
            # state only: the update, else a re-read once confirm_timeout_s has passed.
            self._emit(
                f"{symbol}: cancel of SL {sl.order_id} refused ({_broker_words(error)}); "
                f"waiting for its final state",
                sl.order_id,
            )
            return
        except BrokerNetworkError as error:
            # The cancel may or may not have reached the broker: look before acting.
            self._emit(
                f"{symbol}: the answer to cancelling SL {sl.order_id} was lost "
                f"({_broker_words(error)}); re-reading the order",
                sl.order_id,
            )
            await self._reread(sl)
            return
        except BrokerError as error:
            self._emit(
                f"{symbol}: cancel of SL {sl.order_id} failed ({_broker_words(error)}); "
                f"retrying in {self.config.confirm_timeout_s:g} s",
                sl.order_id,
            )
            return
        if not sl.final:
            self._emit(
                f"{symbol}: cancel of SL {sl.order_id} accepted; waiting for confirmation",
                sl.order_id,
            )

    async def _send_fallback(self) -> None:
        spec = self.spec
        remaining = self._sl.unfilled
        market = _TrackedOrder(spec.fallback_tag, remaining, self._clock.monotonic())
        self._market = market  # set before the await: never a second fallback
        try:
            order_id = await self._broker.place(
                self._fallback_request(remaining), priority=Priority.EXIT
            )
        except BrokerError as error:
            self._move(
                StopState.FAILED,
                f"{spec.tradingsymbol}: fallback MARKET {spec.side} {remaining} not placed: "
                f"{_broker_words(error)}",
                market.order_id,
            )
            return
        market.order_id = order_id
        market.heard_at = self._clock.monotonic()
        self._remember(order_id)
        self._emit(
            f"{spec.tradingsymbol}: fallback MARKET {spec.side} {remaining} placed as {order_id}",
            order_id,
        )
        self._react()

    async def _reread(self, tracked: _TrackedOrder) -> None:
        assert tracked.order_id is not None
        order_id = tracked.order_id
        try:
            rows = await self._broker.order_history(order_id)
        except BrokerError as error:
            tracked.heard_at = self._clock.monotonic()  # try again after confirm_timeout_s
            log.warning(
                "%s: re-reading order %s failed: %s",
                self.spec.tradingsymbol,
                order_id,
                _broker_words(error),
            )
            return
        tracked.reread_wanted = False
        tracked.heard_at = self._clock.monotonic()
        if rows:
            # Kite lists an order's states oldest first: the last row is where it is now.
            self.on_order_update(rows[-1])

    def _react(self) -> None:
        """Move as far as what is known allows; never sends anything itself."""
        sl = self._sl
        symbol = self.spec.tradingsymbol
        if self.state is StopState.ARMED and sl.final and not sl.triggered:
            self._move(
                StopState.FAILED,
                f"{symbol}: SL {sl.order_id} ended before it triggered: {sl.describe()}",
                sl.order_id,
            )
            return
        if self.state is StopState.ARMED and sl.triggered:
            self._triggered_at = self._clock.monotonic()
            self._move(
                StopState.TRIGGERED,
                f"{symbol}: SL {sl.order_id} triggered: {sl.describe()}",
                sl.order_id,
            )
        if self.state in (StopState.TRIGGERED, StopState.CANCELLING) and sl.final:
            if sl.unfilled == 0:
                self._move(
                    StopState.DONE,
                    f"{symbol}: SL {sl.order_id} filled {sl.filled}; exit complete",
                    sl.order_id,
                )
                return
            self._move(
                StopState.FALLBACK,
                f"{symbol}: SL {sl.order_id} final: {sl.describe()}; sending MARKET "
                f"{self.spec.side} {sl.unfilled}",
                sl.order_id,
            )
        market = self._market
        if self.state is StopState.FALLBACK and market is not None and market.final:
            if market.status is OrderStatus.COMPLETE and market.unfilled == 0:
                self._move(
                    StopState.DONE,
                    f"{symbol}: fallback MARKET {market.order_id} filled {market.filled}; "
                    f"exit complete ({self.filled_quantity} of {self.spec.quantity})",
                    market.order_id,
                )
            else:
                self._move(
                    StopState.FAILED,
                    f"{symbol}: fallback MARKET {market.order_id} {market.describe()}; "
                    f"{self.spec.quantity - self.filled_quantity} of {self.spec.quantity} "
                    f"not exited",
                    market.order_id,
                )

    def _fallback_request(self, quantity: int) -> OrderRequest:
        spec = self.spec
        return OrderRequest(
            tradingsymbol=spec.tradingsymbol,
            exchange=spec.exchange,
            side=spec.side,
            quantity=quantity,
            order_type=OrderType.MARKET,
            product=spec.product,
            market_protection=self.config.market_protection,
            tag=spec.fallback_tag,
        )

    def _match(self, order: Order) -> _TrackedOrder | None:
        for tracked in (self._sl, self._market):
            if tracked is None:
                continue
            if tracked.order_id is not None:
                if order.order_id == tracked.order_id:
                    return tracked
            elif order.tag == tracked.tag and self._arm_started:
                return tracked
        return None

    def _remember(self, order_id: str) -> None:
        if order_id not in self._orders:
            self._orders.append(order_id)

    def _move(self, new: StopState, detail: str, order_id: str | None) -> None:
        check_stop_transition(self.state, new)
        self.state = new
        if new is StopState.FAILED:
            log.error("%s", detail)
        else:
            log.info("%s", detail)
        self._emit(detail, order_id)

    def _emit(self, detail: str, order_id: str | None) -> None:
        event = StopEvent(
            at=self._clock.monotonic(),
            state=self.state,
            detail=detail,
            filled_quantity=self.filled_quantity,
            order_id=order_id,
        )
        try:
            self._on_event(event)
        except Exception:  # one bad listener must not stop an exit half-way
            log.exception("stop-loss event listener failed on %s", event)
