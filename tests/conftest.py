"""Shared pytest set-up: make tests/ importable as a folder of helpers (toc.py, strategies.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
