"""Fits the rational function of :mod:`cockpit.pricing.normal` (a script, not a test; it needs
mpmath, which Cockpit does not depend on: ``pip install mpmath`` in a scratch environment).

    python tests/perf/fit_normal_tail.py [M/N …]   # default 6/7

The target is ``R(y) = N(−y)·e^{y²/2}`` on ``[0, 9]``, the fit ``P_M(y)/Q_N(y)`` with ``Q``
monic, its relative error minimised at 320 Chebyshev points in 40-digit arithmetic: Loeb's
linearisation (least squares on ``P − R·Q`` weighted by the previous ``1/(R·Q)``) for ten
rounds, then Lawson's reweighting towards the minimax error for thirty. It prints the largest
relative error on a grid ten times denser, whether ``Q`` has a positive root (it must not),
and the coefficients, lowest degree first.
"""

from __future__ import annotations

import sys
from typing import Any

import mpmath as mp  # type: ignore[import-not-found,unused-ignore]

mp.mp.dps = 40
Y_MAX = 9
POINTS = 320


def tail_ratio(y: Any) -> Any:
    return mp.ncdf(-y) * mp.exp(y * y / 2)


def fit(m: int, n: int) -> tuple[Any, list[Any], list[Any]]:
    ys = [Y_MAX * (1 - mp.cos(mp.pi * (i + 0.5) / POINTS)) / 2 for i in range(POINTS)]
    target = [tail_ratio(y) for y in ys]
    previous = [mp.mpf(1)] * POINTS
    lawson = [mp.mpf(1)] * POINTS
    best: tuple[Any, list[Any], list[Any]] | None = None
    for round_ in range(40):
        a, b = mp.matrix(POINTS, m + 1 + n), mp.matrix(POINTS, 1)
        for i, y in enumerate(ys):
            weight = mp.sqrt(lawson[i]) / (target[i] * previous[i])
            for j in range(m + 1):
                a[i, j] = weight * y**j
            for j in range(n):
                a[i, m + 1 + j] = -weight * target[i] * y**j
            b[i] = weight * target[i] * y**n
        x, _ = mp.qr_solve(a, b)
        p = [x[j] for j in range(m + 1)]
        q = [x[m + 1 + j] for j in range(n)] + [mp.mpf(1)]
        values = [mp.polyval(p[::-1], y) / mp.polyval(q[::-1], y) for y in ys]
        errors = [abs(v / t - 1) for v, t in zip(values, target, strict=True)]
        if best is None or max(errors) < best[0]:
            best = (max(errors), p, q)
        if round_ < 10:
            previous = [mp.polyval(q[::-1], y) for y in ys]
        else:
            total = sum(w * e for w, e in zip(lawson, errors, strict=True))
            lawson = [w * e / total * POINTS for w, e in zip(lawson, errors, strict=True)]
    assert best is not None
    return best


def main(degrees: list[str]) -> None:
    for text in degrees or ["6/7"]:
        m, n = (int(d) for d in text.split("/"))
        _, p, q = fit(m, n)
        dense = [mp.mpf(i) * Y_MAX / (10 * POINTS) for i in range(10 * POINTS + 1)]
        worst = max(
            abs(mp.polyval(p[::-1], y) / mp.polyval(q[::-1], y) / tail_ratio(y) - 1) for y in dense
        )
        roots = mp.polyroots(q[::-1], maxsteps=200, extraprec=200)
        positive = [r for r in roots if abs(mp.im(r)) < 1e-20 and mp.re(r) > 0]
        print(f"{m}/{n}: largest relative error {mp.nstr(worst, 3)} on [0, {Y_MAX}]")
        print(f"  positive real roots of Q: {positive or 'none'}")
        print("  P:", ", ".join(mp.nstr(c, 20) for c in p))
        print("  Q:", ", ".join(mp.nstr(c, 20) for c in q))


if __name__ == "__main__":
    main(sys.argv[1:])
