"""Where the CPU of an API collection goes: `python bench/cpu_split.py [REQUESTS]`.

The server, bodies and clients of ``bench/api_issuance.py`` (PostgreSQL, 8 keep-alive clients,
2 uvicorn workers), one timed run; CPU read from ``/proc`` before and after it: both uvicorn
workers, every PostgreSQL backend, this process (the load generator), and how busy the machine
was. On a machine whose speed drifts between runs, CPU per request says more about a change
than the rate does; run it a few times, alternating old and new code.

Linux only (``/proc``); PostgreSQL's processes are those whose command line starts with
``postgres`` (the server must run on this machine).
"""

from __future__ import annotations

import json
import os
import resource
import secrets
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

from bench import api_issuance  # noqa: E402
from bench.common import deployment  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: str) -> tuple[int, int]:
    """(parent pid, CPU ticks) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[1]), int(fields[11]) + int(fields[12])


def _processes() -> dict[int, tuple[int, int]]:
    found = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                found[int(pid)] = _stat(pid)
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
    return found


def _tree_seconds(root: int) -> float:
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


def _postgres_backend_seconds() -> float:
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            if command.startswith(b"postgres") and b"(" in command:  # a client's backend: "... 127.0.0.1(port) ..."
                total += _stat(pid)[1]
        except (OSError, IndexError, ValueError):
            continue
    return total / TICK


def _machine_ticks() -> list[int]:
    return [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]


def _own_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(requests: int) -> None:
    keys = [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(20)]
    csrs = [api_issuance._csr(k) for k in keys]  # noqa: SLF001 - the same bodies as the benchmark
    warm = api_issuance.CLIENTS * 4
    with deployment("postgresql") as rt:
        collections = api_issuance._prepare(rt, requests + warm)  # noqa: SLF001
        bodies = [
            json.dumps(
                {"reference_number": ref, "authorization_code": code, "storage": "file", "csr": csrs[i % len(csrs)],
                 "random_num": secrets.token_hex(20)}
            ).encode()
            for i, (ref, code) in enumerate(collections)
        ]
        port = api_issuance._free_port()  # noqa: SLF001
        server = api_issuance._start_server(rt, port)  # noqa: SLF001
        try:
            api_issuance._collect_all(port, bodies[:warm])  # noqa: SLF001
            before = (_tree_seconds(server.pid), _postgres_backend_seconds(), _own_seconds(), _machine_ticks())
            rate, _ = api_issuance._collect_all(port, bodies[warm:])  # noqa: SLF001
            after = (_tree_seconds(server.pid), _postgres_backend_seconds(), _own_seconds(), _machine_ticks())
        finally:
            server.terminate()
            server.wait(timeout=30)
    ticks = [b - a for a, b in zip(before[3], after[3])]
    busy = (ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6]) / sum(ticks)
    per = [(after[i] - before[i]) / requests * 1000 for i in range(3)]
    print(
        f"{requests} collections at {rate:,.0f}/s; CPU per collection: server workers {per[0]:.2f} ms, "
        f"PostgreSQL backends {per[1]:.2f} ms, load generator {per[2]:.2f} ms; machine {busy:.0%} busy"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
