"""Tests for cockpit.domain.instruments: symbols, contract specs and the instruments store.

The fixture ``tests/fixtures/instruments_sample.csv`` follows the header and row shapes of
Kite's instruments dump (quoted ``name`` on F&O rows, ``0``/``0.0`` strikes where there is
none, index rows in segment INDICES with instrument_type EQ and zero tick and lot); its
tokens are made up.
"""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cockpit.domain.instruments import (
    ContractKind,
    ContractSpec,
    ContractSpecTable,
    Exchange,
    Instrument,
    InstrumentStore,
    InstrumentType,
    OptionChain,
    Right,
    TradingSymbol,
    UnknownInstrumentError,
    format_tradingsymbol,
    largest_lot_multiple,
    max_order_quantity,
    parse_tradingsymbol,
    strike_text,
    tradingsymbol_for,
    underlying_problem,
)

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "tests" / "fixtures" / "instruments_sample.csv"
SPECS = REPO / "resources" / "nse" / "contract_specs.csv"

CE, PE, FUT = ContractKind.CE, ContractKind.PE, ContractKind.FUT


def sample_text() -> str:
    return SAMPLE.read_text(encoding="utf-8")


def spec_table() -> ContractSpecTable:
    return ContractSpecTable.from_csv(SPECS.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def store() -> InstrumentStore:
    return InstrumentStore.from_csv(sample_text(), spec_table(), date(2026, 12, 1))


# --- trading symbols: the forms Kite writes ---------------------------------------------


@pytest.mark.parametrize(
    ("symbol", "parts"),
    [
        ("NIFTY24DEC24000CE", TradingSymbol("NIFTY", CE, 2024, 12, None, Decimal(24000))),
        ("NIFTY2491924000CE", TradingSymbol("NIFTY", CE, 2024, 9, 19, Decimal(24000))),
        ("NIFTY24DECFUT", TradingSymbol("NIFTY", FUT, 2024, 12)),
        ("M&M24DEC2850CE", TradingSymbol("M&M", CE, 2024, 12, None, Decimal(2850))),
        ("BAJAJ-AUTO24DEC9000PE", TradingSymbol("BAJAJ-AUTO", PE, 2024, 12, None, Decimal(9000))),
        ("NIFTYNXT5024DECFUT", TradingSymbol("NIFTYNXT50", FUT, 2024, 12)),
        ("IDEA24DEC7.5CE", TradingSymbol("IDEA", CE, 2024, 12, None, Decimal("7.5"))),
        # nse-fo.md's examples: weekly 13 Jan 2026, monthly Sep 2025, future Nov 2025.
        ("NIFTY2611326200CE", TradingSymbol("NIFTY", CE, 2026, 1, 13, Decimal(26200))),
        ("NIFTY25SEP24500CE", TradingSymbol("NIFTY", CE, 2025, 9, None, Decimal(24500))),
        ("NIFTY25NOVFUT", TradingSymbol("NIFTY", FUT, 2025, 11)),
        # Weekly in Oct-Dec writes the month as O, N or D.
        ("NIFTY26D0126000CE", TradingSymbol("NIFTY", CE, 2026, 12, 1, Decimal(26000))),
        ("NIFTY26O0625050PE", TradingSymbol("NIFTY", PE, 2026, 10, 6, Decimal(25050))),
        ("NIFTYNXT5026DEC70000CE", TradingSymbol("NIFTYNXT50", CE, 2026, 12, None, Decimal(70000))),
        # NSE lists 360 ONE WAM as 360ONE: an underlying may start with a digit.
        ("360ONE25DEC1200CE", TradingSymbol("360ONE", CE, 2025, 12, None, Decimal(1200))),
    ],
)
def test_each_symbol_form_parses_into_its_parts_and_formats_back(
    symbol: str, parts: TradingSymbol
) -> None:
    parsed = parse_tradingsymbol(symbol)
    assert parsed == parts
    assert format_tradingsymbol(parsed) == symbol


def test_weekly_and_monthly_forms_are_told_apart() -> None:
    assert parse_tradingsymbol("NIFTY2491924000CE").is_weekly_form
    assert not parse_tradingsymbol("NIFTY24DEC24000CE").is_weekly_form
    assert parse_tradingsymbol("NIFTY24DEC24000PE").right is Right.PE
    assert parse_tradingsymbol("NIFTY24DECFUT").right is None


def test_digit_ending_underlying_weekly_is_ambiguous_without_the_underlyings() -> None:
    symbol = "NIFTYNXT50261237000CE"
    with pytest.raises(ValueError) as raised:
        parse_tradingsymbol(symbol)
    assert str(raised.value) == (
        "'NIFTYNXT50261237000CE' is ambiguous: it reads as "
        "NIFTYNXT5 2002-06-12 weekly, strike 37000 CE; "
        "NIFTYNXT50 2026-01-23 weekly, strike 7000 CE; "
        "pass the known underlyings to choose one"
    )
    resolved = parse_tradingsymbol(symbol, {"NIFTY", "NIFTYNXT50", "BANKNIFTY"})
    assert resolved == TradingSymbol("NIFTYNXT50", CE, 2026, 1, 23, Decimal(7000))


def test_without_underlyings_the_reading_ending_the_underlying_earliest_wins() -> None:
    # By grammar alone NIFTY2611326200CE could also be NIFTY26 on 2011-03-26, and
    # NIFTY25O0720150CE could be NIFTY25O on 2007-02-01: both move date characters into
    # the underlying.
    assert parse_tradingsymbol("NIFTY2611326200CE") == TradingSymbol(
        "NIFTY", CE, 2026, 1, 13, Decimal(26200)
    )
    assert parse_tradingsymbol("NIFTY25O0720150CE") == TradingSymbol(
        "NIFTY", CE, 2025, 10, 7, Decimal(20150)
    )


def test_underlyings_ending_in_a_digit_need_the_known_underlyings() -> None:
    # X1 on 2026-01-23 also reads as X on 2012-06-12; without the set the parser guesses X.
    symbol = tradingsymbol_for("X1", date(2026, 1, 23), CE, Decimal(7000), weekly=True)
    assert symbol == "X1261237000CE"
    assert parse_tradingsymbol(symbol).underlying == "X"
    assert parse_tradingsymbol(symbol, {"X1", "NIFTY"}) == TradingSymbol(
        "X1", CE, 2026, 1, 23, Decimal(7000)
    )
    with pytest.raises(ValueError, match=r"'X1261237000CE' is ambiguous: it reads as X 2012"):
        parse_tradingsymbol(symbol, {"X1", "X"})


@pytest.mark.parametrize(
    ("symbol", "underlyings", "message"),
    [
        (
            "NIFTY24DXC24000CE",
            None,
            "'NIFTY24DXC24000CE': month 'DXC' is not one of JAN..DEC",
        ),
        ("NIFTY24DXCFUT", None, "'NIFTY24DXCFUT': month 'DXC' is not one of JAN..DEC"),
        ("NIFTY24DEC24000", None, "'NIFTY24DEC24000': missing CE/PE/FUT suffix"),
        ("", None, "'': missing CE/PE/FUT suffix"),
        (
            "NIFTY2493120000CE",
            None,
            "'NIFTY2493120000CE': weekly day 31 does not exist in 2024-09",
        ),
        (
            "NIFTY2493124000CE",
            {"NIFTY"},
            "'NIFTY2493124000CE': weekly day 31 does not exist in 2024-09",
        ),
        (
            "NIFTY2623024000CE",
            {"NIFTY"},
            "'NIFTY2623024000CE': weekly day 30 does not exist in 2026-02",
        ),
        (
            "NIFTY24DEC024000CE",
            None,
            "'NIFTY24DEC024000CE': strike '024000' has a leading zero",
        ),
        ("IDEA24DEC7.50CE", None, "'IDEA24DEC7.50CE': strike '7.50' has a trailing zero"),
        ("NIFTY24DEC0CE", None, "'NIFTY24DEC0CE': strike '0' is zero"),
        ("24DEC24000CE", None, "'24DEC24000CE': empty underlying"),
        ("24DECFUT", None, "'24DECFUT': empty underlying"),
        ("NIFTY24DECCE", None, "'NIFTY24DECCE': no strike before CE"),
        (
            "NIFTY24X0126000CE",
            None,
            "'NIFTY24X0126000CE': weekly month code 'X' is not one of 1-9, O, N, D",
        ),
        (
            "NIFTYDECFUT",
            None,
            "'NIFTYDECFUT': expected a two-digit year before month 'DEC', found 'TY'",
        ),
        (
            "nifty24DEC24000CE",
            None,
            "'nifty24DEC24000CE': underlying 'nifty' has 'n', which is not A-Z, 0-9, '&' or '-'",
        ),
        (
            "NIFTY24DEC24000CE",
            {"BANKNIFTY"},
            "'NIFTY24DEC24000CE': no reading has a known underlying "
            "(it reads as NIFTY DEC 2024 monthly, strike 24000 CE)",
        ),
    ],
)
def test_malformed_symbols_raise_naming_the_symbol_and_the_problem(
    symbol: str, underlyings: set[str] | None, message: str
) -> None:
    with pytest.raises(ValueError) as raised:
        parse_tradingsymbol(symbol, underlyings)
    assert str(raised.value) == message


def test_symbol_is_built_from_contract_parts_with_an_explicit_form() -> None:
    assert tradingsymbol_for("NIFTY", date(2026, 1, 13), CE, Decimal(26200), weekly=True) == (
        "NIFTY2611326200CE"
    )
    # The same date in monthly form, as the designated monthly contract would be written.
    assert tradingsymbol_for("NIFTY", date(2026, 1, 13), CE, Decimal(26200), weekly=False) == (
        "NIFTY26JAN26200CE"
    )
    assert tradingsymbol_for("IDEA", date(2026, 12, 29), PE, Decimal("10.50"), weekly=False) == (
        "IDEA26DEC10.5PE"
    )
    assert tradingsymbol_for("NIFTY", date(2026, 12, 29), FUT, weekly=False) == "NIFTY26DECFUT"
    with pytest.raises(ValueError, match="futures have no weekly form"):
        tradingsymbol_for("NIFTY", date(2026, 12, 29), FUT, weekly=True)


def test_symbol_parts_reject_impossible_combinations() -> None:
    with pytest.raises(ValueError, match="futures have no weekly form"):
        TradingSymbol("NIFTY", FUT, 2024, 12, day=5)
    with pytest.raises(ValueError, match="a CE option needs a strike"):
        TradingSymbol("NIFTY", CE, 2024, 12)
    with pytest.raises(ValueError, match="weekly day 29 does not exist in 2025-02"):
        TradingSymbol("NIFTY", PE, 2025, 2, 29, Decimal(100))
    with pytest.raises(ValueError, match="year 2100 cannot be written"):
        TradingSymbol("NIFTY", FUT, 2100, 1)


def test_strike_text_is_canonical() -> None:
    assert strike_text(Decimal("24000.0")) == "24000"
    assert strike_text(Decimal("7.50")) == "7.5"
    assert strike_text(Decimal("0.5")) == "0.5"
    with pytest.raises(ValueError, match="not a positive number"):
        strike_text(Decimal(0))


# --- trading symbols: properties ----------------------------------------------------------

_FIRST = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_REST = _FIRST + "&-"

underlyings = st.one_of(
    st.sampled_from(["NIFTY", "BANKNIFTY", "NIFTYNXT50", "M&M", "BAJAJ-AUTO", "360ONE", "IDEA"]),
    st.builds(
        lambda first, rest: first + rest, st.sampled_from(_FIRST), st.text(_REST, max_size=10)
    ),
).filter(lambda u: underlying_problem(u) is None)

strikes = st.one_of(
    st.integers(1, 300_000).map(Decimal),
    st.builds(
        lambda n, places: Decimal(n).scaleb(-places),
        st.integers(1, 10_000_000),
        st.integers(1, 2),
    ),
).map(lambda d: Decimal(strike_text(d)))

expiries = st.dates(date(2000, 1, 1), date(2099, 12, 31))


@st.composite
def trading_symbols(draw: st.DrawFn) -> TradingSymbol:
    underlying = draw(underlyings)
    expiry = draw(expiries)
    kind = draw(st.sampled_from(list(ContractKind)))
    if kind is ContractKind.FUT:
        return TradingSymbol(underlying, kind, expiry.year, expiry.month)
    weekly = draw(st.booleans())
    day = expiry.day if weekly else None
    return TradingSymbol(underlying, kind, expiry.year, expiry.month, day, draw(strikes))


@given(trading_symbols())
def test_parse_inverts_format_for_every_valid_symbol(ts: TradingSymbol) -> None:
    symbol = format_tradingsymbol(ts)
    parsed = parse_tradingsymbol(symbol, {ts.underlying})
    assert parsed == ts
    assert format_tradingsymbol(parsed) == symbol


@given(trading_symbols().filter(lambda ts: not any(c.isdigit() for c in ts.underlying)))
def test_underlyings_without_digits_need_no_underlyings_set(ts: TradingSymbol) -> None:
    assert parse_tradingsymbol(format_tradingsymbol(ts)) == ts


@given(
    st.text("ABCDEFJNOPTUVXYZ0123456789&-.", max_size=20),
    st.sampled_from(["CE", "PE", "FUT", "", "XE"]),
)
def test_any_text_either_parses_to_exactly_itself_or_is_refused_by_name(
    text: str, suffix: str
) -> None:
    symbol = text + suffix
    try:
        parsed = parse_tradingsymbol(symbol)
    except ValueError as e:
        assert str(e).startswith(repr(symbol))
    else:
        assert format_tradingsymbol(parsed) == symbol


@given(trading_symbols(), st.sampled_from(["drop suffix", "append lower case", "prefix dash"]))
def test_broken_symbols_raise_value_error_naming_the_symbol(ts: TradingSymbol, how: str) -> None:
    good = format_tradingsymbol(ts)
    if how == "drop suffix":
        bad = good[: -len(ts.kind.value)]
    elif how == "append lower case":
        bad = good + "x"
    else:
        bad = "-" + good
    with pytest.raises(ValueError) as raised:
        parse_tradingsymbol(bad, {ts.underlying, "-" + ts.underlying})
    assert str(raised.value).startswith(f"{bad!r}: ")
    if how != "prefix dash":
        assert str(raised.value) == f"{bad!r}: missing CE/PE/FUT suffix"


# --- contract specs ---------------------------------------------------------------------


def test_spec_lookup_takes_the_latest_row_in_force_on_the_date() -> None:
    table = spec_table()
    nifty_old = table.lookup("NIFTY", date(2025, 12, 30))
    nifty_new = table.lookup("NIFTY", date(2025, 12, 31))
    assert nifty_old is not None and nifty_new is not None
    assert (nifty_old.lot_size, nifty_old.freeze_quantity) == (75, 1800)
    assert (nifty_new.lot_size, nifty_new.freeze_quantity) == (65, 1800)
    assert nifty_new.valid_from == date(2025, 12, 31)
    banknifty_aug = table.lookup("BANKNIFTY", date(2025, 8, 31))
    banknifty_sep = table.lookup("BANKNIFTY", date(2025, 9, 1))
    assert banknifty_aug is not None and banknifty_aug.freeze_quantity == 600
    assert banknifty_sep is not None and banknifty_sep.freeze_quantity == 900
    finnifty_dec = table.lookup("FINNIFTY", date(2025, 12, 15))
    assert finnifty_dec is not None and finnifty_dec.freeze_quantity == 1200
    latest = table.lookup("NIFTY", date(2026, 11, 24))
    assert latest is not None and latest.valid_from == date(2026, 8, 3)
    assert "75521" in latest.source


def test_spec_lookup_before_the_first_row_or_for_an_unknown_underlying_is_none() -> None:
    table = spec_table()
    assert table.lookup("NIFTY", date(2025, 3, 2)) is None
    assert table.lookup("NOSUCH", date(2026, 1, 1)) is None


def test_every_index_has_a_row_at_every_index_revision_date() -> None:
    table = spec_table()
    indices = ("NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY", "NIFTYNXT50")
    dates = {tuple(s.valid_from for s in table.history(i)) for i in indices}
    assert len(dates) == 1
    assert all(s.freeze_quantity is not None for i in indices for s in table.history(i))


def test_max_order_quantity_is_whole_lots_within_the_freeze_limit() -> None:
    def spec(lot: int, freeze: int | None) -> ContractSpec:
        return ContractSpec("NIFTY", lot, freeze, date(2026, 1, 1), "test")

    assert max_order_quantity(spec(65, 1800)) == 1755
    assert max_order_quantity(spec(30, 600)) == 600
    assert max_order_quantity(spec(35, 600)) == 595
    assert max_order_quantity(spec(75, 1800)) == 1800
    assert max_order_quantity(spec(2000, 1800)) == 0
    assert max_order_quantity(spec(550, None)) is None
    assert largest_lot_multiple(2800, 120) == 2760
    table = spec_table()
    nifty = table.lookup("NIFTY", date(2026, 8, 3))
    hdfcbank = table.lookup("HDFCBANK", date(2026, 1, 1))
    assert nifty is not None and max_order_quantity(nifty) == 1755
    assert hdfcbank is not None and hdfcbank.lot_size == 550
    assert max_order_quantity(hdfcbank) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "underlying,lot_size,freeze_quantity,valid_from,source\nNIFTY,65,1800,2026-13-01,x\n",
            "contract specs CSV line 2, column 'valid_from': '2026-13-01' is not a date "
            "(YYYY-MM-DD)",
        ),
        (
            "underlying,lot_size,freeze_quantity,valid_from,source\nNIFTY,sixty,1800,2026-01-01,x\n",
            "contract specs CSV line 2, column 'lot_size': 'sixty' is not a whole number",
        ),
        (
            "underlying,lot_size,freeze_quantity,valid_from,source\n"
            "NIFTY,65,1800,2026-01-01,x\nNIFTY,65,1200,2026-01-01,y\n",
            "contract specs: two rows for NIFTY from 2026-01-01",
        ),
        (
            "underlying,lot_size,valid_from,source\nNIFTY,65,2026-01-01,x\n",
            "contract specs CSV header lacks column(s) freeze_quantity",
        ),
        (
            "underlying,lot_size,freeze_quantity,valid_from,source\nNIFTY,65,1800,2026-01-01,\n",
            "contract specs CSV line 2: contract spec NIFTY from 2026-01-01: empty source",
        ),
    ],
)
def test_bad_spec_rows_are_reported_by_line_and_column(text: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        ContractSpecTable.from_csv(text)
    assert str(raised.value) == message


# --- the instruments store --------------------------------------------------------------


def test_sample_dump_loads_every_row(store: InstrumentStore) -> None:
    assert len(store) == 36
    by_exchange: dict[Exchange, int] = {}
    for inst in store:
        by_exchange[inst.exchange] = by_exchange.get(inst.exchange, 0) + 1
    assert by_exchange == {Exchange.NSE: 5, Exchange.NFO: 30, Exchange.BFO: 1}
    assert sum(1 for i in store if i.is_option) == 27
    assert sum(1 for i in store if i.is_future) == 4


def test_lookup_by_token_and_by_symbol(store: InstrumentStore) -> None:
    weekly = store.get(10462466)
    assert weekly.tradingsymbol == "NIFTY26D0126000CE"
    assert weekly.name == "NIFTY" and weekly.underlying == "NIFTY"
    assert weekly.expiry == date(2026, 12, 1)
    assert weekly.strike == Decimal(26000)
    assert weekly.right is Right.CE
    assert (weekly.lot_size, weekly.tick_size_paise) == (65, 5)
    assert store.by_symbol(Exchange.NFO, "NIFTY26D0126000CE") is weekly
    mm = store.by_symbol(Exchange.NSE, "M&M")
    assert mm.name == "MAHINDRA & MAHINDRA"
    assert (mm.instrument_type, mm.expiry, mm.strike, mm.underlying) == (
        InstrumentType.EQ,
        None,
        None,
        None,
    )
    assert store.by_symbol(Exchange.NSE, "RELIANCE").tick_size_paise == 10


def test_index_rows_are_eq_rows_in_segment_indices(store: InstrumentStore) -> None:
    nifty_index = store.by_symbol(Exchange.NSE, "NIFTY 50")
    assert nifty_index.segment == "INDICES"
    assert nifty_index.instrument_type is InstrumentType.EQ
    assert (nifty_index.lot_size, nifty_index.tick_size_paise) == (0, 0)
    assert store.by_symbol(Exchange.NSE, "NIFTY BANK").name == ""


def test_fractional_strikes_load_exactly(store: InstrumentStore) -> None:
    idea = store.by_symbol(Exchange.NFO, "IDEA26DEC10.5CE")
    assert idea.strike == Decimal("10.5")
    assert idea.tick_size_paise == 1
    assert str(store.by_symbol(Exchange.NFO, "IDEA26DEC11CE").strike) == "11"
    chain = store.chain("IDEA", date(2026, 12, 29))
    assert chain.strikes == (Decimal("10.5"), Decimal(11))


def test_unknown_token_or_symbol_raises_key_error_saying_what_is_missing(
    store: InstrumentStore,
) -> None:
    with pytest.raises(KeyError) as missing_token:
        store.get(42)
    assert str(missing_token.value) == "no instrument with token 42 in the instruments dump"
    with pytest.raises(UnknownInstrumentError) as missing_symbol:
        store.by_symbol(Exchange.NSE, "NIFTY26DECFUT")
    assert str(missing_symbol.value) == "no instrument NSE:NIFTY26DECFUT in the instruments dump"


def test_expiries_are_sorted_per_underlying_and_exchange(store: InstrumentStore) -> None:
    assert store.expiries("NIFTY") == (
        date(2026, 12, 1),
        date(2026, 12, 8),
        date(2026, 12, 29),
        date(2027, 1, 5),
    )
    assert store.expiries("SENSEX", Exchange.BFO) == (date(2026, 12, 3),)
    with pytest.raises(UnknownInstrumentError, match="no SENSEX options on NFO"):
        store.expiries("SENSEX")
    assert store.underlyings() == {
        "NIFTY",
        "BANKNIFTY",
        "NIFTYNXT50",
        "M&M",
        "BAJAJ-AUTO",
        "IDEA",
    }


def test_chain_rows_are_in_strike_order_with_call_and_put(store: InstrumentStore) -> None:
    chain = store.chain("NIFTY", date(2026, 12, 29))
    assert chain.strikes == (Decimal(25900), Decimal(26000), Decimal(26050), Decimal(26100))
    assert [
        (r.call and r.call.tradingsymbol, r.put and r.put.tradingsymbol) for r in chain.rows
    ] == [
        ("NIFTY26DEC25900CE", "NIFTY26DEC25900PE"),
        ("NIFTY26DEC26000CE", "NIFTY26DEC26000PE"),
        ("NIFTY26DEC26050CE", None),
        ("NIFTY26DEC26100CE", "NIFTY26DEC26100PE"),
    ]
    assert chain.row(Decimal("26000.0")).call is store.get(12057602)
    assert chain.nearest_strike(Decimal("26020")) == Decimal(26000)
    assert chain.nearest_strike(Decimal("26025")) == Decimal(26000)
    assert chain.nearest_strike(Decimal("26026")) == Decimal(26050)
    assert chain.nearest_strike(Decimal("1")) == Decimal(25900)
    assert chain.nearest_strike(Decimal("99999")) == Decimal(26100)
    assert len(chain.instruments()) == 7
    weekly = store.chain("NIFTY", date(2026, 12, 1))
    assert weekly.strikes == (Decimal(25900), Decimal(26000), Decimal(26100))


def test_missing_chain_or_strike_names_what_exists(store: InstrumentStore) -> None:
    with pytest.raises(UnknownInstrumentError) as no_expiry:
        store.chain("NIFTY", date(2026, 12, 15))
    assert str(no_expiry.value) == (
        "no NIFTY options expiring 2026-12-15 on NFO; "
        "expiries: 2026-12-01, 2026-12-08, 2026-12-29, 2027-01-05"
    )
    with pytest.raises(UnknownInstrumentError) as no_put:
        store.option("NIFTY", date(2026, 12, 29), Decimal(26050), Right.PE)
    assert str(no_put.value) == "NIFTY 2026-12-29 26050 has no PE on NFO"
    with pytest.raises(UnknownInstrumentError, match="has no strike 26200"):
        store.option("NIFTY", date(2026, 12, 29), Decimal(26200), Right.CE)


def test_option_is_found_by_underlying_expiry_strike_and_right(store: InstrumentStore) -> None:
    found = store.option("NIFTY", date(2027, 1, 5), Decimal(26000), Right.PE)
    assert found.tradingsymbol == "NIFTY2710526000PE"
    assert store.option("M&M", date(2026, 12, 29), Decimal(3600), Right.CE).lot_size == 200


def test_futures_are_listed_nearest_first(store: InstrumentStore) -> None:
    assert [f.tradingsymbol for f in store.futures("NIFTY")] == ["NIFTY26DECFUT", "NIFTY27JANFUT"]
    with pytest.raises(UnknownInstrumentError, match="no IDEA futures on NFO"):
        store.futures("IDEA")


def test_freeze_quantity_is_filled_from_specs_for_nfo_derivatives(store: InstrumentStore) -> None:
    nifty = store.by_symbol(Exchange.NFO, "NIFTY26DEC26000CE")
    assert nifty.freeze_quantity == 1800
    assert nifty.max_order_quantity == 1755
    banknifty = store.by_symbol(Exchange.NFO, "BANKNIFTY26DECFUT")
    assert (banknifty.freeze_quantity, banknifty.max_order_quantity) == (600, 600)
    assert store.by_symbol(Exchange.NFO, "NIFTYNXT5026DEC70000CE").freeze_quantity == 600
    # No sourced limit for this stock, none for BSE contracts, none for cash rows.
    assert store.by_symbol(Exchange.NFO, "M&M26DEC3600CE").freeze_quantity is None
    assert store.by_symbol(Exchange.NFO, "M&M26DEC3600CE").max_order_quantity is None
    assert store.by_symbol(Exchange.BFO, "SENSEX26D0385000CE").freeze_quantity is None
    assert store.by_symbol(Exchange.NSE, "M&M").freeze_quantity is None


def test_freeze_quantity_follows_the_trading_date() -> None:
    in_september = InstrumentStore.from_csv(sample_text(), spec_table(), date(2025, 9, 15))
    assert in_september.by_symbol(Exchange.NFO, "BANKNIFTY26DECFUT").freeze_quantity == 900
    without_specs = InstrumentStore.from_csv(sample_text())
    assert without_specs.by_symbol(Exchange.NFO, "BANKNIFTY26DECFUT").freeze_quantity is None
    with pytest.raises(ValueError, match="trading date 'today' is needed"):
        InstrumentStore.from_csv(sample_text(), spec_table())


def test_every_sample_fo_symbol_agrees_with_its_columns(store: InstrumentStore) -> None:
    for inst in store:
        if inst.exchange is not Exchange.NFO:
            continue
        parsed = store.parse_symbol(inst.tradingsymbol)
        assert inst.expiry is not None
        assert parsed.underlying == inst.name
        assert (parsed.year, parsed.month) == (inst.expiry.year, inst.expiry.month)
        assert parsed.day in (None, inst.expiry.day)
        assert parsed.strike == inst.strike
        assert parsed.kind.value == inst.instrument_type.value


def _with_line(number: int, replace: str, by: str) -> str:
    lines = sample_text().splitlines(keepends=True)
    assert replace in lines[number - 1]
    lines[number - 1] = lines[number - 1].replace(replace, by, 1)
    return "".join(lines)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            _with_line(11, "26000.0", "26O00"),
            "instruments CSV line 11, column 'strike': '26O00' is not a decimal number",
        ),
        (
            _with_line(11, ",NFO-OPT,NFO", ",NFO-OPT,NSX"),
            "instruments CSV line 11, column 'exchange': 'NSX' is not one of "
            "NSE, BSE, NFO, BFO, CDS, BCD, MCX, NCO",
        ),
        (
            _with_line(7, ",FUT,", ",FUTSTK,"),
            "instruments CSV line 7, column 'instrument_type': 'FUTSTK' is not one of "
            "EQ, FUT, CE, PE",
        ),
        (
            _with_line(9, "2026-12-01", "01-12-2026"),
            "instruments CSV line 9, column 'expiry': '01-12-2026' is not a date (YYYY-MM-DD)",
        ),
        (
            _with_line(9, "2026-12-01", ""),
            "instruments CSV line 9, column 'expiry': empty, but a CE contract needs an expiry",
        ),
        (
            _with_line(9, '"NIFTY"', '""'),
            "instruments CSV line 9, column 'name': empty, but a CE contract needs its "
            "underlying here",
        ),
        (
            _with_line(7, ",0.0,0.1,", ",26000.0,0.1,"),
            "instruments CSV line 7, column 'strike': '26000.0', but a FUT contract has no strike",
        ),
        (
            _with_line(9, ",0.05,65,", ",0.0025,65,"),
            "instruments CSV line 9, column 'tick_size': '0.0025' rupees is not a whole number "
            "of paise",
        ),
        (
            _with_line(9, ",0.05,65,", ",0.05,sixty-five,"),
            "instruments CSV line 9, column 'lot_size': 'sixty-five' is not a whole number",
        ),
        (
            _with_line(9, "10461954,", "-5,"),
            "instruments CSV line 9, column 'instrument_token': '-5' is below 1",
        ),
        (
            _with_line(9, ",NFO-OPT,NFO", ",NFO"),
            "instruments CSV line 9: expected 12 fields, found 11",
        ),
        (
            _with_line(10, "10462210,", "10461954,"),
            "line 10: instrument_token 10461954 (NIFTY26D0125900PE) repeats line 9 "
            "(NIFTY26D0125900CE)",
        ),
        (
            _with_line(10, "NIFTY26D0125900PE", "NIFTY26D0125900CE"),
            "line 10: NFO:NIFTY26D0125900CE repeats line 9",
        ),
        (
            sample_text().replace("tick_size,", "tick,", 1),
            "instruments CSV header lacks column(s) tick_size; found instrument_token, "
            "exchange_token, tradingsymbol, name, last_price, expiry, strike, tick, lot_size, "
            "instrument_type, segment, exchange",
        ),
        ("", "instruments CSV is empty: no header line"),
    ],
)
def test_malformed_dump_rows_name_line_column_and_value(text: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        InstrumentStore.from_csv(text)
    assert str(raised.value) == message


def test_second_contract_for_the_same_strike_and_right_is_refused() -> None:
    text = _with_line(10, "NIFTY26D0125900PE", "NIFTY26D0125900XX").replace(
        "25900.0,0.05,65,PE", "25900.0,0.05,65,CE", 1
    )
    with pytest.raises(ValueError) as raised:
        InstrumentStore.from_csv(text)
    assert str(raised.value) == (
        "line 10: NIFTY26D0125900XX is a second NIFTY 2026-12-01 25900 CE on NFO "
        "(first: NIFTY26D0125900CE, line 9)"
    )


FULL_DUMP_EXTRA = (
    '268435462,1048576,USDINR26DECFUT,"USDINR",0,2026-12-29,0.0,0.0025,1,FUT,CDS-FUT,CDS\n'
    '1,1,ACME,"ACME, LTD ""A""",0,,0,0.05,1,EQ,NSE,NSE\n'
)


def test_exchanges_filter_loads_only_the_exchanges_asked_for() -> None:
    text = sample_text() + FULL_DUMP_EXTRA
    with pytest.raises(ValueError, match=r"line 38, column 'tick_size': '0\.0025' rupees"):
        InstrumentStore.from_csv(text)
    nse_and_nfo = InstrumentStore.from_csv(text, exchanges={Exchange.NSE, Exchange.NFO})
    assert len(nse_and_nfo) == 36
    assert nse_and_nfo.by_symbol(Exchange.NSE, "ACME").name == 'ACME, LTD "A"'
    with pytest.raises(UnknownInstrumentError):
        nse_and_nfo.by_symbol(Exchange.BFO, "SENSEX26D0385000CE")


def test_store_can_be_built_from_instruments_directly() -> None:
    option = Instrument(
        instrument_token=7,
        exchange_token=1,
        exchange=Exchange.NFO,
        segment="NFO-OPT",
        tradingsymbol="NIFTY26DEC26000CE",
        name="NIFTY",
        expiry=date(2026, 12, 29),
        strike=Decimal(26000),
        instrument_type=InstrumentType.CE,
        lot_size=65,
        tick_size_paise=5,
        freeze_quantity=1800,
    )
    built = InstrumentStore([option])
    assert built.option("NIFTY", date(2026, 12, 29), Decimal(26000), Right.CE) is option
    with pytest.raises(ValueError, match="instrument #2: instrument_token 7"):
        InstrumentStore([option, option])
    with pytest.raises(ValueError, match="a PE option needs a positive strike"):
        Instrument(7, 1, Exchange.NFO, "NFO-OPT", "X", "NIFTY", date(2026, 12, 29), None,
                   InstrumentType.PE, 65, 5)  # fmt: skip


def _synthetic_dump(rows: int) -> str:
    header = (
        "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,"
        "tick_size,lot_size,instrument_type,segment,exchange\n"
    )
    expiries = [date(2026, 12, 1), date(2026, 12, 8), date(2026, 12, 15), date(2026, 12, 29)]
    out = [header]
    token = 1000
    underlying = 0
    while token - 1000 < rows:
        name = f"STOCK{underlying}"
        underlying += 1
        for expiry in expiries:
            for k in range(60):
                strike = f"{1000 + 5 * k}.0"
                for right in ("CE", "PE"):
                    token += 1
                    symbol = f"{name}{expiry:%y}{expiry:%b}{1000 + 5 * k}{right}".upper()
                    out.append(
                        f'{token},{token // 256},{symbol}{expiry.day},"{name}",0,{expiry},'
                        f"{strike},0.05,500,{right},NFO-OPT,NFO\n"
                    )
    return "".join(out[: rows + 1])


@pytest.mark.slow
def test_a_dump_of_a_hundred_thousand_rows_loads_in_seconds() -> None:
    text = _synthetic_dump(100_000)
    start = time.perf_counter()
    loaded = InstrumentStore.from_csv(text, spec_table(), date(2026, 12, 1))
    elapsed = time.perf_counter() - start
    assert len(loaded) == 100_000
    assert elapsed < 10, f"loading 100k rows took {elapsed:.1f} s"


def test_a_chain_refuses_rows_out_of_strike_order(store: InstrumentStore) -> None:
    rows = store.chain("NIFTY", date(2026, 12, 29)).rows
    with pytest.raises(ValueError, match="needs rows in ascending strike order"):
        OptionChain(Exchange.NFO, "NIFTY", date(2026, 12, 29), (rows[1], rows[0]))
