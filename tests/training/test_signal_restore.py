"""Code that installs signal handlers puts the previous ones back, whatever they were (tests/conftest.py checks
SIGINT over the whole session; these name the code path)."""

from __future__ import annotations

import os
import signal

import pytest

from volo_adapt.training.preemption import STOP_SIGNALS, StopRequest, stop_signal_handlers


@pytest.fixture
def odd_handlers():
    """SIGINT ignored (as in a job started in the background of a script), SIGTERM a function, SIGUSR1 default."""
    saved = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _custom)
    signal.signal(signal.SIGUSR1, signal.SIG_DFL)
    yield {s: signal.getsignal(s) for s in STOP_SIGNALS}
    for s, h in saved.items():
        signal.signal(s, h)


def _custom(signum, frame) -> None:
    pass


def test_stop_signal_handlers_put_back_ignored_custom_and_default_handlers(odd_handlers):
    with stop_signal_handlers(StopRequest()) as request:
        assert {signal.getsignal(s) for s in STOP_SIGNALS} == {request.handler}
        os.kill(os.getpid(), signal.SIGINT)
    assert request.signal_name == "SIGINT" and request.handler is None
    assert {s: signal.getsignal(s) for s in STOP_SIGNALS} == odd_handlers


def test_second_ctrl_c_puts_back_the_previous_handlers_too(odd_handlers):
    with pytest.raises(KeyboardInterrupt), stop_signal_handlers(StopRequest()):
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
    assert {s: signal.getsignal(s) for s in STOP_SIGNALS} == odd_handlers
