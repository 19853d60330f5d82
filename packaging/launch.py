"""Entry script for the frozen build: the same ``tandem`` command the package installs."""

from launcher.main import main

if __name__ == "__main__":
    raise SystemExit(main())
