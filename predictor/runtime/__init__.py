"""One target, end to end: read history, choose and fit a model, forecast, plan the floor.

Shared by the CLI and the daemon, so that `predictor forecast` shows exactly what the daemon
would do. Everything here is given ``now``; nothing reads the clock.
"""
