"""Process resources: native thread pools sized from the CPUs this process may use,
and the listening socket of the service.

OpenMP (HistGradientBoosting) and BLAS start one thread per core they see, which in a
container with a CPU limit, or beside other busy processes, is far more than the
process gets: the threads spin and wait for each other. The pools are sized from
the CPU quota (cgroup v2 `cpu.max`, cgroup v1 CFS quota) and the CPU affinity, or
from `runtime.threads` when set.
"""

import errno
import math
import os
import socket
from pathlib import Path

from threadpoolctl import threadpool_info, threadpool_limits

from .logs import get_logger

logger = get_logger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _own_cgroups(proc_cgroup: Path) -> tuple[str, str]:
    """This process's cgroup v2 path (`0::/path`) and v1 cpu path (`N:cpu,...:/path`)."""
    v2 = v1 = "/"
    for line in (_read(proc_cgroup) or "").splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and not controllers and path:
            v2 = path
        elif "cpu" in controllers.split(",") and path:
            v1 = path
    return v2, v1


def cgroup_cpu_limit(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> float | None:
    """CPUs allowed by the cgroup quota (e.g. 1.5), or None when there is no quota.

    cgroup v2: the smallest `cpu.max` ("<quota> <period>" or "max <period>") on the
    way from this process's cgroup up to `root`. cgroup v1: `cpu.cfs_quota_us` over
    `cpu.cfs_period_us` of this process's cpu cgroup, else of the mount (-1: none).
    """
    limits: list[float] = []
    own_v2, own_v1 = _own_cgroups(proc_cgroup)
    folder = root / own_v2.lstrip("/")
    while True:
        quota, _, period = (_read(folder / "cpu.max") or "").partition(" ")
        if quota.isdigit() and period.isdigit() and int(period) > 0:
            limits.append(int(quota) / int(period))
        if folder == root or root not in folder.parents:
            break
        folder = folder.parent
    mounts = (root / "cpu", root / "cpu,cpuacct", root)
    candidates = [mount / own_v1.lstrip("/") for mount in mounts] + list(mounts)
    for v1 in candidates:
        quota_text = _read(v1 / "cpu.cfs_quota_us")
        period_text = _read(v1 / "cpu.cfs_period_us")
        if quota_text and period_text and quota_text.lstrip("-").isdigit():
            quota_us, period_us = int(quota_text), int(period_text)
            if quota_us > 0 and period_us > 0:
                limits.append(quota_us / period_us)
            break
    return min(limits) if limits else None


def affinity_cpus() -> int:
    """CPUs this process may be scheduled on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def available_cpus(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> int:
    """Whole CPUs this process can use: the cgroup quota (rounded up) within its affinity."""
    cpus = affinity_cpus()
    quota = cgroup_cpu_limit(root, proc_cgroup)
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return max(1, cpus)


def thread_count(configured: int | None, root: Path = CGROUP_ROOT) -> int:
    """Threads per native pool: `runtime.threads` when set, else the available CPUs."""
    return configured if configured is not None else available_cpus(root)


def limit_threads(configured: int | None) -> int:
    """Size every native thread pool (OpenMP, BLAS) of this process; return the size."""
    threads = thread_count(configured)
    threadpool_limits(limits=threads)
    pools = {pool["internal_api"]: pool["num_threads"] for pool in threadpool_info()}
    source = "runtime.threads" if configured is not None else "cpu quota"
    logger.info("runtime.threads", threads=threads, source=source, pools=pools)
    return threads


class ServeError(Exception):
    """The service could not start: its address is taken or unusable, or startup failed."""


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host:port`; ServeError saying why not (e.g. port taken)."""
    where = f"{host}:{port}"
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family, backlog=2048)
    except socket.gaierror as error:
        raise ServeError(f"cannot serve on {where}: unknown host ({error})") from None
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            reason = "the port is taken by another process; stop it or pick another --port"
        elif error.errno == errno.EACCES:
            reason = "permission denied (ports below 1024 need privileges); pick another --port"
        elif error.errno == errno.EADDRNOTAVAIL:
            reason = "this machine has no such address; use 127.0.0.1 or 0.0.0.0 as --host"
        else:
            reason = error.strerror or str(error)
        raise ServeError(f"cannot serve on {where}: {reason}") from None
