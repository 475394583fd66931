"""Fail when a module grows past its limit: split it by responsibility before it becomes a place nobody wants to work.

Usage: python scripts/check_module_length.py   (exit 1 and one line per offender when any module is too long)
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Source modules stay small enough to read in one sitting; test modules may run a little longer
# because worked examples are long, but not without end.
LIMITS = {"src": 400, "tests": 500, "bench": 500}


def offenders() -> list[str]:
    found = []
    for folder, limit in LIMITS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            if any(part.startswith(".") or part == "node_modules" for part in path.relative_to(ROOT).parts):
                continue
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > limit:
                found.append(f"{path.relative_to(ROOT)}: {lines} lines (limit {limit}): split it by responsibility")
    return found


def main() -> int:
    found = offenders()
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
