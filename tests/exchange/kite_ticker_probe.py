"""Runs pykiteconnect's KiteTicker against the paper exchange, in its own process (Twisted's
reactor runs once per process). Prints ``READY`` once ticks of every asked mode arrived, then
one JSON line with what it saw after the first order update (or at its time limit).

Usage: python kite_ticker_probe.py WS_URL API_KEY ACCESS_TOKEN LTP_TOKEN QUOTE_TOKEN FULL_TOKEN
"""

from __future__ import annotations

import json
import sys
import threading
import time

from kiteconnect import KiteTicker


def main() -> int:
    root, api_key, access_token = sys.argv[1:4]
    ltp_token, quote_token, full_token = (int(t) for t in sys.argv[4:7])
    wanted = {ltp_token: "ltp", quote_token: "quote", full_token: "full"}
    seen: dict[int, dict[str, object]] = {}
    updates: list[dict[str, object]] = []
    ready = threading.Event()
    done = threading.Event()

    ticker = KiteTicker(api_key, access_token, root=root, reconnect=False)

    def on_connect(ws: KiteTicker, response: object) -> None:
        tokens = list(wanted)
        ws.subscribe(tokens)
        ws.set_mode(ws.MODE_LTP, [ltp_token])
        ws.set_mode(ws.MODE_QUOTE, [quote_token])
        ws.set_mode(ws.MODE_FULL, [full_token])

    def on_ticks(ws: KiteTicker, ticks: list[dict[str, object]]) -> None:
        for tick in ticks:
            token = int(tick["instrument_token"])  # type: ignore[call-overload]
            if tick.get("mode") == wanted.get(token):
                seen[token] = {
                    "mode": tick["mode"],
                    "tradable": tick.get("tradable"),
                    "last_price": tick.get("last_price"),
                    "keys": sorted(tick),
                    "depth_buy": len(tick.get("depth", {}).get("buy", [])),  # type: ignore[union-attr]
                    "depth_sell": len(tick.get("depth", {}).get("sell", [])),  # type: ignore[union-attr]
                }
        if len(seen) == len(wanted) and not ready.is_set():
            ready.set()
            print("READY", flush=True)

    def on_order_update(ws: KiteTicker, data: dict[str, object]) -> None:
        updates.append(
            {k: data.get(k) for k in ("order_id", "status", "tradingsymbol", "filled_quantity")}
        )
        if data.get("status") in {"COMPLETE", "CANCELLED", "REJECTED"}:
            done.set()

    ticker.on_connect = on_connect
    ticker.on_ticks = on_ticks
    ticker.on_order_update = on_order_update
    ticker.connect(threaded=True)
    deadline = time.monotonic() + 30
    while not done.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)
    print(
        json.dumps({"ticks": {str(k): v for k, v in seen.items()}, "updates": updates}), flush=True
    )
    return 0 if done.is_set() else 1


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    # Twisted's reactor thread cannot be stopped cleanly from here; end the process.
    import os

    os._exit(code)
