"""``python -m launcher``: the same as the ``tandem`` command."""

from launcher.main import main

raise SystemExit(main())
