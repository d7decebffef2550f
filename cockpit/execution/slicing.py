"""Slicing: how much of a leg goes into each order, and how much risk may go out now.

This module is responsible for two sizing rules the coordinator applies before any order
leaves. :func:`slice_by_freeze_limit` splits a leg's quantity into child orders the exchange
accepts: whole lots, none above the largest legal order (the whole lots within the freeze
quantity). It slices largest-first, ``[limit, limit, …, rest]``, exactly as Kite's autoslice
and the paper exchange do: the number of children is the fewest possible either way
(⌈quantity / limit⌉, the same as an equal split), child sizes in the order book then read the
same whether Cockpit or Kite sliced them, and when protection is sent child by child its
largest children fill first and unlock the most risk earliest. :func:`risk_release` sizes the
next tranche of a risk (selling) leg: pro rata to the protection actually filled, in whole
lots rounded down, less what was already released, so a short is never ahead of its cover.
"""

from __future__ import annotations


def _require_whole(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number, got {type(value).__name__} {value!r}")
    return value


def max_order_quantity(lot_size: int, freeze_quantity: int | None) -> int | None:
    """The largest legal single order in units: the whole lots at or below the freeze
    quantity; None when there is no freeze limit. ValueError if the freeze is below one lot."""
    _require_whole(lot_size, "lot size")
    if lot_size <= 0:
        raise ValueError(f"lot size must be positive, got {lot_size}")
    if freeze_quantity is None:
        return None
    _require_whole(freeze_quantity, "freeze quantity")
    if freeze_quantity < lot_size:
        raise ValueError(
            f"freeze quantity {freeze_quantity} is below one lot of {lot_size}: "
            "no legal order size exists"
        )
    return freeze_quantity // lot_size * lot_size


def slice_by_freeze_limit(quantity: int, lot_size: int, freeze_quantity: int | None) -> list[int]:
    """Child order sizes for ``quantity`` units: largest-first ``[limit, …, limit, rest]``.

    ``[quantity]`` when there is no freeze limit or it fits in one order. ValueError, naming
    the problem, for a non-positive quantity, one that is not whole lots, a non-positive lot
    or a freeze quantity below one lot.
    """
    _require_whole(quantity, "quantity")
    limit = max_order_quantity(lot_size, freeze_quantity)
    if quantity <= 0:
        raise ValueError(f"quantity must be positive, got {quantity}")
    if quantity % lot_size:
        raise ValueError(
            f"quantity {quantity} is not a whole number of lots of {lot_size} "
            f"({quantity // lot_size} lots and {quantity % lot_size} units)"
        )
    if limit is None or quantity <= limit:
        return [quantity]
    full, rest = divmod(quantity, limit)
    return [limit] * full + ([rest] if rest else [])


def risk_release(
    protection_filled: int,
    protection_total: int,
    risk_total: int,
    lot_size: int,
    already_released: int,
) -> int:
    """The risk quantity that may be sent now.

    ``risk_total × protection_filled / protection_total``, rounded down to whole lots and
    capped at ``risk_total``, less ``already_released`` (risk filled or working — everything
    sent that may still fill), never below 0. Quantities are units. A group with no protection
    (``protection_total`` 0) has nothing to release against and raises ValueError: such a
    group sends its risk whole, by the trader's choice, without asking this function.
    """
    for name, value in (
        ("protection_filled", protection_filled),
        ("protection_total", protection_total),
        ("risk_total", risk_total),
        ("already_released", already_released),
    ):
        _require_whole(value, name)
        if value < 0:
            raise ValueError(f"{name} must not be negative, got {value}")
    _require_whole(lot_size, "lot size")
    if lot_size <= 0:
        raise ValueError(f"lot size must be positive, got {lot_size}")
    if protection_total == 0:
        raise ValueError(
            "no protection to release risk against (protection_total is 0); a group without "
            "protection legs sends its risk whole"
        )
    if risk_total % lot_size:
        raise ValueError(f"risk total {risk_total} is not a whole number of lots of {lot_size}")
    covered = min(protection_filled, protection_total)
    lots = risk_total * covered // (protection_total * lot_size)
    allowed = min(lots * lot_size, risk_total)
    return max(0, allowed - already_released)
