"""Benchmark of cockpit.pricing: price, greeks and implied vol over 10,000 and 100,000 options.

Run it as a script (``.venv/bin/python tests/perf/bench_pricing.py``); pytest does not collect
it. Options are an index-like book: forwards around 24,000, strikes within about ±15% of the
forward, expiries from five minutes to a year, vols 8%-60%, calls and puts mixed. Each figure
is the median wall time of several runs of one vectorised call. Minutes from expiry, a
strike a few percent away is hundreds of standard deviations from the money: its time value
underflows to zero (or, in the money, is lost in the rounding of the intrinsic value), and
its IV is NaN with "no time value", as it should be.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from cockpit.pricing import greeks, implied_vol, implied_vol_with_reasons, price

FIVE_MINUTES = 5 / (365 * 24 * 60)
RATE = 0.065


def _book(n: int, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    forward = 24_000.0 * np.exp(rng.normal(0.0, 0.02, n))
    strike = np.round(forward * np.exp(rng.normal(0.0, 0.07, n)) / 50.0) * 50.0
    years = np.exp(rng.uniform(np.log(FIVE_MINUTES), 0.0, n))
    vol = rng.uniform(0.08, 0.60, n)
    is_call = rng.random(n) < 0.5
    return {"forward": forward, "strike": strike, "years": years, "vol": vol, "is_call": is_call}


def _median_ms(run: Callable[[], object], repeats: int) -> float:
    run()  # warm up (imports, first-touch allocation)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def _figures(n: int, repeats: int) -> tuple[float, float, float, str]:
    """(price ms, greeks ms, IV ms, why IVs were not solved) for ``n`` options."""
    b = _book(n)
    f, k, t, v, c = b["forward"], b["strike"], b["years"], b["vol"], b["is_call"]
    premiums = price(f, k, t, rate=RATE, vol=v, is_call=c)
    price_ms = _median_ms(lambda: price(f, k, t, rate=RATE, vol=v, is_call=c), repeats)
    greeks_ms = _median_ms(lambda: greeks(f, k, t, rate=RATE, vol=v, is_call=c), repeats)
    iv_ms = _median_ms(lambda: implied_vol(premiums, f, k, t, rate=RATE, is_call=c), repeats)
    _, reasons = implied_vol_with_reasons(premiums, f, k, t, rate=RATE, is_call=c)
    labels, counts = np.unique(reasons, return_counts=True)
    unsolved = ", ".join(
        f"{label or 'solved'} {count:,}" for label, count in zip(labels, counts, strict=True)
    )
    return price_ms, greeks_ms, iv_ms, unsolved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="runs per figure (median)")
    args = parser.parse_args()

    print(f"median of {args.repeats} runs, ms per call")
    print(f"{'options':>9}  {'price':>7}  {'greeks':>7}  {'IV':>7}  IV outcome")
    for n in (10_000, 100_000):
        price_ms, greeks_ms, iv_ms, outcome = _figures(n, args.repeats)
        print(f"{n:>9,}  {price_ms:>7.2f}  {greeks_ms:>7.2f}  {iv_ms:>7.2f}  {outcome}")


if __name__ == "__main__":
    main()
