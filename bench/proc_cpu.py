"""CPU time read from Linux's ``/proc``: a process tree's, PostgreSQL's backends', the machine's.

On a machine whose speed drifts between runs, CPU per request says more about a change than a
rate does (``bench/cpu_split.py``, ``bench/api_issuance.py``). Every reader returns ``None``
where there is no ``/proc`` (the benchmarks then report rates only). PostgreSQL's backends are
the processes whose command line starts with ``postgres`` and names a client (``(port)``): the
server must run on this machine.
"""

from __future__ import annotations

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PROC = Path("/proc")


def available() -> bool:
    return (PROC / "stat").is_file()


def _stat(pid: str) -> tuple[int, int]:
    """(parent pid, CPU ticks: user + system) of a process."""
    fields = (PROC / pid / "stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[1]), int(fields[11]) + int(fields[12])


def _processes() -> dict[int, tuple[int, int]]:
    found = {}
    for pid in os.listdir(PROC):
        if pid.isdigit():
            try:
                found[int(pid)] = _stat(pid)
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
    return found


def tree_seconds(root: int) -> float | None:
    """CPU seconds used so far by ``root`` and its living descendants."""
    if not available():
        return None
    processes = _processes()
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in processes.items():
        children.setdefault(parent, []).append(pid)
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += processes.get(pid, (0, 0))[1]
        stack.extend(children.get(pid, []))
    return total / TICK


def postgres_backend_seconds() -> float | None:
    """CPU seconds used so far by every living PostgreSQL client backend on this machine."""
    if not available():
        return None
    total = 0
    for pid in os.listdir(PROC):
        if not pid.isdigit():
            continue
        try:
            command = (PROC / pid / "cmdline").read_bytes().replace(b"\0", b" ")
            if command.startswith(b"postgres") and b"(" in command:  # "postgres: user db 127.0.0.1(port) ..."
                total += _stat(pid)[1]
        except (OSError, IndexError, ValueError):
            continue
    return total / TICK


def machine_ticks() -> list[int] | None:
    """The machine's CPU ticks so far, by state (the first line of ``/proc/stat``)."""
    if not available():
        return None
    return [int(v) for v in (PROC / "stat").read_text().splitlines()[0].split()[1:]]


def busy_share(before: list[int], after: list[int]) -> float:
    """How busy the machine was between two ``machine_ticks`` (user, nice, system, irq, softirq)."""
    ticks = [b - a for a, b in zip(before, after)]
    return (ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6]) / max(1, sum(ticks))
