from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cockpit.domain.money import Paise, paise
from cockpit.execution.exposure import (
    ExposureKey,
    ExposureTimer,
    ExposureWindow,
    PositionLine,
    Uncovered,
    breaches,
    uncovered_by_key,
    worst_case_loss,
)

EXPIRY = date(2026, 12, 29)
PUTS = ExposureKey("FINNIFTY", EXPIRY, "PE")
CALLS = ExposureKey("FINNIFTY", EXPIRY, "CE")
LOT = 65


def line(
    key: ExposureKey, strike: int, quantity: int, rupees: str, delta: float | None = None
) -> PositionLine:
    return PositionLine(key, Decimal(strike), quantity, paise(rupees), delta)


def one(*lines: PositionLine) -> Uncovered:
    exposures = uncovered_by_key(lines)
    assert len(exposures) == 1
    return next(iter(exposures.values()))


# ---- hand-checked numbers -------------------------------------------------------------


def test_bull_put_spread_is_covered_and_loses_at_most_width_less_credit() -> None:
    # 25000/24800 PE × 65, sold at ₹100, bought at ₹60: credit ₹40 → (200 − 40) × 65
    u = one(line(PUTS, 25000, -LOT, "100"), line(PUTS, 24800, LOT, "60"))
    assert (u.short_quantity, u.long_quantity, u.uncovered_quantity) == (65, 65, 0)
    assert u.premium == 0 and u.delta == 0.0
    assert u.worst_case_loss == paise(10_400)
    assert not u.is_breach


def test_naked_short_call_is_unbounded() -> None:
    u = one(line(CALLS, 26000, -LOT, "80", delta=0.2))
    assert u.uncovered_quantity == 65
    assert u.premium == paise(80 * 65)
    assert u.delta == pytest.approx(-13.0)
    assert u.worst_case_loss is None
    assert u.is_breach


def test_naked_short_put_loses_strike_less_premium() -> None:
    u = one(line(PUTS, 25000, -LOT, "50"))
    assert u.uncovered_quantity == 65
    assert u.premium == paise(50 * 65)
    assert u.worst_case_loss == paise((25000 - 50) * 65)  # ₹16,21,750


def test_bear_call_spread_loses_at_most_width_less_credit() -> None:
    u = one(line(CALLS, 26000, -LOT, "80"), line(CALLS, 26200, LOT, "30"))
    assert u.uncovered_quantity == 0
    assert u.worst_case_loss == paise((200 - 50) * 65)  # ₹9,750


def test_debit_spread_loses_at_most_the_debit() -> None:
    u = one(line(CALLS, 25000, LOT, "120"), line(CALLS, 25200, -LOT, "50"))
    assert u.uncovered_quantity == 0
    assert u.worst_case_loss == paise(70 * 65)


def test_butterfly_is_covered_and_loses_at_most_its_debit() -> None:
    u = one(
        line(CALLS, 24800, LOT, "300"),
        line(CALLS, 25000, -2 * LOT, "180"),
        line(CALLS, 25200, LOT, "90"),
    )
    assert (u.short_quantity, u.long_quantity, u.uncovered_quantity) == (130, 130, 0)
    assert u.worst_case_loss == paise((300 + 90 - 2 * 180) * 65)  # ₹1,950


def test_partly_covered_puts_count_the_uncovered_part_pro_rata() -> None:
    # two lots sold at ₹100 (delta −0.30 each), one lot of cover bought at ₹60
    u = one(line(PUTS, 25000, -2 * LOT, "100", delta=-0.3), line(PUTS, 24800, LOT, "60"))
    assert (u.short_quantity, u.long_quantity, u.uncovered_quantity) == (130, 65, 65)
    assert u.premium == paise(100 * 65)  # half the premium received
    assert u.delta == pytest.approx(19.5)  # half of the shorts' +39
    # at zero: −130 × 25000 + 65 × 24800 + 130 × 100 − 65 × 60 = −₹16,28,900
    assert u.worst_case_loss == paise(1_628_900)


def test_ratio_call_spread_short_more_than_long_is_unbounded() -> None:
    u = one(line(CALLS, 25000, LOT, "120"), line(CALLS, 25200, -2 * LOT, "50"))
    assert u.uncovered_quantity == 65
    assert u.premium == paise(50 * 65)
    assert u.worst_case_loss is None


def test_a_long_alone_loses_at_most_what_it_cost() -> None:
    u = one(line(PUTS, 24800, LOT, "60", delta=-0.2))
    assert u.uncovered_quantity == 0 and u.delta == 0.0
    assert u.worst_case_loss == paise(60 * 65)


def test_delta_is_zero_when_any_short_delta_is_unknown() -> None:
    u = one(line(PUTS, 25000, -LOT, "100", delta=-0.3), line(PUTS, 24900, -LOT, "80"))
    assert u.uncovered_quantity == 130
    assert u.delta == 0.0
    assert u.premium == paise(180 * 65)


def test_every_key_is_reported_and_only_breaches_are_breaches() -> None:
    closed = ExposureKey("NIFTY", EXPIRY, "CE")
    exposures = uncovered_by_key(
        [
            line(PUTS, 25000, -LOT, "100"),
            line(CALLS, 26000, -LOT, "80"),
            line(PUTS, 24800, LOT, "60"),
            line(CALLS, 26200, LOT, "30"),
            line(closed, 24000, 0, "0"),
        ]
    )
    assert list(exposures) == [PUTS, CALLS, closed]
    assert exposures[closed] == Uncovered(closed, 0, 0, 0, Paise(0), 0.0, Paise(0))
    assert breaches(exposures) == []
    naked = uncovered_by_key([line(CALLS, 26000, -LOT, "80"), line(PUTS, 24800, LOT, "60")])
    assert [u.key for u in breaches(naked)] == [CALLS]
    assert [u.key for u in breaches(naked.values())] == [CALLS]


def test_worst_case_loss_needs_one_key() -> None:
    with pytest.raises(ValueError, match="lines of one key"):
        worst_case_loss([line(PUTS, 25000, -LOT, "1"), line(CALLS, 25000, -LOT, "1")])
    assert worst_case_loss([]) == 0


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: ExposureKey("NIFTY", EXPIRY, "FUT"), "right must be CE or PE"),
        (lambda: ExposureKey("", EXPIRY, "CE"), "underlying must be given"),
        (lambda: PositionLine(PUTS, Decimal(0), 1, Paise(0)), "strike must be a positive"),
        (lambda: PositionLine(PUTS, Decimal("1.001"), 1, Paise(0)), "finer than a paisa"),
        (lambda: PositionLine(PUTS, Decimal(1), 1, Paise(-1)), "average_price must be"),
        (
            lambda: PositionLine(PUTS, Decimal(1), 1, Paise(0), float("nan")),
            "delta must be a finite",
        ),
    ],
)
def test_exposure_values_refuse_nonsense(build: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()  # type: ignore[operator]


# ---- properties --------------------------------------------------------------------

STRIKES = [24600, 24800, 25000, 25200, 25400]


@st.composite
def key_lines(draw: st.DrawFn) -> list[PositionLine]:
    key = draw(st.sampled_from([PUTS, CALLS]))
    count = draw(st.integers(1, 6))
    return [
        PositionLine(
            key,
            Decimal(draw(st.sampled_from(STRIKES))),
            draw(st.integers(-6, 6)) * LOT,
            Paise(draw(st.integers(0, 60_000))),
            draw(st.one_of(st.none(), st.floats(-1, 1))),
        )
        for _ in range(count)
    ]


def expiry_pnl(lines: list[PositionLine], price: int) -> int:
    total = 0
    for ln in lines:
        strike = int(ln.strike) * 100
        intrinsic = max(price - strike, 0) if ln.key.right == "CE" else max(strike - price, 0)
        total += ln.quantity * (intrinsic - ln.average_price)
    return total


@given(key_lines())
def test_uncovered_is_never_negative_and_zero_whenever_long_covers_short(
    lines: list[PositionLine],
) -> None:
    u = one(*lines)
    short = -sum(ln.quantity for ln in lines if ln.quantity < 0)
    long = sum(ln.quantity for ln in lines if ln.quantity > 0)
    assert (u.short_quantity, u.long_quantity) == (short, long)
    assert u.uncovered_quantity == max(0, short - long) >= 0
    if long >= short:
        assert u.uncovered_quantity == 0 and u.premium == 0 and u.delta == 0.0
    received = sum(-ln.quantity * ln.average_price for ln in lines if ln.quantity < 0)
    assert 0 <= u.premium <= received


@given(key_lines(), st.lists(st.integers(0, 6_000_000), max_size=10))
def test_worst_case_loss_bounds_every_expiry_price(
    lines: list[PositionLine], prices: list[int]
) -> None:
    u = one(*lines)
    net = sum(ln.quantity for ln in lines)
    if lines[0].key.right == "CE" and net < 0:
        assert u.worst_case_loss is None
        return
    assert u.worst_case_loss is not None and u.worst_case_loss >= 0
    kinks = [int(ln.strike) * 100 for ln in lines]
    candidates = [0, *kinks, *(k + 1 for k in kinks), *(max(k - 1, 0) for k in kinks), *prices]
    losses = [-expiry_pnl(lines, s) for s in candidates]
    assert all(loss <= u.worst_case_loss for loss in losses)
    assert u.worst_case_loss == max(0, *losses)  # attained: not a loose bound


# ---- timing exposure windows -------------------------------------------------------


def exposed(key: ExposureKey, quantity: int, premium: int = 0) -> Uncovered:
    return Uncovered(key, quantity, 0, quantity, Paise(premium), 0.0, None)


def test_a_window_opens_on_the_first_breach_and_closes_when_covered() -> None:
    timer = ExposureTimer()
    assert timer.update({CALLS: exposed(CALLS, 0)}, 10.0) == []
    opened = timer.update({CALLS: exposed(CALLS, 65, 5200)}, 11.0)
    assert opened == [ExposureWindow(CALLS, 11.0, None, 65, Paise(5200))]
    assert timer.open_windows() == opened
    assert timer.update({CALLS: exposed(CALLS, 130, 10400)}, 11.5) == []
    assert timer.update({CALLS: exposed(CALLS, 65, 5200)}, 12.0) == []
    assert timer.open_windows()[0].peak_quantity == 130
    assert timer.open_windows()[0].duration(12.25) == pytest.approx(1.25)
    closed = timer.update({CALLS: exposed(CALLS, 0)}, 13.0)
    assert closed == [ExposureWindow(CALLS, 11.0, 13.0, 130, Paise(10400))]
    assert closed[0].duration(99.0) == pytest.approx(2.0)
    assert timer.open_windows() == []
    assert timer.history() == closed


def test_a_key_that_disappears_counts_as_covered() -> None:
    timer = ExposureTimer()
    timer.update({PUTS: exposed(PUTS, 65), CALLS: exposed(CALLS, 65)}, 1.0)
    closed = timer.update({PUTS: exposed(PUTS, 65)}, 2.0)
    assert [(w.key, w.closed_at) for w in closed] == [(CALLS, 2.0)]
    assert [w.key for w in timer.open_windows()] == [PUTS]
    assert [(w.key, w.closed_at) for w in timer.history()] == [(PUTS, None), (CALLS, 2.0)]


def test_a_new_breach_after_cover_opens_a_new_window() -> None:
    timer = ExposureTimer()
    timer.update({PUTS: exposed(PUTS, 65)}, 1.0)
    timer.update({PUTS: exposed(PUTS, 0)}, 2.0)
    reopened = timer.update({PUTS: exposed(PUTS, 65)}, 3.0)
    assert reopened == [ExposureWindow(PUTS, 3.0, None, 65, Paise(0))]
    assert [(w.opened_at, w.closed_at) for w in timer.history()] == [(1.0, 2.0), (3.0, None)]


def test_timer_refuses_time_going_backwards() -> None:
    timer = ExposureTimer()
    timer.update({}, 5.0)
    with pytest.raises(ValueError, match="time went backwards"):
        timer.update({}, 4.0)
    with pytest.raises(ValueError, match="finite monotonic seconds"):
        timer.update({}, float("nan"))


@given(
    st.lists(
        st.tuples(
            st.floats(0, 5, allow_nan=False),
            st.sampled_from([PUTS, CALLS]),
            st.integers(0, 3),
            st.integers(0, 10_000),
        ),
        max_size=40,
    )
)
def test_windows_are_exactly_the_runs_of_uncovered_quantity(
    steps: list[tuple[float, ExposureKey, int, int]],
) -> None:
    timer = ExposureTimer()
    state = {PUTS: (0, 0), CALLS: (0, 0)}
    expected: list[ExposureWindow] = []
    now = 0.0
    for dt, key, lots, premium in steps:
        now += dt
        state[key] = (lots * LOT, premium)
        before = {w.key: w for w in timer.open_windows()}
        changed = timer.update({k: exposed(k, q, p) for k, (q, p) in state.items()}, now)
        # the model: a window per maximal run of quantity > 0, peaks the maxima seen in it
        for k, (q, p) in state.items():
            index = next(
                (i for i, w in enumerate(expected) if w.key == k and w.closed_at is None), None
            )
            if q > 0 and index is None:
                expected.append(ExposureWindow(k, now, None, q, Paise(p)))
            elif q > 0 and index is not None:
                w = expected[index]
                expected[index] = ExposureWindow(
                    k, w.opened_at, None, max(w.peak_quantity, q), Paise(max(w.peak_premium, p))
                )
            elif index is not None:
                w = expected[index]
                expected[index] = ExposureWindow(
                    k, w.opened_at, now, w.peak_quantity, w.peak_premium
                )
        assert timer.history() == expected
        opened = [w for w in changed if w.closed_at is None]
        closed = [w for w in changed if w.closed_at is not None]
        assert all(w.key not in before and w.opened_at == now for w in opened)
        assert all(w.key in before and w.closed_at == now for w in closed)
        assert {w.key for w in timer.open_windows()} == {k for k, (q, _) in state.items() if q}
