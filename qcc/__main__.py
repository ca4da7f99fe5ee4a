"""``python -m qcc`` is the ``qcc`` command."""

from qcc.cli import main

raise SystemExit(main())
