"""Giving widgets their stable objectNames inline, as they are built."""

from __future__ import annotations

from typing import TypeVar

from PySide6.QtWidgets import QWidget

_W = TypeVar("_W", bound=QWidget)


def named(widget: _W, name: str) -> _W:
    """``widget`` with ``objectName`` set: tests, automation and accessibility find it."""
    widget.setObjectName(name)
    return widget
