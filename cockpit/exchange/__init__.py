"""The paper exchange: a simulated NSE F&O market behind a Kite Connect v3 server on loopback.

It is a separate program that ships in the same package (``cockpit exchange``) and is also
started in-process, on its own thread and loop, as the window's default broker. It imports
``cockpit.domain`` and ``cockpit.pricing`` only. The parts:

- ``universe``: which contracts exist (indices, stocks, futures, option chains per expiry),
  their tokens and symbols, and the instruments CSV dump Kite serves.
- ``market``: seeded, deterministic prices — GBM with jumps, cost of carry, a volatility
  smile per expiry, bid/ask and five levels of depth, open interest, the market clock.
- ``margin``: a SPAN-like margin estimate; the same one checks funds and answers the margin
  endpoints.
- ``matching``: validation as the venue and broker do, the order lifecycle, fills against the
  displayed depth, positions, funds and expiry settlement.
- ``state``: the exchange's own SQLite file, so it survives its own restart.
- ``ticks``: Kite's binary tick packets.
- ``server``: Kite's REST paths and the WebSocket, rate limits, faults and ``/admin`` controls.
"""
