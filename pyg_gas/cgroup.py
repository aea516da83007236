r"""Running a command inside a memory cap (a Linux memory cgroup), to check
that out-of-core runs stay within it and to measure their peak usage.

The cgroup v1 memory controller (``/sys/fs/cgroup/memory``) and cgroup v2
(``memory.max`` in the unified hierarchy) are supported; both need write
access to the hierarchy (usually root). Where neither is available,
:func:`cgroup_support` says why, and tests skip with that reason."""
import os
import os.path as osp
import subprocess
import time
import uuid
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

V1_ROOT = '/sys/fs/cgroup/memory'
V2_ROOT = '/sys/fs/cgroup'


def cgroup_support() -> Optional[str]:
    r"""Returns :obj:`None` if memory cgroups can be created here, and the
    reason otherwise."""
    if osp.isfile(osp.join(V1_ROOT, 'memory.limit_in_bytes')):
        if os.access(V1_ROOT, os.W_OK):
            return None
        return f"no write access to '{V1_ROOT}' (run as root)"
    if osp.isfile(osp.join(V2_ROOT, 'cgroup.controllers')):
        with open(osp.join(V2_ROOT, 'cgroup.controllers')) as f:
            if 'memory' not in f.read().split():
                return 'the cgroup v2 memory controller is not enabled'
        if os.access(V2_ROOT, os.W_OK):
            return None
        return f"no write access to '{V2_ROOT}' (run as root)"
    return 'no cgroup memory controller is mounted'


@dataclass
class CappedRun:
    r"""The outcome of :func:`run_capped`."""
    returncode: int
    stdout: str
    stderr: str
    #: The cap, in bytes.
    limit_bytes: int
    #: The cgroup's peak usage (anonymous memory and page cache; the kernel
    #: reclaims the cache under the cap, so a run that reads large files
    #: peaks near the cap).
    peak_bytes: int
    #: The peak anonymous (resident, non-file) memory of the cgroup, where
    #: the controller reports it (v1 ``memory.stat`` total_rss is sampled).
    peak_rss_bytes: int
    #: How often the cap was hit (v1 ``memory.failcnt``; v2 ``max`` events).
    failcnt: int
    #: Whether the kernel's OOM killer ended the command.
    oom_killed: bool
    wall_s: float


def _write(path: str, value: Any) -> None:
    with open(path, 'w') as f:
        f.write(str(value))


def _read_int(path: str, default: int = 0) -> int:
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return default


def _stat(path: str, key: str) -> int:
    try:
        with open(path) as f:
            for line in f:
                name, value = line.split()
                if name == key:
                    return int(value)
    except OSError:
        pass
    return 0


def run_capped(cmd: List[str], limit_bytes: int,
               env: Optional[Dict[str, str]] = None,
               timeout: Optional[float] = None,
               poll_s: float = 0.2) -> CappedRun:
    r"""Runs :obj:`cmd` in a fresh memory cgroup limited to
    :obj:`limit_bytes` (no swap), and returns its outcome and the cgroup's
    peak usage. The cgroup is removed afterwards."""
    reason = cgroup_support()
    if reason is not None:
        raise RuntimeError(f'Memory cgroups are not available: {reason}')
    v1 = osp.isfile(osp.join(V1_ROOT, 'memory.limit_in_bytes'))
    group = osp.join(V1_ROOT if v1 else V2_ROOT,
                     f'pyg_gas_{uuid.uuid4().hex[:12]}')
    os.mkdir(group)
    try:
        if v1:
            _write(osp.join(group, 'memory.limit_in_bytes'), limit_bytes)
            swap = osp.join(group, 'memory.memsw.limit_in_bytes')
            if osp.exists(swap):
                _write(swap, limit_bytes)
        else:
            _write(osp.join(group, 'memory.max'), limit_bytes)
            _write(osp.join(group, 'memory.swap.max'), 0)
        procs = osp.join(group, 'cgroup.procs')

        def enter() -> None:  # In the child, before it runs 'cmd'.
            _write(procs, os.getpid())

        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env,
                                preexec_fn=enter)
        peak_rss = 0
        stat = osp.join(group, 'memory.stat')
        rss_key = 'total_rss' if v1 else 'anon'
        deadline = None if timeout is None else start + timeout
        out: List[str] = []
        err: List[str] = []
        import threading
        readers = [threading.Thread(target=lambda s, b: b.append(s.read()),
                                    args=(stream, buf), daemon=True)
                   for stream, buf in ((proc.stdout, out),
                                       (proc.stderr, err))]
        for reader in readers:
            reader.start()
        while proc.poll() is None:
            peak_rss = max(peak_rss, _stat(stat, rss_key))
            if deadline is not None and time.perf_counter() > deadline:
                proc.kill()
            time.sleep(poll_s)
        for reader in readers:
            reader.join()
        wall = time.perf_counter() - start
        if v1:
            peak = _read_int(osp.join(group, 'memory.max_usage_in_bytes'))
            failcnt = _read_int(osp.join(group, 'memory.failcnt'))
            oom = _stat(osp.join(group, 'memory.oom_control'),
                        'oom_kill') > 0
        else:
            peak = _read_int(osp.join(group, 'memory.peak'))
            failcnt = _stat(osp.join(group, 'memory.events'), 'max')
            oom = _stat(osp.join(group, 'memory.events'), 'oom_kill') > 0
        oom = oom or proc.returncode == -9
        return CappedRun(proc.returncode, ''.join(out), ''.join(err),
                         limit_bytes, peak, peak_rss, failcnt, oom, wall)
    finally:
        for _ in range(50):  # The group goes once its processes have.
            try:
                os.rmdir(group)
                break
            except OSError:
                time.sleep(0.1)
