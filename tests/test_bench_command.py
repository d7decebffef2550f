"""``cockpit bench --quick --json PATH`` as a process: it finishes without a crashed benchmark
and its JSON names every figure with a number and whether it met its target. The figures'
values are not asserted: benchmarks print figures, tests never assert timings."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cockpit.cli import SUBCOMMANDS

pytestmark = pytest.mark.slow

FIGURES = (
    "fill → exposure event",
    "fill → emergency hedge order sent",
    "iron condor submit → COMPLETE",
    "journal entries/s",
    "journal vs raw sqlite3 executemany",
    "shock grid, 100 legs × 21 × 14 × 3",
    "shock grid vs naive per-cell loop",
    "implied vol, 10,000 options",
    "implied vol vs brentq per option",
    "binary tick decode",
    "window event-loop lag at 2,000 ticks/s",
    "cold start to window shown",
    "cold start peak RSS",
)


def bench_command() -> list[str]:
    """``cockpit bench`` once the CLI registers it; the module itself until then."""
    if any(sub.name == "bench" for sub in SUBCOMMANDS):
        return [sys.executable, "-m", "cockpit", "bench"]
    return [sys.executable, "-m", "cockpit.bench.command"]


def test_quick_bench_reports_every_figure_with_a_value_and_a_verdict(
    tmp_path: Path, cockpit_home: Path
) -> None:
    report_path = tmp_path / "bench.json"
    env = {**os.environ, "COCKPIT_HOME": str(cockpit_home), "QT_QPA_PLATFORM": "offscreen"}
    env.pop("COCKPIT_BROKER_URL", None)
    done = subprocess.run(
        [*bench_command(), "--quick", "--json", str(report_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["errors"] == []
    assert report["machine"]["cpu_count"] >= 1 and report["machine"]["python"]
    by_name = {figure["name"]: figure for figure in report["figures"]}
    assert set(FIGURES) <= set(by_name), set(FIGURES) - set(by_name)
    for name in FIGURES:
        figure = by_name[name]
        assert isinstance(figure["value"], int | float) and math.isfinite(figure["value"]), figure
        assert isinstance(figure["met"], bool), figure
        assert figure["unit"] and figure["target"], figure
    # The table on stdout names every figure too.
    for name in FIGURES:
        assert name in done.stdout
