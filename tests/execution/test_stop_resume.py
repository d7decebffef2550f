"""A stop-loss after a restart: taken over from the broker's orders by tag, never doubled — and
the market fallback goes only when the broker shows the SL triggered and ended with quantity
left."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from decimal import Decimal
from pathlib import Path

from cockpit.broker.base import Priority
from cockpit.clock import SystemClock
from cockpit.domain.money import Paise
from cockpit.domain.orders import OrderStatus, Side
from cockpit.execution.startup import recover
from cockpit.execution.stoploss import HybridStopLoss, StopLossConfig, StopSpec, StopState
from tests.execution.test_resume import crash, venue
from tests.execution.test_stoploss import rig


def run(coro):
    return asyncio.run(coro)


async def armed_elsewhere():
    """A stop armed by an earlier run (its venue), and a fresh one over the same venue."""
    _, venue_, first, _ = rig()
    sl_id = await first.arm()
    clock, _, _, events = rig()
    second = HybridStopLoss(first.spec, venue_, clock, on_event=events.append)
    return clock, venue_, second, events, sl_id


def test_a_waiting_sl_is_taken_over_and_not_placed_again() -> None:
    async def scenario() -> None:
        _, venue_, stop, events, sl_id = await armed_elsewhere()
        assert await stop.resume(list(venue_.truth.values()), StopState.ARMED) is True
        assert stop.state is StopState.ARMED and stop.stop_order_id == sl_id
        assert venue_.placed_quantities() == [130]
        assert "taken over after a restart" in events[-1].detail
        # It still works: a trigger, then the fallback timer.
        stop.on_order_update(venue_.trigger(sl_id))
        assert stop.state is StopState.TRIGGERED

    run(scenario())


def test_a_triggered_sl_restarts_its_fallback_timer_and_cancels_after_it() -> None:
    async def scenario() -> None:
        clock, venue_, stop, _, sl_id = await armed_elsewhere()
        venue_.trigger(sl_id)
        await stop.resume(list(venue_.truth.values()), StopState.ARMED)
        assert stop.state is StopState.TRIGGERED
        clock.advance(1.9)
        await stop.poll()
        assert venue_.calls_named("cancel") == []
        clock.advance(0.2)
        await stop.poll()
        assert venue_.calls_named("cancel") == [("cancel", sl_id, Priority.EXIT)]

    run(scenario())


def test_an_sl_the_journal_never_saw_trigger_is_read_back_and_the_rest_goes_to_market() -> None:
    async def scenario() -> None:
        _, venue_, stop, _, sl_id = await armed_elsewhere()
        venue_.trigger(sl_id)
        venue_.fill(sl_id, 65)
        venue_.cancel_now(sl_id)
        # The last journalled state is ARMED: the trigger's entry was lost with the process.
        await stop.resume(list(venue_.truth.values()), StopState.ARMED)
        assert stop.state is StopState.FALLBACK
        await stop.poll()
        [market] = venue_.market_ids()
        assert venue_.requests[market].quantity == 65
        assert venue_.requests[market].tag == stop.spec.fallback_tag

    run(scenario())


def test_an_sl_cancelled_before_its_trigger_fails_and_sends_nothing() -> None:
    async def scenario() -> None:
        _, venue_, stop, events, sl_id = await armed_elsewhere()
        venue_.cancel_now(sl_id, "Cancelled by the trader at the broker.")
        await stop.resume(list(venue_.truth.values()), StopState.ARMED)
        assert stop.state is StopState.FAILED
        assert "ended before it triggered" in events[-1].detail
        await stop.poll()
        assert venue_.market_ids() == []

    run(scenario())


def test_a_stop_whose_fallback_had_filled_is_done() -> None:
    async def scenario() -> None:
        _, venue_, first, _ = rig()
        sl_id = await first.arm()
        first.on_order_update(venue_.trigger(sl_id))
        first.on_order_update(venue_.cancel_now(sl_id))
        await first.poll()
        [market] = venue_.market_ids()
        if venue_.truth[market].status is OrderStatus.OPEN:
            venue_.fill(market, 130)
        clock, _, _, _ = rig()
        again = HybridStopLoss(first.spec, venue_, clock)
        await again.resume(list(venue_.truth.values()), StopState.FALLBACK)
        assert again.state is StopState.DONE and again.filled_quantity == 130

    run(scenario())


def test_an_sl_that_never_reached_the_broker_is_armed_with_its_tag() -> None:
    async def scenario() -> None:
        _, venue_, stop, _ = rig()
        assert await stop.resume([], StopState.ARMING) is False
        sl_id = await stop.arm()
        assert venue_.requests[sl_id].tag == stop.spec.stop_tag

    run(scenario())


def test_the_coordinator_journals_a_stop_and_a_restart_takes_it_over(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with venue(tmp_path) as place:
            first, journal = await place.coordinator()
            first.start()
            store = place.broker.store
            instrument = store.chain("NIFTY", store.expiries("NIFTY")[0]).row(Decimal(25600)).put
            key = f"NFO:{instrument.tradingsymbol}"
            quote = (await place.broker.quotes([key]))[key]
            tick = instrument.tick_size_paise
            trigger = Paise(quote.last_price // tick * tick + 10 * tick)
            spec = StopSpec(
                tradingsymbol=instrument.tradingsymbol,
                exchange=instrument.exchange,
                side=Side.BUY,
                quantity=instrument.lot_size,
                trigger=trigger,
                tick_size_paise=tick,
                tag=f"s{secrets.token_hex(4)}",
            )
            await first.arm_stop(spec, StopLossConfig(fallback_after_s=3.0))
            await crash(first, journal)

            second, journal = await place.coordinator()
            report = await recover(journal, place.broker, store, second, SystemClock())
            assert report.stops == {spec.tag: "ARMED"}
            assert second.stops[spec.tag].config.fallback_after_s == 3.0
            assert Counter(place.broker.placed_tags) == {spec.stop_tag: 1}
            rows = await journal.state("stops")
            assert rows[spec.tag]["state"] == "ARMED" and rows[spec.tag]["trigger_paise"] == trigger
            await second.aclose()
            await journal.aclose()
            # A third start after a clean one: still one SL, still armed.
            third, journal = await place.coordinator()
            report = await recover(journal, place.broker, store, third, SystemClock())
            assert report.stops == {spec.tag: "ARMED"}
            assert Counter(place.broker.placed_tags) == {spec.stop_tag: 1}
            await third.aclose()
            await journal.aclose()

    run(scenario())
