"""``python -m app``: the same as the ``tandem`` command (tray app, or the server alone)."""

from server.cli import main

raise SystemExit(main())
