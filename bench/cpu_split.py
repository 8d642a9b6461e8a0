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
import resource
import secrets
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

from bench import api_issuance, proc_cpu  # noqa: E402
from bench.common import deployment  # noqa: E402

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
            before = (proc_cpu.tree_seconds(server.pid), proc_cpu.postgres_backend_seconds(), _own_seconds(), proc_cpu.machine_ticks())
            rate, _ = api_issuance._collect_all(port, bodies[warm:])  # noqa: SLF001
            after = (proc_cpu.tree_seconds(server.pid), proc_cpu.postgres_backend_seconds(), _own_seconds(), proc_cpu.machine_ticks())
        finally:
            server.terminate()
            server.wait(timeout=30)
    busy = proc_cpu.busy_share(before[3], after[3])
    per = [(after[i] - before[i]) / requests * 1000 for i in range(3)]
    print(
        f"{requests} collections at {rate:,.0f}/s; CPU per collection: server workers {per[0]:.2f} ms, "
        f"PostgreSQL backends {per[1]:.2f} ms, load generator {per[2]:.2f} ms; machine {busy:.0%} busy"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
