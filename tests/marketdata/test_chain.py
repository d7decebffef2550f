"""The valued chain against the paper exchange's own model: the implied volatility solved from
its quotes comes back to the model's smile, the forward to its forward."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from cockpit.clock import IST
from cockpit.domain.instruments import InstrumentStore
from cockpit.domain.market_data import DepthLevel, Quote
from cockpit.domain.money import Paise
from cockpit.exchange.market import Market
from cockpit.exchange.universe import build_universe, load_underlyings
from cockpit.marketdata.chain import value_chain, years_to_expiry
from cockpit.reference_data import load_calendar, load_contract_specs

NOW = datetime(2026, 12, 2, 11, 0, tzinfo=IST)  # a Wednesday


@pytest.fixture(scope="module")
def world() -> tuple[Market, InstrumentStore]:
    calendar = load_calendar()
    universe = build_universe(load_underlyings(), load_contract_specs(), calendar, NOW.date())
    market = Market(universe, calendar, seed=5, start=NOW)
    return market, InstrumentStore(universe.instruments)


def test_years_to_expiry_runs_to_the_close_act_365() -> None:
    expiry = date(2026, 12, 8)
    now = datetime(2026, 12, 8, 14, 30, tzinfo=IST)
    assert years_to_expiry(expiry, now) == pytest.approx(3600 / (365 * 86400))
    assert years_to_expiry(expiry, now + timedelta(hours=2)) == 0.0


def test_iv_and_forward_come_back_to_the_exchange_model(
    world: tuple[Market, InstrumentStore],
) -> None:
    market, store = world
    expiry = store.expiries("NIFTY")[1]
    chain = store.chain("NIFTY", expiry)
    quotes = market.quotes(
        [i.instrument_token for r in chain.rows for i in (r.call, r.put) if i is not None]
    )
    future = next((f for f in store.futures("NIFTY") if f.expiry == expiry), None)
    view = value_chain(
        chain,
        quotes,
        now=market.now,
        spot=market.spot("NIFTY"),
        future=market.quote(future.instrument_token) if future else None,
        rate=market.rate,
    )
    assert view.forward_source in {"future", "parity"}
    assert abs(view.forward - market.forward("NIFTY", expiry)) < 0.0015 * view.forward
    atm = view.rows[view.atm_index]
    assert abs(atm.strike * 100 - view.forward) <= 50 * 100
    for side in (atm.call, atm.put):
        assert side is not None and side.iv is not None
        assert side.iv == pytest.approx(market.model_vol(side.instrument_token), abs=0.005)
    assert 0.4 < atm.call.delta < 0.6 and -0.6 < atm.put.delta < -0.4
    assert atm.call.theta < 0 and atm.call.vega > 0 and atm.call.gamma > 0
    # Deltas fall with the strike for calls, every quoted option has an IV.
    call_deltas = [r.call.delta for r in view.rows if r.call and r.call.delta is not None]
    assert call_deltas == sorted(call_deltas, reverse=True)


def test_a_strike_without_quotes_shows_blanks_and_parity_stands_in_for_a_future(
    world: tuple[Market, InstrumentStore],
) -> None:
    market, store = world
    expiry = store.expiries("NIFTY")[0]
    chain = store.chain("NIFTY", expiry)
    tokens = [i.instrument_token for r in chain.rows for i in (r.call, r.put) if i is not None]
    quotes = market.quotes(tokens[2:])  # the lowest strike's call and put have no quote
    view = value_chain(chain, quotes, now=market.now, spot=market.spot("NIFTY"))
    lowest = view.rows[0]
    assert lowest.call is not None and lowest.call.bid is None and lowest.call.iv is None
    assert view.forward_source == "parity"
    assert abs(view.forward - market.forward("NIFTY", expiry)) < 0.0015 * view.forward


def test_hand_checked_mid_iv_and_greek_units() -> None:
    """One call, F = K = ₹100, 73 days, σ = 20%: Black-76 price e^{-rT}·F·(2N(σ√T/2) − 1)."""
    from cockpit.domain.instruments import ChainRow, Exchange, Instrument, InstrumentType

    expiry = date(2027, 2, 13)
    now = datetime.combine(expiry, datetime.min.time(), tzinfo=IST) - timedelta(days=73)
    now = now.replace(hour=15, minute=30)
    call = Instrument(
        instrument_token=1 << 8 | 2,
        exchange_token=1,
        exchange=Exchange.NFO,
        segment="NFO-OPT",
        tradingsymbol="TEST27FEB100CE",
        name="TEST",
        expiry=expiry,
        strike=Decimal(100),
        instrument_type=InstrumentType.CE,
        lot_size=1,
        tick_size_paise=5,
    )
    from cockpit.domain.instruments import OptionChain

    chain = OptionChain(Exchange.NFO, "TEST", expiry, (ChainRow(Decimal(100), call, None),))
    # T = 0.2, σ = 0.2, r = 0: price = 100·(2N(0.0447) − 1) = ₹3.5670
    quote = Quote(
        instrument_token=call.instrument_token,
        at=now,
        last_price=Paise(357),
        bids=(DepthLevel(Paise(356), 100, 1),),
        asks=(DepthLevel(Paise(358), 100, 1),),
    )
    future = Quote(
        instrument_token=99,
        at=now,
        last_price=Paise(10000),
        bids=(DepthLevel(Paise(10000), 1, 1),),
        asks=(DepthLevel(Paise(10000), 1, 1),),
    )
    view = value_chain(
        chain, {call.instrument_token: quote}, now=now, spot=None, future=future, rate=0.0
    )
    side = view.rows[0].call
    assert side is not None
    assert view.years == pytest.approx(0.2)
    assert side.iv == pytest.approx(0.2, abs=0.001)  # mid 357 paise vs 356.70 exact
    assert side.delta == pytest.approx(0.5178, abs=0.001)  # N(σ√T/2)
    # vega per vol point in rupees: F·φ(d1)·√T / 100 = 100·0.3985·0.4472/100
    assert side.vega == pytest.approx(0.1782, abs=0.001)
    # theta per day in rupees: −F·φ(d1)·σ/(2√T)/365 = −100·0.3985·0.2/(2·0.4472)/365
    assert side.theta == pytest.approx(-0.02441, abs=0.0002)
    # gamma per rupee: φ(d1)/(F·σ·√T) = 0.3985/(100·0.2·0.4472)
    assert side.gamma == pytest.approx(0.04455, abs=0.0005)
