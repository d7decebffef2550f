from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cockpit.domain.money import (
    Paise,
    TickRounding,
    format_inr,
    paise,
    paise_rounded,
    round_to_tick,
    rupees,
)


def test_paise_converts_rupee_text_exactly() -> None:
    assert paise("101.35") == 10135
    assert paise("101.3") == 10130
    assert paise("101") == 10100
    assert paise("0.05") == 5
    assert paise(".5") == 50
    assert paise("-1234.50") == -123450
    assert paise(" 7.25 ") == 725


def test_paise_from_int_means_whole_rupees() -> None:
    assert paise(5) == 500
    assert paise(0) == 0
    assert paise(-3) == -300


def test_paise_from_decimal_accepts_trailing_zeros_and_exponents() -> None:
    assert paise(Decimal("101.35")) == 10135
    assert paise(Decimal("101.3500")) == 10135
    assert paise(Decimal("1E+3")) == 100000
    assert paise(Decimal("-0")) == 0
    assert paise(Decimal("12345678901234567890123456789.01")) == 1234567890123456789012345678901


def test_paise_rejects_float_with_a_message_naming_the_value() -> None:
    with pytest.raises(TypeError) as error:
        paise(101.35)  # type: ignore[arg-type]
    assert str(error.value) == (
        "paise() got the float 101.35: a float cannot hold a rupee amount exactly; "
        "pass a str or Decimal such as '101.35' or Decimal('101.35')"
    )


def test_paise_rejects_bool() -> None:
    with pytest.raises(TypeError, match="bool"):
        paise(True)


@pytest.mark.parametrize("value", ["101.355", Decimal("0.001"), "-0.125"])
def test_paise_rejects_sub_paise_precision(value: str | Decimal) -> None:
    with pytest.raises(ValueError, match="finer than a paisa") as error:
        paise(value)
    assert repr(value) in str(error.value)


@pytest.mark.parametrize("value", ["", "abc", "1,000", "1e3", "1_000", "NaN", "₹5", "1.2.3"])
def test_paise_rejects_text_that_is_not_an_amount(value: str) -> None:
    with pytest.raises(ValueError) as error:
        paise(value)
    assert str(error.value) == f"paise(): {value!r} is not a rupee amount (e.g. '101.35')"


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")])
def test_paise_rejects_non_finite_decimals(value: Decimal) -> None:
    with pytest.raises(ValueError, match="not a finite rupee amount"):
        paise(value)


def test_paise_rounded_rounds_half_away_from_zero() -> None:
    assert paise_rounded(Decimal("120.8666")) == 12087
    assert paise_rounded("120.864") == 12086
    assert paise_rounded("0.005") == 1
    assert paise_rounded("-0.005") == -1
    assert paise_rounded("101.35") == 10135
    with pytest.raises(TypeError, match="float"):
        paise_rounded(1.5)  # type: ignore[arg-type]


def test_rupees_is_exact_with_two_places() -> None:
    assert rupees(Paise(10135)) == Decimal("101.35")
    assert str(rupees(Paise(10135))) == "101.35"
    assert str(rupees(Paise(100))) == "1.00"
    assert str(rupees(Paise(5))) == "0.05"
    assert str(rupees(Paise(-123450))) == "-1234.50"
    assert str(rupees(Paise(10**40 + 1))) == "1" + "0" * 37 + "0.01"


def test_rupees_rejects_non_integers() -> None:
    with pytest.raises(TypeError, match="integer paise"):
        rupees(101.35)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (0, "₹0.00"),
        (5, "₹0.05"),
        (10135, "₹101.35"),
        (99999, "₹999.99"),
        (100000, "₹1,000.00"),
        (12345678, "₹1,23,456.78"),
        (1234567890, "₹1,23,45,678.90"),
        (123456789012, "₹1,23,45,67,890.12"),
        (-123450, "-₹1,234.50"),
        (-5, "-₹0.05"),
    ],
)
def test_format_inr_groups_the_indian_way(amount: int, text: str) -> None:
    assert format_inr(Paise(amount)) == text


def test_format_inr_without_symbol() -> None:
    assert format_inr(Paise(1234567890), symbol=False) == "1,23,45,678.90"
    assert format_inr(Paise(-123450), symbol=False) == "-1,234.50"


@pytest.mark.parametrize(
    ("price", "mode", "expected"),
    [
        (10137, TickRounding.DOWN, 10135),
        (10137, TickRounding.UP, 10140),
        (10137, TickRounding.NEAREST, 10135),
        (10138, TickRounding.NEAREST, 10140),
        (10135, TickRounding.DOWN, 10135),
        (10135, TickRounding.UP, 10135),
        (10135, TickRounding.NEAREST, 10135),
        (1, TickRounding.DOWN, 0),
        (1, TickRounding.UP, 5),
        (-3, TickRounding.DOWN, -5),
        (-3, TickRounding.UP, 0),
    ],
)
def test_round_to_tick_of_five_paise(price: int, mode: TickRounding, expected: int) -> None:
    assert round_to_tick(Paise(price), 5, mode) == expected


def test_round_to_tick_nearest_takes_the_higher_tick_at_exactly_half() -> None:
    assert round_to_tick(Paise(105), 10, TickRounding.NEAREST) == 110
    assert round_to_tick(Paise(104), 10, TickRounding.NEAREST) == 100


def test_round_to_tick_accepts_mode_by_value() -> None:
    assert round_to_tick(Paise(10137), 5, "up") == 10140  # type: ignore[arg-type]


@pytest.mark.parametrize("tick", [0, -5, True])
def test_round_to_tick_rejects_a_bad_tick(tick: int) -> None:
    with pytest.raises(ValueError, match="tick must be a positive number of paise"):
        round_to_tick(Paise(100), tick, TickRounding.DOWN)


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_paise_of_rupees_round_trips(p: int) -> None:
    assert paise(rupees(Paise(p))) == p
    assert paise(str(rupees(Paise(p)))) == p


@given(
    st.integers(min_value=-(10**9), max_value=10**9),
    st.integers(min_value=1, max_value=1000),
    st.sampled_from(list(TickRounding)),
)
def test_round_to_tick_lands_on_the_grid_within_one_tick(
    p: int, tick: int, mode: TickRounding
) -> None:
    rounded = round_to_tick(Paise(p), tick, mode)
    assert rounded % tick == 0
    assert abs(rounded - p) < tick
    if mode is TickRounding.DOWN:
        assert rounded <= p
    if mode is TickRounding.UP:
        assert rounded >= p
    if mode is TickRounding.NEAREST:
        assert 2 * abs(rounded - p) <= tick


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_format_inr_reads_back_to_the_same_amount(p: int) -> None:
    text = format_inr(Paise(p))
    assert paise(text.replace("₹", "").replace(",", "")) == p
