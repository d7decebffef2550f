"""Guard against the PySide6 6.12.0 refcount corruption on Python 3.11.

On that combination every ``Signal.emit()`` lowers the refcount of ``True`` (and wrapped
methods returning None lower None's) until the interpreter aborts with ``Fatal Python error:
bool_dealloc`` — at exit or mid-session. pyproject pins PySide6 below 6.12; this test fails
if a build with the bug ever gets installed. On Python 3.12+ True and None are immortal.
"""

from __future__ import annotations

import sys

import pytest
from PySide6.QtCore import QObject, Signal

pytestmark = pytest.mark.skipif(
    sys.version_info >= (3, 12), reason="True/None are immortal on Python 3.12+"
)

EMITS = 200


class Emitter(QObject):
    changed = Signal(bool)
    ping = Signal()


def test_signal_emit_does_not_drain_refcounts_of_true_and_none(qapp: object) -> None:
    emitter = Emitter()
    received: list[bool] = []
    emitter.changed.connect(received.append)
    emitter.ping.connect(lambda: None)
    true_before = sys.getrefcount(True)
    none_before = sys.getrefcount(None)
    for _ in range(EMITS):
        emitter.changed.emit(True)
        emitter.ping.emit()
        emitter.blockSignals(False)  # a wrapped method returning a bool
    true_after = sys.getrefcount(True)
    none_after = sys.getrefcount(None)
    assert len(received) == EMITS
    # Other code may take a few references meanwhile; the bug loses one per emit.
    assert true_after >= true_before - 5, f"True refcount fell by {true_before - true_after}"
    assert none_after >= none_before - 5, f"None refcount fell by {none_before - none_after}"
