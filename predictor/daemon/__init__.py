"""The long-running daemon: schedules retrains and reconciles; a composition root like the CLI."""
