"""Shock grids: equal to a naive per-cell repricing, shapes and axes, the worst cell, the
utilisation frontier, the proposed group, the leg builder and input errors."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cockpit import pricing
from cockpit.clock import IST
from cockpit.domain.instruments import Exchange, Instrument, InstrumentType
from cockpit.domain.market_data import DepthLevel, Quote
from cockpit.domain.money import Paise
from cockpit.risk.margin import (
    MIN_VOL,
    MIN_YEARS,
    MarginLegs,
    MarketState,
    estimate_margin,
    estimate_margin_arrays,
)
from cockpit.risk.shocks import (
    DEFAULT_AXES,
    PnlBasis,
    ShockAxes,
    ShockLeg,
    shock_grid,
    shock_leg,
)

NOW = datetime(2026, 1, 13, 10, 0, tzinfo=IST)
EXPIRY = datetime(2026, 1, 20, 15, 30, tzinfo=IST)
SPOT = Paise(2_400_000)
LOT = 75
FUNDS = Paise(50_000_000)  # ₹5 lakh
SMALL_AXES = ShockAxes(price=(-0.06, -0.03, 0.0, 0.03), iv=(-0.2, 0.0, 0.5), widening=(1.0, 2.0))
YEAR_SECONDS = 365.0 * 24 * 3600


def put(
    token: int, strike: int, quantity: int, *, bid: int, ask: int, vol: float = 0.15
) -> ShockLeg:
    return ShockLeg(
        instrument_token=token,
        underlying="NIFTY",
        expiry=EXPIRY,
        quantity=quantity,
        lot_size=LOT,
        bid=Paise(bid),
        ask=Paise(ask),
        mark=Paise((bid + ask) // 2),
        forward=SPOT,
        spot=SPOT,
        vol=vol,
        strike=Paise(strike * 100),
    )


def future(quantity: int) -> ShockLeg:
    return ShockLeg(
        instrument_token=99,
        underlying="NIFTY",
        expiry=EXPIRY,
        quantity=quantity,
        lot_size=LOT,
        bid=Paise(2_399_900),
        ask=Paise(2_400_100),
        mark=SPOT,
        forward=SPOT,
        spot=SPOT,
    )


SHORT_PUT = put(1, 24000, -LOT, bid=17_000, ask=17_100)
LONG_PUT = put(2, 23800, LOT, bid=9_500, ask=9_600)
BULL_PUT = [SHORT_PUT, LONG_PUT]


def _naive_pnl(legs: list[ShockLeg], axes: ShockAxes, basis: PnlBasis) -> np.ndarray:
    """Each cell and each leg repriced on its own with scalar calls to cockpit.pricing."""
    grid = np.zeros((len(axes.widening), len(axes.iv), len(axes.price)))
    for w_i, w in enumerate(axes.widening):
        for i, s in enumerate(axes.iv):
            for j, p in enumerate(axes.price):
                total = 0.0
                for leg in legs:
                    years = max((leg.expiry - NOW).total_seconds() / YEAR_SECONDS, MIN_YEARS)
                    if leg.strike is None:
                        now_value, value = float(leg.forward), float(leg.forward) * (1 + p)
                    else:
                        args = {"rate": 0.0, "is_call": leg.is_call}
                        now_value = float(
                            pricing.price(
                                leg.forward, leg.strike, years, vol=max(leg.vol, MIN_VOL), **args
                            )
                        )
                        value = float(
                            pricing.price(
                                leg.forward * (1 + p),
                                leg.strike,
                                years,
                                vol=max(leg.vol * (1 + s), MIN_VOL),
                                **args,
                            )
                        )
                    mid = max(leg.mark + value - now_value, 0.0)
                    half = (leg.ask - leg.bid) / 2
                    sell_or_buy = mid - w * half if leg.quantity > 0 else mid + w * half
                    ref = leg.mark if basis is PnlBasis.MARK else leg.average_price or 0
                    total += leg.quantity * (max(sell_or_buy, 0.0) - ref)
                grid[w_i, i, j] = total
    return grid


def _margin_of_one_state(legs: list[ShockLeg], p: float, s: float) -> float:
    netted: dict[int, ShockLeg] = {}
    for leg in legs:
        held = netted.get(leg.instrument_token)
        netted[leg.instrument_token] = (
            leg if held is None else replace(held, quantity=held.quantity + leg.quantity)
        )
    members = [leg for leg in netted.values() if leg.quantity]
    margin_legs = MarginLegs(
        underlying=tuple(leg.underlying for leg in members),
        quantity=np.array([leg.quantity for leg in members], dtype=np.float64),
        is_option=np.array([leg.is_option for leg in members]),
        is_call=np.array([leg.is_call for leg in members]),
        strike=np.array([leg.strike or 0 for leg in members], dtype=np.float64),
        years=np.array([(leg.expiry - NOW).total_seconds() / YEAR_SECONDS for leg in members]),
        expiry=np.array([leg.expiry.toordinal() for leg in members], dtype=np.int64),
        expires_today=np.zeros(len(members), dtype=np.bool_),
    )
    state = MarketState(
        forward=np.array([leg.forward * (1 + p) for leg in members]),
        spot=np.array([leg.spot * (1 + p) for leg in members]),
        vol=np.array([leg.vol * (1 + s) for leg in members]),
    )
    estimate = estimate_margin_arrays(margin_legs, state)
    return float(estimate.span + estimate.exposure)


def test_grid_equals_a_naive_per_cell_repricing() -> None:
    legs = [*BULL_PUT, put(3, 24500, -2 * LOT, bid=42_000, ask=42_300, vol=0.14), future(LOT)]
    grid = shock_grid(legs, funds=FUNDS, now=NOW, axes=SMALL_AXES)
    np.testing.assert_allclose(
        grid.pnl, _naive_pnl(legs, SMALL_AXES, PnlBasis.MARK), rtol=1e-9, atol=1e-6
    )
    for i, s in enumerate(SMALL_AXES.iv):
        for j, p in enumerate(SMALL_AXES.price):
            expected = _margin_of_one_state(legs, p, s)
            assert grid.margin[1, i, j] == pytest.approx(expected, rel=1e-12)
            assert grid.utilisation[0, i, j] == pytest.approx(expected / FUNDS, rel=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    legs=st.lists(
        st.tuples(
            st.sampled_from([23500, 23800, 24000, 24200, 24500]),
            st.booleans(),
            st.integers(-3, 3).filter(bool),
            st.floats(0.08, 0.6),
            st.integers(0, 2_000),
            st.integers(0, 400),
        ),
        min_size=1,
        max_size=4,
    ),
    basis=st.sampled_from(PnlBasis),
)
def test_any_small_portfolio_matches_the_naive_repricing(
    legs: list[tuple[int, bool, int, float, int, int]], basis: PnlBasis
) -> None:
    shock_legs = [
        replace(
            put(token, strike, lots * LOT, bid=bid, ask=bid + spread, vol=vol),
            is_call=call,
            average_price=Paise(bid + 150),
        )
        for token, (strike, call, lots, vol, bid, spread) in enumerate(legs, start=1)
    ]
    grid = shock_grid(shock_legs, funds=FUNDS, now=NOW, axes=SMALL_AXES, basis=basis)
    np.testing.assert_allclose(
        grid.pnl, _naive_pnl(shock_legs, SMALL_AXES, basis), rtol=1e-9, atol=1e-6
    )


def test_unshocked_cell_costs_only_the_spread_from_the_mark() -> None:
    grid = shock_grid(BULL_PUT, funds=FUNDS, now=NOW)
    i, j = DEFAULT_AXES.iv.index(0.0), DEFAULT_AXES.price.index(0.0)
    half_spreads = LOT * 50 + LOT * 50  # each leg's (ask − bid) / 2 × quantity
    for w_i, w in enumerate(DEFAULT_AXES.widening):
        assert grid.pnl[w_i, i, j] == pytest.approx(-w * half_spreads, abs=1e-6)


def test_entry_basis_adds_the_gain_since_entry() -> None:
    entered = [
        replace(SHORT_PUT, average_price=Paise(20_000)),
        replace(LONG_PUT, average_price=Paise(9_000)),
    ]
    from_mark = shock_grid(entered, funds=FUNDS, now=NOW)
    from_entry = shock_grid(entered, funds=FUNDS, now=NOW, basis=PnlBasis.ENTRY)
    gain = -LOT * (17_050 - 20_000) + LOT * (9_550 - 9_000)
    np.testing.assert_allclose(from_entry.pnl - from_mark.pnl, gain, atol=1e-6)
    assert from_entry.basis is PnlBasis.ENTRY


def test_bull_put_spread_loses_more_as_the_price_falls() -> None:
    grid = shock_grid(BULL_PUT, funds=FUNDS, now=NOW)
    down = grid.price_shocks <= 0
    steps = np.diff(grid.pnl[:, :, down], axis=2)  # from −10% towards 0
    assert np.all(steps > 0)
    # At −10% the spread is close to its largest loss: width less the credit, and the spread.
    worst_possible = -LOT * 20_000 + LOT * (17_050 - 9_550) - 2 * LOT * 100
    assert grid.pnl[:, :, 0].min() >= worst_possible


def test_wider_spreads_never_pay_better() -> None:
    grid = shock_grid([*BULL_PUT, future(-LOT)], funds=FUNDS, now=NOW)
    assert list(grid.widenings) == [1.0, 1.5, 2.0]
    assert np.all(grid.pnl[2] <= grid.pnl[0])
    assert np.all(grid.pnl[1] <= grid.pnl[0])
    assert np.any(grid.pnl[2] < grid.pnl[0])


def test_default_axes_cover_three_percent_and_thirty_and_fifty_percent_iv() -> None:
    assert len(DEFAULT_AXES.price) == 21 and len(DEFAULT_AXES.iv) == 14
    assert {-0.03, 0.03, -0.1, 0.1, 0.0} <= set(DEFAULT_AXES.price)
    assert {0.3, 0.5, -0.3, 1.0, 0.0} <= set(DEFAULT_AXES.iv)
    grid = shock_grid(BULL_PUT, funds=FUNDS, now=NOW)
    assert grid.pnl.shape == grid.margin.shape == grid.utilisation.shape == (3, 14, 21)


def test_the_worst_cell_is_the_lowest_pnl() -> None:
    grid = shock_grid([*BULL_PUT, future(-LOT)], funds=FUNDS, now=NOW)
    worst = grid.worst
    assert grid.pnl[worst.widening_index, worst.iv_index, worst.price_index] == grid.pnl.min()
    assert worst.pnl == round(float(grid.pnl.min()))
    assert worst.price_shock == grid.price_shocks[worst.price_index]
    assert worst.iv_shock == grid.iv_shocks[worst.iv_index]
    assert worst.widening == 2.0  # the worst cell always pays the widest spread
    assert worst.margin == grid.margin_paise()[0, worst.iv_index, worst.price_index]


def test_frontier_of_a_short_future_is_where_its_margin_outgrows_the_funds() -> None:
    # A future's margin is 9.3% SPAN + 2% exposure of its value, whatever the IV: funds worth
    # 11.3% of 1.035 × its value are used up from a +3.5% move, so at +4% on the grid.
    funds = Paise(round(0.113 * 2_400_000 * LOT * 1.035))
    grid = shock_grid([future(-LOT)], funds=funds, now=NOW)
    assert grid.margin[0, 0, 10] == pytest.approx(0.113 * 2_400_000 * LOT)
    assert all(row.up == 0.04 and row.down is None for row in grid.frontier)
    assert [row.iv_shock for row in grid.frontier] == list(DEFAULT_AXES.iv)

    everywhere = shock_grid([future(-LOT)], funds=Paise(1_000), now=NOW)
    assert all((row.down, row.up) == (0.0, 0.0) for row in everywhere.frontier)
    nowhere = shock_grid([future(-LOT)], funds=Paise(10**12), now=NOW)
    assert all((row.down, row.up) == (None, None) for row in nowhere.frontier)


def test_frontier_of_a_naked_short_put_is_the_nearest_fall_that_uses_up_the_funds() -> None:
    probe = shock_grid([SHORT_PUT], funds=FUNDS, now=NOW)
    i = DEFAULT_AXES.iv.index(0.0)
    margin = probe.margin[0, i]
    one, two = DEFAULT_AXES.price.index(-0.01), DEFAULT_AXES.price.index(-0.02)
    assert margin[two] > margin[one] > margin[DEFAULT_AXES.price.index(0.0)]
    grid = shock_grid([SHORT_PUT], funds=Paise(round((margin[one] + margin[two]) / 2)), now=NOW)
    row = grid.frontier[i]
    reached = [p for p, u in zip(grid.price_shocks, grid.utilisation[0, i], strict=True) if u >= 1]
    assert row.down == max(p for p in reached if p <= 0) == -0.02
    assert row.up is None
    # Deep in the money the put margins like a future on a lower price, so the margin falls
    # again: the frontier is the nearest crossing, not a threshold beyond which all cells fail.
    assert margin[0] < margin[two]


def test_a_proposed_group_pays_its_buys_premium_and_gets_no_credit_for_its_sells() -> None:
    alone = shock_grid([future(LOT)], funds=FUNDS, now=NOW)
    combined = shock_grid([future(LOT)], funds=FUNDS, now=NOW, proposed=BULL_PUT)
    i, j = DEFAULT_AXES.iv.index(0.0), DEFAULT_AXES.price.index(0.0)
    legs = MarginLegs(
        underlying=("NIFTY",) * 3,
        quantity=np.array([LOT, -LOT, LOT], dtype=np.float64),
        is_option=np.array([False, True, True]),
        is_call=np.zeros(3, dtype=np.bool_),
        strike=np.array([0.0, 2_400_000.0, 2_380_000.0]),
        years=np.full(3, (EXPIRY - NOW).total_seconds() / YEAR_SECONDS),
        expiry=np.full(3, EXPIRY.toordinal(), dtype=np.int64),
        expires_today=np.zeros(3, dtype=np.bool_),
    )
    state = MarketState(np.full(3, 2_400_000.0), np.full(3, 2_400_000.0), np.array([0, 0.15, 0.15]))
    expected = estimate_margin(legs, state, premium_price=[0, 17_000, 9_600])
    assert expected.premium_paid == LOT * 9_600  # the long put bought at its ask
    assert combined.margin_paise()[0, i, j] == expected.total  # the short put's credit not netted
    assert combined.margin[0, i, j] != alone.margin[0, i, j]


def test_leg_builder_reads_the_instrument_and_the_touch() -> None:
    instrument = Instrument(
        instrument_token=12345,
        exchange_token=48,
        exchange=Exchange.NFO,
        segment="NFO-OPT",
        tradingsymbol="NIFTY2612024000PE",
        name="NIFTY",
        expiry=date(2026, 1, 20),
        strike=Decimal("24000"),
        instrument_type=InstrumentType.PE,
        lot_size=LOT,
        tick_size_paise=5,
    )
    quote = Quote(
        instrument_token=12345,
        at=NOW,
        last_price=Paise(17_000),
        bids=(DepthLevel(Paise(16_995), 75, 1),),
        asks=(DepthLevel(Paise(17_105), 150, 2),),
    )
    leg = shock_leg(instrument, -2 * LOT, quote, forward=SPOT, spot=SPOT, vol=0.15)
    assert (leg.strike, leg.is_call, leg.is_option) == (2_400_000, False, True)
    assert (leg.bid, leg.ask, leg.mark) == (16_995, 17_105, 17_050)
    assert leg.expiry == EXPIRY and leg.lot_size == LOT and leg.quantity == -150

    no_bid = replace(quote, bids=())
    assert shock_leg(instrument, LOT, no_bid, forward=SPOT, spot=SPOT, vol=0.15).bid == 0
    with pytest.raises(ValueError, match="no ask"):
        shock_leg(instrument, LOT, replace(quote, asks=()), forward=SPOT, spot=SPOT, vol=0.15)
    with pytest.raises(ValueError, match="whole number of lots"):
        shock_leg(instrument, 10, quote, forward=SPOT, spot=SPOT, vol=0.15)


def test_as_dict_is_json_with_paise_grids() -> None:
    grid = shock_grid(BULL_PUT, funds=FUNDS, now=NOW, axes=SMALL_AXES)
    data = json.loads(json.dumps(grid.as_dict()))
    assert data["price_shocks"] == list(SMALL_AXES.price)
    assert np.array(data["pnl"]).shape == (2, 3, 4)
    assert np.array(data["margin"]).shape == (3, 4)
    assert data["worst"]["pnl"] == grid.worst.pnl
    assert data["basis"] == "mark" and data["funds"] == FUNDS
    assert len(data["frontier"]) == 3


def test_bad_inputs_raise_naming_what_was_wrong() -> None:
    with pytest.raises(ValueError, match=r"ShockAxes\.price is empty"):
        ShockAxes(price=())
    with pytest.raises(ValueError, match=r"ShockAxes\.iv is empty"):
        ShockAxes(iv=())
    with pytest.raises(ValueError, match=r"ShockAxes\.widening is empty"):
        ShockAxes(widening=())
    with pytest.raises(ValueError, match=r"ShockAxes\.price: -1\.0"):
        ShockAxes(price=(-1.0, 0.0))
    with pytest.raises(ValueError, match="strictly increasing"):
        ShockAxes(iv=(0.5, 0.3))
    with pytest.raises(ValueError, match="funds"):
        shock_grid(BULL_PUT, funds=Paise(0), now=NOW)
    with pytest.raises(ValueError, match="funds"):
        shock_grid(BULL_PUT, funds=Paise(-5), now=NOW)
    with pytest.raises(ValueError, match="now must be a timezone-aware"):
        shock_grid(BULL_PUT, funds=FUNDS, now=datetime(2026, 1, 13, 10, 0))
    with pytest.raises(ValueError, match="expiry must be a timezone-aware"):
        replace(SHORT_PUT, expiry=datetime(2026, 1, 20, 15, 30))
    with pytest.raises(ValueError, match="no legs"):
        shock_grid([], funds=FUNDS, now=NOW)
    with pytest.raises(ValueError, match="average price"):
        shock_grid(BULL_PUT, funds=FUNDS, now=NOW, basis=PnlBasis.ENTRY)
    with pytest.raises(ValueError, match="bid"):
        replace(SHORT_PUT, bid=Paise(20_000))
