"""Exposure: how much short option quantity is uncovered, what it could cost, and for how long.

This module is responsible for measuring the hedged invariant — for every (underlying,
expiry, right), short quantity ≤ long quantity — from position lines, and for timing every
window in which it is broken. :func:`uncovered_by_key` gives, per key, the short and long
quantities, the uncovered quantity, the premium received on the uncovered part and its delta
(both pro rata over the shorts), and the key's worst-case loss at expiry: None (unbounded)
when calls are net short, otherwise the deepest point of the key's expiry payoff, found
exactly in paise by evaluating it at zero and at every strike, which pairs shorts with the
longs of the same key properly for verticals, ratios and butterflies alike. It is pure: no
I/O, no clock — :class:`ExposureTimer` is handed monotonic seconds by its caller.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal

from cockpit.domain.money import Paise

_RIGHTS = ("CE", "PE")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class ExposureKey:
    """What the hedged invariant is checked on: one underlying, expiry and right."""

    underlying: str
    expiry: date
    right: str

    def __post_init__(self) -> None:
        if not isinstance(self.underlying, str) or not self.underlying:
            raise ValueError(f"exposure key: underlying must be given, got {self.underlying!r}")
        if not isinstance(self.expiry, date) or isinstance(self.expiry, datetime):
            raise ValueError(f"exposure key {self.underlying}: expiry must be a date")
        if self.right not in _RIGHTS:
            raise ValueError(
                f"exposure key {self.underlying} {self.expiry}: right must be CE or PE, "
                f"got {self.right!r}"
            )

    def __str__(self) -> str:
        return f"{self.underlying} {self.expiry.isoformat()} {self.right}"


@dataclass(frozen=True, slots=True)
class PositionLine:
    """One open option position: ``quantity`` signed (+ long, − short), ``average_price``
    per unit in paise, ``delta`` per unit of a long (None if unknown)."""

    key: ExposureKey
    strike: Decimal
    quantity: int
    average_price: Paise
    delta: float | None = None

    def __post_init__(self) -> None:
        where = f"position {self.key} {self.strike}"
        if not isinstance(self.key, ExposureKey):
            raise ValueError(f"position line: key must be an ExposureKey, got {self.key!r}")
        strike = self.strike
        if not isinstance(strike, Decimal) or not strike.is_finite() or strike <= 0:
            raise ValueError(f"{where}: strike must be a positive Decimal, got {strike!r}")
        if (strike * 100) % 1:
            raise ValueError(f"{where}: strike {strike} is finer than a paisa")
        if not _is_int(self.quantity):
            raise ValueError(f"{where}: quantity must be a whole number, got {self.quantity!r}")
        if not _is_int(self.average_price) or self.average_price < 0:
            raise ValueError(
                f"{where}: average_price must be paise ≥ 0, got {self.average_price!r}"
            )
        delta = self.delta
        if delta is not None and (
            isinstance(delta, bool)
            or not isinstance(delta, int | float)
            or not math.isfinite(delta)
        ):
            raise ValueError(f"{where}: delta must be a finite number or None, got {delta!r}")

    @property
    def strike_paise(self) -> int:
        return int(self.strike * 100)


@dataclass(frozen=True, slots=True)
class Uncovered:
    """One key's exposure. ``uncovered_quantity`` = max(0, short − long); ``premium`` is what
    was received for that uncovered part and ``delta`` its delta (signed, in units), both pro
    rata over the short lines (delta 0.0 when any short's delta is unknown);
    ``worst_case_loss`` is the whole key's loss at the worst expiry price, None if unbounded."""

    key: ExposureKey
    short_quantity: int
    long_quantity: int
    uncovered_quantity: int
    premium: Paise
    delta: float
    worst_case_loss: Paise | None

    @property
    def is_breach(self) -> bool:
        return self.uncovered_quantity > 0


def _payoff_at(lines: list[PositionLine], price: int) -> int:
    """The key's P&L in paise if the underlying settles at ``price`` paise."""
    total = 0
    for line in lines:
        strike = line.strike_paise
        intrinsic = max(price - strike, 0) if line.key.right == "CE" else max(strike - price, 0)
        total += line.quantity * (intrinsic - line.average_price)
    return total


def worst_case_loss(lines: Iterable[PositionLine]) -> Paise | None:
    """The largest loss at expiry of ``lines`` (all of one key), in paise; None when unbounded
    (calls net short). The payoff is piecewise linear with kinks at the strikes, so its lowest
    point is at zero, at a strike or — for calls only — at infinity."""
    held = list(lines)
    if not held:
        return Paise(0)
    keys = {line.key for line in held}
    if len(keys) > 1:
        raise ValueError(f"worst_case_loss needs lines of one key, got {sorted(map(str, keys))}")
    if held[0].key.right == "CE" and sum(line.quantity for line in held) < 0:
        return None
    lowest = min(_payoff_at(held, price) for price in {0, *(line.strike_paise for line in held)})
    return Paise(max(0, -lowest))


def _uncovered(key: ExposureKey, lines: list[PositionLine]) -> Uncovered:
    shorts = [line for line in lines if line.quantity < 0]
    short = -sum(line.quantity for line in shorts)
    long = sum(line.quantity for line in lines if line.quantity > 0)
    uncovered = max(0, short - long)
    premium = 0
    delta = 0.0
    if uncovered:
        received = sum(-line.quantity * line.average_price for line in shorts)
        # Rounded down: the premium offsets a loss, so never count more than was received.
        premium = received * uncovered // short
        if all(line.delta is not None for line in shorts):
            delta = sum(line.quantity * (line.delta or 0.0) for line in shorts) * uncovered / short
    return Uncovered(
        key=key,
        short_quantity=short,
        long_quantity=long,
        uncovered_quantity=uncovered,
        premium=Paise(premium),
        delta=delta,
        worst_case_loss=worst_case_loss(lines),
    )


def uncovered_by_key(lines: Iterable[PositionLine]) -> dict[ExposureKey, Uncovered]:
    """Every key present in ``lines`` (uncovered or not) → its :class:`Uncovered`, in the
    order keys first appear."""
    by_key: dict[ExposureKey, list[PositionLine]] = {}
    for line in lines:
        by_key.setdefault(line.key, []).append(line)
    return {key: _uncovered(key, held) for key, held in by_key.items()}


def breaches(exposures: Mapping[ExposureKey, Uncovered] | Iterable[Uncovered]) -> list[Uncovered]:
    """The exposures that break the hedged invariant (uncovered quantity > 0), in order."""
    values = exposures.values() if isinstance(exposures, Mapping) else exposures
    return [u for u in values if u.uncovered_quantity > 0]


@dataclass(frozen=True, slots=True)
class ExposureWindow:
    """One stretch of time a key was uncovered, in monotonic seconds; ``closed_at`` None while
    it lasts. Peaks are the largest uncovered quantity and premium seen in it."""

    key: ExposureKey
    opened_at: float
    closed_at: float | None
    peak_quantity: int
    peak_premium: Paise

    def duration(self, now: float) -> float:
        """Seconds uncovered: to ``closed_at``, or to ``now`` while open."""
        end = self.closed_at if self.closed_at is not None else now
        return end - self.opened_at


class ExposureTimer:
    """Times each window in which a key is uncovered.

    Feed it every recomputed exposure map with the monotonic time; a key missing from the map
    counts as covered. A window opens on the update that first sees the key's uncovered
    quantity above 0 and closes on the first that sees it back at 0.
    """

    def __init__(self) -> None:
        self._open: dict[ExposureKey, int] = {}  # key → index of its open window in _log
        self._log: list[ExposureWindow] = []
        self._last: float | None = None

    def update(
        self, exposures: Mapping[ExposureKey, Uncovered], now: float
    ) -> list[ExposureWindow]:
        """Apply one exposure map at ``now``; returns the windows this update opened or closed
        (closed ones with ``closed_at`` set). Peaks of windows still open are updated."""
        if isinstance(now, bool) or not isinstance(now, int | float) or not math.isfinite(now):
            raise ValueError(f"exposure timer: now must be finite monotonic seconds, got {now!r}")
        if self._last is not None and now < self._last:
            raise ValueError(
                f"exposure timer: time went backwards ({now} after {self._last}); "
                "pass a monotonic clock"
            )
        self._last = now
        changed: list[ExposureWindow] = []
        for key, exposure in exposures.items():
            quantity = exposure.uncovered_quantity
            index = self._open.get(key)
            if quantity > 0 and index is None:
                window = ExposureWindow(key, now, None, quantity, exposure.premium)
                self._open[key] = len(self._log)
                self._log.append(window)
                changed.append(window)
            elif quantity > 0 and index is not None:
                window = self._log[index]
                self._log[index] = replace(
                    window,
                    peak_quantity=max(window.peak_quantity, quantity),
                    peak_premium=Paise(max(window.peak_premium, exposure.premium)),
                )
            elif index is not None:
                changed.append(self._close(key, index, now))
        for key in [k for k in self._open if k not in exposures]:
            changed.append(self._close(key, self._open[key], now))
        return changed

    def _close(self, key: ExposureKey, index: int, now: float) -> ExposureWindow:
        closed = replace(self._log[index], closed_at=now)
        self._log[index] = closed
        del self._open[key]
        return closed

    def open_windows(self) -> list[ExposureWindow]:
        """Windows still open, in the order they opened."""
        return [self._log[i] for i in sorted(self._open.values())]

    def history(self) -> list[ExposureWindow]:
        """Every window seen, in the order they opened; open ones have ``closed_at`` None."""
        return list(self._log)
