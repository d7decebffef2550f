"""Runs the window: QApplication, the qasync loop, signal handling and an orderly shutdown.

Shutdown has one path whatever starts it — the window's close button, File ▸ Quit, SIGINT,
SIGTERM or ``--smoke``: an asyncio Event is set, the window saves its state, the log handler
is detached, :meth:`Services.aclose` cancels and awaits every task, then the loop stops and Qt
objects are destroyed in a fixed order (window, then application) before the interpreter
finalises. Leaving that order to interpreter teardown is how Qt apps die at exit.

Signals: Python runs signal handlers only when the interpreter gets control, which it does
not while Qt's C++ event loop waits. So the C-level handler writes to a socket
(``signal.set_wakeup_fd``) watched by a ``QSocketNotifier``; its slot runs in Python, which
lets the Python handler set the stop event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import qasync
from PySide6.QtCore import QSocketNotifier
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from cockpit import __version__
from cockpit.app import Services
from cockpit.config import Settings
from cockpit.domain.events import ConnectionChanged, FundsChanged, MarketClockChanged
from cockpit.domain.money import format_inr
from cockpit.execution.events import RecoveryFinished, RecoveryProgressed
from cockpit.logging_setup import add_handler
from cockpit.reference_data import resources_dir
from cockpit.ui.bridge import EventBridge
from cockpit.ui.first_run import FirstRunGuide, first_run
from cockpit.ui.log_dock import QtLogHandler
from cockpit.ui.main_window import MainWindow
from cockpit.ui.theme import apply_theme

log = logging.getLogger(__name__)

SMOKE_TIMEOUT_S = 30.0


def make_application(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(argv if argv is not None else [sys.argv[0]])
    app.setOrganizationName("Cockpit")
    app.setApplicationName("Cockpit")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("cockpit")
    app.setQuitOnLastWindowClosed(False)
    icon = resources_dir() / "icons" / "cockpit.svg"
    if icon.exists():
        app.setWindowIcon(QIcon(str(icon)))
    return app


def run_window(
    settings: Settings,
    *,
    smoke: bool = False,
    started: float | None = None,
    screenshot: Path | None = None,
    size: tuple[int, int] | None = None,
) -> int:
    """Open the main window and run until it is closed or the process is told to stop."""
    started = time.perf_counter() if started is None else started
    app = make_application()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    try:
        with _stop_on_signals(loop) as stop_requested:
            return loop.run_until_complete(
                _run(
                    settings,
                    stop_requested,
                    smoke=smoke,
                    started=started,
                    screenshot=screenshot,
                    size=size,
                )
            )
    finally:
        asyncio.set_event_loop(None)
        loop.close()
        # Destroy Qt objects now, in order, not during interpreter finalisation.
        app.shutdown()


@contextlib.contextmanager
def _stop_on_signals(loop: asyncio.AbstractEventLoop) -> Iterator[asyncio.Event]:
    stop = asyncio.Event()
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read)

    def drain() -> None:
        with contextlib.suppress(OSError):
            reader.recv(64)

    notifier.activated.connect(drain)

    def handle(signum: int, _frame: Any) -> None:
        log.info("received %s: shutting down", signal.Signals(signum).name)
        loop.call_soon_threadsafe(stop.set)

    previous_fd = signal.set_wakeup_fd(writer.fileno())
    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(previous_fd)
        notifier.setEnabled(False)
        notifier.deleteLater()
        reader.close()
        writer.close()


async def _run(
    settings: Settings,
    stop: asyncio.Event,
    *,
    smoke: bool,
    started: float,
    screenshot: Path | None,
    size: tuple[int, int] | None,
) -> int:
    services = Services(settings)
    log_handler = QtLogHandler()
    add_handler(log_handler, logging.DEBUG)
    apply_theme(QApplication.instance(), settings.ui.theme)  # type: ignore[arg-type]
    window = MainWindow(settings.home / "window.ini", log_handler)
    window.alerts_panel.sound = settings.ui.sound
    bridge = EventBridge(services.bus, window)
    window.settingsRequested.connect(lambda: open_settings(window, services))
    _wire_status_bar(bridge, window)
    window.closed.connect(stop.set)
    shown: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    window.shown.connect(lambda: shown.done() or shown.set_result(None))
    window.shown.connect(lambda: log.info("main window shown"))
    for warning in settings.warnings:
        log.warning("%s", warning)
    try:
        await services.start()
        services.spawn("chain-attach", _attach_chain(services, window, bridge, guide=not smoke))
        if size is not None:
            window.resize(*size)
        window.show()
        if smoke:
            await _smoke(window, shown, started, screenshot)
        await stop.wait()
    finally:
        if not window.isHidden():
            window.close()
        bridge.detach()
        wiring = getattr(window, "execution", None)
        if wiring is not None:
            await wiring.aclose()
        logging.getLogger().removeHandler(log_handler)
        await services.aclose()
        window.deleteLater()
    log.info("Cockpit closed cleanly")
    return 0


async def _attach_chain(
    services: Services, window: MainWindow, bridge: EventBridge, *, guide: bool = False
) -> None:
    """Give the chain dock its feed and the execution docks their coordinator once the
    broker is connected."""
    await services.connected.wait()
    if services.chain is not None:
        window.chain_panel.attach(services.chain)
    coordinator = services.coordinator
    if coordinator is None:
        return
    from cockpit.ui.hedge_dialog import connect_execution
    from cockpit.ui.override_dialog import OverrideAction, OverrideRequest

    def on_override(request: OverrideRequest) -> None:
        action = {
            OverrideAction.FORCE_CLOSE: lambda: coordinator.force_close(
                request.group_id, request.reason
            ),
            OverrideAction.RESOLVE_ATTENTION: lambda: coordinator.resolve_attention(
                request.group_id, request.reason
            ),
            OverrideAction.ACCEPT_EXPOSURE: lambda: coordinator.accept_exposure(
                request.group_id, request.reason
            ),
            OverrideAction.CANCEL_ORDER: lambda: coordinator.cancel_child(
                request.group_id, request.child_id or "", request.reason
            ),
        }[request.action]
        services.spawn(f"override-{request.action}", _logged(action(), str(request.action)))

    chain = services.chain

    def price_of(token: int) -> int | None:
        quote = chain.quote(token) if chain is not None else None
        return int(quote.last_price) if quote is not None else None

    connect_execution(
        window, bridge, coordinator, on_override, clock=services.clock.monotonic, price_of=price_of
    )
    builder = getattr(window, "builder_panel", None)
    if builder is not None and chain is not None and services.broker is not None:
        from cockpit.builder_service import SpreadService

        builder.attach(SpreadService(services.broker, chain, coordinator, now=services.clock.now))
    if services.alerts is not None:
        window.alerts_panel.attach(services.alerts)
    if services.broker is not None and chain is not None:
        from cockpit.shock_service import ShockService

        window.shock_panel.attach(
            ShockService(services.broker, chain.store, services.clock), bridge, builder
        )

    def kill() -> None:
        async def engage() -> None:
            cancelled = await coordinator.engage_kill_switch("kill switch from the window")
            window.set_halted(True, f"{cancelled} working order(s) cancelled; entries refused")

        services.spawn("kill-switch", engage())

    def rearm(reason: str) -> None:
        async def lift() -> None:
            await coordinator.rearm(reason)
            window.set_halted(False)

        services.spawn("rearm", _logged(lift(), "re-arm"))

    window.killSwitchRequested.connect(kill)
    window.rearmRequested.connect(rearm)
    if guide and services.exchange is not None and first_run(services.settings.home):
        show_first_run_guide(window, services.settings.home)


def open_settings(window: MainWindow, services: Services) -> None:
    """The settings dialog (non-modal); what is saved takes effect at once where it can."""
    from cockpit.credentials import CredentialStore, kite_login
    from cockpit.ui.settings_dialog import SettingsDialog

    if services.credentials is None:
        services.credentials = CredentialStore()
    dialog = SettingsDialog(
        services.settings,
        services.credentials,
        login=kite_login(services.settings.broker.base_url),
        parent=window,
    )
    window.settings_dialog = dialog

    def saved(settings: Settings) -> None:
        services.apply_settings(settings)
        apply_theme(QApplication.instance(), settings.ui.theme)  # type: ignore[arg-type]
        window.alerts_panel.sound = settings.ui.sound

    dialog.settingsSaved.connect(saved)
    dialog.present()


def show_first_run_guide(window: MainWindow, home: Path) -> FirstRunGuide:
    """The first-run walkthrough, its steps ticked off by what the trader does."""
    guide = FirstRunGuide(home, window)
    window.first_run_guide = guide
    builder = window.builder_panel
    if window.chain_panel.model.view is not None:
        guide.mark("chain")
    window.chain_panel.model.modelReset.connect(lambda: guide.mark("chain"))
    builder.planBuilt.connect(lambda _plan: guide.mark("built"))
    builder.groupPlaced.connect(lambda _group: guide.mark("placed"))
    window.docks["shockDock"].visibilityChanged.connect(
        lambda visible: guide.mark("shocks") if visible else None
    )
    guide.show()
    return guide


async def _logged(action: Any, what: str) -> None:
    try:
        await action
    except (KeyError, ValueError) as error:
        log.error("override %s refused: %s", what, error)


async def _smoke(
    window: MainWindow, shown: asyncio.Future[None], started: float, screenshot: Path | None
) -> None:
    try:
        await asyncio.wait_for(shown, SMOKE_TIMEOUT_S)
    except TimeoutError as exc:
        raise RuntimeError(f"the main window was not shown within {SMOKE_TIMEOUT_S:.0f} s") from exc
    # One more turn of the loop so the first paint and the queued events are processed.
    await asyncio.sleep(0.05)
    print(f"smoke: main window shown {time.perf_counter() - started:.2f} s after start")
    if screenshot is not None:
        # Let the market clock publish once so the status bar shows live values.
        await asyncio.sleep(1.2)
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(screenshot), "PNG"):
            raise RuntimeError(f"could not write the screenshot {screenshot}")
        print(f"smoke: screenshot {window.width()}x{window.height()} saved to {screenshot}")
    window.close()


def _wire_status_bar(bridge: EventBridge, window: MainWindow) -> None:
    status = window.status

    def on_clock(event: MarketClockChanged) -> None:
        session = event.session
        status.set_market(event.at, session.label, session.reason)

    def on_connection(event: ConnectionChanged) -> None:
        status.set_broker(event.state.value.lower(), event.detail)

    def on_funds(event: FundsChanged) -> None:
        status.set_funds(format_inr(event.used), format_inr(event.available))

    def on_recovery(event: RecoveryProgressed) -> None:
        status.set_recovery(event.step, event.total, event.detail)

    def on_recovered(event: RecoveryFinished) -> None:
        report = event.report
        status.recovery_done(
            len(report.resumed),
            len(report.reconciliation.differences) + len(report.unrestorable),
            len(report.as_dict()["external"]),
            len(report.reconciliation.unhedged),
        )

    connect: list[tuple[Any, Callable[[Any], None]]] = [
        (bridge.recoveryProgressed, on_recovery),
        (bridge.recoveryFinished, on_recovered),
        (bridge.marketClockChanged, on_clock),
        (bridge.connectionChanged, on_connection),
        (bridge.fundsChanged, on_funds),
    ]
    for signal_, slot in connect:
        signal_.connect(slot)
