"""nnexp's messages to its user: printed as always (results on stdout, notices on stderr) and
logged to the ``nnexp.messages`` logger, which Hydra's job logging (``conf/hydra/job_logging/nnexp.yaml``)
writes to the run's ``nnexp.log`` only — so the terminal shows each message once and the run's
output directory keeps them all, with their times."""

from __future__ import annotations

import logging
import sys

LOG = logging.getLogger("nnexp.messages")
# Unconfigured (the API, subcommands, a sweep's launching process): logged nowhere, so printed
# once; never handed up (to ``nnexp``, the root logger), whose console handler would print it
# again. Other ``nnexp.*`` loggers (plugin warnings) are left as they are.
LOG.addHandler(logging.NullHandler())
LOG.propagate = False


def say(*parts, file=None, flush: bool = True, sep: str = " ", level: int = logging.INFO) -> None:
    """``print(*parts, file=file)``, flushed, and the same text logged at ``level``."""
    text = sep.join(str(p) for p in parts)
    print(text, file=file if file is not None else sys.stdout, flush=flush)
    if text.strip():
        LOG.log(level, text.strip("\n"))
