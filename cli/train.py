"""`volo train` command(s)."""

from __future__ import annotations
