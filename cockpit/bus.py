"""The event bus: one place where services publish domain events and the UI listens.

Dispatch is synchronous on the caller's thread (the one asyncio loop), in subscription order.
A handler that raises is logged with the event it failed on and the others still run: one bad
subscriber must never stop fills from reaching the exposure engine.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[Any], None]


class EventBus:
    def __init__(self) -> None:
        self._handlers: defaultdict[type, list[Handler]] = defaultdict(list)
        self.failures = 0

    def subscribe(self, event_type: type, handler: Handler) -> Callable[[], None]:
        """Call ``handler`` for every published event that is an instance of ``event_type``.

        Returns a function that removes the subscription.
        """
        self._handlers[event_type].append(handler)

        def unsubscribe() -> None:
            handlers = self._handlers.get(event_type, [])
            if handler in handlers:
                handlers.remove(handler)

        return unsubscribe

    def publish(self, event: object) -> None:
        for event_type, handlers in list(self._handlers.items()):
            if not isinstance(event, event_type):
                continue
            for handler in list(handlers):
                try:
                    handler(event)
                except Exception:
                    self.failures += 1
                    log.exception(
                        "event handler %s failed on %s", _name(handler), type(event).__name__
                    )


def _name(handler: Handler) -> str:
    return getattr(handler, "__qualname__", repr(handler))
