"""The composition root: builds the services the window and the CLI share, and shuts them down.

``Services`` owns every long-lived object (settings, clock, event bus, trading calendar, the
embedded paper exchange — and, as later parts land, the journal, the broker adapter, the
coordinator and risk) and every background task. Tasks are created only through
:meth:`Services.spawn`, which names them, keeps a strong reference, logs a task that dies, and
cancels them all in :meth:`aclose`. It knows nothing of Qt: the window and the headless
commands drive the same object.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cockpit.broker.connect import PAPER_STATE_FILE, PAPER_URL_FILE, write_paper_url
from cockpit.bus import EventBus
from cockpit.clock import Clock, SystemClock
from cockpit.config import BrokerKind, Settings
from cockpit.domain.calendar import TradingCalendar
from cockpit.domain.events import (
    ConnectionChanged,
    ConnectionState,
    FundsChanged,
    MarketClockChanged,
)
from cockpit.reference_data import load_calendar

if TYPE_CHECKING:
    from cockpit.alert_service import AlertService
    from cockpit.broker.kite import KiteBroker
    from cockpit.credentials import CredentialStore
    from cockpit.domain.instruments import InstrumentStore
    from cockpit.exchange.embedded import ExchangeThread
    from cockpit.execution.coordinator import Coordinator, ExecutionSettings
    from cockpit.execution.startup import StartupReport
    from cockpit.marketdata.feed import ChainFeed
    from cockpit.risk_monitor import RiskMonitor
    from cockpit.store.journal import Journal

log = logging.getLogger(__name__)


class Services:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        calendar: TradingCalendar | None = None,
        bus: EventBus | None = None,
        embed_exchange: bool = True,
        connect_broker: bool = True,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.bus = bus or EventBus()
        self.calendar = calendar if calendar is not None else load_calendar()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self._embed_exchange = embed_exchange and settings.broker.kind is BrokerKind.PAPER
        self.exchange: ExchangeThread | None = None
        self._connect_broker = connect_broker
        self.broker: KiteBroker | None = None
        self.chain: ChainFeed | None = None
        self.journal: Journal | None = None
        self.coordinator: Coordinator | None = None
        self.connected = asyncio.Event()  # set once the broker answered and recovery ran
        self.recovery: StartupReport | None = None
        self.reconciliations = 0
        self.risk: RiskMonitor | None = None
        self.alerts: AlertService | None = None
        self.credentials: CredentialStore | None = None  # made when first needed
        self._link: ConnectionState | None = None

    @property
    def broker_url(self) -> str:
        """Where the broker's REST API is: the embedded exchange's loopback URL in paper mode."""
        if self.exchange is not None:
            return self.exchange.url
        return self.settings.broker.base_url

    def market_now(self) -> datetime:
        """The market's time: the paper exchange's own clock (which skips closed hours) when
        it is the broker, else the wall clock in IST."""
        exchange = self.exchange.exchange if self.exchange is not None else None
        if exchange is not None:
            return exchange.market.now
        return self.clock.now()

    @property
    def tasks(self) -> frozenset[asyncio.Task[Any]]:
        return frozenset(self._tasks)

    async def start(self) -> None:
        """Start the background work. Later parts add recovery, broker and reconciliation."""
        if self._embed_exchange:
            await self._start_exchange()
        self.publish_market_clock()
        self.spawn("market-clock", self._run_market_clock())
        if self._connect_broker:
            self.spawn("broker-connect", self._run_broker())

    def spawn(self, name: str, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        if self._closed:
            coro.close()
            raise RuntimeError(f"cannot start task {name!r}: services are shut down")
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error(
                "background task %s stopped: %s",
                task.get_name(),
                error,
                exc_info=(type(error), error, error.__traceback__),
            )

    async def _start_exchange(self) -> None:
        from cockpit.exchange.embedded import ExchangeThread
        from cockpit.exchange.server import ExchangeConfig

        paper = self.settings.paper
        config = ExchangeConfig(
            host=paper.host,
            port=paper.port,
            seed=paper.seed,
            speed=paper.speed,
            state_path=self.settings.home / PAPER_STATE_FILE,
        )
        thread = ExchangeThread(config)
        # Building the market and binding take a moment: off the UI loop.
        url = await asyncio.to_thread(thread.start)
        self.exchange = thread
        write_paper_url(self.settings.home, url)
        log.info("paper exchange started at %s (state in %s)", url, config.state_path)

    async def _run_broker(self) -> None:
        """Log in, attach the ticker, load instruments, then pump broker events onto the bus
        and refresh funds every reconciliation interval. A failure to connect is reported in
        the status bar and the log; the window stays usable."""
        from cockpit.broker.base import BrokerError
        from cockpit.broker.connect import kite_session_from_env, open_broker, ws_url_for
        from cockpit.broker.login import paper_login
        from cockpit.marketdata.feed import ChainFeed

        self.bus.publish(ConnectionChanged(at=self.clock.now(), state=ConnectionState.CONNECTING))
        url = self.broker_url
        try:
            if self.exchange is not None:
                session = await paper_login(url)
                ws_url = ws_url_for(url)
            else:
                from cockpit.credentials import CredentialStore

                self.credentials = self.credentials or CredentialStore()
                session = kite_session_from_env(self.settings, self.credentials)
                ws_url = self.settings.broker.ws_url
            self.broker = await open_broker(
                url,
                session,
                ws_url=ws_url,
                poll_interval_s=self.settings.reconcile.interval_s,
                clock=self.clock,
            )
            self.bus.publish(
                ConnectionChanged(
                    at=self.clock.now(),
                    state=ConnectionState.CONNECTING,
                    detail="downloading the instrument list…",
                )
            )
            store = await self.broker.instruments()
        except BrokerError as error:
            log.error("could not connect to the broker at %s: %s", url, error)
            self.bus.publish(
                ConnectionChanged(
                    at=self.clock.now(), state=ConnectionState.DISCONNECTED, detail=str(error)
                )
            )
            return
        self.chain = ChainFeed(self.broker, store, self.bus, now=self.market_now)
        log.info("broker ready: %d instruments", len(store))
        await self._start_execution(store)
        self.connected.set()
        self.spawn("funds", self._run_funds())
        self.spawn("reconcile-positions", self._run_reconcile())
        async for event in self.broker.events():
            self.bus.publish(event)

    async def _start_execution(self, store: InstrumentStore) -> None:
        """The journal, the coordinator — and start-up recovery before anything else: the
        window offers trading (``connected``) only once the journal and the broker agree and
        the groups a crash interrupted are back in hand. Progress goes out on the bus."""
        from cockpit.alert_service import AlertService
        from cockpit.execution.coordinator import Coordinator
        from cockpit.execution.pretrade import PreTradeGate
        from cockpit.execution.startup import recover
        from cockpit.risk_monitor import RiskMonitor
        from cockpit.store.journal import Journal

        assert self.broker is not None
        self.journal = await Journal.open(self.settings.journal_path, clock=self.clock)
        # Before recovery: the alerts recovery raises are the first the trader must see.
        self.alerts = await AlertService.open(self.journal, self.bus, self.clock)
        gate = PreTradeGate(
            self.broker,
            store,
            self.calendar,
            self.market_now,
            limits=self.settings.risk.risk_limits(),
        )
        self.coordinator = Coordinator(
            self.broker,
            self.journal,
            self.bus,
            self.clock,
            store,
            settings=execution_settings(self.settings),
            gate=gate,
        )
        self.recovery = await recover(
            self.journal, self.broker, store, self.coordinator, self.clock, self.bus
        )
        self.coordinator.start()
        self.risk = RiskMonitor(
            self.broker,
            store,
            self.coordinator,
            self.bus,
            self.calendar,
            self.market_now,
            interval_s=self.settings.reconcile.interval_s,
        )
        self.risk.start()
        self.bus.subscribe(ConnectionChanged, self._on_connection)

    def _on_connection(self, event: ConnectionChanged) -> None:
        """Reconcile on every WebSocket reconnect: whatever the stream missed while it was
        down is taken from the broker by the same rules as the 12 s pass."""
        was = self._link
        self._link = event.state
        if (
            event.state is ConnectionState.CONNECTED
            and was is not None
            and was is not ConnectionState.CONNECTED
            and self.coordinator is not None
            and not self._closed
        ):
            self.spawn("reconcile-on-reconnect", self._reconcile_once("reconnect"))

    def apply_settings(self, settings: Settings) -> None:
        """Settings saved in the dialog take effect now: hedging policy and risk limits (the
        broker and the paper exchange's own settings apply at the next start)."""
        self.settings = settings
        if self.coordinator is not None:
            self.coordinator.settings = execution_settings(settings)
            if self.coordinator.gate is not None:
                self.coordinator.gate.limits = settings.risk.risk_limits()
        log.info(
            "settings applied: hedge policy %s, countdown %g s",
            settings.execution.hedge_policy,
            settings.execution.hedge_countdown_s,
        )

    async def _reconcile_once(self, why: str) -> None:
        from cockpit.broker.base import BrokerError

        if self.coordinator is None:
            return
        try:
            differences = await self.coordinator.reconcile()
        except BrokerError as error:
            log.warning("reconciliation (%s) failed: %s", why, error)
            return
        self.reconciliations += 1
        if self.risk is not None:
            await self.risk.run_once(self.coordinator.broker_positions)
        log.info("reconciliation (%s): %d difference(s)", why, len(differences))

    async def _run_reconcile(self) -> None:
        """Every interval: the broker's orders and positions against the groups (broker
        wins; external positions count in exposure and are alerted)."""
        while self.coordinator is not None:
            await asyncio.sleep(self.settings.reconcile.interval_s)
            await self._reconcile_once(f"every {self.settings.reconcile.interval_s:g} s")

    async def _run_funds(self) -> None:
        from cockpit.broker.base import BrokerError

        while self.broker is not None:
            try:
                margins = await self.broker.margins()
            except BrokerError as error:
                log.warning("could not read funds: %s", error)
            else:
                self.bus.publish(
                    FundsChanged(
                        at=self.clock.now(), available=margins.available, used=margins.used
                    )
                )
            await asyncio.sleep(self.settings.reconcile.interval_s)

    def publish_market_clock(self) -> MarketClockChanged:
        now = self.market_now()
        event = MarketClockChanged(at=now, session=self.calendar.session_state(now))
        self.bus.publish(event)
        return event

    async def _run_market_clock(self) -> None:
        while True:
            now = self.clock.now()
            # Wake just after the next whole second so the displayed clock ticks evenly.
            await asyncio.sleep(1.0 - now.microsecond / 1_000_000 + 0.005)
            self.publish_market_clock()

    async def aclose(self) -> None:
        """Cancel every task and wait for it; later parts close clients and the journal here."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for task, result in zip(tasks, results, strict=True):
            if isinstance(result, Exception):
                log.error("task %s failed while stopping: %s", task.get_name(), result)
        if self.risk is not None:
            risk, self.risk = self.risk, None
            await risk.aclose()
        if self.coordinator is not None:
            coordinator, self.coordinator = self.coordinator, None
            await coordinator.aclose()
        if self.chain is not None:
            await self.chain.aclose()
        if self.alerts is not None:
            alerts, self.alerts = self.alerts, None
            await alerts.aclose()
        if self.broker is not None:
            broker, self.broker = self.broker, None
            await broker.aclose()
        if self.journal is not None:
            journal, self.journal = self.journal, None
            await journal.aclose()
        if self.exchange is not None:
            (self.settings.home / PAPER_URL_FILE).unlink(missing_ok=True)
            await asyncio.to_thread(self.exchange.stop)
            self.exchange = None
        log.info("services stopped (%d tasks cancelled)", len(tasks))


def execution_settings(settings: Settings) -> ExecutionSettings:
    from cockpit.execution.coordinator import ExecutionSettings

    return ExecutionSettings(
        hedge_policy=settings.execution.hedge_policy,
        hedge_countdown_s=settings.execution.hedge_countdown_s,
    )
