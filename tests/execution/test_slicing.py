from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cockpit.execution.slicing import max_order_quantity, risk_release, slice_by_freeze_limit

# ---- freeze-limit slicing --------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "lot", "freeze", "children"),
    [
        # NIFTY: lot 75, freeze 1800 → largest order 1800
        (3750, 75, 1800, [1800, 1800, 150]),
        (3600, 75, 1800, [1800, 1800]),
        (1800, 75, 1800, [1800]),
        (75, 75, 1800, [75]),
        # BANKNIFTY: lot 35, freeze 900 → largest order 875 (25 lots)
        (2800, 35, 900, [875, 875, 875, 175]),
        # FINNIFTY: lot 65, freeze 1800 → largest order 1755 (27 lots)
        (3900, 65, 1800, [1755, 1755, 390]),
        # no freeze limit known: one order
        (97500, 65, None, [97500]),
    ],
)
def test_slices_are_largest_first_like_kite_autoslice(
    quantity: int, lot: int, freeze: int | None, children: list[int]
) -> None:
    assert slice_by_freeze_limit(quantity, lot, freeze) == children


def test_largest_legal_order_is_the_whole_lots_within_the_freeze() -> None:
    assert max_order_quantity(75, 1800) == 1800
    assert max_order_quantity(35, 900) == 875
    assert max_order_quantity(65, 1800) == 1755
    assert max_order_quantity(65, None) is None


@pytest.mark.parametrize(
    ("quantity", "lot", "freeze", "message"),
    [
        (100, 75, 1800, r"quantity 100 is not a whole number of lots of 75 \(1 lots and 25"),
        (0, 75, 1800, "quantity must be positive, got 0"),
        (-75, 75, 1800, "quantity must be positive, got -75"),
        (150, 75, 50, "freeze quantity 50 is below one lot of 75"),
        (150, 0, 1800, "lot size must be positive"),
        (True, 1, None, "quantity must be a whole number"),
        (150.0, 75, 1800, "quantity must be a whole number"),
    ],
)
def test_slicing_refuses_what_no_order_can_carry(
    quantity: int, lot: int, freeze: int | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        slice_by_freeze_limit(quantity, lot, freeze)


@given(
    lot=st.integers(1, 2000),
    lots=st.integers(1, 5000),
    freeze_lots=st.one_of(st.none(), st.integers(1, 60)),
    freeze_extra=st.integers(0, 1999),
)
def test_children_sum_to_the_quantity_in_whole_lots_within_the_limit(
    lot: int, lots: int, freeze_lots: int | None, freeze_extra: int
) -> None:
    quantity = lot * lots
    freeze = None if freeze_lots is None else freeze_lots * lot + freeze_extra % lot
    children = slice_by_freeze_limit(quantity, lot, freeze)
    assert sum(children) == quantity
    assert all(c > 0 and c % lot == 0 for c in children)
    limit = quantity if freeze is None else freeze // lot * lot
    assert all(c <= limit for c in children)
    assert freeze is None or all(c <= freeze for c in children)
    # fewest children, largest first, all but the last at the limit
    assert len(children) == -(-quantity // limit)
    assert children == sorted(children, reverse=True)
    assert all(c == limit for c in children[:-1])


# ---- risk release ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filled", "total", "risk", "lot", "released", "expected"),
    [
        (0, 650, 650, 65, 0, 0),  # nothing filled, nothing released
        (325, 650, 650, 65, 0, 325),  # half filled → half the risk
        (100, 650, 650, 65, 0, 65),  # 100 of 650 → 100 units of risk → 1 lot
        (64, 650, 650, 65, 0, 0),  # less than a lot's worth: rounded down to nothing
        (650, 650, 650, 65, 325, 325),  # the rest once all protection filled
        (650, 650, 650, 65, 650, 0),  # all released already
        (325, 650, 325, 65, 0, 130),  # 1:2 — half the protection covers 162.5 → 2 lots
        (390, 650, 650, 65, 520, 0),  # already ahead (e.g. a cap shrank): never negative
        (1300, 650, 650, 65, 0, 650),  # a protection overfill releases no more than the risk
    ],
)
def test_risk_release_is_pro_rata_in_whole_lots(
    filled: int, total: int, risk: int, lot: int, released: int, expected: int
) -> None:
    assert risk_release(filled, total, risk, lot, released) == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 0, 650, 65, 0), "no protection to release risk against"),
        ((-65, 650, 650, 65, 0), "protection_filled must not be negative"),
        ((65, 650, 650, 65, -1), "already_released must not be negative"),
        ((65, 650, 100, 65, 0), "risk total 100 is not a whole number of lots of 65"),
        ((65, 650, 650, 0, 0), "lot size must be positive"),
    ],
)
def test_risk_release_refuses_nonsense(args: tuple[int, int, int, int, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        risk_release(*args)


@given(
    lot=st.integers(1, 200),
    protection_lots=st.integers(1, 100),
    risk_lots=st.integers(0, 100),
    filled_fraction=st.fractions(0, 1),
    released_lots=st.integers(0, 100),
)
def test_released_risk_never_exceeds_pro_rata_protection(
    lot: int,
    protection_lots: int,
    risk_lots: int,
    filled_fraction: Fraction,
    released_lots: int,
) -> None:
    total = protection_lots * lot
    risk = risk_lots * lot
    filled = int(total * filled_fraction)
    released = min(released_lots, risk_lots) * lot
    now = risk_release(filled, total, risk, lot, released)
    assert now >= 0 and now % lot == 0
    after = released + now
    assert after <= risk
    if now > 0:
        # everything released, this tranche included, is covered pro rata
        assert after * total <= risk * filled
        # and it is as much as whole lots allow: one more lot would not be
        assert (after + lot) * total > risk * filled or after == risk


@given(
    lot=st.integers(1, 100),
    protection_lots=st.integers(1, 40),
    risk_lots=st.integers(0, 40),
    fills=st.lists(st.integers(1, 40), max_size=20),
)
def test_releasing_tranche_by_tranche_tracks_the_protection_filled(
    lot: int, protection_lots: int, risk_lots: int, fills: list[int]
) -> None:
    total, risk = protection_lots * lot, risk_lots * lot
    filled = released = 0
    for units in fills:
        filled = min(total, filled + units)
        released += risk_release(filled, total, risk, lot, released)
        assert released * total <= risk * filled
    if filled == total:
        assert released == risk
