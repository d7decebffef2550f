"""Execution: the only code that sends orders, and the pure rules it sends them by.

The coordinator owns every order group and is the one place an order leaves Cockpit; beside
it live the rules it applies without I/O — freeze-limit slicing and risk release
(:mod:`cockpit.execution.slicing`), uncovered-exposure measurement and timing
(:mod:`cockpit.execution.exposure`) — so they are tested as plain functions.
"""
