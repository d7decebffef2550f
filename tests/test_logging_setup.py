from __future__ import annotations

import logging
from pathlib import Path

import pytest

from cockpit.logging_setup import RedactSecrets, configure_logging, redact

SECRET = "s3cr3tV4lue9"


@pytest.mark.parametrize(
    "text",
    [
        f"access_token={SECRET}",
        f"POST /session/token api_secret={SECRET}&request_token=abc",
        f'{{"access_token": "{SECRET}", "user": "AB1234"}}',
        f"Authorization: token myapikey:{SECRET}",
        f"checksum: {SECRET}",
    ],
)
def test_redact_masks_credential_values(text: str) -> None:
    cleaned = redact(text)
    assert SECRET not in cleaned
    assert "***" in cleaned


def test_redact_leaves_ordinary_text_alone() -> None:
    text = "order 240101000000001 NIFTY24DEC24000CE BUY 65 @ 101.35 tag=G1L0C0"
    assert redact(text) == text


def test_secret_in_message_args_and_exception_never_reaches_the_log_file(
    tmp_path: Path,
) -> None:
    configure_logging("INFO", tmp_path / "logs")
    log = logging.getLogger("cockpit.test")
    try:
        log.warning("login with api_secret=%s", SECRET)
        try:
            raise RuntimeError(f"bad response access_token={SECRET}")
        except RuntimeError:
            log.exception("login failed")
    finally:
        for handler in logging.getLogger().handlers:
            handler.flush()
        configure_logging("INFO", None)  # release the file handler
    text = (tmp_path / "logs" / "cockpit.log").read_text()
    assert "login with api_secret=***" in text
    assert "access_token=***" in text
    assert SECRET not in text


def test_filter_keeps_the_record() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token=%s", ("abc",), None)
    assert RedactSecrets().filter(record) is True
