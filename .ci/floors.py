"""Print each runtime dependency of pyproject.toml pinned to its floor (``name==version``).

``make test-lowest`` installs with these as constraints: a floor that cannot be installed
beside the others (a dependency of ours needs more) fails the install instead of being
lifted silently, and the tests then run against the versions the floors promise.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    sys.exit("floors.py needs Python 3.11 or newer (tomllib): set PYTHON=python3.11 or newer")

FLOOR = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*[^;]*?>=\s*([^,;\s]+)")


def floors(pyproject: Path) -> list[str]:
    dependencies = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    pins = []
    for requirement in dependencies:
        match = FLOOR.match(requirement)
        if match is None:
            sys.exit(f"{requirement!r} in {pyproject} has no '>=' floor: give it one, so it is tested")
        pins.append(f"{match[1]}=={match[2]}")
    return pins


if __name__ == "__main__":
    print("\n".join(floors(Path(__file__).parent.parent / "pyproject.toml")))
