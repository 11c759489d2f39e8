"""Stopping a task for sure.

On Python 3.11 `asyncio.wait_for` (used inside aiomqtt and pymodbus) can swallow a
cancellation that races with its inner future completing; the task then runs on as if
never cancelled. So a stop cancels again until the task is done, or the time is up.
A leaf module (like `drivers.clock`): the drivers and the daemon both stop tasks with it.
"""

from __future__ import annotations

import asyncio

SLICE_S = 0.2


async def cancel_and_wait(task: asyncio.Task[object], timeout_s: float | None = None) -> bool:
    """Cancel `task` (again every SLICE_S) until it is done; False if `timeout_s` ran out.

    The caller's own cancellation is not swallowed: it is raised once the task is done
    (or the time is up).
    """
    loop = asyncio.get_running_loop()
    deadline = None if timeout_s is None else loop.time() + timeout_s
    cancelled = False
    while not task.done():
        task.cancel()
        wait = SLICE_S if deadline is None else min(SLICE_S, deadline - loop.time())
        if wait <= 0:
            break
        try:
            await asyncio.wait({task}, timeout=wait)
        except asyncio.CancelledError:
            cancelled = True  # finish stopping first: a half-stopped task leaks
    if cancelled:
        raise asyncio.CancelledError
    return task.done()
