"""The shock service: legs built from hand-made quotes (forward from the future or the spot's
carry, implied vol round trip and its fallbacks, missing quotes named), funds, the report
from a stub broker in one quotes call, and the wording shared by the dock and the CLI."""

from __future__ import annotations

import asyncio
import math
from datetime import date, datetime
from decimal import Decimal

import numpy as np
import pytest

from cockpit import pricing
from cockpit.broker.base import AccountMargins, Position
from cockpit.clock import IST, ManualClock
from cockpit.domain.groups import LegRole, LegSpec
from cockpit.domain.instruments import Exchange, Instrument, InstrumentStore, InstrumentType
from cockpit.domain.market_data import DepthLevel, Quote
from cockpit.domain.money import Paise
from cockpit.marketdata.chain import DEFAULT_RATE, years_to_expiry
from cockpit.risk.shocks import GridCell, PnlBasis, ShockAxes, ShockGrid
from cockpit.shock_service import (
    DEFAULT_VOL,
    Holding,
    NothingToShockError,
    ShockError,
    ShockService,
    cell_text,
    margin_funds,
    plan_holdings,
    position_holdings,
    rupees_text,
    shock_legs,
    shock_text,
    worst_text,
)
from cockpit.strategies.spreads import ExitPlan, PlannedLeg, SpreadPlan, Structure

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=IST)
WEEKLY = date(2026, 12, 8)
MONTHLY = date(2026, 12, 29)
LOT = 65


def instrument(
    token: int,
    symbol: str,
    kind: InstrumentType,
    *,
    expiry: date | None = None,
    strike: int | None = None,
    exchange: Exchange = Exchange.NFO,
    name: str = "NIFTY",
) -> Instrument:
    return Instrument(
        instrument_token=token,
        exchange_token=token,
        exchange=exchange,
        segment="INDICES"
        if kind is InstrumentType.EQ
        else f"NFO-{'FUT' if strike is None else 'OPT'}",
        tradingsymbol=symbol,
        name=name,
        expiry=expiry,
        strike=None if strike is None else Decimal(strike),
        instrument_type=kind,
        lot_size=0 if kind is InstrumentType.EQ else LOT,
        tick_size_paise=0 if kind is InstrumentType.EQ else 5,
    )


SPOT = instrument(1, "NIFTY 50", InstrumentType.EQ, exchange=Exchange.NSE, name="NIFTY 50")
FUTURE = instrument(2, "NIFTY26DECFUT", InstrumentType.FUT, expiry=MONTHLY)
PUT_25800 = instrument(10, "NIFTY26D0825800PE", InstrumentType.PE, expiry=WEEKLY, strike=25800)
PUT_25600 = instrument(11, "NIFTY26D0825600PE", InstrumentType.PE, expiry=WEEKLY, strike=25600)
CALL_26500 = instrument(12, "NIFTY26DEC26500CE", InstrumentType.CE, expiry=MONTHLY, strike=26500)
STORE = InstrumentStore([SPOT, FUTURE, PUT_25800, PUT_25600, CALL_26500])


def quote(token: int, bid: int | None, ask: int | None, last: int = 0) -> Quote:
    return Quote(
        instrument_token=token,
        at=NOW,
        last_price=Paise(last),
        bids=() if bid is None else (DepthLevel(Paise(bid), 650, 3),),
        asks=() if ask is None else (DepthLevel(Paise(ask), 650, 3),),
    )


def option_price(inst: Instrument, forward: float, vol: float) -> float:
    assert inst.expiry is not None and inst.strike is not None
    return float(
        pricing.price(
            forward,
            float(inst.strike) * 100,
            years_to_expiry(inst.expiry, NOW),
            rate=DEFAULT_RATE,
            vol=vol,
            is_call=inst.instrument_type is InstrumentType.CE,
        )
    )


def quoted_at(inst: Instrument, forward: float, vol: float, half_spread: int = 50) -> Quote:
    """A two-sided quote whose mid is the model price at ``vol`` (to the paisa)."""
    mid = round(option_price(inst, forward, vol))
    return quote(inst.instrument_token, mid - half_spread, mid + half_spread)


def market(*quotes: Quote) -> dict[int, Quote]:
    return {q.instrument_token: q for q in quotes}


# ---- forwards ---------------------------------------------------------------------------------


def test_a_monthly_option_takes_the_same_expiry_futures_mid_as_its_forward() -> None:
    quotes = market(
        quote(SPOT.instrument_token, None, None, last=2_600_000),
        quote(FUTURE.instrument_token, 2_612_000, 2_612_100),
        quoted_at(CALL_26500, 2_612_050, 0.15),
    )
    legs, warnings = shock_legs([Holding(CALL_26500, -LOT)], quotes, STORE, now=NOW)
    assert legs[0].forward == 2_612_050 and legs[0].spot == 2_600_000
    assert legs[0].quantity == -LOT and legs[0].is_call
    assert warnings == []


def test_a_weekly_option_without_its_own_future_carries_the_spot_to_its_expiry() -> None:
    quotes = market(
        quote(SPOT.instrument_token, None, None, last=2_600_000),
        quote(FUTURE.instrument_token, 2_612_000, 2_612_100),  # the monthly: not this expiry
        quoted_at(PUT_25800, 2_603_000, 0.15),
    )
    legs, _ = shock_legs([Holding(PUT_25800, LOT)], quotes, STORE, now=NOW)
    carried = 2_600_000 * math.exp(DEFAULT_RATE * years_to_expiry(WEEKLY, NOW))
    assert legs[0].forward == round(carried)
    assert legs[0].expiry == datetime(2026, 12, 8, 15, 30, tzinfo=IST)


def test_without_a_spot_quote_the_spot_is_the_future_brought_back_to_today() -> None:
    quotes = market(
        quote(FUTURE.instrument_token, 2_612_000, 2_612_100), quoted_at(PUT_25800, 2_603_000, 0.15)
    )
    legs, _ = shock_legs([Holding(PUT_25800, LOT)], quotes, STORE, now=NOW)
    expected = 2_612_050 * math.exp(-DEFAULT_RATE * years_to_expiry(MONTHLY, NOW))
    assert legs[0].spot == round(expected)


def test_no_spot_and_no_future_is_an_error_naming_the_underlying() -> None:
    quotes = market(quoted_at(PUT_25800, 2_603_000, 0.15))
    with pytest.raises(ShockError, match="NIFTY: no quote for its spot or any future"):
        shock_legs([Holding(PUT_25800, LOT)], quotes, STORE, now=NOW)


# ---- implied volatility --------------------------------------------------------------------


@pytest.mark.parametrize("vol", [0.08, 0.15, 0.32, 0.6])
def test_the_implied_vol_reprices_the_quoted_mid(vol: float) -> None:
    spot = 2_600_000
    forward = spot * math.exp(DEFAULT_RATE * years_to_expiry(WEEKLY, NOW))
    quotes = market(
        quote(SPOT.instrument_token, None, None, last=spot), quoted_at(PUT_25800, forward, vol)
    )
    legs, warnings = shock_legs([Holding(PUT_25800, LOT)], quotes, STORE, now=NOW)
    leg = legs[0]
    assert warnings == []
    assert leg.vol == pytest.approx(vol, abs=2e-3)  # the mid is rounded to the paisa
    repriced = option_price(PUT_25800, float(leg.forward), leg.vol)
    assert repriced == pytest.approx(leg.mark, abs=1.0)


def test_an_unsolvable_vol_borrows_the_nearest_same_expiry_legs_vol_with_a_warning() -> None:
    spot = 2_600_000
    forward = spot * math.exp(DEFAULT_RATE * years_to_expiry(WEEKLY, NOW))
    quotes = market(
        quote(SPOT.instrument_token, None, None, last=spot),
        quoted_at(PUT_25800, forward, 0.17),
        quote(PUT_25600.instrument_token, None, 5),  # one-sided, never traded: no price
    )
    holdings = [Holding(PUT_25800, -LOT), Holding(PUT_25600, LOT)]
    legs, warnings = shock_legs(holdings, quotes, STORE, now=NOW)
    assert legs[1].vol == legs[0].vol
    assert len(warnings) == 1
    assert warnings[0].startswith("NIFTY26D0825600PE: implied volatility could not be solved")
    assert "NIFTY26D0825800PE" in warnings[0]


def test_a_lone_unsolvable_vol_uses_the_default_and_a_planned_leg_its_chain_iv() -> None:
    quotes = market(
        quote(SPOT.instrument_token, None, None, last=2_600_000),
        quote(PUT_25600.instrument_token, None, 5),
    )
    legs, warnings = shock_legs([Holding(PUT_25600, LOT)], quotes, STORE, now=NOW)
    assert legs[0].vol == DEFAULT_VOL and "the default" in warnings[0]
    legs, warnings = shock_legs([Holding(PUT_25600, LOT, None, 0.23)], quotes, STORE, now=NOW)
    assert legs[0].vol == 0.23 and "the chain's IV" in warnings[0]


# ---- bad input -------------------------------------------------------------------------------


def test_a_position_without_a_quote_is_an_error_naming_the_instrument() -> None:
    quotes = market(quote(SPOT.instrument_token, None, None, last=2_600_000))
    with pytest.raises(ShockError, match=r"^NIFTY26D0825800PE: the broker returned no quote"):
        shock_legs([Holding(PUT_25800, -LOT)], quotes, STORE, now=NOW)


def test_a_quote_without_an_ask_is_an_error_naming_the_instrument() -> None:
    quotes = market(
        quote(SPOT.instrument_token, None, None, last=2_600_000),
        quote(PUT_25800.instrument_token, 9_000, None, last=9_100),
    )
    with pytest.raises(ShockError, match=r"^NIFTY26D0825800PE: .*no ask"):
        shock_legs([Holding(PUT_25800, -LOT)], quotes, STORE, now=NOW)


def test_a_quantity_that_is_not_whole_lots_is_an_error_naming_the_instrument() -> None:
    quotes = market(
        quote(SPOT.instrument_token, None, None, last=2_600_000),
        quoted_at(PUT_25800, 2_603_000, 0.15),
    )
    with pytest.raises(ShockError, match=r"^NIFTY26D0825800PE: .*whole number of lots"):
        shock_legs([Holding(PUT_25800, 10)], quotes, STORE, now=NOW)


def test_funds_are_free_funds_plus_the_margin_blocked_now_and_none_is_an_error() -> None:
    assert margin_funds(Paise(400_000_00), Paise(60_000_00), Paise(40_000_00)) == 500_000_00
    with pytest.raises(ShockError, match="no funds for margin"):
        margin_funds(Paise(0), Paise(0), Paise(0))


# ---- holdings ------------------------------------------------------------------------------


def position(inst: Instrument, quantity: int, exchange: str = "NFO") -> Position:
    zero = Paise(0)
    return Position(
        tradingsymbol=inst.tradingsymbol,
        exchange=exchange,
        instrument_token=inst.instrument_token,
        product="NRML",
        quantity=quantity,
        overnight_quantity=0,
        average_price=Paise(9_000),
        last_price=zero,
        pnl=zero,
        realised=zero,
        unrealised=zero,
        buy_quantity=max(quantity, 0),
        sell_quantity=max(-quantity, 0),
        buy_value=zero,
        sell_value=zero,
    )


def test_positions_keep_non_zero_derivatives_and_name_an_unknown_one() -> None:
    rows = [
        position(PUT_25800, -LOT),
        position(PUT_25600, 0),
        position(SPOT, 10, exchange="NSE"),
        position(FUTURE, LOT),
    ]
    held = position_holdings(rows, STORE)
    assert [(h.instrument.tradingsymbol, h.quantity) for h in held] == [
        ("NIFTY26D0825800PE", -LOT),
        ("NIFTY26DECFUT", LOT),
    ]
    assert held[0].average_price == 9_000
    stranger = instrument(99, "NIFTY26D0824000PE", InstrumentType.PE, expiry=WEEKLY, strike=24000)
    with pytest.raises(ShockError, match="NIFTY26D0824000PE: token 99 is not in the"):
        position_holdings([position(stranger, LOT)], STORE)


def planned(inst: Instrument, role: LegRole, mid: int, iv: float | None) -> PlannedLeg:
    spec = LegSpec.for_instrument(inst, role, LOT)
    return PlannedLeg(spec, Paise(mid - 50), Paise(mid + 50), Paise(mid), iv, None)


def bull_put() -> SpreadPlan:
    return SpreadPlan(
        structure=Structure.BULL_PUT,
        underlying="NIFTY",
        expiry=WEEKLY,
        lots=1,
        lot_size=LOT,
        quantity=LOT,
        legs=(
            planned(PUT_25600, LegRole.PROTECTION, 5_100, 0.145),
            planned(PUT_25800, LegRole.RISK, 9_700, 0.141),
        ),
        credit_mid=Paise(4_600 * LOT),
        credit_touch=Paise(4_500 * LOT),
        max_profit=Paise(4_600 * LOT),
        max_loss=Paise(15_400 * LOT),
        breakevens=(Decimal("25754"),),
        pop=0.8,
        reward_risk=0.3,
        spot=Paise(2_600_000),
        forward=Paise(2_603_000),
        years=0.02,
        exit_plan=ExitPlan(),
    )


def test_a_plan_becomes_a_long_protection_and_a_short_risk_leg_at_its_mids() -> None:
    held = plan_holdings(bull_put(), STORE)
    assert [
        (h.instrument.tradingsymbol, h.quantity, h.average_price, h.chain_vol) for h in held
    ] == [
        ("NIFTY26D0825600PE", LOT, 5_100, 0.145),
        ("NIFTY26D0825800PE", -LOT, 9_700, 0.141),
    ]


# ---- the service over a stub broker ----------------------------------------------------------


class StubBroker:
    def __init__(self, positions: list[Position], quotes: dict[int, Quote], available: int) -> None:
        self._positions = positions
        self._quotes = quotes
        self._available = available
        self.quote_calls: list[list[str]] = []

    async def positions(self) -> list[Position]:
        return self._positions

    async def margins(self) -> AccountMargins:
        zero = Paise(0)
        return AccountMargins(
            available=Paise(self._available),
            used=zero,
            cash=Paise(self._available),
            opening_balance=Paise(self._available),
            span=zero,
            exposure=zero,
            option_premium=zero,
        )

    async def quotes(self, keys: list[str]) -> dict[str, Quote]:
        self.quote_calls.append(sorted(keys))
        by_key = {f"{i.exchange}:{i.tradingsymbol}": i.instrument_token for i in STORE}
        return {k: self._quotes[by_key[k]] for k in keys if by_key.get(k) in self._quotes}


def full_market() -> dict[int, Quote]:
    spot = 2_600_000
    forward = spot * math.exp(DEFAULT_RATE * years_to_expiry(WEEKLY, NOW))
    return market(
        quote(SPOT.instrument_token, None, None, last=spot),
        quote(FUTURE.instrument_token, 2_612_000, 2_612_100),
        quoted_at(PUT_25800, forward, 0.15),
        quoted_at(PUT_25600, forward, 0.16),
    )


def service(broker: StubBroker) -> ShockService:
    return ShockService(broker, STORE, ManualClock(NOW))  # type: ignore[arg-type]


def test_the_report_values_positions_and_the_plan_in_one_quotes_call() -> None:
    broker = StubBroker([position(PUT_25800, -LOT)], full_market(), available=5_00_000_00)
    report = asyncio.run(service(broker).report(bull_put()))
    assert len(broker.quote_calls) == 1
    assert broker.quote_calls[0] == sorted(
        ["NSE:NIFTY 50", "NFO:NIFTY26DECFUT", "NFO:NIFTY26D0825800PE", "NFO:NIFTY26D0825600PE"]
    )
    assert [leg.quantity for leg in report.positions] == [-LOT]
    assert [leg.quantity for leg in report.proposed] == [LOT, -LOT]
    assert report.at == NOW and report.grid.funds == 5_00_000_00
    assert report.grid.pnl.shape == (3, 14, 21)
    assert report.symbols[PUT_25600.instrument_token] == "NIFTY26D0825600PE"
    # Short two puts, long one: a fall loses more than a rise.
    pnl = report.grid.pnl[0, 3]
    assert pnl[0] < pnl[-1]


def test_nothing_held_and_nothing_proposed_is_said_as_such() -> None:
    broker = StubBroker([], full_market(), available=5_00_000_00)
    with pytest.raises(NothingToShockError, match="no option or future positions"):
        asyncio.run(service(broker).report())
    assert broker.quote_calls == []


def test_a_proposed_spread_on_an_empty_account_can_lose() -> None:
    broker = StubBroker([], full_market(), available=5_00_000_00)
    grid = asyncio.run(service(broker).grid(bull_put(), ShockAxes(price=(-0.05, 0.0, 0.05))))
    assert grid.pnl.shape == (3, 14, 3)
    assert grid.worst.pnl < 0 and grid.worst.price_shock == -0.05


def test_no_funds_is_an_error_not_a_crash() -> None:
    broker = StubBroker([position(PUT_25800, -LOT)], full_market(), available=0)
    with pytest.raises(ShockError, match="no funds for margin"):
        asyncio.run(service(broker).report())


def test_legs_for_the_portfolio_and_for_a_plan_alone() -> None:
    broker = StubBroker([position(PUT_25800, -LOT)], full_market(), available=5_00_000_00)
    shocks = service(broker)
    assert [leg.quantity for leg in asyncio.run(shocks.portfolio_legs())] == [-LOT]
    assert [leg.quantity for leg in asyncio.run(shocks.proposed_legs(bull_put()))] == [LOT, -LOT]


# ---- wording -------------------------------------------------------------------------------


def test_shocks_and_rupees_read_as_a_trader_writes_them() -> None:
    assert [shock_text(v) for v in (-0.03, 0.0, 0.3, 0.025, -1e-17)] == [
        "−3%",
        "0%",
        "+30%",
        "+2.5%",
        "0%",
    ]
    assert rupees_text(-1_234_500) == "−₹12,345"
    assert rupees_text(12_000_000) == "₹1,20,000"
    assert rupees_text(1_234_500, signed=True) == "+₹12,345"
    assert rupees_text(0, signed=True) == "₹0"


def hand_grid() -> ShockGrid:
    price = np.array([-0.03, 0.0])
    iv = np.array([0.0, 0.3])
    widening = np.array([1.0, 1.5])
    pnl = np.zeros((2, 2, 2))
    pnl[1, 1, 0] = -1_234_500.4
    margin = np.full((2, 2, 2), 12_000_000.0)
    utilisation = np.full((2, 2, 2), 0.84)
    worst = GridCell(1, 1, 0, 1.5, 0.3, -0.03, Paise(-1_234_500), Paise(12_000_000), 0.84)
    return ShockGrid(
        price, iv, widening, pnl, margin, utilisation, Paise(1), PnlBasis.MARK, worst, ()
    )


def test_a_cell_and_the_worst_cell_are_described_in_one_line() -> None:
    grid = hand_grid()
    assert cell_text(grid, 1, 1, 0) == (
        "price −3%, IV +30%, 1.5× spread: P&L −₹12,345, margin ₹1,20,000, utilisation 84%"
    )
    assert worst_text(grid) == "worst: price −3%, IV +30%, 1.5×: −₹12,345"
