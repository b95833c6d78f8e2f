"""One spelling of the device options for `volo train`, `volo translate` and `volo eval`: Lightning's
``--accelerator`` and ``--devices``.

Training passes them to Lightning unchanged. Translation and evaluation run on ONE device, so there ``--devices``
takes Lightning's single-device spellings only: ``auto`` or ``1`` (one device: the first of the accelerator) or
``K,`` / ``[K]`` (the device with index K, Lightning's list syntax). The older ``--device cuda:1`` spelling of
translate and eval still works (hidden from ``--help``) and cannot be combined with the new pair.
"""

from __future__ import annotations

import re

import typer

from volo_adapt.errors import VoloError

ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")
"""``--accelerator`` values for translate and eval (``gpu`` and ``cuda`` are the same)."""


def accelerator_option() -> str:
    return typer.Option("auto", "--accelerator", help="auto (CUDA when available, else CPU) | cpu | gpu | mps.")


def devices_option() -> str:
    return typer.Option("auto", "--devices", help="Lightning syntax, one device here: auto or 1 (the first), "
                        "'K,' (device index K).")


def legacy_device_option() -> str | None:
    return typer.Option(None, "--device", hidden=True, help="Older spelling: auto | cpu | cuda | cuda:N | mps.")


def _device_index(devices: str) -> int | None:
    """``auto``/``1`` -> None (the accelerator's first device); ``K,`` or ``[K]`` -> K."""
    text = devices.strip()
    if text in ("auto", "1", "-1"):
        return None
    m = re.fullmatch(r"\[?\s*(\d+)\s*,?\s*\]?", text)
    if m and ("," in text or "[" in text):
        return int(m.group(1))
    raise VoloError(f"--devices {devices!r}: translate and eval run on one device: give auto, 1, or 'K,' for "
                    "device index K")


def inference_device(accelerator: str, devices: str, device: str | None) -> str:
    """The torch device spelling (``auto``, ``cpu``, ``cuda:1``, ``mps``) for ``--accelerator``/``--devices``, or the
    legacy ``--device`` when that was given instead.

    Raises:
        VoloError: an unknown accelerator, a ``--devices`` that names more than one device, or both spellings.
    """
    if device is not None:
        if accelerator != "auto" or devices != "auto":
            raise VoloError("--device: give either --device or --accelerator/--devices, not both")
        return device
    acc = accelerator.strip().lower()
    if acc not in ACCELERATORS:
        raise VoloError(f"--accelerator {accelerator!r}: must be one of {', '.join(ACCELERATORS)}")
    index = _device_index(devices)
    if acc == "cpu" or acc == "mps":
        if index not in (None, 0):
            raise VoloError(f"--devices {devices!r}: --accelerator {acc} has one device")
        return acc
    if acc in ("gpu", "cuda"):
        return f"cuda:{index or 0}"
    return "auto" if index is None else f"cuda:{index}"
