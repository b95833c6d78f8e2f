"""`volo export` command(s)."""

from __future__ import annotations
