"""The risk monitor against the in-process paper venue: quiet while the groups explain the
broker's positions, a CRITICAL position-validator alert (once confirmed) for a naked short no
group explains, and an assignment alert for an ITM short stock put before its expiry."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from cockpit.domain.events import AlertRaised, AlertSeverity
from cockpit.domain.groups import GroupState
from cockpit.domain.instruments import Exchange
from cockpit.domain.money import Paise
from cockpit.domain.orders import OrderRequest, OrderType, Product, Side
from cockpit.reference_data import load_calendar
from cockpit.risk.exercise import ExerciseRules
from cockpit.risk_monitor import RiskMonitor
from tests.execution.helpers import group, vertical, world
from tests.execution.test_hedging import naked_short


def run(coro):
    return asyncio.run(coro)


def monitor_for(coordinator, venue, bus, **kwargs) -> RiskMonitor:
    return RiskMonitor(
        venue,
        venue.store,
        coordinator,
        bus,
        load_calendar(),
        lambda: venue.market.now,
        debounce_s=0.05,
        confirm_after_s=0.1,
        **kwargs,
    )


def test_quiet_when_groups_explain_positions_then_critical_for_an_unexplained_naked_short(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with world(tmp_path) as (coordinator, venue, _, bus):
            alerts: list[AlertRaised] = []
            bus.subscribe(
                AlertRaised, lambda e: alerts.append(e) if e.source != "coordinator" else None
            )
            monitor = monitor_for(coordinator, venue, bus)
            spread = group(vertical(venue.store, "PE", 25800, 25600, lots=2))
            await coordinator.submit(spread)
            assert (await coordinator.wait(spread.group_id, 30)).state is GroupState.COMPLETE
            assert await monitor.run_once() == []
            await asyncio.sleep(0.15)
            assert await monitor.run_once() == []
            assert alerts == []
            # An order placed outside the cockpit: a naked short no group explains.
            request = naked_short(venue, 26200)
            await venue.place(request)
            assert await monitor.run_once() == []  # a suspect: not yet confirmed
            await asyncio.sleep(0.15)
            [mismatch] = await monitor.run_once()
            assert (mismatch.expected, mismatch.broker) == (0, -65)
            assert mismatch.severity is AlertSeverity.CRITICAL
            [alert] = alerts
            assert alert.source == "position-validator" and alert.key
            assert request.tradingsymbol in alert.message
            await monitor.aclose()

    run(scenario())


def test_an_itm_short_stock_put_raises_its_assignment_alert_before_expiry(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with world(tmp_path) as (coordinator, venue, _, bus):
            alerts: list[AlertRaised] = []
            bus.subscribe(AlertRaised, alerts.append)
            rules = ExerciseRules(alert_trading_days=30)
            monitor = monitor_for(coordinator, venue, bus, exercise_rules=rules)
            store = venue.store
            expiry = store.expiries("HDFCBANK")[0]
            spot = venue.market.spot("HDFCBANK")
            chain = store.chain("HDFCBANK", expiry)
            # The lowest put strike a good way above the spot: in the money.
            strike = min(s for s in chain.strikes if s * 100 > spot * Decimal("1.05"))
            put = chain.row(strike).put
            bid = venue.market.quote(put.instrument_token).bids[0].price
            await venue.place(
                OrderRequest(
                    tradingsymbol=put.tradingsymbol,
                    exchange=Exchange.NFO,
                    side=Side.SELL,
                    quantity=put.lot_size,
                    order_type=OrderType.LIMIT,
                    product=Product.NRML,
                    price=Paise(bid - 5 * put.tick_size_paise),
                )
            )
            await monitor.run_once()
            exercise = [a for a in alerts if a.source == "exercise-monitor"]
            assert exercise, [a.message for a in alerts]
            assert exercise[0].severity is AlertSeverity.CRITICAL
            assert put.tradingsymbol in exercise[0].message
            await monitor.aclose()

    run(scenario())
