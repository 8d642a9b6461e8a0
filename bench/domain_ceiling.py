"""The issuance path without HTTP: `python bench/domain_ceiling.py [COLLECTIONS]`.

The other side of ``bench/stack_floor.py``. The floor is the web stack with almost none of the
CA's work; this is all of the CA's work with none of the web stack. It runs the same
collections as ``bench/api_issuance.py``: verified applications prepared beforehand, client
CSRs from a pool of keys, a fresh ``randomNum`` each, on PostgreSQL. They go through
``CertificateLifecycle.collect`` directly, split over ``api_issuance.WORKERS`` processes. Each
process opens its own runtime on the same database, as a uvicorn worker does, and runs
``api_issuance.CLIENTS / WORKERS`` threads.

It prints the rate, each process's CPU per collection and PostgreSQL's, and how busy the machine
was. The rate bounds what the API can reach on these cores. The gap to the API's rate in the
same run is what HTTP, the event loop and the load generator cost. Linux only (``/proc``), and
the PostgreSQL server must run on this machine.
"""

from __future__ import annotations

import multiprocessing
import resource
import secrets
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

from bench import api_issuance, proc_cpu  # noqa: E402
from bench.common import deployment  # noqa: E402

WARM = 10  # per process: connection pool, prepared statements, the CA key


def _collector(home: str, url: str, collections: list[tuple[str, str]], csrs: list[bytes], threads: int,
               start: Any, finish: Any, results: Any) -> None:
    from fincert.config import Settings
    from fincert.runtime import open_runtime

    runtime = open_runtime(Settings(home=Path(home), database_url=url, ca_passphrase="bench-passphrase", log_level="WARNING"))
    lifecycle = runtime.lifecycle

    def collect(index: int, reference: str, code: str) -> None:
        lifecycle.collect(reference, code, csr_pem=csrs[index % len(csrs)], random_num=secrets.token_bytes(20), actor="bench")

    for index, (reference, code) in enumerate(collections[:WARM]):
        collect(index, reference, code)
    queue = list(enumerate(collections[WARM:]))
    lock = threading.Lock()

    def client() -> None:
        while True:
            with lock:
                if not queue:
                    return
                index, (reference, code) = queue.pop()
            collect(index, reference, code)

    start.wait()
    before = resource.getrusage(resource.RUSAGE_SELF)
    workers = [threading.Thread(target=client) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    after = resource.getrusage(resource.RUSAGE_SELF)
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    results.put(used / (len(collections) - WARM) * 1000)
    finish.wait()  # PostgreSQL's backends are counted while they live: close only once they are
    runtime.close()


def measure(rt: Any, collections: list[tuple[str, str]], csrs: list[bytes]) -> tuple[float, list[float], float | None, float | None]:
    """Collect ``collections`` (verified applications of ``rt``'s deployment; the first ``WARM`` of
    each process's share warm it up, untimed) in ``api_issuance.WORKERS`` processes.

    Returns the rate, each process's CPU per collection (ms), PostgreSQL's CPU per collection (ms)
    and how busy the machine was (both None without ``/proc``).
    """
    processes, threads = api_issuance.WORKERS, api_issuance.CLIENTS // api_issuance.WORKERS
    timed = len(collections) - WARM * processes
    context = multiprocessing.get_context("spawn")
    start, finish, results = context.Barrier(processes + 1), context.Barrier(processes + 1), context.Queue()
    children = [
        context.Process(
            target=_collector,
            args=(str(rt.settings.home), rt.settings.database_url, collections[k::processes], csrs, threads, start, finish, results),
        )
        for k in range(processes)
    ]
    for child in children:
        child.start()
    try:
        start.wait(timeout=300)
        began = time.perf_counter()
        postgres_before, machine_before = proc_cpu.postgres_backend_seconds(), proc_cpu.machine_ticks()
        per_process = [results.get(timeout=600) for _ in children]
        elapsed = time.perf_counter() - began
        postgres_after, machine_after = proc_cpu.postgres_backend_seconds(), proc_cpu.machine_ticks()
        finish.wait(timeout=60)
    finally:
        for child in children:
            child.join(timeout=60)
            if child.is_alive():
                child.kill()
    postgres = (postgres_after - postgres_before) / timed * 1000 if None not in (postgres_before, postgres_after) else None  # type: ignore[operator]
    busy = proc_cpu.busy_share(machine_before, machine_after) if None not in (machine_before, machine_after) else None  # type: ignore[arg-type]
    return timed / elapsed, per_process, postgres, busy


def main(requests: int) -> None:
    processes, threads = api_issuance.WORKERS, api_issuance.CLIENTS // api_issuance.WORKERS
    keys = [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(20)]
    csrs = [api_issuance._csr(k).encode() for k in keys]  # noqa: SLF001 - the benchmark's own bodies
    with deployment("postgresql") as rt:
        collections = api_issuance._prepare(rt, requests + WARM * processes)  # noqa: SLF001
        rate, per_process, postgres, busy = measure(rt, collections, csrs)
    print(
        f"{requests} collections without HTTP, {processes} processes x {threads} threads, at {rate:,.0f}/s; "
        f"CPU per collection: processes {', '.join(f'{ms:.2f}' for ms in per_process)} ms, PostgreSQL backends "
        f"{postgres if postgres is not None else float('nan'):.2f} ms; machine {busy if busy is not None else float('nan'):.0%} busy"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
