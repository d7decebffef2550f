"""Pre-trade checks: each check refuses with the numbers a trader would check by hand, passes
when within its limit, and is hard or soft as the override rules say."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time
from decimal import Decimal

import pytest

from cockpit.clock import IST
from cockpit.domain.calendar import TradingCalendar
from cockpit.domain.groups import (
    ChildOrder,
    GroupKind,
    GroupState,
    Leg,
    LegRole,
    LegSpec,
    OrderGroup,
)
from cockpit.domain.instruments import (
    ContractKind,
    Exchange,
    Instrument,
    InstrumentType,
    tradingsymbol_for,
)
from cockpit.domain.money import Paise, paise
from cockpit.risk.checks import (
    CheckCode,
    CheckContext,
    CheckFailure,
    ExpiryDayRule,
    RateBudget,
    RiskLimits,
    apply_override,
    overridable,
    pre_trade_checks,
)

CALENDAR = TradingCalendar({date(2026, 12, 25): "Christmas"})
MONTHLY = date(2026, 12, 29)
WEEKLY = date(2026, 12, 8)
WEDNESDAY_10AM = datetime(2026, 12, 2, 10, 0, tzinfo=IST)


def option(
    strike: int,
    right: InstrumentType,
    *,
    token: int,
    expiry: date = MONTHLY,
    lot: int = 65,
    freeze: int | None = 1800,
) -> Instrument:
    weekly = expiry != MONTHLY
    symbol = tradingsymbol_for(
        "NIFTY", expiry, ContractKind(right.value), Decimal(strike), weekly=weekly
    )
    return Instrument(
        instrument_token=token,
        exchange_token=token >> 8,
        exchange=Exchange.NFO,
        segment="NFO-OPT",
        tradingsymbol=symbol,
        name="NIFTY",
        expiry=expiry,
        strike=Decimal(strike),
        instrument_type=right,
        lot_size=lot,
        tick_size_paise=5,
        freeze_quantity=freeze,
    )


LONG_PUT = option(25800, InstrumentType.PE, token=1001)
SHORT_PUT = option(26000, InstrumentType.PE, token=1002)
INSTRUMENTS = {i.instrument_token: i for i in (LONG_PUT, SHORT_PUT)}


def spread(
    quantity: int = 130,
    kind: GroupKind = GroupKind.ENTRY,
    long: Instrument = LONG_PUT,
    short: Instrument = SHORT_PUT,
) -> OrderGroup:
    legs = [
        Leg(LegSpec.for_instrument(long, LegRole.PROTECTION, quantity)),
        Leg(LegSpec.for_instrument(short, LegRole.RISK, quantity)),
    ]
    return OrderGroup(group_id="G1", kind=kind, legs=legs, created_at=WEDNESDAY_10AM)


def context(**changes: object) -> CheckContext:
    base = CheckContext(
        now=WEDNESDAY_10AM,
        calendar=CALENDAR,
        margin_estimate=paise(100_000),
        available_funds=paise(120_000),
        group_max_loss=paise(10_000),
        instruments=INSTRUMENTS.__getitem__,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def codes(failures: list[CheckFailure]) -> list[CheckCode]:
    return [f.code for f in failures]


def only(failures: list[CheckFailure], code: CheckCode) -> CheckFailure:
    found = [f for f in failures if f.code is code]
    assert len(found) == 1, failures
    return found[0]


def test_a_sound_group_within_every_limit_passes() -> None:
    limits = RiskLimits(max_loss_per_group=paise(25_000), max_loss_per_day=paise(50_000))
    budget = RateBudget(per_minute=400, per_day=5_000)
    assert pre_trade_checks(spread(), context(rate_budget=budget), limits) == []


# ---- structure: legs, lots, slicing --------------------------------------------------------------


def test_a_group_with_no_legs_is_refused() -> None:
    empty = OrderGroup(group_id="G0", kind=GroupKind.ENTRY, legs=[], created_at=WEDNESDAY_10AM)
    failure = only(pre_trade_checks(empty, context()), CheckCode.NO_LEGS)
    assert failure == CheckFailure(CheckCode.NO_LEGS, "group G0 has no legs", hard=True)


def test_a_leg_whose_instrument_left_the_dump_is_refused() -> None:
    ctx = context(instruments={LONG_PUT.instrument_token: LONG_PUT}.__getitem__)
    failure = only(pre_trade_checks(spread(), ctx), CheckCode.UNKNOWN_INSTRUMENT)
    assert failure.hard
    assert failure.message == (
        "NIFTY26DEC26000PE: token 1002 is not in the instruments dump (expired or delisted?)"
    )


def test_quantity_built_on_an_old_lot_size_is_refused_against_the_current_one() -> None:
    # The spread was sized in lots of 75; the dump now says 65 (NSE/FAOP/70616).
    old_long = replace(LONG_PUT, lot_size=75)
    old_short = replace(SHORT_PUT, lot_size=75)
    failures = pre_trade_checks(spread(150, long=old_long, short=old_short), context())
    assert codes(failures) == [CheckCode.LOT_MULTIPLE, CheckCode.LOT_MULTIPLE]
    assert failures[0].hard
    assert failures[0].message == (
        "NIFTY26DEC25800PE: quantity 150 is not a whole number of lots of 65 "
        "(the leg was built with lot 75)"
    )


def test_whole_lots_of_the_current_lot_size_pass_the_lot_check() -> None:
    assert CheckCode.LOT_MULTIPLE not in codes(pre_trade_checks(spread(195), context()))


def test_a_freeze_limit_below_one_lot_makes_slicing_impossible() -> None:
    broken = {**INSTRUMENTS, 1002: replace(SHORT_PUT, freeze_quantity=50)}
    failure = only(
        pre_trade_checks(spread(), context(instruments=broken.__getitem__)),
        CheckCode.FREEZE_SLICING,
    )
    assert failure.hard
    assert failure.message == (
        "NIFTY26DEC26000PE: freeze quantity 50 is below one lot of 65: no legal order size exists"
    )


def test_more_slices_than_allowed_per_leg_is_refused() -> None:
    # 20,020 units = 308 lots; the largest legal order is 27 lots (1,755): 12 orders.
    failures = pre_trade_checks(spread(20_020), context(margin_estimate=Paise(0)))
    assert codes(failures) == [CheckCode.TOO_MANY_SLICES, CheckCode.TOO_MANY_SLICES]
    assert failures[0].hard
    assert failures[0].message == (
        "NIFTY26DEC25800PE: quantity 20020 needs 12 orders of at most 1755 "
        "(freeze limit 1800), more than the 10 allowed per leg"
    )


def test_exactly_the_allowed_number_of_slices_passes() -> None:
    failures = pre_trade_checks(spread(17_550), context(margin_estimate=Paise(0)))
    assert CheckCode.TOO_MANY_SLICES not in codes(failures)


def test_only_the_unsent_quantity_is_sliced_and_counted() -> None:
    group = spread(1_755 * 11)  # 11 orders if sent whole
    long_leg = group.legs[0]
    long_leg.children.append(
        ChildOrder(
            child_id="c1", leg_index=0, seq=0, tag="T1", quantity=1_755, filled_quantity=1_755
        )
    )
    failures = pre_trade_checks(group, context(margin_estimate=Paise(0)))
    assert codes(failures) == [CheckCode.TOO_MANY_SLICES]  # the short leg only
    assert "NIFTY26DEC26000PE" in failures[0].message


# ---- market hours --------------------------------------------------------------------------------


def test_orders_are_refused_on_a_weekend() -> None:
    saturday = datetime(2026, 12, 5, 10, 0, tzinfo=IST)
    failure = only(pre_trade_checks(spread(), context(now=saturday)), CheckCode.MARKET_CLOSED)
    assert failure.hard
    assert failure.message == (
        "market is closed at 2026-12-05 10:00 IST (weekend); "
        "orders are accepted 09:15-15:30 on trading days"
    )


def test_orders_are_refused_on_a_holiday_and_in_pre_open_and_after_close() -> None:
    christmas = datetime(2026, 12, 25, 11, 0, tzinfo=IST)
    pre_open = datetime(2026, 12, 2, 9, 10, tzinfo=IST)
    after = datetime(2026, 12, 2, 15, 30, tzinfo=IST)
    messages = [
        only(pre_trade_checks(spread(), context(now=now)), CheckCode.MARKET_CLOSED).message
        for now in (christmas, pre_open, after)
    ]
    assert messages[0].startswith("market is closed at 2026-12-25 11:00 IST (holiday: Christmas)")
    assert messages[1].startswith("market is pre-open at 2026-12-02 09:10 IST (matching; ")
    assert messages[2].startswith("market is closed at 2026-12-02 15:30 IST (after close)")


def test_the_open_market_passes() -> None:
    last_minute = datetime(2026, 12, 2, 15, 29, 59, tzinfo=IST)
    assert CheckCode.MARKET_CLOSED not in codes(
        pre_trade_checks(spread(), context(now=last_minute))
    )


# ---- margin --------------------------------------------------------------------------------------


def test_margin_beyond_the_funds_is_a_hard_refusal_with_the_figures() -> None:
    ctx = context(margin_estimate=paise(152_000), available_funds=paise(120_000))
    failure = only(pre_trade_checks(spread(), ctx), CheckCode.MARGIN_EXCEEDS_FUNDS)
    assert failure.hard
    assert failure.message == (
        "margin ₹1,52,000.00 (our estimate) + 10% buffer ₹15,200.00 = ₹1,67,200.00 exceeds "
        "available ₹1,20,000.00; the margin alone is short by ₹32,000.00"
    )


def test_margin_that_fits_but_not_with_its_buffer_is_soft() -> None:
    ctx = context(margin_estimate=paise(110_000), available_funds=paise(120_000))
    failure = only(pre_trade_checks(spread(), ctx), CheckCode.MARGIN_BUFFER)
    assert not failure.hard
    assert failure.message == (
        "margin ₹1,10,000.00 (our estimate) + 10% buffer ₹11,000.00 = ₹1,21,000.00 exceeds "
        "available ₹1,20,000.00; the margin alone fits, the buffer does not"
    )


def test_a_broker_basket_margin_netting_premium_does_not_lower_the_margin_used() -> None:
    # Kite's basket margin nets the credit received (OpenAlgo #1620): ₹95,000 looks like it
    # fits in ₹1,20,000 with its buffer; our ₹1,52,000 is what the legs block as they fill.
    ctx = context(
        margin_estimate=paise(152_000),
        broker_margin=paise(95_000),
        available_funds=paise(120_000),
    )
    failure = only(pre_trade_checks(spread(), ctx), CheckCode.MARGIN_EXCEEDS_FUNDS)
    assert failure.message.startswith(
        "margin ₹1,52,000.00 (our estimate; the broker's ₹95,000.00 nets premium received)"
    )


def test_a_broker_figure_above_our_estimate_is_the_one_used() -> None:
    ctx = context(margin_estimate=paise(90_000), broker_margin=paise(115_000))
    failure = only(pre_trade_checks(spread(), ctx), CheckCode.MARGIN_BUFFER)
    assert failure.message.startswith(
        "margin ₹1,15,000.00 (the broker's figure; our estimate is ₹90,000.00) + 10% buffer "
        "₹11,500.00 = ₹1,26,500.00"
    )


def test_the_buffer_is_configurable_and_rounds_up_to_the_paisa() -> None:
    limits = RiskLimits(margin_buffer_pct=Decimal("12.5"))
    ctx = context(margin_estimate=Paise(1_000_001), available_funds=Paise(1_125_001))
    failure = only(pre_trade_checks(spread(), ctx, limits), CheckCode.MARGIN_BUFFER)
    # 12.5% of ₹10,000.01 is 125,000.125 paise, rounded up to 125,001.
    assert "+ 12.5% buffer ₹1,250.01 = ₹11,250.02 exceeds available ₹11,250.01" in failure.message
    ok = context(margin_estimate=Paise(1_000_001), available_funds=Paise(1_125_002))
    assert pre_trade_checks(spread(), ok, limits) == []


def test_margin_with_its_buffer_within_the_funds_passes() -> None:
    ctx = context(margin_estimate=paise(109_090), available_funds=paise(120_000))
    assert pre_trade_checks(spread(), ctx) == []


# ---- losses --------------------------------------------------------------------------------------


def test_a_group_whose_max_loss_exceeds_the_per_group_limit_is_soft() -> None:
    limits = RiskLimits(max_loss_per_group=paise(25_000))
    failure = only(
        pre_trade_checks(spread(), context(group_max_loss=paise(32_500)), limits),
        CheckCode.GROUP_MAX_LOSS,
    )
    assert not failure.hard
    assert failure.message == (
        "this group's max loss ₹32,500.00 exceeds the per-group limit ₹25,000.00"
    )


def test_an_unbounded_max_loss_exceeds_any_per_group_limit() -> None:
    limits = RiskLimits(max_loss_per_group=paise(25_000))
    failure = only(
        pre_trade_checks(spread(), context(group_max_loss=None), limits), CheckCode.GROUP_MAX_LOSS
    )
    assert (
        failure.message == "this group's max loss unbounded exceeds the per-group limit ₹25,000.00"
    )


def test_a_max_loss_at_the_per_group_limit_passes() -> None:
    limits = RiskLimits(max_loss_per_group=paise(25_000))
    assert pre_trade_checks(spread(), context(group_max_loss=paise(25_000)), limits) == []


def test_the_days_loss_plus_this_groups_max_loss_beyond_the_day_limit_is_soft() -> None:
    limits = RiskLimits(max_loss_per_day=paise(50_000))
    ctx = context(
        day_realised_pnl=-paise(30_000),
        day_open_pnl=-paise(10_000),
        group_max_loss=paise(15_000),
    )
    failure = only(pre_trade_checks(spread(), ctx, limits), CheckCode.DAY_LOSS_LIMIT)
    assert not failure.hard
    assert failure.message == (
        "today's loss ₹40,000.00 (realised -₹30,000.00, open -₹10,000.00) + this group's max "
        "loss ₹15,000.00 = ₹55,000.00 exceeds the day's limit ₹50,000.00"
    )


def test_open_profit_offsets_realised_loss_for_the_day_limit() -> None:
    limits = RiskLimits(max_loss_per_day=paise(50_000))
    ctx = context(
        day_realised_pnl=-paise(45_000),
        day_open_pnl=paise(10_000),
        group_max_loss=paise(15_000),
    )
    assert pre_trade_checks(spread(), ctx, limits) == []


def test_loss_limits_and_the_expiry_rule_never_block_an_exit() -> None:
    limits = RiskLimits(
        max_loss_per_group=Paise(0),
        max_loss_per_day=Paise(0),
        expiry_day_rule=ExpiryDayRule.NO_ENTRY,
    )
    ctx = context(group_max_loss=None, day_realised_pnl=-paise(99_000))
    assert pre_trade_checks(spread(kind=GroupKind.EXIT), ctx, limits) == []
    entry = codes(pre_trade_checks(spread(), ctx, limits))
    assert entry == [CheckCode.GROUP_MAX_LOSS, CheckCode.DAY_LOSS_LIMIT]


# ---- rate budget ---------------------------------------------------------------------------------


def test_orders_beyond_the_days_budget_are_refused_hard() -> None:
    ctx = context(rate_budget=RateBudget(per_minute=400, per_day=11))
    failure = only(pre_trade_checks(spread(), ctx), CheckCode.RATE_BUDGET_DAY)
    assert failure.hard
    assert failure.message == (
        "2 orders + 10 kept for exits and hedges = 12 exceeds the 11 orders left today"
    )


def test_orders_beyond_the_minutes_budget_are_soft() -> None:
    ctx = context(rate_budget=RateBudget(per_minute=5, per_day=5_000))
    limits = RiskLimits(rate_reserve_orders=4)
    failure = only(pre_trade_checks(spread(), ctx, limits), CheckCode.RATE_BUDGET_MINUTE)
    assert not failure.hard
    assert failure.message == (
        "2 orders + 4 kept for exits and hedges = 6 exceeds the 5 orders left this minute; "
        "the rest would wait for the window and the legs would fill apart"
    )


def test_the_order_count_includes_freeze_slices() -> None:
    # 3,510 units = two orders of 1,755 per leg: four orders.
    ctx = context(rate_budget=RateBudget(per_day=13), margin_estimate=Paise(0))
    failure = only(pre_trade_checks(spread(3_510), ctx), CheckCode.RATE_BUDGET_DAY)
    assert failure.message.startswith("4 orders + 10 kept")


def test_orders_within_the_budget_with_the_reserve_pass() -> None:
    ctx = context(rate_budget=RateBudget(per_minute=12, per_day=12))
    assert pre_trade_checks(spread(), ctx) == []


# ---- expiry day ----------------------------------------------------------------------------------

W_LONG = option(25800, InstrumentType.PE, token=2001, expiry=WEEKLY)
W_SHORT = option(26000, InstrumentType.PE, token=2002, expiry=WEEKLY)
WEEKLY_INSTRUMENTS = {i.instrument_token: i for i in (W_LONG, W_SHORT)}


def expiry_day(hour: int, minute: int) -> CheckContext:
    return context(
        now=datetime(2026, 12, 8, hour, minute, tzinfo=IST),
        instruments=WEEKLY_INSTRUMENTS.__getitem__,
    )


def test_no_new_short_on_an_expiring_contract_from_the_cutoff() -> None:
    failure = only(
        pre_trade_checks(spread(long=W_LONG, short=W_SHORT), expiry_day(14, 30)),
        CheckCode.EXPIRY_DAY,
    )
    assert not failure.hard
    assert failure.message == (
        "NIFTY26D0826000PE: no new short on a contract expiring today after 14:30 IST (now 14:30)"
    )


def test_a_short_before_the_cutoff_and_a_long_after_it_pass() -> None:
    group = spread(long=W_LONG, short=W_SHORT)
    assert pre_trade_checks(group, expiry_day(14, 29)) == []
    only_long = OrderGroup(
        group_id="G2",
        kind=GroupKind.ENTRY,
        legs=[Leg(LegSpec.for_instrument(W_LONG, LegRole.PROTECTION, 65))],
        created_at=WEDNESDAY_10AM,
    )
    assert pre_trade_checks(only_long, expiry_day(15, 0)) == []


def test_the_cutoff_is_configurable() -> None:
    limits = RiskLimits(expiry_day_cutoff=time(13, 0))
    failures = pre_trade_checks(spread(long=W_LONG, short=W_SHORT), expiry_day(13, 5), limits)
    assert "after 13:00 IST (now 13:05)" in only(failures, CheckCode.EXPIRY_DAY).message


def test_entries_on_expiring_contracts_can_be_blocked_all_day() -> None:
    limits = RiskLimits(expiry_day_rule=ExpiryDayRule.NO_ENTRY)
    failure = only(
        pre_trade_checks(spread(long=W_LONG, short=W_SHORT), expiry_day(9, 20), limits),
        CheckCode.EXPIRY_DAY,
    )
    assert failure.message == (
        "NIFTY26D0825800PE, NIFTY26D0826000PE expire(s) today (2026-12-08); entries on "
        "expiring contracts are blocked on expiry day"
    )
    # The monthly contract does not expire today: it may be entered.
    monthly = context(now=datetime(2026, 12, 8, 9, 20, tzinfo=IST))
    assert pre_trade_checks(spread(), monthly, limits) == []


def test_the_expiry_rule_can_be_switched_off() -> None:
    limits = RiskLimits(expiry_day_rule=ExpiryDayRule.ALLOW)
    assert pre_trade_checks(spread(long=W_LONG, short=W_SHORT), expiry_day(15, 0), limits) == []


# ---- overrides and lifecycle ---------------------------------------------------------------------


def test_soft_failures_are_overridden_by_a_written_reason() -> None:
    limits = RiskLimits(max_loss_per_group=paise(5_000))
    failures = pre_trade_checks(spread(), context(), limits)
    assert codes(failures) == [CheckCode.GROUP_MAX_LOSS]
    assert overridable(failures)
    assert apply_override(failures, "adjusting a hedge; loss capped by the long") == []


def test_hard_failures_remain_after_an_override() -> None:
    limits = RiskLimits(max_loss_per_group=paise(5_000))
    saturday = datetime(2026, 12, 5, 10, 0, tzinfo=IST)
    failures = pre_trade_checks(spread(), context(now=saturday), limits)
    assert codes(failures) == [CheckCode.MARKET_CLOSED, CheckCode.GROUP_MAX_LOSS]
    assert not overridable(failures)
    remaining = apply_override(failures, "I know")
    assert codes(remaining) == [CheckCode.MARKET_CLOSED]


@pytest.mark.parametrize("reason", ["", "   ", "\n\t"])
def test_an_override_without_a_reason_is_refused(reason: str) -> None:
    failures = pre_trade_checks(spread(), context(), RiskLimits(max_loss_per_group=Paise(1)))
    with pytest.raises(ValueError, match="an override needs a reason"):
        apply_override(failures, reason)


def test_checks_refuse_a_group_that_has_already_left_validated() -> None:
    working = spread()
    working.transition(GroupState.VALIDATED, WEDNESDAY_10AM)
    assert pre_trade_checks(working, context()) == []  # still checkable in VALIDATED
    working.transition(GroupState.PROTECTION_WORKING, WEDNESDAY_10AM)
    with pytest.raises(ValueError, match="G1 is protection_working"):
        pre_trade_checks(working, context())
