"""The risk monitor: the position validator and the exercise/assignment watch, run for the window.

:class:`RiskMonitor` compares what the coordinator's groups filled with the broker's positions
(:func:`cockpit.risk.validator.validate_positions`) after every fill (debounced), after every
reconciliation and on a timer, and grades the options held against their expiry and the
underlying's spot (:func:`cockpit.risk.exercise.exercise_alerts`). Findings become
:class:`~cockpit.domain.events.AlertRaised` events keyed by condition, so the alert centre
counts a repeated condition instead of adding rows. A position mismatch is raised only when
it is still there on the next pass at least ``confirm_after_s`` later — a fill the broker has
booked but whose order update is a few milliseconds behind is not a mismatch. Qt-free; every
task it starts is its own and is cancelled by :meth:`aclose`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

from cockpit.broker.base import Broker, BrokerError, Position
from cockpit.bus import EventBus
from cockpit.domain.calendar import TradingCalendar
from cockpit.domain.events import AlertRaised
from cockpit.domain.instruments import Exchange, InstrumentStore
from cockpit.domain.money import Paise
from cockpit.execution.coordinator import Coordinator
from cockpit.execution.events import GroupChanged
from cockpit.marketdata.feed import INDEX_SPOT_SYMBOLS, instrument_key
from cockpit.risk.alerts import AlertDraft
from cockpit.risk.exercise import ExerciseRules, exercise_alert_draft, exercise_alerts
from cockpit.risk.validator import Mismatch, mismatch_alert, validate_positions

log = logging.getLogger(__name__)


class RiskMonitor:
    def __init__(
        self,
        broker: Broker,
        store: InstrumentStore,
        coordinator: Coordinator,
        bus: EventBus,
        calendar: TradingCalendar,
        now: Callable[[], datetime],
        *,
        interval_s: float = 12.0,
        debounce_s: float = 1.0,
        confirm_after_s: float = 1.0,
        exercise_rules: ExerciseRules | None = None,
    ) -> None:
        self._broker = broker
        self._store = store
        self._coordinator = coordinator
        self._bus = bus
        self._calendar = calendar
        self._now = now
        self.interval_s = interval_s
        self.debounce_s = debounce_s
        self.confirm_after_s = confirm_after_s
        self.rules = exercise_rules or ExerciseRules()
        self._suspects: dict[str, tuple[float, Mismatch]] = {}  # key → first seen
        self.mismatches: list[Mismatch] = []
        self.runs = 0
        self._pending: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._lock = asyncio.Lock()
        self._unsubscribe = bus.subscribe(GroupChanged, self._on_group)

    def start(self) -> None:
        self._own(asyncio.get_running_loop().create_task(self._timer(), name="risk-monitor"))

    async def aclose(self) -> None:
        self._unsubscribe()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def run_once(self, positions: list[Position] | None = None) -> list[Mismatch]:
        """One pass: validator, then exercise; returns the mismatches confirmed this pass.
        ``positions``: the broker's, when the caller has just read them (no second read)."""
        async with self._lock:
            if positions is None:
                try:
                    positions = await self._broker.positions()
                except BrokerError as error:
                    log.warning("risk monitor: positions unavailable: %s", error)
                    return []
            confirmed = self._validate(positions)
            await self._exercise(positions)
            self.runs += 1
            return confirmed

    # ---- the passes -------------------------------------------------------------------------

    def _validate(self, positions: list[Position]) -> list[Mismatch]:
        loop = asyncio.get_running_loop()
        found = validate_positions(self._coordinator.groups.values(), positions, self._store.get)
        now = loop.time()
        seen: dict[str, tuple[float, Mismatch]] = {}
        confirmed: list[Mismatch] = []
        for mismatch in found:
            draft = mismatch_alert(mismatch)
            first = self._suspects.get(draft.key, (now, mismatch))[0]
            seen[draft.key] = (first, mismatch)
            if now - first >= self.confirm_after_s:
                confirmed.append(mismatch)
                self._raise(draft)
        self._suspects = seen
        self.mismatches = confirmed
        return confirmed

    async def _exercise(self, positions: list[Position]) -> None:
        holdings = []
        for position in positions:
            if position.quantity == 0:
                continue
            try:
                holdings.append((self._store.get(position.instrument_token), position.quantity))
            except LookupError:
                continue
        options = [(i, q) for i, q in holdings if i.is_option]
        if not options:
            return
        spots = await self._spots({i.name for i, _ in options})
        today = self._now().date()
        for alert in exercise_alerts(options, spots, today, self._calendar, self.rules):
            self._raise(exercise_alert_draft(alert))

    async def _spots(self, underlyings: set[str]) -> dict[str, Paise]:
        keys: dict[str, str] = {}
        for name in underlyings:
            symbol = INDEX_SPOT_SYMBOLS.get(name, name)
            with contextlib.suppress(LookupError):
                instrument = self._store.by_symbol(Exchange.NSE, symbol)
                key = instrument_key(self._store, instrument.instrument_token)
                if key:
                    keys[key] = name
        if not keys:
            return {}
        try:
            quotes = await self._broker.quotes(sorted(keys))
        except BrokerError as error:
            log.warning("risk monitor: spot quotes unavailable: %s", error)
            return {}
        return {keys[k]: q.last_price for k, q in quotes.items() if k in keys and q.last_price}

    def _raise(self, draft: AlertDraft) -> None:
        self._bus.publish(
            AlertRaised(
                at=self._now(),
                alert_id=f"r{secrets.token_hex(4)}",
                severity=draft.severity,
                title=draft.title,
                message=draft.message,
                source=draft.source,
                key=draft.key,
            )
        )

    # ---- when ----------------------------------------------------------------------------

    def _on_group(self, event: GroupChanged) -> None:
        """After fills: one pass, debounced (a burst of fills makes one pass)."""
        if self._pending is not None and not self._pending.done():
            return
        self._pending = asyncio.get_running_loop().create_task(self._debounced())
        self._own(self._pending)

    async def _debounced(self) -> None:
        await asyncio.sleep(self.debounce_s)
        await self.run_once()
        # A suspect needs a second look to be confirmed (or cleared).
        if self._suspects:
            await asyncio.sleep(self.confirm_after_s)
            await self.run_once()

    async def _timer(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.run_once()
            except Exception:
                log.exception("risk monitor pass failed; it keeps running")

    def _own(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
