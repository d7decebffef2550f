"""Exercise and assignment: ITM and near-ITM stock options warned about in the last trading
days with their delivery obligation and margin, index options with their cash settlement, and
settlements at expiry recorded for the journal."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from cockpit.clock import IST
from cockpit.domain.calendar import TradingCalendar
from cockpit.domain.events import AlertSeverity
from cockpit.domain.instruments import (
    ContractKind,
    Exchange,
    Instrument,
    InstrumentType,
    Right,
    tradingsymbol_for,
)
from cockpit.domain.money import Paise, paise
from cockpit.risk.exercise import (
    SETTLEMENT_ENTRY_KIND,
    Delivery,
    ExerciseRules,
    Moneyness,
    Settlement,
    SettlementOutcome,
    exercise_alert,
    exercise_alert_draft,
    exercise_alerts,
    intrinsic_value,
    settlement_record,
    trading_days_to_expiry,
)
from cockpit.store.journal import check_json

# 25 Dec 2026 (a Friday) is a holiday: E-1 = Mon 28, E-2 = Thu 24, E-3 = Wed 23, E-4 = Tue 22.
CALENDAR = TradingCalendar({date(2026, 12, 25): "Christmas"})
EXPIRY = date(2026, 12, 29)
E3, E4 = date(2026, 12, 23), date(2026, 12, 22)
PUT, CALL = InstrumentType.PE, InstrumentType.CE


def option(name: str, strike: int, right: InstrumentType, lot: int, token: int) -> Instrument:
    symbol = tradingsymbol_for(
        name, EXPIRY, ContractKind(right.value), Decimal(strike), weekly=False
    )
    return Instrument(
        instrument_token=token,
        exchange_token=token,
        exchange=Exchange.NFO,
        segment="NFO-OPT",  # the same for index and stock options in Kite's dump
        tradingsymbol=symbol,
        name=name,
        expiry=EXPIRY,
        strike=Decimal(strike),
        instrument_type=right,
        lot_size=lot,
        tick_size_paise=5,
    )


HDFC_PUT = option("HDFCBANK", 1000, PUT, 550, 501)
HDFC_CALL = option("HDFCBANK", 1000, CALL, 550, 502)
NIFTY_CALL = option("NIFTY", 26000, CALL, 65, 601)
NIFTY_PUT = option("NIFTY", 26000, PUT, 65, 602)


def test_trading_days_to_expiry_skip_weekends_and_holidays() -> None:
    assert trading_days_to_expiry(CALENDAR, EXPIRY, EXPIRY) == 0
    assert trading_days_to_expiry(CALENDAR, date(2026, 12, 28), EXPIRY) == 1
    assert trading_days_to_expiry(CALENDAR, date(2026, 12, 26), EXPIRY) == 2  # a Saturday
    assert trading_days_to_expiry(CALENDAR, date(2026, 12, 24), EXPIRY) == 2
    assert trading_days_to_expiry(CALENDAR, E3, EXPIRY) == 3
    assert trading_days_to_expiry(CALENDAR, E4, EXPIRY) == 4
    with pytest.raises(ValueError, match="expired on 2026-12-29"):
        trading_days_to_expiry(CALENDAR, date(2026, 12, 30), EXPIRY)


def test_intrinsic_value_of_calls_and_puts() -> None:
    assert intrinsic_value(HDFC_PUT, paise(980)) == paise(20)
    assert intrinsic_value(HDFC_PUT, paise(1000)) == 0
    assert intrinsic_value(HDFC_CALL, paise("1012.35")) == paise("12.35")
    assert intrinsic_value(HDFC_CALL, paise(990)) == 0


def test_an_itm_short_stock_put_in_the_window_is_critical_with_its_delivery() -> None:
    alert = exercise_alert(HDFC_PUT, -550, paise(980), E3, CALENDAR)

    assert alert is not None
    assert alert.severity is AlertSeverity.CRITICAL
    assert alert.moneyness is Moneyness.ITM
    assert alert.settlement is Settlement.PHYSICAL
    assert alert.trading_days_to_expiry == 3
    assert alert.delivery is Delivery.BUY
    # Must buy 550 shares at the 1,000 strike: ₹5,50,000.
    assert alert.delivery_value == paise(550_000)
    # E-3: 25% of an assumed 20% VaR+ELM on 550 × ₹980 = ₹5,39,000 → ₹26,950.
    assert alert.delivery_margin_pct == Decimal(25)
    assert alert.applicable_margin_pct == Decimal(20)
    assert alert.delivery_margin == paise(26_950)
    assert alert.cash_settlement is None
    assert alert.message == (
        "HDFCBANK26DEC1000PE short 550 ITM (spot ₹980.00, strike ₹1,000.00; 3 trading days to "
        "expiry 2026-12-29) settles physically: must buy 550 shares of HDFCBANK, paying "
        "₹5,50,000.00; estimated delivery margin ₹26,950.00 (25% of a 20% VaR+ELM on "
        "₹5,39,000.00 at spot)"
    )


def test_no_alert_before_the_window_or_when_otm_or_after_expiry() -> None:
    assert exercise_alert(HDFC_PUT, -550, paise(980), E4, CALENDAR) is None  # E-4
    assert exercise_alert(HDFC_PUT, -550, paise(1050), E3, CALENDAR) is None  # 4.8% OTM
    assert exercise_alert(HDFC_PUT, -550, paise(980), date(2026, 12, 30), CALENDAR) is None
    assert exercise_alert(HDFC_PUT, 0, paise(980), E3, CALENDAR) is None


def test_the_window_is_configurable_and_the_margin_follows_the_stage() -> None:
    rules = ExerciseRules(alert_trading_days=4)
    alert = exercise_alert(HDFC_PUT, -550, paise(980), E4, CALENDAR, rules)
    assert alert is not None
    assert alert.delivery_margin_pct == Decimal(10)
    assert alert.delivery_margin == paise(10_780)  # 10% of 20% of ₹5,39,000
    on_expiry_day = exercise_alert(HDFC_PUT, -550, paise(980), EXPIRY, CALENDAR)
    assert on_expiry_day is not None
    assert on_expiry_day.trading_days_to_expiry == 0
    assert on_expiry_day.delivery_margin == paise(75_460)  # 70% held through expiry day


def test_a_stocks_own_margin_rate_replaces_the_assumed_one() -> None:
    rules = ExerciseRules(margin_pct_by_underlying={"HDFCBANK": Decimal("14.5")})
    alert = exercise_alert(HDFC_PUT, -550, paise(980), E3, CALENDAR, rules)
    assert alert is not None
    # 25% × 14.5% × ₹5,39,000 = ₹19,538.75
    assert alert.delivery_margin == paise("19538.75")
    assert "(25% of a 14.5% VaR+ELM on ₹5,39,000.00 at spot)" in alert.message


def test_a_near_itm_stock_option_is_a_warning_with_what_it_would_cost() -> None:
    # Spot ₹1,015 is 1.5% above the 1,000 put strike: within the 2% band.
    alert = exercise_alert(HDFC_PUT, -550, paise(1015), E3, CALENDAR)
    assert alert is not None
    assert alert.severity is AlertSeverity.WARNING
    assert alert.moneyness is Moneyness.NEAR_ITM
    assert alert.intrinsic == 0
    assert alert.delivery is Delivery.BUY
    assert "NEAR-ITM" in alert.message
    assert "would settle physically if it ends in the money: must buy 550 shares" in alert.message
    narrow = ExerciseRules(near_itm_pct=Decimal(1))
    assert exercise_alert(HDFC_PUT, -550, paise(1015), E3, CALENDAR, narrow) is None


@pytest.mark.parametrize(
    ("instrument", "quantity", "spot", "severity", "delivery", "verb"),
    [
        (HDFC_CALL, -550, 1020, AlertSeverity.CRITICAL, Delivery.DELIVER, "deliver 550 shares"),
        (HDFC_CALL, 550, 1020, AlertSeverity.WARNING, Delivery.BUY, "buy 550 shares"),
        (HDFC_PUT, 1100, 980, AlertSeverity.WARNING, Delivery.DELIVER, "deliver 1100 shares"),
    ],
)
def test_each_side_of_an_itm_stock_option_has_its_delivery(
    instrument: Instrument,
    quantity: int,
    spot: int,
    severity: AlertSeverity,
    delivery: Delivery,
    verb: str,
) -> None:
    alert = exercise_alert(instrument, quantity, paise(spot), E3, CALENDAR)
    assert alert is not None
    assert (alert.severity, alert.delivery) == (severity, delivery)
    assert alert.delivery_value == paise(1000 * abs(quantity))
    assert f"must {verb}" in alert.message


def test_an_itm_index_option_reports_its_cash_settlement() -> None:
    # Short 130 NIFTY 26000 CE with NIFTY at 26,180: 180 × 130 = ₹23,400 to pay.
    alert = exercise_alert(NIFTY_CALL, -130, paise(26_180), date(2026, 12, 28), CALENDAR)
    assert alert is not None
    assert alert.severity is AlertSeverity.INFO
    assert alert.settlement is Settlement.CASH
    assert alert.intrinsic == paise(180)
    assert alert.cash_settlement == -paise(23_400)
    assert alert.delivery is None and alert.delivery_margin is None
    assert alert.message.endswith("settles in cash: pay about ₹23,400.00 (₹180.00 intrinsic × 130)")
    # Long 65 NIFTY 26000 PE with NIFTY at 25,912.50: 87.50 × 65 = ₹5,687.50 received.
    long_put = exercise_alert(NIFTY_PUT, 65, paise("25912.50"), E3, CALENDAR)
    assert long_put is not None
    assert long_put.cash_settlement == paise("5687.50")


def test_an_index_option_that_is_not_itm_raises_nothing() -> None:
    assert exercise_alert(NIFTY_CALL, -130, paise(25_990), E3, CALENDAR) is None  # near
    assert exercise_alert(NIFTY_CALL, -130, paise(25_000), E3, CALENDAR) is None


def test_exercise_alerts_grade_a_book_most_severe_first() -> None:
    holdings = [
        (NIFTY_CALL, -130),
        (HDFC_CALL, 550),
        (HDFC_PUT, -550),
        (option("TMPV", 400, PUT, 1400, 701), -1400),  # no spot given: skipped
    ]
    spots = {"NIFTY": paise(26_180), "HDFCBANK": paise(1020)}
    alerts = exercise_alerts(holdings, spots, E3, CALENDAR)
    # HDFC put is OTM at 1,020 (2% away: near) — a warning; the call is ITM long: a warning.
    assert [(a.tradingsymbol, a.severity) for a in alerts] == [
        ("HDFCBANK26DEC1000CE", AlertSeverity.WARNING),
        ("HDFCBANK26DEC1000PE", AlertSeverity.WARNING),
        ("NIFTY26DEC26000CE", AlertSeverity.INFO),
    ]


def test_the_alert_draft_is_keyed_by_contract() -> None:
    alert = exercise_alert(HDFC_PUT, -550, paise(980), E3, CALENDAR)
    assert alert is not None
    draft = exercise_alert_draft(alert)
    assert draft.key == "exercise-monitor:501"
    assert draft.severity is AlertSeverity.CRITICAL
    assert draft.title == "Physical assignment risk: HDFCBANK26DEC1000PE"
    assert draft.message == alert.message
    index = exercise_alert(NIFTY_CALL, -130, paise(26_180), E3, CALENDAR)
    assert index is not None
    assert exercise_alert_draft(index).title == "Cash settlement: NIFTY26DEC26000CE"


# ---- settlement at expiry ------------------------------------------------------------------------

SETTLED_AT = datetime(2026, 12, 29, 18, 0, tzinfo=IST)


def test_an_assigned_short_stock_put_becomes_a_delivery_record() -> None:
    record = settlement_record(HDFC_PUT, -550, 0, paise(980), SETTLED_AT)
    assert record.outcome is SettlementOutcome.ASSIGNED
    assert record.settlement is Settlement.PHYSICAL
    assert record.quantity == -550
    assert record.intrinsic == paise(20)
    assert record.delivery is Delivery.BUY
    assert record.delivery_quantity == 550
    assert record.delivery_value == paise(550_000)
    assert record.cash_amount == 0
    row = record.to_row()
    check_json(row, SETTLEMENT_ENTRY_KIND)  # the journal accepts it
    assert row == {
        "at": "2026-12-29T18:00:00+05:30",
        "instrument_token": 501,
        "tradingsymbol": "HDFCBANK26DEC1000PE",
        "underlying": "HDFCBANK",
        "expiry": "2026-12-29",
        "strike": "1000",
        "right": "PE",
        "settlement": "physical",
        "quantity": -550,
        "settlement_price": 98_000,
        "intrinsic": 2_000,
        "outcome": "assigned",
        "delivery": "buy",
        "delivery_quantity": 550,
        "delivery_value": 55_000_000,
        "cash_amount": 0,
    }


def test_an_exercised_long_index_call_is_cash_settled() -> None:
    record = settlement_record(NIFTY_CALL, 130, 0, paise(26_180), SETTLED_AT)
    assert record.outcome is SettlementOutcome.EXERCISED
    assert record.right is Right.CE
    assert record.cash_amount == paise(23_400)
    assert record.delivery is None and record.delivery_quantity == 0


def test_an_otm_option_expires_worthless() -> None:
    record = settlement_record(HDFC_CALL, -550, 0, paise(980), SETTLED_AT)
    assert record.outcome is SettlementOutcome.EXPIRED
    assert record.delivery is None
    assert (record.delivery_value, record.cash_amount) == (0, 0)


def test_a_position_change_that_is_not_a_settlement_is_refused() -> None:
    before_expiry = datetime(2026, 12, 28, 15, 0, tzinfo=IST)
    with pytest.raises(ValueError, match="is a trade, not a settlement"):
        settlement_record(HDFC_PUT, -550, 0, paise(980), before_expiry)
    with pytest.raises(ValueError, match=r"-550 → \+550 is not a settlement"):
        settlement_record(HDFC_PUT, -550, 550, paise(980), SETTLED_AT)
    with pytest.raises(ValueError, match="not a settlement"):
        settlement_record(HDFC_PUT, 0, 0, paise(980), SETTLED_AT)
    with pytest.raises(ValueError, match="settlement price must be positive"):
        settlement_record(HDFC_PUT, -550, 0, Paise(0), SETTLED_AT)
