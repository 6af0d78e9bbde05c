"""Uploaded files are parsed in a short-lived worker process, never on the event loop.

The structural limits (assessor.domain.upload_limits) refuse what a file declares; this is the
backstop for what they cannot foresee. Each parse runs in its own process, forked from a
fork server that has the parsers imported already (so a fork costs milliseconds, and no
thread state of the server is copied into it). The process has an address-space limit,
is killed once the wall-time limit passes, and gives all its memory back when it ends;
the server thread that waits for it is one of a small pool of its own, so waiting uploads
never hold the threads the KPI code computes in.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import resource
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any

from assessor.domain.baseline import BaselineError, BaselineLimitError, BaselineLog, RowError, parse_log
from assessor.domain.models import Factory
from assessor.domain.upload_limits import LimitBreach, UploadLimits
from assessor.registry.importer import RegistryError, RegistryLimitError, parse_registry
from assessor.registry.store import RegistryStore

_CONTEXT = multiprocessing.get_context("forkserver")
# imported once in the fork server, inherited by every worker; the main module too (as
# multiprocessing does by default), or every worker would import it again
_CONTEXT.set_forkserver_preload(["__main__", __name__, "openpyxl"])

_executors: dict[int, ThreadPoolExecutor] = {}

Result = tuple[Any, ...]


# -- in the worker ---------------------------------------------------------------------


def _baseline_job(data: bytes, filename: str, factory: Factory, limits: UploadLimits) -> Result:
    try:
        return ("ok", parse_log(data, filename, factory=factory, limits=limits))
    except BaselineLimitError as exc:
        return ("breach", exc.breach)
    except BaselineError as exc:
        return ("errors", exc.errors)


def _registry_job(text: str, source: str, limits: UploadLimits) -> Result:
    try:
        return ("ok", parse_registry(text, source, limits))
    except RegistryLimitError as exc:
        return ("breach", exc.breach)
    except RegistryError as exc:
        return ("errors", exc.errors)


def _worker(conn: Connection, job: Callable[..., Result], args: tuple[Any, ...], memory_mib: int) -> None:
    if memory_mib:
        # a bomb that gets past the structural limits fails with MemoryError here
        # instead of pushing the machine into swap or the OOM killer
        limit = memory_mib * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        result = job(*args)
    except MemoryError:
        result = ("memory",)
    except RecursionError:
        result = ("recursion",)
    try:
        conn.send(result)
    except MemoryError:
        conn.send(("memory",))
    conn.close()


# -- in the server ---------------------------------------------------------------------


def _run(job: Callable[..., Result], args: tuple[Any, ...], limits: UploadLimits) -> Result:
    """Run ``job`` in a fresh worker process; blocks, so it runs in a thread."""
    receiver, sender = _CONTEXT.Pipe(duplex=False)
    proc = _CONTEXT.Process(target=_worker, args=(sender, job, args, limits.worker_memory_mib), daemon=True)
    proc.start()
    # only the worker may hold the sending end, so its death reads as end of file
    sender.close()
    try:
        # the clock starts once the worker exists: the fork server's first start is not
        # the file's fault
        if not receiver.poll(limits.parse_timeout_s):
            return ("timeout",)
        try:
            return receiver.recv()  # type: ignore[no-any-return]
        except EOFError:
            proc.join()
            return ("died", proc.exitcode)
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        receiver.close()


async def _in_worker(job: Callable[..., Result], args: tuple[Any, ...], limits: UploadLimits) -> Result:
    executor = _executors.get(limits.max_workers)
    if executor is None:
        executor = ThreadPoolExecutor(limits.max_workers, thread_name_prefix="upload-parse")
        _executors[limits.max_workers] = executor
    return await asyncio.get_running_loop().run_in_executor(executor, _run, job, args, limits)


def _process_breach(result: Result, limits: UploadLimits) -> LimitBreach:
    """What the server says when the worker did not answer with a result of the parse."""
    secs = f"{limits.parse_timeout_s:g}"
    mib = f"{limits.worker_memory_mib:,}"
    if result[0] == "timeout":
        return LimitBreach(
            413,
            f"reading the file took longer than {secs} s and was stopped; the limit is {secs} s",
            f"파일을 읽는 데 {secs}초보다 오래 걸려 중단했습니다. 한도는 {secs}초입니다.",
        )
    if result[0] == "memory":
        return LimitBreach(
            413,
            f"reading the file needs more than {mib} MiB of memory; the limit is {mib} MiB",
            f"파일을 읽는 데 메모리가 {mib} MiB보다 많이 필요합니다. 한도는 {mib} MiB입니다.",
        )
    if result[0] == "recursion":
        return LimitBreach(
            400,
            "the file is nested too deeply to read",
            "파일의 구조가 너무 깊게 중첩되어 읽을 수 없습니다.",
        )
    return LimitBreach(
        413,
        f"reading the file stopped the reading process (exit status {result[-1]}); "
        f"it may need more than the {mib} MiB memory limit",
        f"파일을 읽던 프로세스가 중단되었습니다 (종료 상태 {result[-1]}). "
        f"메모리 한도 {mib} MiB보다 많이 필요한 파일일 수 있습니다.",
    )


async def parse_baseline_bounded(
    data: bytes, filename: str, factory: Factory, limits: UploadLimits
) -> BaselineLog:
    """``parse_log`` in a worker process; raises BaselineError (BaselineLimitError
    over a limit, the worker's time and memory included)."""
    result = await _in_worker(_baseline_job, (data, filename, factory, limits), limits)
    if result[0] == "ok":
        return result[1]  # type: ignore[no-any-return]
    if result[0] == "errors":
        errors: list[RowError] = result[1]
        raise BaselineError(errors)
    raise BaselineLimitError(result[1] if result[0] == "breach" else _process_breach(result, limits))


async def import_baseline_bounded(
    store: RegistryStore, factory: Factory, data: bytes, filename: str, limits: UploadLimits
) -> BaselineLog:
    """``assessor.services.inputs.import_baseline`` for the server: parse in a worker, store here."""
    log = await parse_baseline_bounded(data, filename, factory, limits)
    store_log(store, factory.id, log, filename)
    return log


def store_log(store: RegistryStore, factory_id: str, log: BaselineLog, filename: str) -> None:
    """A parsed log into the registry: daily rows or order rows, whichever the file held."""
    if log.orders:
        store.replace_orders(factory_id, log.orders, source_name=filename)
    else:
        store.replace_baseline(factory_id, log.days, source_name=filename)


async def parse_registry_bounded(text: str, source: str, limits: UploadLimits) -> list[Factory]:
    """``parse_registry`` in a worker process; raises RegistryError (RegistryLimitError
    over a limit, the worker's time and memory included)."""
    result = await _in_worker(_registry_job, (text, source, limits), limits)
    if result[0] == "ok":
        return result[1]  # type: ignore[no-any-return]
    if result[0] == "errors":
        raise RegistryError(source, result[1])
    raise RegistryLimitError(source, result[1] if result[0] == "breach" else _process_breach(result, limits))
