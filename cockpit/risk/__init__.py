"""Risk: pre-trade checks, the position validator, exercise and assignment alerts, the alert
centre model, margin estimates and shock grids — plain, typed, Qt-free and asyncio-free."""
