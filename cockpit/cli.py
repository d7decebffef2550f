"""Command line: ``cockpit`` opens the window; subcommands run the same services headless.

Later parts register their subcommands (``exchange``, ``chain``, ``spread``, ``shock``,
``status``, ``recover``, ``bench``) in :data:`SUBCOMMANDS`. Every failure the trader can fix —
a bad settings value, an unusable data folder — ends with one line naming what was wrong and
where, and exit status 2; nothing is journalled by the CLI before settings are valid.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cockpit import __version__
from cockpit.config import HOME_ENV, Settings, SettingsError, load_settings, resolve_home

EXIT_USAGE = 2


@dataclass(frozen=True, slots=True)
class Subcommand:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Settings], int]


def _configure_settings(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--path", action="store_true", help="print only the path of settings.toml and exit"
    )


def _run_settings(args: argparse.Namespace, settings: Settings) -> int:
    if args.path:
        print(settings.settings_path)
        return 0
    print(f"# {settings.settings_path}")
    print(f"# data folder: {settings.home}")
    for section in ("broker", "paper", "ui", "log", "reconcile", "execution", "risk", "shock"):
        values = getattr(settings, section)
        print(f"[{section}]")
        for field in dataclasses.fields(values):
            value = getattr(values, field.name)
            shown = value.value if isinstance(value, enum.Enum) else value
            print(f"{field.name} = {shown!r}")
    for warning in settings.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _configure_exchange(parser: argparse.ArgumentParser) -> None:
    from cockpit.exchange import command

    command.configure(parser)


def _run_exchange(args: argparse.Namespace, settings: Settings) -> int:
    from cockpit.exchange import command

    return command.run(args, settings)


def _configure_chain(parser: argparse.ArgumentParser) -> None:
    from cockpit.marketdata import command

    command.configure(parser)


def _run_chain(args: argparse.Namespace, settings: Settings) -> int:
    from cockpit.marketdata import command

    return command.run(args, settings)


def _configure_status(parser: argparse.ArgumentParser) -> None:
    from cockpit.execution import status_command

    status_command.configure(parser)


def _run_status(args: argparse.Namespace, settings: Settings) -> int:
    from cockpit.execution import status_command

    return status_command.run(args, settings)


def _configure_spread(parser: argparse.ArgumentParser) -> None:
    from cockpit import builder_command

    builder_command.configure(parser)


def _run_spread(args: argparse.Namespace, settings: Settings) -> int:
    from cockpit import builder_command

    return builder_command.run(args, settings)


def _configure_shock(parser: argparse.ArgumentParser) -> None:
    from cockpit import shock_command

    shock_command.configure(parser)


def _run_shock(args: argparse.Namespace, settings: Settings) -> int:
    from cockpit import shock_command

    return shock_command.run(args, settings)


def _configure_recover(parser: argparse.ArgumentParser) -> None:
    from cockpit.execution import recover_command

    recover_command.configure(parser)


def _run_recover(args: argparse.Namespace, settings: Settings) -> int:
    from cockpit.execution import recover_command

    return recover_command.run(args, settings)


def _configure_bench(parser: argparse.ArgumentParser) -> None:
    from cockpit.bench import command

    command.configure(parser)


def _run_bench(args: argparse.Namespace, settings: Settings) -> int:
    from cockpit.bench import command

    return command.run(args, settings)


SUBCOMMANDS: list[Subcommand] = [
    Subcommand(
        "settings",
        "check settings.toml and print the settings in effect",
        _configure_settings,
        _run_settings,
    ),
    Subcommand(
        "exchange",
        "run the paper exchange (a simulated NSE F&O market speaking Kite Connect v3)",
        _configure_exchange,
        _run_exchange,
    ),
    Subcommand(
        "chain",
        "print an option chain with IV and greeks from the configured broker",
        _configure_chain,
        _run_chain,
    ),
    Subcommand(
        "status",
        "groups, legs, states, fills and open exposure from the journal",
        _configure_status,
        _run_status,
    ),
    Subcommand(
        "spread",
        "analyse a credit spread on the live chain, and --place it hedge-first",
        _configure_spread,
        _run_spread,
    ),
    Subcommand(
        "shock",
        "P&L and margin utilisation of the positions (and a --proposed spread) under "
        "price, IV and spread shocks",
        _configure_shock,
        _run_shock,
    ),
    Subcommand(
        "recover",
        "start-up recovery alone: reconcile with the broker (broker wins), resume, report",
        _configure_recover,
        _run_recover,
    ),
    Subcommand(
        "bench",
        "run every benchmark and print each figure against its target",
        _configure_bench,
        _run_bench,
    ),
]


def _window_size(text: str) -> tuple[int, int]:
    width, sep, height = text.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 1366x768")
    size = (int(width), int(height))
    if not (640 <= size[0] <= 7680 and 480 <= size[1] <= 4320):
        raise argparse.ArgumentTypeError(f"{text}: expected 640x480 to 7680x4320")
    return size


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cockpit",
        description=(
            "Cockpit: multi-leg NSE options, hedge first. With no command, opens the window "
            "on the broker chosen in settings (the embedded paper exchange by default)."
        ),
        epilog=f"Data folder: ${HOME_ENV} if set, else {resolve_home({})}.",
    )
    parser.add_argument("--version", action="version", version=f"cockpit {__version__}")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="open the main window, wait until it is shown, close it and exit 0",
    )
    parser.add_argument(
        "--screenshot",
        type=Path,
        metavar="PNG",
        help="with --smoke: save a picture of the window once it is shown",
    )
    parser.add_argument(
        "--size",
        type=_window_size,
        metavar="WxH",
        help="open the window at this size (e.g. 1366x768) instead of the saved one",
    )
    parser.add_argument(
        "--home", type=Path, metavar="PATH", help=f"data folder (overrides ${HOME_ENV})"
    )
    parser.add_argument(
        "--log-level",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="log level on stderr (default: [log] level in settings.toml)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for sub in SUBCOMMANDS:
        sub_parser = commands.add_parser(sub.name, help=sub.help, description=sub.help)
        sub.configure(sub_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    started = time.perf_counter()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.home is not None:
        os.environ[HOME_ENV] = str(args.home)
    try:
        settings = load_settings(resolve_home())
    except SettingsError as exc:
        print(f"cockpit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    from cockpit.logging_setup import configure_logging

    level = args.log_level or settings.log.level.value
    configure_logging(level, settings.logs_dir, settings.log.keep_files)

    if args.command is None:
        from cockpit.ui.runtime import run_window

        if args.screenshot is not None and not args.smoke:
            parser.error("--screenshot needs --smoke")
        return run_window(
            settings,
            smoke=args.smoke,
            started=started,
            screenshot=args.screenshot,
            size=args.size,
        )
    if args.smoke:
        parser.error("--smoke opens the window; it cannot be combined with a command")
    sub = next(s for s in SUBCOMMANDS if s.name == args.command)
    return sub.run(args, settings)
