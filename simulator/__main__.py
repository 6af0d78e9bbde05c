"""``python -m simulator --config configs/simulated-line.yaml``"""

from simulator.cli import main

raise SystemExit(main())
