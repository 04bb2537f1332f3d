"""``python -m watcher`` is the same as the ``watcher`` console script."""

from __future__ import annotations

from watcher.cli import main

raise SystemExit(main())
