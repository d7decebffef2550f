"""Kite Connect v3's wire formats on the exchange side: envelopes, numbers, times, form fields.

Money is integer paise inside the exchange; on the wire Kite writes rupees as JSON numbers,
so :func:`rupees` turns paise into an exact ``Decimal`` and :func:`dumps` writes it as the
shortest JSON number with the same two-place value (only the text on the wire is a number).
Timestamps are IST wall time ``YYYY-MM-DD HH:MM:SS`` as Kite sends them.
Form and query fields are read through :class:`Fields`, whose errors are Kite
``InputException``\\ s naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from cockpit.clock import IST
from cockpit.domain.money import Paise
from cockpit.exchange.errors import ExchangeError, input_error

JSON_TYPE = "application/json"


class _Encoder(json.JSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, Decimal):
            # JSON numbers are binary floats to every client; a two-place rupee amount below
            # 10^13 survives float's shortest repr exactly ("101.35" stays "101.35").
            return float(o)
        if isinstance(o, datetime):
            return kite_time(o)
        return super().default(o)


def dumps(payload: Any) -> str:
    return json.dumps(payload, cls=_Encoder, separators=(",", ":"))


def success(data: Any) -> str:
    return dumps({"status": "success", "data": data})


def error_body(error_type: str, message: str) -> str:
    return dumps({"status": "error", "message": message, "data": None, "error_type": error_type})


def rupees(value: Paise | int | None) -> Decimal:
    """Paise → rupees with two places, exact (``10135`` → ``Decimal("101.35")``)."""
    if value is None:
        return Decimal(0)
    return (Decimal(int(value)) / 100).quantize(Decimal("0.01"))


def kite_time(at: datetime | None) -> str | None:
    if at is None:
        return None
    return at.astimezone(IST).strftime("%Y-%m-%d %H:%M:%S")


class Fields:
    """Typed access to form or query fields; every problem is an InputException."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = values

    def has(self, name: str) -> bool:
        return name in self._values and self._values[name] != ""

    def text(self, name: str, *, required: bool = True, default: str | None = None) -> str | None:
        value = self._values.get(name)
        if value is None or value == "":
            if required:
                raise input_error(f"Missing or empty `{name}`.")
            return default
        return value

    def required_text(self, name: str) -> str:
        value = self.text(name)
        assert value is not None
        return value

    def integer(
        self, name: str, *, required: bool = True, default: int | None = None
    ) -> int | None:
        raw = self.text(name, required=required)
        if raw is None:
            return default
        try:
            number = Decimal(raw.strip())
        except InvalidOperation:
            raise input_error(f"Invalid `{name}`: {raw!r} is not a whole number.") from None
        if number != number.to_integral_value() or not number.is_finite():
            raise input_error(f"Invalid `{name}`: {raw!r} is not a whole number.")
        return int(number)

    def price(self, name: str, *, required: bool = False) -> Paise | None:
        """A rupee amount → paise; more than two decimals or garbage is an InputException."""
        raw = self.text(name, required=required)
        if raw is None:
            return None
        try:
            amount = Decimal(raw.strip())
        except InvalidOperation:
            raise input_error(f"Invalid `{name}`: {raw!r} is not a price.") from None
        if not amount.is_finite():
            raise input_error(f"Invalid `{name}`: {raw!r} is not a price.")
        scaled = amount * 100
        if scaled != scaled.to_integral_value():
            raise input_error(f"Invalid `{name}`: {raw!r} has more than two decimal places.")
        return Paise(int(scaled))

    def choice(self, name: str, allowed: Mapping[str, Any], *, required: bool = True) -> Any:
        raw = self.text(name, required=required)
        if raw is None:
            return None
        try:
            return allowed[raw]
        except KeyError:
            options = ", ".join(sorted(allowed))
            raise input_error(f"Invalid `{name}`: {raw!r}; expected one of {options}.") from None


def error_response_parts(error: ExchangeError) -> tuple[int, str]:
    return error.http_status, error_body(error.error_type, error.message)
