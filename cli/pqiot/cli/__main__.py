"""``python -m pqiot.cli`` runs the same command as ``pqiot``."""

from pqiot.cli.main import main

raise SystemExit(main())
