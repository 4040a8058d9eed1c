"""The command-line interface: a composition root, like the daemon."""
