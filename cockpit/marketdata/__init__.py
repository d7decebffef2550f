"""Market data the cockpit shows and reasons on: the valued option chain (pure) and the feed
that keeps it live from the broker's ticks."""
