"""`volo demo` command(s)."""

from __future__ import annotations
