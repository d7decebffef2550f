"""Cockpit: a desktop trading cockpit for multi-leg NSE options on a Kite Connect v3 broker."""

__version__ = "0.1.0"
