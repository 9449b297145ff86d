"""CPU threads of torch, OpenMP and BLAS: one deliberate choice per process.

Left alone, torch and the OpenMP runtimes (open3d, OpenBLAS) start one worker per core and
busy-wait between parallel regions. On a robot PC where other nodes share the cores, those
workers fight each other and every other process: the stack then runs several times slower than
with a single thread (docs/threads.md has the measurements). :func:`apply_threads` sets one
count for all of them: the environment variables the OpenMP and BLAS runtimes (and torch) read
when they load, so it must run before open3d is first used, and ``torch.set_num_threads`` for a
torch that is already loaded.

``threads`` >= 1 is taken as given; 0 means "the free cores": the cores this process may run on
minus the one-minute load average, at least 1.
"""

from __future__ import annotations

import logging
import os
import sys

LOG = logging.getLogger(__name__)

#: Default of ``--threads`` and of the nodes' ``threads`` parameter (see docs/threads.md).
DEFAULT_THREADS = 1
#: Variables read by libgomp/libomp, OpenBLAS, MKL and numexpr when they are loaded.
THREAD_ENV_VARS: tuple[str, ...] = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def free_cores() -> int:
    """Usable cores minus the one-minute load average (rounded), at least 1."""
    try:
        busy = round(os.getloadavg()[0])
    except OSError:
        busy = 0
    return max(1, usable_cores() - busy)


def resolve_threads(threads: int) -> int:
    """The thread count ``threads`` stands for (0: :func:`free_cores`); ValueError below 0."""
    if isinstance(threads, bool) or int(threads) != threads or threads < 0:
        raise ValueError(f"threads must be an integer >= 0 (0 = the free cores), got {threads!r}")
    return int(threads) if threads > 0 else free_cores()


def apply_threads(threads: int) -> int:
    """Use ``threads`` CPU threads (0: the free cores) in torch, OpenMP and BLAS; returns the count."""
    count = resolve_threads(threads)
    for name in THREAD_ENV_VARS:
        os.environ[name] = str(count)
    torch = sys.modules.get("torch")  # a torch loaded later reads OMP_NUM_THREADS itself
    if torch is not None and torch.get_num_threads() != count:
        torch.set_num_threads(count)
    LOG.debug("CPU threads: %d", count)
    return count
