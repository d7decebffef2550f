"""The paper exchange's market: a deterministic path, quotes around Black-76 values, the clock."""

from __future__ import annotations

import json
import math
import time
from datetime import date, datetime, timedelta

import numpy as np
import pytest

from cockpit.domain.calendar import IST, TradingCalendar
from cockpit.domain.instruments import ContractSpecTable, Instrument
from cockpit.domain.market_data import Quote
from cockpit.exchange.market import SESSION_SECONDS, Market, MarketClock
from cockpit.exchange.universe import Universe, build_universe, parse_underlyings

UNDERLYINGS_CSV = """\
id,name,kind,spot_symbol,spot,volatility,strike_step,strikes_each_side,jump_intensity,jump_sigma
1,NIFTY,index,NIFTY 50,26000,0.13,50,30,4,0.012
2,BANKNIFTY,index,NIFTY BANK,59000,0.15,100,20,4,0.015
5,HDFCBANK,stock,HDFCBANK,1000,0.22,10,15,6,0.025
"""
SPECS = ContractSpecTable.from_csv(
    "underlying,lot_size,freeze_quantity,valid_from,source\n"
    "NIFTY,65,1800,2026-08-03,test\n"
    "BANKNIFTY,30,600,2026-08-03,test\n"
    "HDFCBANK,550,,2025-10-29,test\n"
)
CALENDAR = TradingCalendar({date(2026, 12, 25): "Christmas"})
TODAY = date(2026, 12, 1)  # a Tuesday: NIFTY's weekly expires today
OPEN = datetime(2026, 12, 1, 9, 15, tzinfo=IST)
WEEKLY = date(2026, 12, 8)
MONTHLY = date(2026, 12, 29)
FAR = date(2027, 2, 23)


def make_universe(text: str = UNDERLYINGS_CSV, today: date = TODAY) -> Universe:
    return build_universe(parse_underlyings(text), SPECS, CALENDAR, today)


@pytest.fixture(scope="module")
def universe() -> Universe:
    return make_universe()


def make_market(universe: Universe, *, seed: int = 42, start: datetime = OPEN) -> Market:
    return Market(universe, CALENDAR, seed=seed, start=start)


def option(universe: Universe, expiry: date, strike: int, right: str) -> Instrument:
    for inst in universe.options("NIFTY", expiry):
        if inst.strike == strike and inst.instrument_type == right:
            return inst
    raise AssertionError(f"no NIFTY {expiry} {strike} {right}")


def all_tokens(universe: Universe) -> list[int]:
    return [i.instrument_token for i in universe.instruments]


# ---- the path -------------------------------------------------------------------------------


def test_same_seed_gives_identical_quotes(universe: Universe) -> None:
    a, b = make_market(universe), make_market(universe)
    a.advance(1000)
    b.advance(1000)
    assert a.step_count == b.step_count == 1000
    assert a.quotes(all_tokens(universe)) == b.quotes(all_tokens(universe))


JUMPY_CSV = UNDERLYINGS_CSV.replace("0.13,50,30,4,0.012", "0.13,50,30,500000,0.01")


@pytest.mark.parametrize(
    ("text", "name", "model"),
    [
        (UNDERLYINGS_CSV, "NIFTY", (1, 26000.0, 0.13, 4.0, 0.012)),
        (UNDERLYINGS_CSV, "HDFCBANK", (5, 1000.0, 0.22, 6.0, 0.025)),
        (JUMPY_CSV, "NIFTY", (1, 26000.0, 0.13, 500000.0, 0.01)),  # a jump in ~9% of steps
    ],
)
def test_path_follows_the_documented_merton_steps(
    text: str, name: str, model: tuple[int, float, float, float, float]
) -> None:
    ident, spot, sigma, lam, jump_sigma = model
    # Recomputed here from the module docstring: PCG64 seeded by SeedSequence(seed,
    # spawn_key=(id, 0)), three uniforms per second, Box-Muller, Bernoulli jumps.
    market = make_market(make_universe(text))
    market.advance(1000)
    seed = np.random.SeedSequence(42, spawn_key=(ident, 0))
    u = np.random.Generator(np.random.PCG64(seed)).random((1000, 3))
    dt = 1 / (252 * 22_500)
    kappa = math.exp(jump_sigma**2 / 2) - 1
    radius = np.sqrt(-2 * np.log(1 - u[:, 0]))
    diffusion = radius * np.cos(2 * np.pi * u[:, 1])
    jumped = u[:, 2] < lam * dt
    jumps = np.where(jumped, jump_sigma * radius * np.sin(2 * np.pi * u[:, 1]), 0)
    drift = -(sigma**2 / 2 + lam * kappa) * dt
    log_return = np.sum(drift + sigma * math.sqrt(dt) * diffusion + jumps)
    assert market.spot_rupees(name) == pytest.approx(spot * math.exp(log_return), rel=1e-12)
    if lam > 1000:
        assert 50 < jumped.sum() < 150


def test_different_seed_gives_a_different_path(universe: Universe) -> None:
    a, b = make_market(universe, seed=42), make_market(universe, seed=43)
    a.advance(60)
    b.advance(60)
    assert a.spot_rupees("NIFTY") != b.spot_rupees("NIFTY")
    assert a.spot_rupees("HDFCBANK") != b.spot_rupees("HDFCBANK")


def test_adding_or_reordering_underlyings_leaves_nifty_alone(universe: Universe) -> None:
    header, nifty, banknifty, hdfc = UNDERLYINGS_CSV.splitlines()
    alone = make_market(make_universe(f"{header}\n{nifty}\n"))
    reordered = make_market(make_universe(f"{header}\n{hdfc}\n{banknifty}\n{nifty}\n"))
    full = make_market(universe)
    for market in (alone, reordered, full):
        market.advance(5000)
    assert alone.spot_rupees("NIFTY") == full.spot_rupees("NIFTY")
    assert reordered.spot_rupees("NIFTY") == full.spot_rupees("NIFTY")
    assert reordered.spot_rupees("HDFCBANK") == full.spot_rupees("HDFCBANK")


def test_stepping_by_the_second_equals_one_long_advance(universe: Universe) -> None:
    a, b = make_market(universe), make_market(universe)
    for _ in range(1500):
        a.advance(1)
    for _ in range(10):
        a.advance(0.25)
    b.advance(1502.5)
    assert a.now == b.now and a.step_count == b.step_count == 1502
    assert a.snapshot() == b.snapshot()
    a.advance(3 * 86400)
    for _ in range(72):
        b.advance(3600)
    assert a.snapshot() == b.snapshot()


def test_only_whole_seconds_in_session_are_steps(universe: Universe) -> None:
    market = make_market(universe, start=OPEN - timedelta(minutes=5))
    market.advance(300.5)
    assert market.step_count == 0  # 09:15:00.5: the first second has not ended
    market.advance(0.5)
    assert market.step_count == 1
    market.set_time(datetime(2026, 12, 1, 16, 0, tzinfo=IST))
    assert market.step_count == SESSION_SECONDS


def test_prices_stand_still_while_the_market_is_closed(universe: Universe) -> None:
    friday = datetime(2026, 12, 4, 15, 29, tzinfo=IST)
    market = make_market(universe, start=friday)
    market.advance(60)  # to the 15:30 close
    tokens = all_tokens(universe)
    at_close = market.quotes(tokens)
    spot = market.spot_rupees("NIFTY")
    market.changed_tokens()
    market.advance(30 * 60)  # after the close
    assert market.changed_tokens() == set()
    market.set_time(datetime(2026, 12, 7, 9, 14, 59, tzinfo=IST))  # the weekend
    assert market.quotes(tokens) == at_close
    assert market.spot_rupees("NIFTY") == spot
    assert market.changed_tokens() == set()
    assert market.step_count == 60
    market.advance(2)
    assert market.spot_rupees("NIFTY") != spot  # the Monday gap and a step
    assert market.changed_tokens()


def test_no_steps_on_a_holiday(universe: Universe) -> None:
    market = make_market(universe, start=datetime(2026, 12, 24, 15, 30, tzinfo=IST))
    spot = market.spot_rupees("BANKNIFTY")
    market.set_time(datetime(2026, 12, 25, 15, 0, tzinfo=IST))  # Christmas, a Friday
    assert market.step_count == 0
    assert market.spot_rupees("BANKNIFTY") == spot
    assert not market.is_open()


def test_overnight_gap_changes_the_open_but_not_the_previous_close(universe: Universe) -> None:
    market = make_market(universe, start=datetime(2026, 12, 1, 15, 29, tzinfo=IST))
    market.advance(60)
    close = market.spot("NIFTY")
    market.set_time(datetime(2026, 12, 2, 9, 15, tzinfo=IST))
    index = market.quote(universe.spot_token("NIFTY"))
    assert index.ohlc is not None
    assert index.ohlc.close == close  # Kite's ohlc.close is the previous session's close
    assert index.ohlc.open == market.spot("NIFTY") != close
    assert index.bids == () and index.asks == () and index.volume == 0


def test_set_time_refuses_to_go_back(universe: Universe) -> None:
    market = make_market(universe)
    with pytest.raises(ValueError, match="cannot move backwards"):
        market.set_time(OPEN - timedelta(seconds=1))
    with pytest.raises(ValueError, match="cannot move backwards"):
        market.advance(-1)


def test_set_time_over_a_short_span_equals_advancing(universe: Universe) -> None:
    a, b = make_market(universe), make_market(universe)
    a.set_time(OPEN + timedelta(days=3, hours=2))
    b.advance(timedelta(days=3, hours=2).total_seconds())
    assert a.snapshot() == b.snapshot()


def test_set_time_over_months_aggregates_whole_sessions(universe: Universe) -> None:
    a, b = make_market(universe), make_market(universe)
    target = datetime(2027, 6, 1, 10, 0, tzinfo=IST)
    started = time.perf_counter()
    a.set_time(target)
    assert time.perf_counter() - started < 0.5
    b.set_time(target)
    assert a.snapshot() == b.snapshot()
    assert a.now == target
    assert a.step_count > 100 * SESSION_SECONDS
    assert 10_000 < a.spot_rupees("NIFTY") < 60_000


def test_gap_moves_the_spot_by_exactly_the_percentage(universe: Universe) -> None:
    market = make_market(universe)
    market.advance(10)
    before = market.spot_rupees("NIFTY")
    market.gap("NIFTY", 5)
    assert market.spot_rupees("NIFTY") == pytest.approx(before * 1.05, rel=1e-13)
    assert market.spot("NIFTY") == round(before * 105)
    market.gap("NIFTY", -20)
    assert market.spot_rupees("NIFTY") == pytest.approx(before * 1.05 * 0.8, rel=1e-13)
    with pytest.raises(ValueError, match="at or below zero"):
        market.gap("NIFTY", -100)


def test_snapshot_restores_the_identical_path(universe: Universe) -> None:
    market = make_market(universe)
    market.advance(2 * 86400 + 1234)
    saved = json.loads(json.dumps(market.snapshot()))
    restored = Market.restore(universe, CALENDAR, saved)
    assert restored.now == market.now and restored.step_count == market.step_count
    tokens = all_tokens(universe)
    assert restored.quotes(tokens) == market.quotes(tokens)
    market.advance(86400)
    restored.advance(86400)
    assert restored.snapshot() == market.snapshot()
    assert restored.quotes(tokens) == market.quotes(tokens)


def test_restore_refuses_an_unknown_format(universe: Universe) -> None:
    saved = make_market(universe).snapshot()
    saved["format"] = 99
    with pytest.raises(ValueError, match="format 99"):
        Market.restore(universe, CALENDAR, saved)


# ---- values ---------------------------------------------------------------------------------


def test_forward_is_cost_of_carry_to_the_expiry_close(universe: Universe) -> None:
    market = make_market(universe, start=datetime(2026, 12, 1, 15, 30, tzinfo=IST))
    spot = market.spot_rupees("NIFTY")
    assert market.years_to_expiry(MONTHLY) == 28 / 365
    assert market.forward_rupees("NIFTY", MONTHLY) == pytest.approx(
        spot * math.exp(0.065 * 28 / 365), rel=1e-12
    )
    assert market.forward("NIFTY", MONTHLY) == round(market.forward_rupees("NIFTY", MONTHLY) * 100)


def test_futures_trade_around_the_forward(universe: Universe) -> None:
    market = make_market(universe)
    market.advance(600)
    for future in universe.futures("NIFTY"):
        assert future.expiry is not None
        forward = market.forward_rupees("NIFTY", future.expiry)
        assert market.theoretical(future.instrument_token) == pytest.approx(forward, rel=1e-12)
        quote = market.quote(future.instrument_token)
        assert quote.bids[0].price <= forward * 100 <= quote.asks[0].price
        assert quote.spread is not None and quote.spread <= 0.0002 * forward * 100


def test_put_call_parity_holds_for_theoreticals(universe: Universe) -> None:
    market = make_market(universe)
    market.advance(777)
    for expiry in (WEEKLY, MONTHLY, FAR):
        forward = market.forward_rupees("NIFTY", expiry)
        discount = math.exp(-0.065 * market.years_to_expiry(expiry))
        chain = universe.options("NIFTY", expiry)
        for call, put in zip(chain[::2], chain[1::2], strict=True):
            assert call.strike is not None
            parity = discount * (forward - float(call.strike))
            difference = market.theoretical(call.instrument_token) - market.theoretical(
                put.instrument_token
            )
            assert difference == pytest.approx(parity, abs=1e-6 * forward)


def test_smile_has_put_skew_and_a_higher_near_term_level(universe: Universe) -> None:
    market = make_market(universe)
    assert market.spot_rupees("NIFTY") == pytest.approx(26000.0, rel=1e-14)
    otm_put = market.model_vol(option(universe, MONTHLY, 24500, "PE").instrument_token)
    atm = market.model_vol(option(universe, MONTHLY, 26000, "CE").instrument_token)
    otm_call = market.model_vol(option(universe, MONTHLY, 27500, "CE").instrument_token)
    assert otm_put > atm and otm_put > otm_call
    near = market.model_vol(option(universe, WEEKLY, 26000, "CE").instrument_token)
    far = market.model_vol(option(universe, FAR, 26000, "CE").instrument_token)
    assert near > far > 0.13
    # Same strike: the call and the put share the smile's volatility.
    assert market.model_vol(option(universe, MONTHLY, 24500, "CE").instrument_token) == otm_put


def test_expired_options_are_worth_their_intrinsic_value(universe: Universe) -> None:
    market = make_market(universe, start=datetime(2026, 12, 1, 15, 29, tzinfo=IST))
    market.advance(120)
    settle = market.settlement_price("NIFTY", TODAY)
    assert settle == market.spot("NIFTY")
    call = option(universe, TODAY, 25000, "CE")
    assert market.theoretical(call.instrument_token) == pytest.approx(settle / 100 - 25000)
    assert market.theoretical(option(universe, TODAY, 25000, "PE").instrument_token) == 0


def test_settlement_price_is_unknown_before_the_close(universe: Universe) -> None:
    market = make_market(universe)
    with pytest.raises(ValueError, match="NIFTY 2026-12-01: no settlement price"):
        market.settlement_price("NIFTY", TODAY)


def test_unknown_tokens_and_underlyings_raise_key_errors(universe: Universe) -> None:
    market = make_market(universe)
    with pytest.raises(KeyError, match="token 12345"):
        market.quote(12345)
    with pytest.raises(KeyError, match="no underlying RELIANCE"):
        market.spot("RELIANCE")


# ---- quotes ----------------------------------------------------------------------------------


def _option_quotes(market: Market, universe: Universe) -> list[tuple[Instrument, Quote]]:
    return [
        (inst, market.quote(inst.instrument_token))
        for expiry in universe.expiries("NIFTY")
        for inst in universe.options("NIFTY", expiry)
    ]


def test_bid_below_ask_on_the_tick_and_never_below_five_paise(universe: Universe) -> None:
    market = make_market(universe)
    market.advance(3000)
    no_bid = 0
    for inst, quote in _option_quotes(market, universe):
        assert quote.asks, inst.tradingsymbol
        ask = quote.asks[0].price
        assert ask % 5 == 0 and ask >= 5
        assert quote.last_price % 5 == 0 and quote.last_price >= 5
        if not quote.bids:
            no_bid += 1
            assert market.theoretical(inst.instrument_token) < 0.10, inst.tradingsymbol
            continue
        bid = quote.bids[0].price
        assert 5 <= bid < ask and bid % 5 == 0
        theo = market.theoretical(inst.instrument_token) * 100
        assert bid <= theo <= ask
    assert no_bid > 0  # today's expiry and far wings are worthless: asks only


def _relative_spread(market: Market, inst: Instrument) -> float:
    quote = market.quote(inst.instrument_token)
    assert quote.spread is not None and quote.mid is not None
    return quote.spread / quote.mid


def test_relative_spread_is_wider_far_from_the_money(universe: Universe) -> None:
    market = make_market(universe)
    atm = _relative_spread(market, option(universe, MONTHLY, 26000, "CE"))
    assert _relative_spread(market, option(universe, MONTHLY, 27500, "CE")) > 2 * atm
    assert _relative_spread(market, option(universe, MONTHLY, 24500, "PE")) > 2 * atm


def test_relative_spread_is_wider_near_expiry(universe: Universe) -> None:
    market = make_market(universe)
    near = _relative_spread(market, option(universe, WEEKLY, 26000, "CE"))
    far = _relative_spread(market, option(universe, FAR, 26000, "CE"))
    assert near > far


@pytest.mark.parametrize("underlying", ["NIFTY", "HDFCBANK"])
def test_touch_follows_the_documented_half_spread(universe: Universe, underlying: str) -> None:
    market = make_market(universe)
    market.advance(1234)
    liquidity = 1.0 if underlying == "NIFTY" else 3.0
    checked = 0
    for expiry in universe.expiries(underlying):
        years = market.years_to_expiry(expiry)
        forward = market.forward_rupees(underlying, expiry)
        for inst in universe.options(underlying, expiry):
            assert inst.strike is not None
            theo = market.theoretical(inst.instrument_token) * 100
            vol = market.model_vol(inst.instrument_token)
            z = math.log(float(inst.strike) / forward) / (vol * math.sqrt(max(years, 1 / 365)))
            half = theo * 0.0005 * liquidity * (1 + abs(z)) * (1 + 1.5 / (1 + years * 365))
            half = max(2.5, half)
            bid = math.floor((theo - half) / 5) * 5
            ask = max(math.ceil((theo + half) / 5) * 5, 5, bid + 5)
            quote = market.quote(inst.instrument_token)
            assert quote.asks[0].price == ask, inst.tradingsymbol
            assert (quote.bids[0].price if quote.bids else 0) == (bid if bid >= 5 else 0)
            checked += 1
    assert checked == len(universe.expiries(underlying)) * len(
        universe.options(underlying, universe.expiries(underlying)[0])
    )


def test_depth_is_best_first_in_whole_lots(universe: Universe) -> None:
    market = make_market(universe)
    market.advance(42)
    atm = market.quote(option(universe, MONTHLY, 26000, "CE").instrument_token)
    assert len(atm.bids) == len(atm.asks) == 5
    for inst, quote in _option_quotes(market, universe):
        for side in (quote.bids, quote.asks):
            for level in side:
                assert level.quantity > 0 and level.quantity % inst.lot_size == 0
                assert 1 <= level.orders <= level.quantity // inst.lot_size
                assert level.price % 5 == 0
        bid_prices = [level.price for level in quote.bids]
        ask_prices = [level.price for level in quote.asks]
        assert bid_prices == sorted(bid_prices, reverse=True) and len(set(bid_prices)) == len(
            bid_prices
        )
        assert ask_prices == sorted(ask_prices)


def test_depth_sizes_are_deterministic_and_larger_near_the_money(universe: Universe) -> None:
    a, b = make_market(universe), make_market(universe)
    atm = option(universe, MONTHLY, 26000, "CE")
    wing = option(universe, MONTHLY, 27500, "CE")
    atm_sizes, wing_sizes = [], []
    for _ in range(40):
        a.advance(5)
        b.advance(5)
        assert a.quote(atm.instrument_token).bids == b.quote(atm.instrument_token).bids
        atm_sizes.append(a.quote(atm.instrument_token).total_bid_quantity)
        wing_sizes.append(a.quote(wing.instrument_token).total_ask_quantity)
    assert np.mean(atm_sizes) > 2 * np.mean(wing_sizes)


def test_volume_grows_through_the_session_and_oi_peaks_near_the_money(
    universe: Universe,
) -> None:
    market = make_market(universe)
    atm = option(universe, MONTHLY, 26000, "CE")
    wing = option(universe, MONTHLY, 24500, "CE")
    volumes = []
    for _ in range(5):
        market.advance(600)
        quote = market.quote(atm.instrument_token)
        assert quote.volume % 65 == 0
        volumes.append(quote.volume)
    assert volumes == sorted(volumes) and volumes[0] > 0
    assert market.quote(atm.instrument_token).open_interest > 3 * (
        market.quote(wing.instrument_token).open_interest
    )
    quote = market.quote(atm.instrument_token)
    assert quote.ohlc is not None
    assert quote.ohlc.low <= quote.average_price <= quote.ohlc.high
    assert quote.ohlc.low <= quote.last_price <= quote.ohlc.high
    assert quote.last_quantity % 65 == 0 and quote.last_quantity > 0


def test_index_rows_have_last_price_and_ohlc_only(universe: Universe) -> None:
    market = make_market(universe)
    market.advance(900)
    quote = market.quote(universe.spot_token("NIFTY"))
    assert quote.last_price == market.spot("NIFTY")
    assert quote.bids == () and quote.asks == ()
    assert quote.volume == 0 and quote.open_interest == 0
    assert quote.ohlc is not None
    assert quote.ohlc.open == 2_600_000
    assert quote.ohlc.low <= quote.last_price <= quote.ohlc.high
    stock = market.quote(universe.spot_token("HDFCBANK"))
    assert stock.bids and stock.asks and stock.volume > 0


def test_quote_time_is_the_last_step(universe: Universe) -> None:
    market = make_market(universe)
    market.advance(10.7)
    quote = market.quote(universe.spot_token("NIFTY"))
    assert quote.at == OPEN + timedelta(seconds=10)
    market.set_time(datetime(2026, 12, 1, 20, 0, tzinfo=IST))
    assert market.quote(universe.spot_token("NIFTY")).at == datetime(
        2026, 12, 1, 15, 30, tzinfo=IST
    )


def test_changed_tokens_reports_then_clears(universe: Universe) -> None:
    market = make_market(universe)
    first = market.changed_tokens()
    assert first == set(all_tokens(universe))
    assert market.changed_tokens() == set()
    market.advance(1)
    moved = market.changed_tokens()
    assert universe.spot_token("NIFTY") in moved
    assert market.changed_tokens() == set()


def test_set_universe_after_a_roll_drops_expired_tokens(universe: Universe) -> None:
    market = make_market(universe, start=datetime(2026, 12, 1, 15, 29, tzinfo=IST))
    market.advance(60)
    expired = option(universe, TODAY, 26000, "CE").instrument_token
    spot = market.spot_rupees("NIFTY")
    market.set_universe(universe.roll(date(2026, 12, 2)))
    assert market.spot_rupees("NIFTY") == spot
    with pytest.raises(KeyError):
        market.quote(expired)
    assert market.settlement_price("NIFTY", TODAY) == round(spot * 100)


# ---- speed -----------------------------------------------------------------------------------


def test_quotes_for_a_whole_chain_are_vectorised(universe: Universe) -> None:
    market = make_market(universe)
    tokens = [
        i.instrument_token for e in universe.expiries("NIFTY") for i in universe.options("NIFTY", e)
    ][:600]
    market.advance(1)
    market.quotes(tokens)
    started = time.perf_counter()
    for _ in range(10):
        market.advance(1)
        market.quotes(tokens)
    per_step = (time.perf_counter() - started) / 10
    assert per_step < 0.05  # measured about 8 ms; a per-option pricer loop takes far longer


def test_a_full_day_advances_in_well_under_a_second(universe: Universe) -> None:
    market = make_market(universe)
    started = time.perf_counter()
    market.advance(86400)
    assert time.perf_counter() - started < 0.5
    assert market.step_count == SESSION_SECONDS


# ---- the clock -------------------------------------------------------------------------------


def test_market_clock_scales_wall_seconds_by_speed() -> None:
    clock = MarketClock(wall_start=100.0, speed=60.0)
    assert clock.take(100.5) == 30.0
    assert clock.take(101.5) == 60.0
    assert clock.set_speed(0.0, 102.0) == 30.0  # due at the old speed, then paused
    assert clock.take(110.0) == 0.0
    clock.set_speed(1.0, 110.0)
    assert clock.take(112.25) == 2.25
    assert clock.speed == 1.0
    with pytest.raises(ValueError, match="backwards"):
        clock.take(100.0)
    with pytest.raises(ValueError, match="speed"):
        MarketClock(wall_start=0.0, speed=-1.0)
