"""``python -m demo`` (scripts/demo.sh does the setup first)."""

from demo.run import main

raise SystemExit(main())
