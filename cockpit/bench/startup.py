"""Benchmark of a cold start: ``cockpit --smoke`` run as a child process in a fresh data folder
(so the paper exchange, the journal and the settings are created as on a first start), offscreen
when there is no display. The figure is the time the child itself reports from its start to the
main window being shown ("smoke: main window shown X s after start"), the median of a few
starts; the detail has the wall time from spawning the process to its exit. The peak resident
memory is the child's own ``ru_maxrss`` as :func:`os.wait4` reports it for that child (what
``getrusage(RUSAGE_CHILDREN)`` would give if it were the only child), the largest over the
starts."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cockpit.bench.figure import Figure, median

TARGET_S = 2.5
TARGET_RSS_MB = 300.0
SHOWN = re.compile(r"smoke: main window shown ([0-9.]+) s after start")


def smoke_start(folder: Path) -> tuple[float, float, float]:
    """One ``cockpit --smoke`` in ``folder``: (seconds to window shown as the child reports
    them, wall seconds from spawn to exit, peak RSS in MB)."""
    env = {**os.environ, "COCKPIT_HOME": str(folder / "home")}
    env.pop("COCKPIT_BROKER_URL", None)
    if not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
        env["QT_QPA_PLATFORM"] = "offscreen"
    out_path, err_path = folder / "stdout.txt", folder / "stderr.txt"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-m", "cockpit", "--smoke"],
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        try:
            # wait4 reaps the child and reports its own resource use, peak RSS included.
            _, status, usage = os.wait4(child.pid, 0)
        except BaseException:
            child.kill()
            child.wait()
            raise
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
    output = out_path.read_text(encoding="utf-8", errors="replace")
    if child.returncode != 0:
        problem = err_path.read_text(encoding="utf-8", errors="replace").strip()[-400:]
        raise RuntimeError(f"cockpit --smoke exited {child.returncode}: {problem}")
    found = SHOWN.search(output)
    if found is None:
        raise RuntimeError(f"cockpit --smoke did not report the window shown: {output[-300:]!r}")
    # Linux reports ru_maxrss in KiB.
    return float(found.group(1)), wall, usage.ru_maxrss / 1024


def run(quick: bool) -> list[Figure]:
    starts = 2 if quick else 5
    shown, walls, rss = [], [], []
    for _ in range(starts):
        with tempfile.TemporaryDirectory(prefix="cockpit-bench-start-") as name:
            seconds, wall, peak = smoke_start(Path(name))
        shown.append(seconds)
        walls.append(wall)
        rss.append(peak)
    value = median(shown)
    listed = ", ".join(f"{s:.2f}" for s in shown)
    return [
        Figure(
            "cold start to window shown",
            value,
            "s",
            f"< {TARGET_S:g} s",
            value < TARGET_S,
            f"median of {starts} starts of `cockpit --smoke` in a fresh data folder ({listed} s); "
            f"spawn to exit {median(walls):.2f} s",
        ),
        Figure(
            "cold start peak RSS",
            max(rss),
            "MB",
            f"< {TARGET_RSS_MB:g} MB",
            max(rss) < TARGET_RSS_MB,
            f"the child's ru_maxrss (os.wait4), largest of {starts} starts; "
            f"median {median(rss):.0f} MB",
        ),
    ]


__all__ = ["run", "smoke_start"]
