"""`assessor` command line (the service arrives with its own issue)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("assessor: not built yet; see the project issues", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
