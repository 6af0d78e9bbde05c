"""``python -m collector.simulator --config configs/simulated-line.yaml``"""

from collector.simulator import main

raise SystemExit(main())
