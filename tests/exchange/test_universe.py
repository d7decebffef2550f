"""The paper exchange's universe: listings, Kite symbols and tokens, and the instruments dump."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from cockpit.domain.calendar import TradingCalendar
from cockpit.domain.instruments import (
    ContractSpecTable,
    Exchange,
    InstrumentStore,
    InstrumentType,
    parse_tradingsymbol,
)
from cockpit.exchange.universe import (
    SEGMENT_INDICES,
    SEGMENT_NFO,
    SEGMENT_NSE,
    UnderlyingKind,
    Universe,
    build_universe,
    derivative_exchange_token,
    instrument_token,
    load_underlyings,
    next_monthly_expiries,
    parse_underlyings,
    segment_code,
)
from cockpit.reference_data import load_calendar, resources_dir

UNDERLYINGS_CSV = """\
id,name,kind,spot_symbol,spot,volatility,strike_step,strikes_each_side,jump_intensity,jump_sigma
1,NIFTY,index,NIFTY 50,26000,0.13,50,30,4,0.012
2,BANKNIFTY,index,NIFTY BANK,59000,0.15,100,20,4,0.015
5,HDFCBANK,stock,HDFCBANK,1000,0.22,10,15,6,0.025
"""

SPECS_CSV = """\
underlying,lot_size,freeze_quantity,valid_from,source
NIFTY,65,1800,2026-08-03,test
BANKNIFTY,30,600,2026-08-03,test
HDFCBANK,550,,2025-10-29,test
"""

# 24 Nov 2026 (a Tuesday, November's last) is a holiday: the weekly and the monthly expiry
# move to Monday 23 Nov.
CALENDAR = TradingCalendar({date(2026, 11, 24): "Guru Nanak Jayanti", date(2026, 12, 25): "X"})
TODAY = date(2026, 11, 17)


@pytest.fixture(scope="module")
def specs() -> ContractSpecTable:
    return ContractSpecTable.from_csv(SPECS_CSV)


@pytest.fixture(scope="module")
def universe(specs: ContractSpecTable) -> Universe:
    return build_universe(parse_underlyings(UNDERLYINGS_CSV), specs, CALENDAR, TODAY)


# ---- the underlyings file ------------------------------------------------------------------


def test_parse_underlyings_reads_every_column() -> None:
    nifty, banknifty, hdfc = parse_underlyings(UNDERLYINGS_CSV)
    assert nifty.name == "NIFTY" and nifty.kind is UnderlyingKind.INDEX
    assert nifty.spot_symbol == "NIFTY 50" and nifty.spot == 26000.0
    assert nifty.strike_step == Decimal(50) and nifty.strikes_each_side == 30
    assert (nifty.volatility, nifty.jump_intensity, nifty.jump_sigma) == (0.13, 4.0, 0.012)
    assert banknifty.id == 2
    assert hdfc.kind is UnderlyingKind.STOCK and not hdfc.is_index


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        ("3,FINNIFTY,sector,NIFTY FIN SERVICE,27500,0.15,50,20,4,0.01", "line 2, column 'kind'"),
        ("3,FINNIFTY,index,NIFTY FIN SERVICE,27500,0.15,abc,20,4,0.01", "column 'strike_step'"),
        ("3,FINNIFTY,index,NIFTY FIN SERVICE,-1,0.15,50,20,4,0.01", "spot -1.0 is not positive"),
        ("1,FINNIFTY,index,NIFTY FIN SERVICE,27500,0.15,50,20,4,0.01", "share id 1"),
        ("3,NIFTY,index,NIFTY 50,27500,0.15,50,20,4,0.01", "NIFTY is listed twice"),
    ],
)
def test_parse_underlyings_names_the_problem(bad_row: str, message: str) -> None:
    header, first = UNDERLYINGS_CSV.splitlines()[:2]
    rows = [header, bad_row] if "line 2" in message else [header, first, bad_row]
    with pytest.raises(ValueError, match=message):
        parse_underlyings("\n".join(rows) + "\n")


def test_packaged_underlyings_all_have_contract_specs_today() -> None:
    models = load_underlyings()
    names = [m.name for m in models]
    assert names[:4] == ["NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY"]
    assert any(m.kind is UnderlyingKind.STOCK for m in models)
    specs_text = (resources_dir() / "nse" / "contract_specs.csv").read_text(encoding="utf-8")
    built = build_universe(
        models, ContractSpecTable.from_csv(specs_text), load_calendar(), date(2026, 12, 1)
    )
    assert {m.name for m in built.underlyings} == set(names)
    assert built.get(256265).tradingsymbol == "NIFTY 50"


# ---- listings ------------------------------------------------------------------------------


def test_nifty_lists_four_weeklies_and_three_monthlies_with_holiday_moves(
    universe: Universe,
) -> None:
    assert universe.expiries("NIFTY") == (
        date(2026, 11, 17),
        date(2026, 11, 23),  # Tuesday 24 Nov is a holiday; also November's monthly
        date(2026, 12, 1),
        date(2026, 12, 8),
        date(2026, 12, 29),
        date(2027, 1, 26),
    )
    assert universe.is_monthly("NIFTY", date(2026, 11, 23))
    assert not universe.is_monthly("NIFTY", date(2026, 12, 1))


def test_other_underlyings_list_monthlies_only(universe: Universe) -> None:
    monthlies = (date(2026, 11, 23), date(2026, 12, 29), date(2027, 1, 26))
    assert universe.expiries("BANKNIFTY") == monthlies
    assert universe.expiries("HDFCBANK") == monthlies
    assert tuple(f.expiry for f in universe.futures("NIFTY")) == monthlies
    assert next_monthly_expiries(date(2026, 11, 24), 1, CALENDAR) == (date(2026, 12, 29),)


def test_strikes_are_atm_plus_minus_the_configured_steps(universe: Universe) -> None:
    chain = universe.options("NIFTY", date(2026, 12, 29))
    assert len(chain) == 2 * 61
    strikes = [i.strike for i in chain[::2]]
    assert strikes == sorted(strikes)
    assert strikes[0] == Decimal(24500) and strikes[30] == Decimal(26000)
    assert strikes[-1] == Decimal(27500)
    assert [i.instrument_type for i in chain[:2]] == [InstrumentType.CE, InstrumentType.PE]
    assert chain[0].strike == chain[1].strike
    hdfc = universe.options("HDFCBANK", date(2026, 12, 29))
    assert [i.strike for i in hdfc[::2]][:3] == [Decimal(850), Decimal(860), Decimal(870)]


def test_lot_freeze_and_tick_come_from_specs(universe: Universe) -> None:
    call = universe.by_symbol("NFO", "NIFTY26DEC26000CE")
    assert (call.lot_size, call.freeze_quantity, call.tick_size_paise) == (65, 1800, 5)
    assert call.max_order_quantity == 1755
    future = universe.futures("BANKNIFTY")[0]
    assert (future.lot_size, future.freeze_quantity, future.tick_size_paise) == (30, 600, 5)
    stock_option = universe.options("HDFCBANK", date(2026, 12, 29))[0]
    assert (stock_option.lot_size, stock_option.freeze_quantity) == (550, None)


def test_missing_spec_names_the_underlying(specs: ContractSpecTable) -> None:
    text = UNDERLYINGS_CSV + "9,TMPV,stock,TMPV,400,0.3,5,10,6,0.03\n"
    with pytest.raises(ValueError, match="underlying TMPV: no contract spec"):
        build_universe(parse_underlyings(text), specs, CALENDAR, TODAY)


# ---- symbols and tokens --------------------------------------------------------------------


def test_weekly_and_monthly_symbol_forms(universe: Universe) -> None:
    weekly = universe.options("NIFTY", date(2026, 12, 1))
    assert weekly[60].tradingsymbol == "NIFTY26D0126000CE"
    assert universe.options("NIFTY", date(2026, 11, 17))[61].tradingsymbol == "NIFTY26N1726000PE"
    monthly = universe.options("NIFTY", date(2026, 11, 23))
    assert monthly[60].tradingsymbol == "NIFTY26NOV26000CE"
    assert universe.futures("NIFTY")[1].tradingsymbol == "NIFTY26DECFUT"
    assert universe.options("BANKNIFTY", date(2027, 1, 26))[0].tradingsymbol == (
        "BANKNIFTY27JAN57000CE"
    )


def test_every_symbol_round_trips_through_the_parser(universe: Universe) -> None:
    names = {m.name for m in universe.underlyings}
    derivatives = [i for i in universe.instruments if i.exchange is Exchange.NFO]
    assert len(derivatives) == len(universe) - 3
    for inst in derivatives:
        parsed = parse_tradingsymbol(inst.tradingsymbol, names)
        assert inst.expiry is not None
        assert parsed.underlying == inst.name
        assert (parsed.year, parsed.month) == (inst.expiry.year, inst.expiry.month)
        assert parsed.kind.value == inst.instrument_type.value
        assert parsed.strike == inst.strike
        monthly = universe.is_monthly(inst.name, inst.expiry)
        assert parsed.day == (None if monthly else inst.expiry.day), inst.tradingsymbol


def test_tokens_carry_kite_segment_codes(universe: Universe) -> None:
    assert universe.spot_token("NIFTY") == 256265  # Kite's own NIFTY 50 token
    assert segment_code(universe.spot_token("BANKNIFTY")) == SEGMENT_INDICES
    assert segment_code(universe.spot_token("HDFCBANK")) == SEGMENT_NSE
    for inst in universe.instruments:
        assert inst.instrument_token == (inst.exchange_token << 8) | segment_code(
            inst.instrument_token
        )
        assert inst.instrument_token < 2**32  # Kite's binary ticks carry it as uint32
        if inst.exchange is Exchange.NFO:
            assert segment_code(inst.instrument_token) == SEGMENT_NFO


def test_derivative_token_layout_by_hand(universe: Universe) -> None:
    # id 1 << 18, week 128 (9857 days after 3 Jan 2000) << 10, 1 + 2 * (520 mod 511) = 19.
    call = universe.by_symbol(Exchange.NFO, "NIFTY26DEC26000CE")
    assert call.exchange_token == 262144 + 131072 + 19 == 393235
    assert call.instrument_token == 100668162
    put = universe.by_symbol(Exchange.NFO, "NIFTY26DEC26000PE")
    assert put.exchange_token == call.exchange_token + 1
    future = universe.by_symbol(Exchange.NFO, "NIFTY26DECFUT")
    assert future.exchange_token == 393216
    model = universe.model("NIFTY")
    assert derivative_exchange_token(
        model, date(2026, 12, 29), Decimal(26050), InstrumentType.CE
    ) == (call.exchange_token + 2)
    assert instrument_token(393235, SEGMENT_NFO) == 100668162


def test_tokens_and_symbols_are_unique(universe: Universe) -> None:
    tokens = [i.instrument_token for i in universe.instruments]
    assert len(set(tokens)) == len(tokens)
    symbols = [(i.exchange, i.tradingsymbol) for i in universe.instruments]
    assert len(set(symbols)) == len(symbols)


def test_lookups(universe: Universe) -> None:
    call = universe.by_symbol("NFO", "NIFTY26DEC26000CE")
    assert universe.get(call.instrument_token) is call
    assert universe.underlying_of(call.instrument_token) == "NIFTY"
    assert universe.underlying_of(universe.spot_token("HDFCBANK")) == "HDFCBANK"
    assert universe.spot_instrument("HDFCBANK").segment == "NSE"
    with pytest.raises(KeyError, match="NFO:NIFTY26DEC99999CE"):
        universe.by_symbol("NFO", "NIFTY26DEC99999CE")
    with pytest.raises(KeyError, match="token 12345"):
        universe.get(12345)
    with pytest.raises(KeyError, match="no underlying RELIANCE"):
        universe.expiries("RELIANCE")
    with pytest.raises(KeyError, match="expiries: 2026-11-23"):
        universe.options("BANKNIFTY", date(2026, 12, 1))


# ---- the instruments dump ------------------------------------------------------------------


def test_dump_rows_are_written_as_kite_writes_them(universe: Universe) -> None:
    lines = universe.to_kite_csv().splitlines()
    assert lines[0] == (
        "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,"
        "tick_size,lot_size,instrument_type,segment,exchange"
    )
    assert lines[1] == "256265,1001,NIFTY 50,NIFTY 50,0,,0,0,0,EQ,INDICES,NSE"
    assert (
        '100668162,393235,NIFTY26DEC26000CE,"NIFTY",0,2026-12-29,26000.0,0.05,65,CE,NFO-OPT,NFO'
        in lines
    )
    assert (
        '100663298,393216,NIFTY26DECFUT,"NIFTY",0,2026-12-29,0.0,0.05,65,FUT,NFO-FUT,NFO' in lines
    )
    assert '257281,1005,HDFCBANK,"HDFCBANK",0,,0,0.05,1,EQ,NSE,NSE' in lines
    assert len(lines) == len(universe) + 1


def test_dump_round_trips_through_the_instrument_store(
    universe: Universe, specs: ContractSpecTable
) -> None:
    store = InstrumentStore.from_csv(universe.to_kite_csv(), specs, TODAY)
    assert len(store) == len(universe)
    for inst in universe.instruments:
        assert store.get(inst.instrument_token) == inst
    assert store.expiries("NIFTY") == universe.expiries("NIFTY")
    assert store.chain("NIFTY", date(2026, 12, 1)).nearest_strike(Decimal(26010)) == 26000


# ---- the next day ----------------------------------------------------------------------------


def test_roll_drops_expired_contracts_and_keeps_tokens(universe: Universe) -> None:
    rolled = universe.roll(date(2026, 11, 24))
    assert rolled.today == date(2026, 11, 24)
    assert rolled.expiries("NIFTY")[0] == date(2026, 12, 1)
    assert date(2026, 11, 23) not in rolled.expiries("BANKNIFTY")
    assert rolled.futures("NIFTY")[-1].expiry == date(2027, 2, 23)
    old = {i.tradingsymbol: i.instrument_token for i in universe.instruments}
    new = {i.tradingsymbol: i.instrument_token for i in rolled.instruments}
    common = old.keys() & new.keys()
    assert len(common) > 500
    assert all(old[s] == new[s] for s in common)
    assert "NIFTY26NOV26000CE" in old and "NIFTY26NOV26000CE" not in new


def test_roll_cannot_go_back(universe: Universe) -> None:
    with pytest.raises(ValueError, match="cannot roll the universe back"):
        universe.roll(date(2026, 11, 16))
