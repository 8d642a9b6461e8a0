"""Running pyHanko's coroutines for synchronous callers.

pyHanko's signing and validation APIs are ``async``. The synchronous entry points of
``fincert.sign`` drive them here; when the caller already runs inside an event loop (a FastAPI
route calling the sync API) the coroutine runs on a short-lived worker thread with its own loop,
because ``asyncio.run`` refuses to nest.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
