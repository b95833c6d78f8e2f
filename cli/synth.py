"""`volo synth` command(s)."""

from __future__ import annotations
