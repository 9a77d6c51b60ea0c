"""A signal during training ends the run after the current step, as KILLED."""

import signal

import numpy as np
import pytest

import nnexp
from nnexp import hookimpl
from nnexp.interrupts import StopAtStepEnd, Terminated


class SignalAt:
    """Delivers a signal to the handler at a given step, as the OS would mid-training."""

    def __init__(self, stop, step, signum):
        self.stop, self.step, self.signum, self.steps, self.status = stop, step, signum, 0, None

    @hookimpl(tryfirst=True)
    def on_step_end(self, run, loss):
        self.steps = run.step
        if run.step == self.step:
            self.stop._on_signal(self.signum, None)

    @hookimpl
    def on_run_end(self, run, status, error):
        self.status = status


@pytest.mark.parametrize("signum, error", [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, Terminated)])
def test_first_signal_stops_after_the_current_step_as_killed(signum, error):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.normal(size=(40, 1))
    net = nnexp.Network.mlp(3, [4], 1)
    with StopAtStepEnd() as stop:
        probe = SignalAt(stop, step=3, signum=signum)  # mid-epoch: 10 steps per epoch
        with pytest.raises(error):
            nnexp.fit(net, X, y, epochs=5, batch_size=4, callbacks=[probe, stop])
    assert probe.steps == 3 and probe.status == "KILLED"


def test_sigterm_stays_terminated_when_a_library_raises_a_plain_keyboardinterrupt():
    # Ray's ray.get catches what the handler raised and raises KeyboardInterrupt() of its own
    from nnexp.interrupts import as_received

    with StopAtStepEnd() as stop:
        with pytest.raises(Terminated):
            stop._on_signal(signal.SIGTERM, None)
        assert isinstance(as_received(KeyboardInterrupt()), Terminated)
        assert isinstance(as_received(Terminated()), Terminated)
    assert type(as_received(KeyboardInterrupt())) is KeyboardInterrupt  # no signal: as it came
