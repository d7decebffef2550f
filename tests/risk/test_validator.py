"""The position validator: what the groups filled against what the broker holds, graded
WARNING for a difference and CRITICAL when the broker's positions break the hedged invariant."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from cockpit.broker.base import Position
from cockpit.clock import IST
from cockpit.domain.events import AlertSeverity
from cockpit.domain.groups import ChildOrder, GroupKind, Leg, LegRole, LegSpec, OrderGroup
from cockpit.domain.instruments import (
    ContractKind,
    Exchange,
    Instrument,
    InstrumentType,
    tradingsymbol_for,
)
from cockpit.domain.money import Paise
from cockpit.execution.exposure import ExposureKey
from cockpit.risk.alerts import AlertCentre
from cockpit.risk.validator import (
    SOURCE,
    Mismatch,
    expected_quantities,
    mismatch_alert,
    validate_positions,
)

EXPIRY = date(2026, 12, 29)
T0 = datetime(2026, 12, 2, 10, 0, tzinfo=IST)
PUT_KEY = ExposureKey("NIFTY", EXPIRY, "PE")


def option(strike: int, right: InstrumentType, token: int) -> Instrument:
    symbol = tradingsymbol_for(
        "NIFTY", EXPIRY, ContractKind(right.value), Decimal(strike), weekly=False
    )
    return Instrument(
        instrument_token=token,
        exchange_token=token,
        exchange=Exchange.NFO,
        segment="NFO-OPT",
        tradingsymbol=symbol,
        name="NIFTY",
        expiry=EXPIRY,
        strike=Decimal(strike),
        instrument_type=right,
        lot_size=65,
        tick_size_paise=5,
        freeze_quantity=1800,
    )


LONG_PUT = option(25800, InstrumentType.PE, 1001)  # NIFTY26DEC25800PE
SHORT_PUT = option(26000, InstrumentType.PE, 1002)  # NIFTY26DEC26000PE
OTHER_CALL = option(26500, InstrumentType.CE, 1003)  # NIFTY26DEC26500CE
FUTURE = Instrument(
    instrument_token=1004,
    exchange_token=1004,
    exchange=Exchange.NFO,
    segment="NFO-FUT",
    tradingsymbol="NIFTY26DECFUT",
    name="NIFTY",
    expiry=EXPIRY,
    strike=None,
    instrument_type=InstrumentType.FUT,
    lot_size=65,
    tick_size_paise=5,
)
INSTRUMENTS = {i.instrument_token: i for i in (LONG_PUT, SHORT_PUT, OTHER_CALL, FUTURE)}
LOOKUP = INSTRUMENTS.__getitem__


def filled_leg(instrument: Instrument, role: LegRole, quantity: int, filled: int) -> Leg:
    leg = Leg(LegSpec.for_instrument(instrument, role, quantity))
    if filled:
        tag = f"T{instrument.instrument_token}{role.value[0]}{filled}"
        leg.children.append(
            ChildOrder(
                child_id=tag, leg_index=0, seq=0, tag=tag, quantity=filled, filled_quantity=filled
            )
        )
    return leg


def group(group_id: str, kind: GroupKind, *legs: Leg) -> OrderGroup:
    for index, leg in enumerate(legs):
        for child in leg.children:
            child.leg_index = index
    return OrderGroup(group_id=group_id, kind=kind, legs=list(legs), created_at=T0)


def entry(filled_long: int = 130, filled_short: int = 130) -> OrderGroup:
    return group(
        "G1",
        GroupKind.ENTRY,
        filled_leg(LONG_PUT, LegRole.PROTECTION, 130, filled_long),
        filled_leg(SHORT_PUT, LegRole.RISK, 130, filled_short),
    )


def position(instrument: Instrument, quantity: int, product: str = "NRML") -> Position:
    zero = Paise(0)
    return Position(
        tradingsymbol=instrument.tradingsymbol,
        exchange="NFO",
        instrument_token=instrument.instrument_token,
        product=product,
        quantity=quantity,
        overnight_quantity=0,
        average_price=zero,
        last_price=zero,
        pnl=zero,
        realised=zero,
        unrealised=zero,
        buy_quantity=max(quantity, 0),
        sell_quantity=max(-quantity, 0),
        buy_value=zero,
        sell_value=zero,
    )


def test_matching_positions_report_nothing() -> None:
    held = [position(LONG_PUT, 130), position(SHORT_PUT, -130)]
    assert validate_positions([entry()], held, LOOKUP) == []


def test_a_broker_quantity_that_differs_is_a_warning_with_its_variance() -> None:
    held = [position(LONG_PUT, 130), position(SHORT_PUT, -65)]

    (mismatch,) = validate_positions([entry()], held, LOOKUP)

    assert mismatch == Mismatch(
        instrument_token=1002,
        tradingsymbol="NIFTY26DEC26000PE",
        key=PUT_KEY,
        group_ids=("G1",),
        expected=-130,
        broker=-65,
        variance_pct=50.0,
        severity=AlertSeverity.WARNING,
        breach=None,
    )
    assert mismatch.difference == 65


def test_a_short_whose_hedge_is_missing_at_the_broker_is_critical() -> None:
    held = [position(SHORT_PUT, -130)]  # the long put is gone at the broker

    (mismatch,) = validate_positions([entry()], held, LOOKUP)

    assert mismatch.instrument_token == LONG_PUT.instrument_token
    assert (mismatch.expected, mismatch.broker, mismatch.variance_pct) == (130, 0, -100.0)
    assert mismatch.severity is AlertSeverity.CRITICAL
    assert mismatch.breach is not None
    assert (mismatch.breach.short_quantity, mismatch.breach.long_quantity) == (130, 0)
    assert mismatch.breach.uncovered_quantity == 130


def test_a_broker_short_larger_than_its_cover_is_critical_even_on_the_short_leg() -> None:
    held = [position(LONG_PUT, 130), position(SHORT_PUT, -195)]
    (mismatch,) = validate_positions([entry()], held, LOOKUP)
    assert mismatch.instrument_token == SHORT_PUT.instrument_token
    assert mismatch.severity is AlertSeverity.CRITICAL
    assert mismatch.breach is not None and mismatch.breach.uncovered_quantity == 65


def test_exits_net_against_their_entry_by_instrument() -> None:
    # Bought back 65 of the short; the long is still held whole.
    exit_group = group(
        "X1",
        GroupKind.EXIT,
        filled_leg(SHORT_PUT, LegRole.PROTECTION, 130, 65),
        filled_leg(LONG_PUT, LegRole.RISK, 130, 0),
    )
    groups = [entry(), exit_group]
    assert expected_quantities(groups) == {1001: (130, ("G1", "X1")), 1002: (-65, ("G1", "X1"))}
    held = [position(LONG_PUT, 130), position(SHORT_PUT, -65)]
    assert validate_positions(groups, held, LOOKUP) == []
    # Fully closed: nothing expected, nothing held.
    done = group(
        "X2",
        GroupKind.EXIT,
        filled_leg(SHORT_PUT, LegRole.PROTECTION, 130, 130),
        filled_leg(LONG_PUT, LegRole.RISK, 130, 130),
    )
    assert validate_positions([entry(), done], [], LOOKUP) == []


def test_a_hedge_group_counts_toward_the_expected_long() -> None:
    hedge = group("H1", GroupKind.HEDGE, filled_leg(LONG_PUT, LegRole.PROTECTION, 65, 65))
    partial = entry(filled_long=65, filled_short=130)
    held = [position(LONG_PUT, 130), position(SHORT_PUT, -130)]
    assert validate_positions([partial, hedge], held, LOOKUP) == []


def test_a_position_no_group_explains_is_reported_naked_shorts_critical() -> None:
    held = [
        position(LONG_PUT, 130),
        position(SHORT_PUT, -130),
        position(OTHER_CALL, -65),  # placed outside Cockpit, uncovered
    ]
    (mismatch,) = validate_positions([entry()], held, LOOKUP)
    assert mismatch.tradingsymbol == "NIFTY26DEC26500CE"
    assert mismatch.group_ids == ()
    assert (mismatch.expected, mismatch.broker, mismatch.variance_pct) == (0, -65, None)
    assert mismatch.severity is AlertSeverity.CRITICAL


def test_an_unexplained_long_or_a_future_is_only_a_warning() -> None:
    held = [position(OTHER_CALL, 65), position(FUTURE, 65)]
    mismatches = validate_positions([], held, LOOKUP)
    assert [(m.tradingsymbol, m.key, m.severity) for m in mismatches] == [
        ("NIFTY26DEC26500CE", ExposureKey("NIFTY", EXPIRY, "CE"), AlertSeverity.WARNING),
        ("NIFTY26DECFUT", None, AlertSeverity.WARNING),
    ]


def test_an_unknown_token_is_reported_by_the_brokers_symbol() -> None:
    stranger = Position(
        tradingsymbol="INFY",
        exchange="NSE",
        instrument_token=408065,
        product="CNC",
        quantity=10,
        overnight_quantity=10,
        average_price=Paise(0),
        last_price=Paise(0),
        pnl=Paise(0),
        realised=Paise(0),
        unrealised=Paise(0),
        buy_quantity=10,
        sell_quantity=0,
        buy_value=Paise(0),
        sell_value=Paise(0),
    )
    (mismatch,) = validate_positions([], [stranger], LOOKUP)
    assert (mismatch.tradingsymbol, mismatch.key, mismatch.broker) == ("INFY", None, 10)


def test_rows_of_several_products_are_netted_per_instrument() -> None:
    held = [
        position(LONG_PUT, 65, "NRML"),
        position(LONG_PUT, 65, "MIS"),
        position(SHORT_PUT, -130),
    ]
    assert validate_positions([entry()], held, LOOKUP) == []


def test_critical_mismatches_come_first() -> None:
    held = [position(SHORT_PUT, -130), position(OTHER_CALL, 65)]
    mismatches = validate_positions([entry()], held, LOOKUP)
    assert [(m.tradingsymbol, m.severity) for m in mismatches] == [
        ("NIFTY26DEC25800PE", AlertSeverity.CRITICAL),
        ("NIFTY26DEC26500CE", AlertSeverity.WARNING),
    ]


def test_the_alert_names_the_numbers_and_dedupes_across_reconciliations() -> None:
    centre = AlertCentre()
    warning_held = [position(LONG_PUT, 130), position(SHORT_PUT, -65)]
    (warning,) = validate_positions([entry()], warning_held, LOOKUP)
    draft = mismatch_alert(warning)
    assert draft.key == f"{SOURCE}:1002"
    assert draft.source == "position-validator"
    assert draft.severity is AlertSeverity.WARNING
    assert draft.group_id == "G1"
    assert draft.title == "Position mismatch: NIFTY26DEC26000PE"
    assert draft.message == (
        "NIFTY26DEC26000PE: broker holds -65, groups expect -130 (G1); difference +65 (+50.0%)"
    )
    first = centre.raise_draft(draft, T0)
    again = centre.raise_draft(mismatch_alert(warning), T0)
    assert again.alert_id == first.alert_id
    assert again.count == 2
    assert len(centre) == 1


def test_a_breach_alert_says_what_is_uncovered() -> None:
    (critical,) = validate_positions([entry()], [position(SHORT_PUT, -130)], LOOKUP)
    draft = mismatch_alert(critical)
    assert draft.severity is AlertSeverity.CRITICAL
    assert draft.title == "Unhedged short at broker: NIFTY 2026-12-29 PE"
    assert draft.message == (
        "NIFTY26DEC25800PE: broker holds 0, groups expect +130 (G1); difference -130 (-100.0%). "
        "Hedged invariant broken at the broker on NIFTY 2026-12-29 PE: short 130 > long 0, "
        "130 uncovered"
    )


def test_a_difference_that_grows_into_a_breach_escalates_the_same_alert() -> None:
    centre = AlertCentre()
    (first,) = validate_positions(
        [entry()], [position(LONG_PUT, 130), position(SHORT_PUT, -65)], LOOKUP
    )
    (later,) = validate_positions(
        [entry()], [position(LONG_PUT, 130), position(SHORT_PUT, -195)], LOOKUP
    )
    centre.raise_draft(mismatch_alert(first), T0)
    alert = centre.raise_draft(mismatch_alert(later), T0)
    assert len(centre) == 1
    assert alert.severity is AlertSeverity.CRITICAL
    assert "short 195 > long 130, 65 uncovered" in alert.message
