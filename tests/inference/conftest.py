"""Fixtures for the inference tests: tiny checkpoints in the ``volo train`` format."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_FACTORY = Path(__file__).with_name("ckpt_factory.py")
_spec = importlib.util.spec_from_file_location("volo_inference_ckpt_factory", _FACTORY)
factory = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(factory)


@pytest.fixture(scope="session")
def ckpt_factory():
    """The ``ckpt_factory`` module (``tiny_config``, ``make_checkpoint``)."""
    return factory


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory) -> Path:
    """A vologan (3 levels, base 4) training checkpoint without EMA."""
    return factory.make_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.ckpt", factory.tiny_config())


@pytest.fixture(scope="session")
def ema_ckpt(tmp_path_factory) -> Path:
    """A vologan checkpoint whose config has EMA on and which holds the EMA generators."""
    return factory.make_checkpoint(tmp_path_factory.mktemp("ckpt") / "ema.ckpt", factory.tiny_config(ema=True))


@pytest.fixture(scope="session")
def resnet_ckpt(tmp_path_factory) -> Path:
    """A resnet9 (1 block, base 4) checkpoint."""
    return factory.make_checkpoint(tmp_path_factory.mktemp("ckpt") / "resnet.ckpt", factory.tiny_config("resnet9"))
