"""The run record on disk: part tables, the journal, state files, checkpoints and resume."""

import json
import signal

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import nnexp
from nnexp import hookimpl
from nnexp.checkpoint import CheckpointError, capture
from nnexp.early_stopping import EarlyStopping
from nnexp.interrupts import StopAtStepEnd
from nnexp.record import Record, Recorder, journal, read_state, write_state
from nnexp import stats as stats_mod
from nnexp.record import recorder as recorder_mod
from nnexp.record import table as table_mod
from nnexp.record.liveness import alive, identity
from nnexp.record.table import PartTable


def rows(first, last):
    steps = np.arange(first, last + 1)
    return pa.table({"step": steps, "value": steps * 0.5})


def test_part_table_merges_parts_and_reads_every_row_once(tmp_path, monkeypatch):
    monkeypatch.setattr(table_mod, "FANOUT", 4)
    t = PartTable(tmp_path / "steps", "step")
    for i in range(21):  # 21 flushes of 3 rows: merged 4 at a time, into two levels
        t.append(rows(3 * i + 1, 3 * i + 3))
    names = sorted(p.name for p in t.parts())
    assert len(names) < 10 and any(n.startswith("L2-") for n in names)
    frame = t.read()
    assert list(frame.index) == list(range(1, 64)) and list(frame["value"]) == [s * 0.5 for s in range(1, 64)]
    assert t.last_key() == 63
    assert t.export(tmp_path / "all.parquet") == 63
    assert list(pd.read_parquet(tmp_path / "all.parquet")["step"]) == list(range(1, 64))


def test_a_merged_part_whose_inputs_were_not_deleted_is_not_read_twice(tmp_path):
    t = PartTable(tmp_path, "step")
    t.append(rows(1, 5))
    t.append(rows(6, 9))
    t._stream(t.parts(), tmp_path / "L1-000000000001-000000000009.parquet")  # as a crash would leave it
    assert len(list(tmp_path.glob("*.parquet"))) == 3
    assert list(t.read().index) == list(range(1, 10))


def test_truncate_drops_rows_past_a_key_and_keeps_the_rest(tmp_path):
    t = PartTable(tmp_path, "step")
    for first in (1, 11, 21):
        t.append(rows(first, first + 9))
    t.truncate(14)
    assert list(t.read().index) == list(range(1, 15)) and t.last_key() == 14
    t.append(rows(15, 16))
    assert list(t.read().index) == list(range(1, 17))


def test_journal_reads_complete_lines_only_and_finds_the_last_steps(tmp_path):
    path = tmp_path / "journal.jsonl"
    j = journal.Journal(path)
    j.metrics(journal.EPOCH, 1, {"loss": 0.5})
    j.metrics(journal.STEP, 7, {"step_loss": 0.4})
    j.tags({"a": 1})
    j.flush()
    with open(path, "a") as fh:
        fh.write('{"k": "e", "s": 2, "t"')  # a line cut by a crash
    entries, offset = journal.read(path)
    assert [e["k"] for e in entries] == ["e", "s", "tag"] and entries[2]["tags"] == {"a": "1"}
    assert offset < path.stat().st_size
    assert journal.read(path, offset) == ([], offset)
    assert journal.last_steps(path) == {"e": 1, "s": 7}


def test_state_files_round_trip_nested_arrays_without_pickle(tmp_path):
    state = {"a": np.arange(6.0).reshape(2, 3), "nested": {"b": [1, np.int64(2), {"c": np.ones(2, np.float32)}]},
             "big": 2 ** 70, "none": None, "text": "x"}
    path = write_state(tmp_path / "s.npz", state)
    back = read_state(path)
    np.testing.assert_array_equal(back["a"], state["a"])
    assert back["nested"]["b"][:2] == [1, 2] and back["nested"]["b"][2]["c"].dtype == np.float32
    assert back["big"] == 2 ** 70 and back["none"] is None and back["text"] == "x"
    with np.load(path, allow_pickle=False) as data:  # loads with pickle refused
        assert "__state__" in data.files


def net(seed=3, hidden=8):
    return nnexp.Network.mlp(3, [hidden], 2, activation="tanh", output_activation="softmax", dropout=0.2,
                             dtype="float64", seed=seed)


def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    return X, np.eye(2)[(X[:, 0] > 0).astype(int)]


FIT = dict(loss="cross_entropy", optimizer={"type": "adam", "lr": 0.01, "weight_decay": 0.01},
           schedule={"type": "cosine", "warmup": 3}, batch_size=8)


class SignalAt:
    """The first Ctrl-C of a user at global step ``step`` (handled as the app handles it)."""

    def __init__(self, stop, step):
        self.stop, self.step = stop, step

    @hookimpl(tryfirst=True)
    def on_step_end(self, run, loss):
        if run.step == self.step:
            self.stop._on_signal(2, None)


def interrupted_then_resumed(tmp_path, step, epochs=30, make=net, watch=(), **extra):
    """Train ``epochs`` straight (A) and interrupted at ``step`` then resumed from the
    checkpoint (B), both recorded (``watch``: plugins for each fit, called after the record's
    hooks); return (network A, network B, record A, record B)."""
    X, y = data()
    kw = dict(FIT, validation_data=(X[:10], y[:10]), **extra)
    settings = {"flush_every_s": 0.01}
    a = make()
    nnexp.fit(a, X, y, epochs=epochs, callbacks=[Recorder(tmp_path / "a", settings), *watch], **kw)
    with StopAtStepEnd() as stop:
        with pytest.raises(KeyboardInterrupt):
            nnexp.fit(make(), X, y, epochs=epochs,
                      callbacks=[SignalAt(stop, step), Recorder(tmp_path / "b", settings), *watch, stop], **kw)
    rec_b = Record(tmp_path / "b")
    assert rec_b.meta()["status"] == "KILLED" and rec_b.checkpoint_path().is_file()
    b = make()
    nnexp.fit(b, X, y, epochs=epochs, resume=read_state(rec_b.checkpoint_path()),
              callbacks=[Recorder(rec_b, settings), *watch], **kw)
    return a, b, Record(tmp_path / "a"), rec_b


def sent(record):
    """The journal's metric lines as (kind, step, values), in step order."""
    entries, _ = journal.read(record.journal_path)
    return sorted((e["k"], e["s"], json.dumps(e["m"], sort_keys=True)) for e in entries if "s" in e)


@pytest.mark.parametrize("step", [1, 13, 14, 61])  # first step, mid-epoch, an epoch's last, later
def test_a_run_interrupted_anywhere_and_resumed_is_bit_identical(tmp_path, step):
    a, b, rec_a, rec_b = interrupted_then_resumed(tmp_path, step)
    for name in a.params:
        assert np.array_equal(a.params[name], b.params[name]), name
    assert rec_a.steps.read().equals(rec_b.steps.read())
    assert rec_a.epochs.read().equals(rec_b.epochs.read())
    assert sent(rec_a) == sent(rec_b)  # every value sent, once, at the same step
    np.testing.assert_array_equal(rec_a.histograms()["counts/dense_0.W"], rec_b.histograms()["counts/dense_0.W"])


@pytest.mark.skipif(stats_mod._cores() < 2, reason="statistics are reduced beside training with two cores")
@pytest.mark.parametrize("step", [13, 61])
def test_statistics_reduced_beside_training_resume_bit_identically(tmp_path, monkeypatch, step):
    """A layer large enough for the second thread (BESIDE lowered to it): the record's rows of
    a run interrupted mid-chunk and resumed (StepStats.state/load_state) are those of the
    straight run."""
    monkeypatch.setattr(stats_mod, "BESIDE", 0)
    readers = []

    class Watch:
        @hookimpl(trylast=True)
        def on_step_end(self, run, loss):
            readers.append(len(run.trainer.readers))

    _, _, rec_a, rec_b = interrupted_then_resumed(tmp_path, step, make=lambda: net(hidden=400),
                                                  watch=[Watch()])
    assert set(readers) == {1}  # dense_1.W (400 x 2 = 800) is small, dense_0.W (1200) is not
    assert rec_a.steps.read().equals(rec_b.steps.read())
    assert sent(rec_a) == sent(rec_b)


def test_early_stopping_state_survives_a_resume(tmp_path):
    X, y = data()
    kw = dict(FIT, validation_data=(X[:10], y[:10]))
    straight, first, resumed = (EarlyStopping("val_loss", patience=3, min_delta=0.05) for _ in range(3))
    ha = nnexp.fit(net(), X, y, epochs=200, callbacks=[straight, Recorder(tmp_path / "a")], **kw)
    assert straight.stopped_epoch and len(ha) == straight.stopped_epoch < 200
    with StopAtStepEnd() as stop:  # stopped two epochs before early stopping would stop it
        with pytest.raises(KeyboardInterrupt):
            nnexp.fit(net(), X, y, epochs=200, callbacks=[
                first, SignalAt(stop, 7 * (straight.stopped_epoch - 2)), Recorder(tmp_path / "b"), stop], **kw)
    state = read_state(Record(tmp_path / "b").checkpoint_path())
    hc = nnexp.fit(net(), X, y, epochs=200, resume=state, callbacks=[resumed, Recorder(tmp_path / "b")], **kw)
    assert len(hc) == len(ha) and resumed.stopped_epoch == straight.stopped_epoch
    assert hc["val_loss"] == ha["val_loss"]


def test_resuming_into_another_network_is_a_clear_error(tmp_path):
    X, y = data()
    run_state = {}

    class Grab:
        @hookimpl
        def on_epoch_end(self, run, epoch, metrics):
            run_state["s"] = capture(run)

    nnexp.fit(net(), X, y, epochs=1, callbacks=[Grab()], **FIT)
    with pytest.raises(CheckpointError, match="does not fit this network"):
        nnexp.fit(net(hidden=9), X, y, epochs=2, resume=run_state["s"], **FIT)


def test_memory_stays_flat_the_history_spills_to_the_record(tmp_path, monkeypatch):
    monkeypatch.setattr(recorder_mod, "KEEP_EPOCHS", 5)
    X, y = data()
    rec = Recorder(tmp_path / "r", {"flush_every_s": 0.01})
    history = nnexp.fit(net(), X, y, epochs=40, callbacks=[rec], **FIT)
    assert len(history.epochs) < 10 and history.offset > 30 and len(history) == 40
    assert history["loss"] == list(rec.record.epochs.read()["loss"])
    assert list(history.to_frame().index) == list(range(1, 41))
    assert len(rec.stats.raw) <= 512  # rows leave memory at each flush
    assert len(rec.record.steps.read()) == 40 * 7


def test_checkpoints_every_n_epochs_and_the_best_by_a_monitored_metric(tmp_path):
    X, y = data()
    rec = Recorder(tmp_path / "r", checkpoint={"every_epochs": 5, "every_seconds": 0, "monitor": "val_loss"})
    history = nnexp.fit(net(), X, y, epochs=12, callbacks=[rec], validation_data=(X[:10], y[:10]), **FIT)
    assert rec.timings["checkpoints"] == 3  # epochs 5, 10 and the end
    best = read_state(rec.record.checkpoint_path("best"))
    losses = history["val_loss"]
    assert len(best["history"]["epochs"]) == int(np.argmin(losses)) + 1
    last = read_state(rec.record.checkpoint_path("last"))
    assert last["step"] == 12 * 7 and last["progress"] is None


def test_liveness_knows_this_process_and_a_gone_or_reused_pid():
    me = identity()
    assert alive(me) is True
    assert alive({**me, "pid_start": "1"}) is False  # the pid, now another process
    assert alive({**me, "pid": "999999999"}) is False
    assert alive({**me, "host": "elsewhere"}) is None


class SignalAtRunEnd:
    """Delivers a signal in the run's end: after the signal handler's own ``on_run_end``
    (registered after this one, so called first) and before the record writes its end."""

    def __init__(self, stop):
        self.stop = stop

    @hookimpl
    def on_run_end(self, run, status, error):
        self.stop._on_signal(signal.SIGTERM, None)


def test_a_signal_while_a_finished_run_is_recorded_is_held_until_it_is(tmp_path):
    X, y = data()
    with StopAtStepEnd() as stop:
        nnexp.fit(net(), X, y, epochs=3, callbacks=[SignalAtRunEnd(stop), Recorder(tmp_path / "r"), stop],
                  **FIT)  # no exception here: the run's end is written in full
        rec = Record(tmp_path / "r")
        assert rec.meta()["status"] == "FINISHED" and rec.checkpoint_path().is_file()
        assert (rec.artifacts / "model.npz").is_file()
        with pytest.raises(KeyboardInterrupt):
            stop.release()  # the owner, once the run is recorded: the held signal now
        stop.release()  # nothing held any more


def test_a_run_continued_without_a_checkpoint_trains_again_and_journals_each_step_once(tmp_path):
    X, y = data()
    first = Recorder(tmp_path / "r", {"flush_every_s": 0.01})
    nnexp.fit(net(), X, y, epochs=3, callbacks=[first], **FIT)  # then lost before any checkpoint
    (tmp_path / "r" / "artifacts" / "checkpoints").rename(tmp_path / "gone")
    before, lines = sent(Record(tmp_path / "r")), Record(tmp_path / "r").journal_path.read_bytes()
    again = Recorder(tmp_path / "r", {"flush_every_s": 0.01}, continues=True)
    nnexp.fit(net(), X, y, epochs=5, callbacks=[again], **FIT)  # from the start, same seeds
    after = sent(Record(tmp_path / "r"))
    # the journal grew: what a sink already sent from it (its offset) is still where it was
    assert Record(tmp_path / "r").journal_path.read_bytes().startswith(lines)
    keys = [(k, s) for k, s, _ in after]
    assert len(keys) == len(set(keys))  # no step twice
    assert set(before) <= set(after)  # the first 3 epochs' values, unchanged
    assert max(s for k, s, _ in after if k == "e") == 5
    assert list(Record(tmp_path / "r").epochs.read().index) == [1, 2, 3, 4, 5]


def test_a_signal_held_at_a_runs_end_is_raised_when_its_block_ends_if_nobody_released_it(tmp_path):
    X, y = data()
    with pytest.raises(KeyboardInterrupt):
        with StopAtStepEnd() as stop:
            nnexp.fit(net(), X, y, epochs=2, callbacks=[SignalAtRunEnd(stop), Recorder(tmp_path / "r"), stop],
                      **FIT)
    assert Record(tmp_path / "r").meta()["status"] == "FINISHED"
