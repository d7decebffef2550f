"""The horizontal header of a table model with fixed column titles: the title for display and,
where a column needs explaining, a tooltip; nothing for vertical headers or unknown sections."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtCore import Qt


def column_header(
    columns: Sequence[str],
    section: int,
    orientation: Qt.Orientation,
    role: int,
    tooltips: Mapping[int, str] | None = None,
) -> Any:
    if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(columns):
        return None
    if role == Qt.ItemDataRole.DisplayRole:
        return columns[section]
    if role == Qt.ItemDataRole.ToolTipRole and tooltips:
        return tooltips.get(section)
    return None
