"""The matching engine against a market whose depth the test controls."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

import pytest

from cockpit.clock import IST
from cockpit.domain.instruments import Exchange, Instrument, InstrumentType
from cockpit.domain.money import Paise
from cockpit.domain.orders import OrderType, Product, Side, Validity, Variety
from cockpit.exchange import errors
from cockpit.exchange.errors import ExchangeError
from cockpit.exchange.faults import Faults
from cockpit.exchange.matching import (
    MatchingEngine,
    ModifyParams,
    OrderParams,
    VenueOrder,
)
from tests.exchange.fakes import (
    MONTHLY,
    WEEKLY,
    FakeInstrument,
    FakeMarket,
    FakeUniverse,
    nifty_future,
    nifty_option,
    px,
    reliance_equity,
    stock_option,
)

TEN_LAKH = Paise(10_00_000_00)

CE = nifty_option(101, 24000, "CE")
PE = nifty_option(102, 23800, "PE")
CE_24100 = nifty_option(103, 24100, "CE")
FAR_CE = nifty_option(104, 26200, "CE")
FUT = nifty_future(900, expiry=WEEKLY)


@dataclass
class World:
    market: FakeMarket
    universe: FakeUniverse
    updates: list[VenueOrder] = field(default_factory=list)

    def engine(
        self, funds: Paise = TEN_LAKH, *, seed: int = 7, faults: Faults | None = None
    ) -> MatchingEngine:
        return MatchingEngine(
            self.market,
            self.universe,
            opening_funds=funds,
            seed=seed,
            listener=self.updates.append,
            faults=faults,
        )


@pytest.fixture
def world() -> World:
    market = FakeMarket()
    market.spots["NIFTY"] = 2_400_000
    market.spots["RELIANCE"] = 150_000
    universe = FakeUniverse(CE, PE, CE_24100, FAR_CE, FUT)
    market.book(CE, last=100.0, bids=[(99.95, 65)], asks=[(100.0, 65), (100.5, 65)])
    market.book(PE, last=35.0, bids=[(34.95, 650)], asks=[(35.05, 650)])
    market.book(CE_24100, last=60.0, bids=[(59.95, 650)], asks=[(60.05, 650)])
    market.book(FAR_CE, last=2.0, bids=[(1.95, 5000)], asks=[(2.05, 5000)])
    market.book(FUT, last=24000.0, bids=[(23999.0, 650)], asks=[(24000.0, 650)])
    return World(market, universe)


def order(
    instrument: FakeInstrument,
    side: str,
    quantity: int,
    price: float | str | None = None,
    *,
    order_type: str = "LIMIT",
    trigger: float | str | None = None,
    protection: float | None = None,
    validity: str = "DAY",
    variety: str = "regular",
    tag: str | None = None,
) -> OrderParams:
    return OrderParams(
        exchange=instrument.exchange,
        tradingsymbol=instrument.tradingsymbol,
        transaction_type=Side(side),
        order_type=OrderType(order_type),
        quantity=quantity,
        product=Product("NRML"),
        price=px(price) if price is not None else None,
        trigger_price=px(trigger) if trigger is not None else None,
        validity=Validity(validity),
        market_protection=protection,
        variety=Variety(variety),
        tag=tag,
    )


def statuses(engine: MatchingEngine, order_id: str) -> list[str]:
    return [str(row.status) for row in engine.order_history(order_id)]


def fills(engine: MatchingEngine, order_id: str) -> list[tuple[int, int]]:
    return [(int(t.average_price), t.quantity) for t in engine.order_trades(order_id)]


# ---- limit orders: take the depth, rest, fill later ----------------------------------------


def test_limit_buy_fills_short_depth_then_rests_and_fills_after_the_market_moves(
    world: World,
) -> None:
    engine = world.engine()
    oid = engine.place(order(CE, "BUY", 195, "100.50"))

    placed = engine.order(oid)
    assert fills(engine, oid) == [(10000, 65), (10050, 65)]  # each level at its own price
    assert str(placed.status) == "OPEN"
    assert (placed.filled_quantity, placed.pending_quantity) == (130, 65)
    assert placed.average_price == 10025

    world.market.advance(1)
    world.market.book(CE, last=100.5, asks=[(100.25, 130)])
    engine.on_market_step()

    done = engine.order(oid)
    assert str(done.status) == "COMPLETE"
    assert fills(engine, oid)[-1] == (10025, 65)
    assert done.average_price == 10025  # 19,54,875 paise over 195
    assert statuses(engine, oid) == [
        "PUT ORDER REQ RECEIVED",
        "VALIDATION PENDING",
        "OPEN PENDING",
        "OPEN",
        "OPEN",  # the partial fill
        "COMPLETE",
    ]


def test_sell_limit_takes_bids_at_or_above_its_price_only(world: World) -> None:
    world.market.book(CE, bids=[(101.0, 65), (100.0, 65), (99.0, 65)])
    engine = world.engine()
    oid = engine.place(order(CE, "SELL", 195, "100.00"))
    assert fills(engine, oid) == [(10100, 65), (10000, 65)]
    assert engine.order(oid).pending_quantity == 65


def test_liquidity_taken_is_gone_until_the_next_market_step(world: World) -> None:
    world.market.book(CE, asks=[(100.0, 65)])
    engine = world.engine()
    first = engine.place(order(CE, "BUY", 65, "100.00"))
    second = engine.place(order(CE, "BUY", 65, "100.00"))
    assert str(engine.order(first).status) == "COMPLETE"
    assert str(engine.order(second).status) == "OPEN"
    assert engine.order_trades(second) == []

    world.market.advance(1)
    world.market.book(CE, asks=[(100.0, 65)])  # the market refreshes the same quote
    engine.on_market_step()
    assert str(engine.order(second).status) == "COMPLETE"


def test_average_price_is_rounded_half_up_to_a_paisa(world: World) -> None:
    world.market.book(CE, asks=[(100.0, 130), (100.05, 65)])
    engine = world.engine()
    oid = engine.place(order(CE, "BUY", 195, "100.05"))
    assert engine.order(oid).average_price == 10002  # 19,50,325 / 195 = 10001.67


def test_fills_are_whole_lots_even_when_a_level_shows_odd_units(world: World) -> None:
    world.market.book(CE, asks=[(100.0, 100)])  # 1 lot and 35 spare units
    engine = world.engine()
    oid = engine.place(order(CE, "BUY", 130, "100.00"))
    assert fills(engine, oid) == [(10000, 65)]


# ---- market orders ------------------------------------------------------------------------


def test_market_buy_sweeps_within_protection_and_cancels_the_rest(world: World) -> None:
    world.market.book(CE, asks=[(100.0, 65), (102.0, 65), (106.0, 65)])
    engine = world.engine()
    oid = engine.place(order(CE, "BUY", 195, order_type="MARKET", protection=5))
    done = engine.order(oid)
    assert fills(engine, oid) == [(10000, 65), (10200, 65)]  # 106.00 is beyond 105.00
    assert str(done.status) == "CANCELLED"
    # Kite's order book leaves the last pending quantity on a cancelled order.
    assert (done.filled_quantity, done.cancelled_quantity, done.pending_quantity) == (130, 65, 65)
    assert done.average_price == 10100
    assert done.status_message is not None
    assert "Market protection" in done.status_message and "105.00" in done.status_message


def test_automatic_market_protection_is_five_percent_for_options(world: World) -> None:
    world.market.book(CE, asks=[(100.0, 65), (105.0, 65), (105.05, 65)])
    engine = world.engine()
    oid = engine.place(order(CE, "BUY", 195, order_type="MARKET", protection=-1))
    assert fills(engine, oid) == [(10000, 65), (10500, 65)]


def test_market_sell_with_an_empty_bid_side_is_cancelled(world: World) -> None:
    world.market.book(CE, bids=[])
    engine = world.engine()
    oid = engine.place(order(CE, "SELL", 65, order_type="MARKET", protection=2))
    assert str(engine.order(oid).status) == "CANCELLED"
    assert engine.order(oid).cancelled_quantity == 65


def test_market_order_without_market_protection_is_refused_with_kites_message(
    world: World,
) -> None:
    engine = world.engine()
    with pytest.raises(ExchangeError) as caught:
        engine.place(order(CE, "BUY", 65, order_type="MARKET"))
    assert caught.value.error_type == "InputException"
    assert caught.value.http_status == 400
    assert caught.value.message == (
        "Market orders without market protection are not allowed via API. "
        "Please set market protection or use a Limit order."
    )
    with pytest.raises(ExchangeError, match="market protection"):
        engine.place(order(CE, "SELL", 65, order_type="SL-M", trigger="95"))
    assert engine.orders() == []


# ---- stops --------------------------------------------------------------------------------


def test_sl_buy_waits_for_the_trigger_then_fills_as_a_limit(world: World) -> None:
    engine = world.engine()
    oid = engine.place(order(CE, "BUY", 65, "106.00", order_type="SL", trigger="105.00"))
    assert str(engine.order(oid).status) == "TRIGGER PENDING"

    world.market.advance(1)
    world.market.book(CE, last=104.0, asks=[(104.05, 65)])
    engine.on_market_step()
    assert str(engine.order(oid).status) == "TRIGGER PENDING"
    assert engine.order_trades(oid) == []

    world.market.advance(1)
    world.market.book(CE, last=105.0, asks=[(105.5, 65), (106.5, 65)])
    engine.on_market_step()
    assert str(engine.order(oid).status) == "COMPLETE"
    assert fills(engine, oid) == [(10550, 65)]
    assert statuses(engine, oid) == [
        "PUT ORDER REQ RECEIVED",
        "VALIDATION PENDING",
        "OPEN PENDING",
        "TRIGGER PENDING",
        "OPEN",
        "COMPLETE",
    ]


def test_sl_m_sell_triggers_on_a_fall_and_sweeps_like_a_market_order(world: World) -> None:
    engine = world.engine()
    oid = engine.place(order(CE, "SELL", 130, order_type="SL-M", trigger="95.00", protection=2))
    assert str(engine.order(oid).status) == "TRIGGER PENDING"
    world.market.advance(1)
    world.market.book(CE, last=95.05, bids=[(95.0, 65)])
    engine.on_market_step()
    assert str(engine.order(oid).status) == "TRIGGER PENDING"
    world.market.advance(1)
    world.market.book(CE, last=95.0, bids=[(94.5, 65), (93.0, 65), (90.0, 65)])  # at trigger
    engine.on_market_step()
    assert fills(engine, oid) == [(9450, 65), (9300, 65)]  # floor 92.65 = 94.50 less 2%
    assert str(engine.order(oid).status) == "COMPLETE"


def test_stop_already_crossed_is_refused(world: World) -> None:
    engine = world.engine()
    with pytest.raises(ExchangeError) as caught:
        engine.place(order(CE, "BUY", 65, "100.00", order_type="SL", trigger="99.00"))
    assert caught.value.message == (
        "Trigger price for stoploss buy orders should be higher than the last traded price."
    )


# ---- IOC, DAY, TTL, AMO -------------------------------------------------------------------


def test_ioc_fills_what_is_there_and_cancels_the_rest(world: World) -> None:
    world.market.book(CE, asks=[(100.0, 65)])
    engine = world.engine()
    oid = engine.place(order(CE, "BUY", 130, "100.00", validity="IOC"))
    done = engine.order(oid)
    assert str(done.status) == "CANCELLED"
    assert (done.filled_quantity, done.cancelled_quantity) == (65, 65)
    assert done.status_message is None


def test_day_orders_are_cancelled_at_the_close(world: World) -> None:
    engine = world.engine()
    oid = engine.place(order(CE, "BUY", 65, "90.00"))
    world.market.now = datetime(2026, 1, 12, 15, 30, tzinfo=IST)
    engine.on_market_step()
    done = engine.order(oid)
    assert str(done.status) == "CANCELLED"
    assert done.cancelled_quantity == 65


def test_orders_outside_market_hours_need_amo_and_amo_goes_to_the_venue_at_the_open(
    world: World,
) -> None:
    world.market.now = datetime(2026, 1, 12, 16, 0, tzinfo=IST)
    engine = world.engine()
    with pytest.raises(ExchangeError, match="Markets are closed"):
        engine.place(order(CE, "BUY", 65, "100.00"))
    oid = engine.place(order(CE, "BUY", 65, "100.00", variety="amo"))
    assert str(engine.order(oid).status) == "AMO REQ RECEIVED"
    world.market.now = datetime(2026, 1, 13, 9, 15, tzinfo=IST)
    world.market.book(CE, last=100.0, asks=[(99.5, 65)])
    engine.on_market_step()
    assert fills(engine, oid) == [(9950, 65)]
    assert statuses(engine, oid) == [
        "AMO REQ RECEIVED",
        "VALIDATION PENDING",
        "OPEN PENDING",
        "OPEN",
        "COMPLETE",
    ]


def test_a_released_amo_rests_through_its_session_and_expires_at_its_close(
    world: World,
) -> None:
    world.market.now = datetime(2026, 1, 12, 18, 0, tzinfo=IST)
    engine = world.engine()
    oid = engine.place(order(CE, "BUY", 65, "95.00", variety="amo"))
    world.market.now = datetime(2026, 1, 13, 9, 15, tzinfo=IST)
    engine.on_market_step()
    world.market.advance(60)
    engine.on_market_step()
    assert str(engine.order(oid).status) == "OPEN"
    world.market.now = datetime(2026, 1, 13, 15, 30, tzinfo=IST)
    engine.on_market_step()
    assert str(engine.order(oid).status) == "CANCELLED"


def test_ttl_orders_expire_after_their_minutes(world: World) -> None:
    engine = world.engine()
    oid = engine.place(replace(order(CE, "BUY", 65, "90.00", validity="TTL"), validity_ttl=2))
    world.market.advance(119)
    engine.on_market_step()
    assert str(engine.order(oid).status) == "OPEN"
    world.market.advance(1)
    engine.on_market_step()
    assert str(engine.order(oid).status) == "CANCELLED"


# ---- modify and cancel --------------------------------------------------------------------


def test_cancel_after_the_fill_fails_with_kites_message(world: World) -> None:
    engine = world.engine()
    oid = engine.place(order(CE, "BUY", 65, "99.00"))
    world.market.advance(1)
    world.market.book(CE, last=99.0, asks=[(98.95, 65)])
    engine.on_market_step()  # the fill wins the race
    assert str(engine.order(oid).status) == "COMPLETE"

    with pytest.raises(ExchangeError) as caught:
        engine.cancel(oid)
    assert caught.value.error_type == "InputException"
    assert caught.value.message == "Order cannot be cancelled as it is being processed. Try later."
    with pytest.raises(ExchangeError) as modify_error:
        engine.modify(oid, ModifyParams(price=px("98.00")))
    assert modify_error.value.message == (
        "Order cannot be modified as it is being processed. Try later."
    )
    assert str(engine.order(oid).status) == "COMPLETE"


def test_cancel_of_a_partly_filled_order_cancels_only_the_rest(world: World) -> None:
    world.market.book(CE, asks=[(100.0, 65)])
    engine = world.engine()
    oid = engine.place(order(CE, "BUY", 130, "100.00"))
    assert engine.cancel(oid) == oid
    done = engine.order(oid)
    assert str(done.status) == "CANCELLED"
    assert (done.filled_quantity, done.cancelled_quantity, done.pending_quantity) == (65, 65, 65)
    assert statuses(engine, oid)[-2:] == ["CANCEL PENDING", "CANCELLED"]
    assert engine.positions().net[0].quantity == 65


def test_modify_to_a_marketable_price_fills(world: World) -> None:
    engine = world.engine()
    oid = engine.place(order(CE, "BUY", 65, "99.00"))
    engine.modify(oid, ModifyParams(price=px("100.00")))
    done = engine.order(oid)
    assert str(done.status) == "COMPLETE"
    assert done.modified is True
    assert done.price == 10000
    assert statuses(engine, oid)[4:] == [
        "MODIFY VALIDATION PENDING",
        "MODIFY PENDING",
        "OPEN",
        "COMPLETE",
    ]


def test_modify_quantity_and_type_is_validated_like_a_new_order(world: World) -> None:
    engine = world.engine()
    oid = engine.place(order(CE, "BUY", 65, "99.00"))
    with pytest.raises(ExchangeError, match=r"multiple of lot size \(65\)"):
        engine.modify(oid, ModifyParams(quantity=100))
    with pytest.raises(ExchangeError, match="Tick size"):
        engine.modify(oid, ModifyParams(price=px("99.02")))
    with pytest.raises(ExchangeError, match="market protection"):
        engine.modify(oid, ModifyParams(order_type=OrderType("MARKET")))
    engine.modify(oid, ModifyParams(quantity=130))
    assert engine.order(oid).quantity == 130
    assert engine.order(oid).pending_quantity == 130
    assert engine.order(oid).modifications == 1  # failed attempts do not count


def test_the_twenty_sixth_modification_is_refused(world: World) -> None:
    engine = world.engine()
    oid = engine.place(order(CE, "BUY", 65, "90.00"))
    for step in range(1, 26):
        engine.modify(oid, ModifyParams(price=Paise(9000 + 5 * step)))
    with pytest.raises(ExchangeError) as caught:
        engine.modify(oid, ModifyParams(price=px("91.00")))
    assert caught.value.message == "Maximum allowed order modifications exceeded."
    assert caught.value.error_type == "NetworkException"
    assert engine.order(oid).price == 9125


def test_unknown_order_id(world: World) -> None:
    engine = world.engine()
    for call in (engine.cancel, engine.order_history, engine.order):
        with pytest.raises(ExchangeError) as caught:
            call("999")
        assert caught.value.message == "Couldn't find that `order_id`."


# ---- rejections ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "error_type", "message"),
    [
        (
            order(FAR_CE, "BUY", 1950, "2.00"),
            "InputException",
            "Quantity 1950 exceeds the freeze limit of 1800 for NIFTY2611326200CE.",
        ),
        (
            order(CE, "BUY", 100, "100.00"),
            "InputException",
            "Quantity should be a multiple of lot size (65).",
        ),
        (
            order(CE, "BUY", 65, "100.03"),
            "InputException",
            "Tick size for this script is 0.05. Kindly enter price in the multiple of tick size "
            "for this script",
        ),
        (
            OrderParams(
                exchange="NFO",
                tradingsymbol="NIFTY26113999CE",
                transaction_type=Side("BUY"),
                order_type=OrderType("LIMIT"),
                quantity=65,
                product=Product("NRML"),
                price=px(1),
            ),
            "InputException",
            "Invalid `tradingsymbol`.",
        ),
        (
            order(CE, "BUY", 65, "150.00"),
            "InputException",
            "Your order price is higher than the current upper circuit limit of 140.00. "
            "Place the order at a price within the circuit limits.",
        ),
        (
            order(CE, "BUY", 65, "100.00", tag="x" * 21),
            "InputException",
            "Invalid `tag`: 'xxxxxxxxxxxxxxxxxxxxx' is longer than 20 characters.",
        ),
    ],
    ids=["freeze", "lot", "tick", "symbol", "band", "tag"],
)
def test_input_errors_leave_no_order(
    world: World, params: OrderParams, error_type: str, message: str
) -> None:
    engine = world.engine()
    with pytest.raises(ExchangeError) as caught:
        engine.place(params)
    assert caught.value.error_type == error_type
    assert caught.value.http_status == 400
    assert caught.value.message == message
    assert engine.orders() == []
    assert world.updates == []


def test_insufficient_funds_is_a_rejected_order_with_kites_message(world: World) -> None:
    engine = world.engine(funds=Paise(50_000_00))
    params = order(PE, "SELL", 65, "35.00")
    required = engine.order_margins([params])[0].total
    oid = engine.place(params)
    rejected = engine.order(oid)
    assert str(rejected.status) == "REJECTED"
    assert rejected.status_message == (
        f"Insufficient funds. Required margin is {errors.format_rupees(required)} but "
        "available margin is 50000.00. Check the orderbook for open orders."
    )
    assert statuses(engine, oid) == ["PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "REJECTED"]
    assert (rejected.pending_quantity, rejected.cancelled_quantity) == (0, 0)  # as Kite shows
    assert rejected.status_message_raw is not None
    assert rejected.status_message_raw.startswith(
        f"RMS:Margin Exceeds,Required:{errors.format_rupees(required)}, Available:50000.00"
    )
    assert rejected.exchange_order_id is None
    assert engine.funds().available == 50_000_00


def test_open_orders_block_margin_for_the_next_order(world: World) -> None:
    engine = world.engine(funds=Paise(10_000_00))
    first = engine.place(order(CE, "BUY", 65, "95.00"))  # rests, blocks 6,175.00
    assert engine.funds().option_premium == 65 * 9500
    second = engine.place(order(CE, "BUY", 65, "95.00"))
    assert str(engine.order(first).status) == "OPEN"
    assert str(engine.order(second).status) == "REJECTED"
    assert engine.order(second).status_message == (
        "Insufficient funds. Required margin is 6175.00 but available margin is 3825.00. "
        "Check the orderbook for open orders."
    )
    engine.cancel(first)
    assert engine.funds().available == 10_000_00


# ---- autoslice ----------------------------------------------------------------------------


def test_autoslice_splits_above_the_freeze_limit_into_tagged_children(world: World) -> None:
    engine = world.engine()
    result = engine.place_autoslice(order(FAR_CE, "BUY", 3900, "1.50"))
    assert all(isinstance(child, str) for child in result.children)
    children = [engine.order(str(child)) for child in result.children]
    assert [c.quantity for c in children] == [1755, 1755, 390]
    assert all(f"autoslice:{result.order_id}" in c.tags for c in children)
    assert result.order_id not in {o.order_id for o in engine.orders()}


def test_autoslice_refuses_a_quantity_within_the_freeze_limit(world: World) -> None:
    engine = world.engine()
    with pytest.raises(ExchangeError) as caught:
        engine.place_autoslice(order(FAR_CE, "BUY", 1755, "1.50"))
    assert caught.value.error_type == "InputException"
    assert engine.orders() == []


def test_autoslice_children_short_of_margin_come_back_as_errors(world: World) -> None:
    engine = world.engine(funds=Paise(2_00_000_00))
    world.market.book(CE, asks=[(100.0, 65)])
    result = engine.place_autoslice(order(CE, "BUY", 3900, "99.00"))
    first, second, third = result.children
    assert isinstance(first, str)
    assert isinstance(second, ExchangeError) and isinstance(third, ExchangeError)
    assert second.error_type == "MarginException"
    assert second.message == (
        "Insufficient funds. Required margin is 173745.00 but available margin is 26255.00."
    )
    assert second.as_dict()["code"] == 400
    assert [o.order_id for o in engine.orders()] == [first]


# ---- faults -------------------------------------------------------------------------------


def _faulty_run(world: World, seed: int) -> list[tuple[str, int]]:
    engine = world.engine(seed=seed, faults=Faults(reject_rate=0.3, partial_fill_rate=0.5))
    world.market.book(PE, last=35.0, asks=[(35.0, 6500)], bids=[(34.95, 6500)])
    ids = [engine.place(order(PE, "BUY", 650, "35.00")) for _ in range(12)]
    world.market.advance(1)
    world.market.book(PE, last=35.0, asks=[(35.0, 6500)], bids=[(34.95, 6500)])
    engine.on_market_step()
    return [(str(engine.order(i).status), engine.order(i).filled_quantity) for i in ids]


def test_fault_draws_are_deterministic_for_a_seed(world: World) -> None:
    first = _faulty_run(world, seed=42)
    again = _faulty_run(world, seed=42)
    other = _faulty_run(world, seed=43)
    assert first == again
    assert first != other
    assert any(status == "REJECTED" for status, _ in first)
    assert any(status == "COMPLETE" for status, _ in first)


def test_reject_rate_one_rejects_every_order_with_a_message(world: World) -> None:
    engine = world.engine(faults=Faults(reject_rate=1.0))
    oid = engine.place(order(CE, "BUY", 65, "100.00"))
    rejected = engine.order(oid)
    assert str(rejected.status) == "REJECTED"
    assert rejected.status_message is not None and "RMS" in rejected.status_message


def test_partial_fill_rate_cuts_a_fill_short_and_the_rest_fills_later(world: World) -> None:
    engine = world.engine(faults=Faults(partial_fill_rate=1.0))
    world.market.book(PE, asks=[(35.0, 650)])
    oid = engine.place(order(PE, "BUY", 650, "35.00"))
    first = engine.order(oid).filled_quantity
    assert 65 <= first < 650 and first % 65 == 0
    for _ in range(20):
        world.market.advance(1)
        world.market.book(PE, asks=[(35.0, 650)])
        engine.on_market_step()
    assert str(engine.order(oid).status) == "COMPLETE"


def test_freeze_seconds_holds_fills_back(world: World) -> None:
    engine = world.engine(faults=Faults(freeze_seconds=30))
    oid = engine.place(order(CE, "BUY", 65, "100.00"))
    assert str(engine.order(oid).status) == "OPEN"
    world.market.advance(10)
    engine.on_market_step()
    assert engine.order_trades(oid) == []
    world.market.advance(21)
    engine.on_market_step()
    assert str(engine.order(oid).status) == "COMPLETE"


# ---- positions and funds ------------------------------------------------------------------


def test_positions_and_funds_in_exact_paise(world: World) -> None:
    engine = world.engine()
    world.market.book(CE, asks=[(100.0, 130)])
    engine.place(order(CE, "BUY", 130, "100.00"))
    world.market.advance(1)
    world.market.book(CE, last=110.0, bids=[(110.0, 65)], asks=[(111.0, 65)])
    engine.on_market_step()
    sell = engine.place(order(CE, "SELL", 65, "110.00"))
    assert str(engine.order(sell).status) == "COMPLETE"

    (net,) = engine.positions().net
    assert (net.quantity, net.buy_quantity, net.sell_quantity) == (65, 130, 65)
    assert (net.buy_value, net.sell_value) == (13_00_000, 7_15_000)
    assert net.average_price == 10000
    assert net.last_price == 11000
    assert net.pnl == 1_30_000  # 650 realised + 650 unrealised, in rupees
    assert (net.realised, net.unrealised) == (65_000, 65_000)
    assert engine.positions().day == engine.positions().net

    funds = engine.funds()
    assert funds.cash == 10_00_000_00 - 13_00_000 + 7_15_000
    assert (funds.span, funds.exposure, funds.option_premium) == (0, 0, 0)
    assert funds.available == funds.cash

    engine.place(order(CE, "BUY", 65, "105.00"))  # rests below the 111.00 ask
    assert engine.funds().option_premium == 65 * 10500
    assert engine.funds().available == funds.cash - 65 * 10500


def test_overnight_positions_carry_at_the_close_and_m2m_counts_from_it(world: World) -> None:
    engine = world.engine()
    engine.place(order(CE, "BUY", 65, "100.00"))
    world.market.now = datetime(2026, 1, 12, 15, 29, tzinfo=IST)
    world.market.book(CE, last=104.0)
    engine.on_market_step()  # the last in-session price: 104.00
    world.market.now = datetime(2026, 1, 13, 9, 15, tzinfo=IST)
    world.market.book(CE, last=110.0, asks=[(110.0, 65)])
    engine.on_market_step()
    (net,) = engine.positions().net
    assert (net.overnight_quantity, net.close_price) == (65, 10400)
    assert net.m2m == 65 * (11000 - 10400)
    assert net.pnl == 65 * (11000 - 10000)
    assert engine.positions().day == ()
    engine.place(order(CE, "BUY", 65, "110.00"))
    (day,) = engine.positions().day
    assert (day.quantity, day.buy_value) == (65, 65 * 11000)


def test_futures_pnl_counts_toward_funds_without_moving_cash(world: World) -> None:
    engine = world.engine()
    engine.place(order(FUT, "BUY", 65, "24000.00"))
    world.market.book(FUT, last=24100.0)
    funds = engine.funds()
    assert funds.cash == TEN_LAKH
    assert funds.futures_pnl == 65 * 10_000
    assert funds.exposure == 2_400_000 * 65 * 2 // 100
    assert funds.available == funds.cash + funds.futures_pnl - funds.used


def test_every_state_change_reaches_the_listener(world: World) -> None:
    engine = world.engine()
    oid = engine.place(order(CE, "BUY", 195, "100.50"))
    assert world.updates == engine.order_history(oid)


# ---- expiry settlement --------------------------------------------------------------------


def test_index_options_and_futures_settle_in_cash(world: World) -> None:
    engine = world.engine()
    engine.place(order(CE, "BUY", 65, "100.00"))  # ITM at 24,150: +150.00 a unit
    engine.place(order(PE, "SELL", 65, "34.95"))  # OTM: expires worthless
    engine.place(order(CE_24100, "SELL", 65, "59.95"))  # ITM short: pays 50.00 a unit
    engine.place(order(FUT, "BUY", 65, "24000.00"))
    assert {str(o.status) for o in engine.orders()} == {"COMPLETE"}
    cash_before = engine.funds().cash
    assert cash_before == TEN_LAKH - 6_50_000 + 65 * 3495 + 65 * 5995

    world.market.now = datetime(2026, 1, 13, 15, 31, tzinfo=IST)
    world.market.settlements[("NIFTY", WEEKLY)] = 2_415_000
    settled = {s.tradingsymbol: s for s in engine.settle_expired(WEEKLY)}

    assert settled[CE.tradingsymbol].cash == 65 * 15_000
    assert settled[PE.tradingsymbol].cash == 0
    assert settled[CE_24100.tradingsymbol].cash == -65 * 5_000
    assert settled[FUT.tradingsymbol].futures_pnl == 65 * 15_000
    assert all(p.quantity == 0 for p in engine.positions().net)
    funds = engine.funds()
    assert funds.cash == cash_before + 65 * 15_000 - 65 * 5_000
    assert funds.futures_pnl == 65 * 15_000
    assert funds.used == 0

    # Next morning flat positions are dropped and the future's P&L is swept into cash.
    world.market.now = datetime(2026, 1, 14, 9, 15, tzinfo=IST)
    engine.on_market_step()
    assert engine.positions().net == ()
    assert engine.funds().cash == funds.cash + 65 * 15_000


def test_stock_options_settle_by_delivery_at_the_strike(world: World) -> None:
    equity = world.universe.add(reliance_equity())
    long_call = world.universe.add(stock_option(201, 1500, "CE"))
    short_put = world.universe.add(stock_option(202, 1600, "PE"))
    short_call = world.universe.add(stock_option(203, 1520, "CE"))
    otm_put = world.universe.add(stock_option(204, 1400, "PE"))
    for instrument, price in ((long_call, 20.0), (short_put, 60.0), (short_call, 10.0)):
        world.market.book(instrument, last=price, bids=[(price, 500)], asks=[(price, 500)])
    world.market.book(otm_put, last=5.0, asks=[(5.0, 500)])
    world.market.book(equity, last=1550.0)
    engine = world.engine(funds=Paise(20_00_000_00))
    engine.place(order(long_call, "BUY", 500, "20.00"))
    engine.place(order(short_put, "SELL", 500, "60.00"))
    engine.place(order(short_call, "SELL", 500, "10.00"))
    engine.place(order(otm_put, "BUY", 500, "5.00"))
    assert {str(o.status) for o in engine.orders()} == {"COMPLETE"}
    cash_before = engine.funds().cash

    world.market.now = datetime(2026, 1, 27, 15, 31, tzinfo=IST)
    world.market.settlements[("RELIANCE", MONTHLY)] = 155_000
    settled = {s.tradingsymbol: s for s in engine.settle_expired(MONTHLY)}

    assert settled[long_call.tradingsymbol].delivered_quantity == 500  # buys at 1,500
    assert settled[short_put.tradingsymbol].delivered_quantity == 500  # takes delivery at 1,600
    assert settled[short_call.tradingsymbol].delivered_quantity == -500  # delivers at 1,520
    assert settled[otm_put.tradingsymbol].delivered_quantity == 0
    assert settled[otm_put.tradingsymbol].cash == 0
    shares = next(p for p in engine.positions().net if p.tradingsymbol == "RELIANCE")
    assert shares.quantity == 500
    assert shares.exchange == "NSE"
    assert shares.buy_value == 500 * 150_000 + 500 * 160_000
    assert shares.sell_value == 500 * 152_000
    assert engine.funds().cash == cash_before - 500 * (150_000 + 160_000 - 152_000)
    options = [p for p in engine.positions().net if p.tradingsymbol != "RELIANCE"]
    assert all(p.quantity == 0 for p in options)


def test_expired_contracts_cannot_be_traded(world: World) -> None:
    world.market.now = datetime(2026, 1, 14, 10, 0, tzinfo=IST)
    engine = world.engine()
    with pytest.raises(ExchangeError, match="expired"):
        engine.place(order(CE, "BUY", 65, "100.00"))


def test_works_with_the_domain_instrument(world: World) -> None:
    real = Instrument(
        instrument_token=12345,
        exchange_token=48,
        exchange=Exchange.NFO,
        segment="NFO-OPT",
        tradingsymbol="NIFTY2611324200PE",
        name="NIFTY",
        expiry=WEEKLY,
        strike=Decimal("24200"),
        instrument_type=InstrumentType.PE,
        lot_size=65,
        tick_size_paise=5,
        freeze_quantity=1800,
    )
    world.universe.add(real)
    world.market.book(real, last=250.0, asks=[(250.0, 130)], bids=[(249.0, 130)])
    engine = world.engine()
    params = replace(order(CE, "BUY", 130, "250.00"), tradingsymbol=real.tradingsymbol)
    oid = engine.place(params)
    assert str(engine.order(oid).status) == "COMPLETE"
    assert engine.order(oid).exchange == "NFO"
    assert engine.funds().cash == TEN_LAKH - 130 * 25_000
    assert engine.order_margins([replace(params, transaction_type=Side("SELL"))])[0].span == 0
