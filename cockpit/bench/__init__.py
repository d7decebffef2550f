"""Cockpit's benchmarks, installed with the app so ``cockpit bench`` runs anywhere: one module
per figure group (execution, condor, journal, shocks, pricing, ticks, window, startup, exchange),
each with ``run(quick) -> list[Figure]``, the paper-exchange desk the execution ones share
(:mod:`cockpit.bench.paper`), and the command that runs them all and prints every figure beside
its target (:mod:`cockpit.bench.command`). Benchmarks print figures; tests never assert them."""

from cockpit.bench.figure import Figure

__all__ = ["Figure"]
