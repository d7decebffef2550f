"""The app as a process: entry points, --smoke, clean exit on close and on signals."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cockpit import __version__

pytestmark = pytest.mark.slow

BAD_STDERR = ("Fatal", "Traceback", "Segmentation", "Error in atexit", "QObject::", "Aborted")


def env_for(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["COCKPIT_HOME"] = str(home)
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["PYTHONFAULTHANDLER"] = "1"
    return env


def console_script() -> str:
    script = Path(sys.executable).with_name("cockpit")
    found = str(script) if script.exists() else shutil.which("cockpit")
    if found is None:
        pytest.fail("the cockpit console script is not installed (pip install -e .)")
    return found


def assert_clean(stderr: str) -> None:
    for marker in BAD_STDERR:
        assert marker not in stderr, f"{marker!r} on stderr:\n{stderr}"


def test_version_and_help(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cockpit", "--version"],
        capture_output=True,
        text=True,
        env=env_for(tmp_path),
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == f"cockpit {__version__}"
    helped = subprocess.run(
        [sys.executable, "-m", "cockpit", "--help"],
        capture_output=True,
        text=True,
        env=env_for(tmp_path),
        timeout=60,
        check=True,
    )
    assert "--smoke" in helped.stdout
    assert "settings" in helped.stdout
    assert "COCKPIT_HOME" in helped.stdout


@pytest.mark.parametrize("entry", ["module", "console-script"])
def test_smoke_opens_the_window_and_exits_cleanly(tmp_path: Path, entry: str) -> None:
    command = (
        [sys.executable, "-m", "cockpit", "--smoke"]
        if entry == "module"
        else [console_script(), "--smoke"]
    )
    done = subprocess.run(
        command, capture_output=True, text=True, env=env_for(tmp_path), timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("smoke: main window shown ")
    assert_clean(done.stderr)
    assert "Cockpit closed cleanly" in done.stderr
    assert (tmp_path / "window.ini").exists(), "window state was not saved on close"
    assert (tmp_path / "settings.toml").exists()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_shuts_the_window_down_cleanly(tmp_path: Path, signum: int) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cockpit", "--log-level", "INFO"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env_for(tmp_path),
    )
    log_file = tmp_path / "logs" / "cockpit.log"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if log_file.exists() and "main window shown" in log_file.read_text():
            break
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("the window was not shown within 60 s")
    assert proc.poll() is None, proc.communicate()[1]
    proc.send_signal(signum)
    try:
        _, stderr = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"cockpit did not exit within 30 s of {signal.Signals(signum).name}")
    assert proc.returncode == 0, stderr
    assert_clean(stderr)
    assert f"received {signal.Signals(signum).name}: shutting down" in stderr
    assert "Cockpit closed cleanly" in stderr


def test_invalid_settings_exit_2_naming_the_key(tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "settings.toml").write_text('[broker]\nkind = "kyte"\n')
    done = subprocess.run(
        [sys.executable, "-m", "cockpit", "--smoke"],
        capture_output=True,
        text=True,
        env=env_for(tmp_path),
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"cockpit: error: {tmp_path / 'settings.toml'}: [broker] kind = 'kyte' is invalid: "
        "expected one of 'paper', 'kite'"
    )


def test_settings_command_prints_effective_values(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cockpit", "settings"],
        capture_output=True,
        text=True,
        env=env_for(tmp_path),
        timeout=60,
        check=True,
    )
    assert f"# {tmp_path / 'settings.toml'}" in done.stdout
    assert "kind = 'paper'" in done.stdout
    assert "interval_s = 12.0" in done.stdout
