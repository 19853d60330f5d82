"""The ``tandem`` command, above both the server and the desktop app: it picks one.

Without a subcommand it starts the tray app (``app/``), or, where there is no display or
tray (or Qt is not installed), the server alone with the board opened in the browser.
Every subcommand is the server's own (``server.cli``). Living above both packages, it is
the one place that knows of both; ``server/`` never imports ``app/``.
"""
