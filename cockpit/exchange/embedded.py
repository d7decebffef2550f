"""The paper exchange on its own thread and event loop, for the window and for tests.

The window's default broker is a :class:`~cockpit.exchange.server.PaperExchange` running
in-process: its market steps and matching must not share the Qt loop's time slices, and the
cockpit must reach it over real sockets exactly as it would reach Kite. :class:`ExchangeThread`
starts it on a named thread with a plain ``asyncio`` loop, waits until it listens (or reports
why it could not), and stops it cleanly: tasks cancelled, sockets and the state file closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from cockpit.exchange.server import ExchangeConfig, PaperExchange

log = logging.getLogger(__name__)

_T = TypeVar("_T")


class ExchangeStartError(RuntimeError):
    """The paper exchange could not start; the message says why."""


class ExchangeThread:
    def __init__(self, config: ExchangeConfig, **exchange_options: Any) -> None:
        self.config = config
        self._options = exchange_options
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.exchange: PaperExchange | None = None
        self.url = ""

    def start(self, timeout: float = 30.0) -> str:
        """Start the exchange; returns its base URL once it listens."""
        if self._thread is not None:
            raise RuntimeError("the paper exchange thread is already started")
        self._thread = threading.Thread(target=self._run, name="paper-exchange", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise ExchangeStartError(f"the paper exchange did not start within {timeout:.0f} s")
        if self._error is not None:
            raise ExchangeStartError(f"the paper exchange could not start: {self._error}")
        return self.url

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:  # reported to the starter; the thread just ends
            if not self._ready.is_set():
                self._error = error
                self._ready.set()
            else:
                log.exception("paper exchange thread stopped with an error")

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        exchange = PaperExchange(self.config, **self._options)
        try:
            self.url = await exchange.start()
        except BaseException:
            await exchange.stop()
            raise
        self.exchange = exchange
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await exchange.stop()

    def call(
        self, fn: Callable[[PaperExchange], Coroutine[Any, Any, _T]], timeout: float = 30
    ) -> _T:
        """Run ``fn(exchange)`` on the exchange's loop and wait for its result (tests, admin)."""
        if self._loop is None or self.exchange is None:
            raise RuntimeError("the paper exchange is not running")
        future = asyncio.run_coroutine_threadsafe(fn(self.exchange), self._loop)
        return future.result(timeout)

    def stop(self, timeout: float = 15.0) -> None:
        thread = self._thread
        if thread is None:
            return
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(stop.set)
        thread.join(timeout)
        if thread.is_alive():
            log.error("the paper exchange thread did not stop within %.0f s", timeout)
        self._thread = None
        self.exchange = None

    def __enter__(self) -> ExchangeThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
