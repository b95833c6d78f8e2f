"""`volo translate` command(s)."""

from __future__ import annotations
