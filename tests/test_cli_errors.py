"""Bad input through the real CLI: one clear message, exit code 2, no traceback, no run.
And interruption: Ctrl-C and SIGTERM end the run as KILLED with what it logged kept."""

from __future__ import annotations

import signal
import socket
import time

import pytest

from conftest import FAST, Watched, store_client

BAD_INPUT = [
    (["model.activation=rleu"], ["Unknown activation", "Did you mean 'relu'?"]),
    (["optimizer.lr=abc"], ["optimizer.lr", "could not be converted to Float"]),
    (["optimizer.lr=-1"], ["optimizer.lr (adam): got -1.0", "0 < value"]),
    (["dataset=spirals", "dataset.noise=-1"], ["dataset.noise (spirals): got -1.0"]),
    (["model.foo=1"], ["Key 'foo' not in 'ModelConfig'", "nnexp --cfg job"]),
    (["optimizer=adm"], ["Could not find 'optimizer/adm'", "Did you mean 'adam'?"]),
    (["loss=half_sse"], ["Did you mean 'half_squared_error'?"]),
    (["model=layers", "dataset=sine"], ["network outputs (batch, 2)", "targets of shape (batch, 1)"]),
    (["model.input_size=3"], ["model.input_size is 3", "2 features"]),
    (["trainer.epochs=0"], ["trainer.epochs", "1 <= value"]),
    (["model.dropout=1.5"], ["model.dropout", "value < 1"]),
    (["dataset=csv"], ["path of a CSV file"]),
    (["model.hidden=[4,"], ["cannot parse the override 'model.hidden=[4,'"]),
    # one rule for aliases (issue 12): refused in values as in group options
    (["model.activation=swish"], ["model.activation: got 'swish'", "the canonical name 'silu'"]),
    (["model=layers", "model.layers=[{type:dense,units:4,init:kaiming_normal},relu,{type:dense,units:2}]"],
     ["model.layers.0.init: got 'kaiming_normal'", "the canonical name 'he_normal'"]),
    # a loss and an output head that cannot train together (issue 12): refused, no run
    (["model=layers", "model.layers=[{type:dense,units:8},tanh,{type:dense,units:2},tanh]"],
     ["loss cross_entropy cannot train a network whose output is tanh (tanh_1)",
      "it needs softmax as the network's last layer", "End model.layers with softmax"]),
    (["model.output_activation=identity"],
     ["loss cross_entropy cannot train a network whose output is raw, with no activation after "
      "dense_1", "Set model.output_activation=auto (or softmax)"]),
    (["loss=binary_cross_entropy", "model.output_activation=softmax"],
     ["loss binary_cross_entropy cannot train a network whose output is softmax", "needs sigmoid"]),
    (["loss=kl_div", "model=layers", "model.output_activation=softmax"],
     ["loss kl_div cannot train", "needs log_softmax"]),
]


@pytest.mark.parametrize("args, expected", BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_is_one_message_with_exit_code_2_and_no_run(nnexp_cli, tmp_path, args, expected):
    out = nnexp_cli(*args, *FAST)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    assert out.stderr.startswith("nnexp: error: ")
    for text in expected:
        assert text in out.stderr
    assert not (tmp_path / "mlflow.db").exists()  # checked before the store is even opened


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_tracking_server_fails_at_start_not_after_training(nnexp_cli):
    started = time.monotonic()
    out = nnexp_cli("+experiment=spirals", f"tracking.uri=http://127.0.0.1:{_free_port()}")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Cannot reach the MLflow tracking server" in out.stderr
    assert "FINISHED" not in out.stdout and "Traceback" not in out.stderr
    assert time.monotonic() - started < 60


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["SIGINT", "SIGTERM"])
def test_interrupted_run_is_killed_and_keeps_what_it_logged(tmp_path, sig, code):
    run = Watched(["+experiment=xor", "trainer.epochs=100000", *FAST, "tracking.flush_every_s=0.05",
                   "tracking.max_epoch_points=10000"],
                  tmp_path)
    run_id = run.wait_for_logged_epoch(tmp_path / "mlflow.db")
    assert run.stop(sig) == code, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    client = store_client(tmp_path / "mlflow.db")
    final = client.get_run(run_id)
    assert final.info.status == "KILLED"
    assert final.data.tags["nnexp.failure"] == "killed"
    history = client.get_metric_history(run_id, "loss")
    # 10**5 epochs: every 10th epoch's metrics go to the store (max_epoch_points), none twice
    assert len(history) >= 1 and [m.step for m in history] == list(range(10, 10 * len(history) + 1, 10))


def test_a_diverging_run_says_so_once_without_numpys_warnings(nnexp_cli):
    """Issue 12: six numpy overflow warnings with source lines came before the clean error."""
    out = nnexp_cli("dataset=sine", "loss=mse", "optimizer=sgd", "optimizer.lr=100",
                    "trainer.epochs=3", "tracking=off")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Training diverged: loss became" in out.stderr
    assert "RuntimeWarning" not in out.stderr and "overflow" not in out.stderr, out.stderr
