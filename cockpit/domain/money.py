"""Money: every amount in Cockpit is an integer number of paise (₹1 = 100 paise).

This module is the project's one money decision and the only place rupees become paise and
back. ``Paise`` is a ``NewType`` over ``int``: prices, premiums, margins, P&L and funds are
whole paise everywhere, never ``float`` and never rupee ``Decimal`` inside the core. Why
paise: SQLite stores them as ``INTEGER`` exactly (no REAL rounding in the journal), the NSE
option tick (5 paise) is plain integer arithmetic (``price % tick``), sums and averages over
fills are exact, and equality means equality. At the broker boundary Kite's JSON numbers are
parsed with ``json.loads(text, parse_float=Decimal)`` so no binary float ever holds a price,
then converted once with :func:`paise` (exact, refusing sub-paise values) or, for averages
Kite reports with more than two places, :func:`paise_rounded`. Outbound, :func:`rupees` gives
the exact two-place ``Decimal`` Kite expects. :func:`paise` refuses ``float`` with a
``TypeError`` because ``101.35`` as a float is not 101.35; pass ``"101.35"`` or
``Decimal("101.35")``. :func:`format_inr` writes amounts the Indian way (``₹1,23,45,678.90``)
and :func:`round_to_tick` puts a limit price on the tick grid in a chosen direction.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from typing import NewType

Paise = NewType("Paise", int)

PAISE_PER_RUPEE = 100

# A plain decimal number: optional sign, digits, optional fraction. No exponents, no
# underscores, no thousands separators, no "NaN": amounts typed by people or read from CSV
# should look like amounts.
_AMOUNT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")


class TickRounding(StrEnum):
    """Which way :func:`round_to_tick` moves a price that is off the tick grid."""

    DOWN = "down"
    UP = "up"
    NEAREST = "nearest"


def _reject_non_amount(value: object, function: str) -> None:
    if isinstance(value, bool):
        raise TypeError(f"{function}() got a bool ({value!r}); pass a rupee amount")
    if isinstance(value, float):
        raise TypeError(
            f"{function}() got the float {value!r}: a float cannot hold a rupee amount "
            f"exactly; pass a str or Decimal such as '{value}' or Decimal('{value}')"
        )
    if not isinstance(value, str | Decimal | int):
        raise TypeError(
            f"{function}() got {type(value).__name__} {value!r}; pass a str, Decimal or int"
        )


def _to_decimal(value: str | Decimal | int, function: str) -> Decimal:
    _reject_non_amount(value, function)
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        text = value.strip()
        if not _AMOUNT.fullmatch(text):
            raise ValueError(f"{function}(): {value!r} is not a rupee amount (e.g. '101.35')")
        try:
            return Decimal(text)
        except InvalidOperation as error:  # pragma: no cover - the regex already vetted it
            raise ValueError(f"{function}(): {value!r} is not a rupee amount") from error
    if not value.is_finite():
        raise ValueError(f"{function}(): {value!r} is not a finite rupee amount")
    return value


def paise(value: str | Decimal | int) -> Paise:
    """Rupees → paise, exactly: ``paise("101.35") == 10135``, ``paise(5) == 500``.

    An ``int`` means whole rupees. ``float`` raises ``TypeError``; an amount finer than a
    paisa (``"101.355"``), a non-finite ``Decimal`` or text that is not a plain decimal number
    raises ``ValueError`` naming the value.
    """
    amount = _to_decimal(value, "paise")
    sign, digits, exponent = amount.as_tuple()
    assert isinstance(exponent, int)  # finite: checked above
    magnitude = int("".join(map(str, digits))) if digits else 0
    # value = magnitude × 10^exponent rupees = magnitude × 10^(exponent + 2) paise.
    shift = exponent + 2
    if shift >= 0:
        whole = magnitude * 10**shift
    else:
        divisor = 10**-shift
        whole, remainder = divmod(magnitude, divisor)
        if remainder:
            raise ValueError(
                f"paise(): {value!r} is finer than a paisa; round it explicitly "
                f"(paise_rounded) or give at most two decimal places"
            )
    return Paise(-whole if sign else whole)


def paise_rounded(value: str | Decimal | int) -> Paise:
    """Rupees → paise, rounding half away from zero to the nearest paisa.

    For amounts the broker computes with more than two places (a position's
    ``average_price`` such as ``120.8666``); never for prices Cockpit sends, which must be
    exact (:func:`paise`).
    """
    amount = _to_decimal(value, "paise_rounded")
    scaled = amount.scaleb(2).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return Paise(int(scaled))


def _require_paise(p: object, function: str) -> int:
    if isinstance(p, bool) or not isinstance(p, int):
        raise TypeError(f"{function}() needs integer paise, got {type(p).__name__} {p!r}")
    return p


def rupees(p: Paise) -> Decimal:
    """Paise → rupees as an exact two-place ``Decimal``: ``rupees(10135) == Decimal("101.35")``."""
    value = _require_paise(p, "rupees")
    # Built from text so no context precision can round a large amount.
    return Decimal(f"{value}E-2")


def _group_indian(digits: str) -> str:
    """``"12345678"`` → ``"1,23,45,678"``: the last three digits, then groups of two."""
    if len(digits) <= 3:
        return digits
    head, tail = digits[:-3], digits[-3:]
    groups = []
    while len(head) > 2:
        groups.append(head[-2:])
        head = head[:-2]
    if head:
        groups.append(head)
    return ",".join(reversed(groups)) + "," + tail


def format_inr(p: Paise, symbol: bool = True) -> str:
    """Indian-grouped rupees with two places: ``₹1,23,45,678.90``, ``-₹1,234.50``, ``₹0.00``.

    ``symbol=False`` leaves out the ``₹`` (``1,23,45,678.90``), e.g. for table cells whose
    header names the currency.
    """
    value = _require_paise(p, "format_inr")
    whole, part = divmod(abs(value), PAISE_PER_RUPEE)
    sign = "-" if value < 0 else ""
    return f"{sign}{'₹' if symbol else ''}{_group_indian(str(whole))}.{part:02d}"


def round_to_tick(p: Paise, tick_paise: int, mode: TickRounding) -> Paise:
    """Put ``p`` on the tick grid (multiples of ``tick_paise``; 5 paise for NSE options).

    ``DOWN`` and ``UP`` move towards minus and plus infinity; ``NEAREST`` takes the closer
    tick and, exactly halfway, the higher one. A price already on the grid is returned as is.
    """
    value = _require_paise(p, "round_to_tick")
    if isinstance(tick_paise, bool) or not isinstance(tick_paise, int) or tick_paise <= 0:
        raise ValueError(
            f"round_to_tick(): tick must be a positive number of paise, got {tick_paise!r}"
        )
    mode = TickRounding(mode)
    below = value - value % tick_paise
    if below == value:
        return Paise(value)
    if mode is TickRounding.DOWN:
        return Paise(below)
    if mode is TickRounding.UP:
        return Paise(below + tick_paise)
    return Paise(below + tick_paise if 2 * (value - below) >= tick_paise else below)
