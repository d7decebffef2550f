"""``cockpit bench [--quick] [--json PATH] [--only GROUP …]``: every benchmark, each figure beside
its target. The benchmarks live in this package, one module a figure group, each with ``run(quick)``
returning its :class:`~cockpit.bench.figure.Figure` list; this command runs the groups one after
another in this process (the cold start in child processes), prints a table — figure, value, target,
met — with the details under it, and with ``--json`` writes ``{"machine": {…}, "figures": [{name,
value, unit, target, met, detail}, …], "errors": […]}``. ``--quick`` runs fewer repetitions (under
two minutes on a 2-core machine). The benchmarks write nothing to the data folder: they work in
temporary folders, the execution ones on a paper exchange of their own, and log records below
WARNING are dropped while it runs (unless ``--log-level`` asks for them) so its groups do not fill
the trader's log. Exit status 0, or 1 when a benchmark crashed — the others still run and print, and
the error is shown.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import platform
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from cockpit.bench.figure import Figure
from cockpit.config import Settings

#: What ``cockpit bench`` does, for the help of ``python -m cockpit.bench.command``.
DESCRIPTION = "run every benchmark and print each figure against its target"

#: Figure groups in the order they run and print: name → module with ``run(quick)``.
GROUPS: dict[str, str] = {
    "execution": "cockpit.bench.execution",
    "condor": "cockpit.bench.condor",
    "journal": "cockpit.bench.journal",
    "shocks": "cockpit.bench.shocks",
    "pricing": "cockpit.bench.pricing",
    "ticks": "cockpit.bench.ticks",
    "window": "cockpit.bench.window",
    "startup": "cockpit.bench.startup",
    "exchange": "cockpit.bench.exchange",
}

_SUFFIX = {"ms": " ms", "s": " s", "MB": " MB", "×": "×", "entries/s": "/s", "ticks/s": "/s"}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quick", action="store_true", help="fewer repetitions: under two minutes in all"
    )
    parser.add_argument(
        "--json", type=Path, metavar="PATH", help="also write the machine and figures as JSON"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=tuple(GROUPS),
        metavar="GROUP",
        help=f"run only this group (repeatable): {', '.join(GROUPS)}",
    )


def machine() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "processor": platform.machine(),
    }


def format_value(figure: Figure) -> str:
    value = figure.value
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{value:,.{digits}f}{_SUFFIX.get(figure.unit, ' ' + figure.unit)}"


def table(figures: Sequence[Figure]) -> str:
    """The figures as aligned columns, then each one's detail."""
    rows = [("figure", "value", "target", "met")]
    for f in figures:
        met = ("yes" if f.met else "NO") if f.target_text else "—"
        rows.append((f.name, format_value(f), f.target_text or "—", met))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        f"{name:<{widths[0]}}  {value:>{widths[1]}}  {target:<{widths[2]}}  {met}"
        for name, value, target, met in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in [*widths, 3]))
    details = [f"  {f.name}: {f.detail}" for f in figures if f.detail]
    return "\n".join([*lines, "", *details])


@contextlib.contextmanager
def _quiet_logs(keep: bool) -> Iterator[None]:
    logger = logging.getLogger("cockpit")
    before = logger.level
    if not keep:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(before)


def run_groups(names: Sequence[str], quick: bool) -> tuple[list[Figure], list[dict[str, str]]]:
    """Run each group, reporting progress on stderr; (figures, errors)."""
    figures: list[Figure] = []
    errors: list[dict[str, str]] = []
    for name in names:
        print(f"bench: {name}…", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            module = importlib.import_module(GROUPS[name])
            found: list[Figure] = module.run(quick)
        except Exception as error:  # one crashed benchmark must not hide the others
            message = f"{type(error).__name__}: {error}"
            print(f"bench: {name} crashed: {message}", file=sys.stderr, flush=True)
            traceback.print_exc(file=sys.stderr)
            errors.append({"group": name, "error": message})
            continue
        figures.extend(found)
        print(f"bench: {name} done in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return figures, errors


def run(args: argparse.Namespace, settings: Settings | None = None) -> int:
    """Run the benchmarks ``args`` asks for (``settings`` are not needed: nothing is read
    from or written to the data folder)."""
    names = [n for n in GROUPS if not args.only or n in args.only]
    started = time.perf_counter()
    with _quiet_logs(keep=getattr(args, "log_level", None) is not None):
        figures, errors = run_groups(names, args.quick)
    elapsed = time.perf_counter() - started
    about = machine()
    print(
        f"cockpit bench{' --quick' if args.quick else ''}: {about['cpu_count']} CPUs, "
        f"Python {about['python']}, {about['platform']}; {elapsed:.0f} s"
    )
    print(table(figures))
    for error in errors:
        print(f"ERROR in {error['group']}: {error['error']}")
    if args.json is not None:
        report = {
            "machine": {**about, "quick": args.quick, "seconds": round(elapsed, 1)},
            "figures": [f.as_dict() for f in figures],
            "errors": errors,
        }
        args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    return 1 if errors else 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m cockpit.bench.command [--quick] [--json PATH] [--only GROUP]``."""
    parser = argparse.ArgumentParser(prog="cockpit bench", description=DESCRIPTION)
    configure(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
