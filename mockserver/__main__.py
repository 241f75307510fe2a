"""``python -m mockserver``: the same as the ``paradex-mock`` command."""

from mockserver.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
