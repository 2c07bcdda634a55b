"""What a benchmark's results record about where they came from: the commit of the code.

    >>> len(commit()) > 0
    True
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def commit() -> str:
    """The short hash of the checkout's HEAD (the code a benchmark imports), or
    ``"unknown"`` outside a git checkout."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
