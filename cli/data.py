"""`volo data` command(s)."""

from __future__ import annotations
