"""Qt objects die on the Qt thread: after every UI test, pending deleteLater()s run and Python's
cycle collector runs here, on the main thread. Left to chance, a window's panels (with their
QTimers) can be collected later by whichever thread allocates — an aiosqlite or paper-exchange
thread — and Qt then warns "Timers cannot be stopped from another thread" or crashes."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QCoreApplication, QEvent


@pytest.fixture(autouse=True)
def collect_qt_objects_on_the_main_thread() -> Iterator[None]:
    yield
    app = QCoreApplication.instance()
    if app is not None:
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()
    if app is not None:
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
