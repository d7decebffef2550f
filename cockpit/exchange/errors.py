"""The paper exchange's error family: Kite Connect v3 exceptions with their HTTP status.

Every refusal the exchange gives a client is an :class:`ExchangeError` carrying Kite's
``error_type`` (the name Kite puts in the error envelope and pykiteconnect maps to a class),
the HTTP status Kite answers with, and a message a trader can act on. Statuses follow Kite's
exceptions page (kite.trade/docs/connect/v3/exceptions): 400 bad input, 403 session or
permission, 404 resource not found, 429 rate limit, 500 unclassified, 502 OMS answer not
understood, 503 OMS unreachable.

Message wording follows what Kite sends where it is known (seen in client code and logs that
quote Kite's answers): "Tick size for this script is 0.05. Kindly enter price in the multiple
of tick size for this script", "Market orders without market protection are not allowed via
API. Please set market protection or use a Limit order.", "Insufficient funds. Required margin
is 95417.84 but available margin is 74251.80." (rupees with two places, no digit grouping),
"Order cannot be cancelled as it is being processed. Try later." (an ``InputException`` in
pykiteconnect tracebacks, also what a cancel of an order that has just completed gets), and
"Maximum allowed order modifications exceeded." (clients match it as a ``NetworkException``).
Where Kite's wording is not known the message is written in the same style and says so below.
"""

from __future__ import annotations

import enum


class ErrorType(enum.StrEnum):
    """Kite's ``error_type`` values (pykiteconnect ``kiteconnect/exceptions.py``)."""

    INPUT = "InputException"
    ORDER = "OrderException"
    MARGIN = "MarginException"
    TOKEN = "TokenException"
    PERMISSION = "PermissionException"
    USER = "UserException"
    HOLDING = "HoldingException"
    NETWORK = "NetworkException"
    DATA = "DataException"
    GENERAL = "GeneralException"


#: The status each type is answered with unless the raiser says otherwise.
DEFAULT_HTTP_STATUS: dict[ErrorType, int] = {
    ErrorType.INPUT: 400,
    ErrorType.ORDER: 400,
    ErrorType.MARGIN: 400,
    ErrorType.HOLDING: 400,
    ErrorType.USER: 400,
    ErrorType.TOKEN: 403,
    ErrorType.PERMISSION: 403,
    ErrorType.GENERAL: 500,
    ErrorType.DATA: 502,
    ErrorType.NETWORK: 503,
}


class ExchangeError(Exception):
    """A refusal with Kite's ``error_type``, HTTP status and message."""

    error_type: ErrorType = ErrorType.GENERAL

    def __init__(self, message: str, *, http_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = (
            http_status if http_status is not None else DEFAULT_HTTP_STATUS[self.error_type]
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, http_status={self.http_status})"

    def as_dict(self) -> dict[str, object]:
        """The error object Kite nests in an autoslice ``children`` entry."""
        return {
            "code": self.http_status,
            "error_type": str(self.error_type),
            "message": self.message,
            "data": None,
        }


class InputError(ExchangeError):
    error_type = ErrorType.INPUT


class OrderError(ExchangeError):
    error_type = ErrorType.ORDER


class MarginError(ExchangeError):
    error_type = ErrorType.MARGIN


class TokenError(ExchangeError):
    error_type = ErrorType.TOKEN


class PermissionDeniedError(ExchangeError):
    error_type = ErrorType.PERMISSION


class NetworkError(ExchangeError):
    error_type = ErrorType.NETWORK


class DataError(ExchangeError):
    error_type = ErrorType.DATA


class GeneralError(ExchangeError):
    error_type = ErrorType.GENERAL


# ---- factories by type ---------------------------------------------------------------------


def input_error(message: str) -> InputError:
    return InputError(message)


def order_error(message: str) -> OrderError:
    return OrderError(message)


def margin_error(message: str) -> MarginError:
    return MarginError(message)


def token_error(message: str = "Incorrect `api_key` or `access_token`.") -> TokenError:
    return TokenError(message)


def permission_error(message: str) -> PermissionDeniedError:
    return PermissionDeniedError(message)


def network_error(message: str) -> NetworkError:
    return NetworkError(message)


def data_error(message: str) -> DataError:
    return DataError(message)


def general_error(message: str, *, http_status: int = 500) -> GeneralError:
    return GeneralError(message, http_status=http_status)


def not_found(message: str = "Route not found.") -> GeneralError:
    """HTTP 404 for a path or resource that does not exist (not for an unknown order id:
    Kite answers those with an InputException, see :func:`unknown_order`)."""
    return GeneralError(message, http_status=404)


def rate_limited(message: str = "Too many requests") -> NetworkError:
    return NetworkError(message, http_status=429)


# ---- the specific messages the matching engine gives ---------------------------------------


def format_rupees(paise: int) -> str:
    """``9541784`` → ``"95417.84"``: Kite's margin messages write plain rupees, two places."""
    sign = "-" if paise < 0 else ""
    whole, part = divmod(abs(int(paise)), 100)
    return f"{sign}{whole}.{part:02d}"


def unknown_instrument() -> InputError:
    return InputError("Invalid `tradingsymbol`.")


def expired_instrument(tradingsymbol: str) -> InputError:
    # Kite's wording for an expired contract is not known; same style as its other input errors.
    return InputError(f"Instrument {tradingsymbol} has expired and can no longer be traded.")


def unknown_order() -> InputError:
    return InputError("Couldn't find that `order_id`.")


def invalid_quantity(quantity: int) -> InputError:
    return InputError(f"Invalid `quantity`: {quantity}. Quantity should be greater than 0.")


def lot_multiple(lot_size: int) -> InputError:
    return InputError(f"Quantity should be a multiple of lot size ({lot_size}).")


def freeze_limit(quantity: int, limit: int, tradingsymbol: str) -> InputError:
    return InputError(
        f"Quantity {quantity} exceeds the freeze limit of {limit} for {tradingsymbol}."
    )


def tick_size(tick_paise: int, *, trigger: bool = False) -> InputError:
    what = "trigger price" if trigger else "price"
    return InputError(
        f"Tick size for this script is {format_rupees(tick_paise)}. Kindly enter {what} in the "
        "multiple of tick size for this script"
    )


def missing_price(order_type: str) -> InputError:
    return InputError(f"Invalid `price`: a {order_type} order needs a price above 0.")


def missing_trigger(order_type: str) -> InputError:
    return InputError(f"Invalid `trigger_price`: a {order_type} order needs a trigger price.")


def market_protection_required() -> InputError:
    return InputError(
        "Market orders without market protection are not allowed via API. "
        "Please set market protection or use a Limit order."
    )


def invalid_market_protection(value: float) -> InputError:
    return InputError(
        f"Invalid `market_protection`: {value}. Use a percentage from 0 to 100, or -1 for auto."
    )


def tag_too_long(tag: str) -> InputError:
    return InputError(f"Invalid `tag`: {tag!r} is longer than 20 characters.")


def invalid_tag(tag: str) -> InputError:
    return InputError(f"Invalid `tag`: {tag!r}. Use letters, digits, `:`, `-` and `_` only.")


def autoslice_not_needed(quantity: int, limit: int) -> InputError:
    return InputError(
        f"Autoslice is only for orders above the freeze limit; quantity {quantity} is within "
        f"the limit of {limit}. Place it without `autoslice`."
    )


class InsufficientFundsError(MarginError):
    """A margin shortfall; keeps the two amounts (paise) for the RMS's raw message."""

    def __init__(self, required_paise: int, available_paise: int) -> None:
        super().__init__(
            f"Insufficient funds. Required margin is {format_rupees(required_paise)} but "
            f"available margin is {format_rupees(available_paise)}."
        )
        self.required = required_paise
        self.available = available_paise


def insufficient_funds(required_paise: int, available_paise: int) -> InsufficientFundsError:
    return InsufficientFundsError(required_paise, available_paise)


def cannot_cancel() -> InputError:
    """Cancel of an order that is no longer open (complete, cancelled, rejected): Kite answers
    with the same words whatever the terminal state."""
    return InputError("Order cannot be cancelled as it is being processed. Try later.")


def cannot_modify() -> InputError:
    return InputError("Order cannot be modified as it is being processed. Try later.")


def too_many_modifications() -> NetworkError:
    return NetworkError("Maximum allowed order modifications exceeded.")
