"""``hydra/launcher=ray`` (and the ``ray_cluster`` preset) for tracked sweeps.

Hydra's Ray launcher waits for all jobs with one ``ray.get``: a job whose worker dies raises
there and ends the sweep. This one waits for each job on its own, so a lost job is one
FAILED job; it also asks Ray not to re-run a job whose worker died (``max_retries: 0``: a
re-run would be a second MLflow run of the same job).

Stopped (Ctrl-C, SIGTERM), it stops its jobs as nnexp stops a run, and waits for them: Ray
would kill the workers of a driver that exits, with their runs half-recorded. ``ray.init``
makes SIGTERM end the driver at once, so the handler it replaced is put back.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, filter_overrides, setup_globals
from omegaconf import open_dict

from nnexp.interrupts import as_received
from nnexp.launchers import LaunchError, job_numbers, lost_job, returned
from nnexp.launchers.pool import STOP_GRACE_S

try:
    from hydra_plugins.hydra_ray_launcher import ray_launcher
except ImportError:  # nnexp[ray] is not installed: nothing to adopt
    ray_launcher = None  # type: ignore[assignment]

log = logging.getLogger(__name__)
#: Ray's single-machine mode: every server on 127.0.0.1 (scripts/ray_cluster.sh starts it so).
SINGLE_MACHINE_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def probe(address, timeout: float = 5.0) -> None:
    """Raise OSError at once if nothing listens at a ``[ray://]host:port`` address (ray.init
    would retry for minutes); ``auto`` and None are Ray's to find."""
    text = str(address or "").removeprefix("ray://")
    if not text or text == "auto" or ":" not in text:
        return
    host, port = text.rsplit(":", 1)
    socket.create_connection((host, int(port)), timeout=timeout).close()


def single_machine(address) -> None:
    """Before ray is imported: a cluster on 127.0.0.1 is only reachable by a driver in Ray's
    single-machine mode (else Ray takes the machine's external address as its own), and a Ray
    of the driver's own (no address) then listens on 127.0.0.1 only."""
    host = str(address or "").removeprefix("ray://").rsplit(":", 1)[0]
    if host in ("", "127.0.0.1", "localhost"):
        os.environ.setdefault(SINGLE_MACHINE_ENV, "0")


@contextmanager
def keeping_sigterm():
    """Put back the SIGTERM handler ``ray.init`` replaces (with one that exits at once): a
    sweep stops its jobs first (nnexp's :class:`~nnexp.interrupts.StopAtStepEnd`)."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if main else None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if ray_launcher is not None:

    class RayLauncher(ray_launcher.RayLauncher):
        """Hydra's Ray launcher; each job waited for on its own (see the module)."""

        def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
            single_machine(self.ray_cfg.init.get("address"))
            import ray

            assert self.config is not None and self.hydra_context is not None  # set by setup()
            setup_globals()
            configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
            sweep_dir = Path(str(self.config.hydra.sweep.dir)).absolute()
            sweep_dir.mkdir(parents=True, exist_ok=True)
            self._connect()
            with open_dict(self.ray_cfg):
                self.ray_cfg.remote.setdefault("max_retries", 0)
            calls = list(zip(job_numbers(self.config, initial_job_idx, len(job_overrides)),
                             map(list, job_overrides)))
            log.info(f"Ray is launching {len(calls)} jobs on {ray.cluster_resources().get('CPU', 0):g} CPUs")
            refs = [self._submit(num, overrides, sweep_dir) for num, overrides in calls]
            try:
                return [self._wait(ref, num, overrides) for ref, (num, overrides) in zip(refs, calls)]
            except KeyboardInterrupt as exc:
                self._stop(refs)
                raise as_received(exc) from None

        def _stop(self, refs: list) -> None:
            """Cancel every job: one not started never starts; a running one gets a
            KeyboardInterrupt, so its run ends KILLED at the end of a step with a checkpoint
            (:mod:`nnexp.interrupts`). Wait for them (at most :data:`STOP_GRACE_S`): once the
            driver exits, Ray kills their workers, and the senders the workers started."""
            import ray

            log.info("Ray: stopping the sweep's jobs")
            for ref in refs:
                try:
                    ray.cancel(ref)
                except ray.exceptions.RayError:
                    pass  # already ended
            ended, _ = ray.wait(refs, num_returns=len(refs), timeout=STOP_GRACE_S)
            for ref in ended:  # a job that finished meanwhile: its result, here too
                try:
                    returned(self.config, ray.get(ref, timeout=0))
                except ray.exceptions.RayError:
                    pass  # cancelled: it recorded itself

        def _submit(self, num: int, overrides: list[str], sweep_dir: Path):
            """One job as a Ray task; its sweep directory absolute (Ray's workers run elsewhere)."""
            from hydra_plugins.hydra_ray_launcher._launcher_util import launch_job_on_ray

            log.info(f"\t#{num} : {' '.join(filter_overrides(overrides))}")
            assert self.config is not None and self.hydra_context is not None  # set by setup()
            assert self.task_function is not None  # set by setup()
            config = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
            with open_dict(config):
                config.hydra.job.id, config.hydra.job.num = f"job_id_for_{num}", num
                config.hydra.sweep.dir = str(sweep_dir)
            return launch_job_on_ray(self.hydra_context, self.ray_cfg.remote, config,
                                     self.task_function, Singleton.get_state())

        def _connect(self) -> None:
            from hydra_plugins.hydra_ray_launcher._launcher_util import start_ray

            init = self.ray_cfg.init
            if not init.get("address"):  # a Ray of its own, in this process (upstream's CI default)
                with open_dict(init):
                    init.setdefault("object_store_memory", 78643200)
            try:
                probe(init.get("address"))
                with keeping_sigterm():
                    start_ray(init)
            except (OSError, RuntimeError, ValueError) as exc:
                raise LaunchError.abandon(
                    f"cannot connect to Ray at address {init.get('address')!r}: {exc}\n"
                    "Start a local cluster with `bash scripts/ray_cluster.sh start`, or set "
                    "hydra.launcher.ray.init.address=HOST:PORT (a remote cluster's head).") from None

        def _wait(self, ref, num: int, overrides: list[str]) -> JobReturn:
            import ray

            try:
                return returned(self.config, ray.get(ref))
            except ray.exceptions.RayError as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                return lost_job(self.config, num, overrides, f"Ray lost it ({type(exc).__name__}: {first})")
