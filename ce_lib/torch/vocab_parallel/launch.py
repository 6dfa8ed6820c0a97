"""Run a function on several local processes joined by a gloo process group, with timeouts.

For tests, benchmarks and the book: ``run(fn, world_size, *args)`` spawns ``world_size`` fresh
Python processes (``torch.multiprocessing``, start method "spawn"), joins them in a gloo group
on 127.0.0.1, calls ``fn(rank, world_size, *args)`` on each and returns the list of their
results, in rank order. ``fn`` must be a module-level function (the children import it) and its
results picklable. Nothing can hang: the group's collectives time out after ``timeout`` seconds,
the parent waits at most ``timeout`` seconds in all, then kills what is left and raises.
"""

from __future__ import annotations

import os
import pickle
import queue as queue_mod
import time
import traceback
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


class RankFailed(RuntimeError):
    """A rank raised an exception or did not finish in time."""


def _child(rank: int, world_size: int, port: int, timeout: float, threads: int,
           fn: Callable[..., Any], args: tuple[Any, ...], results: Any) -> None:
    try:
        torch.set_num_threads(threads)
        store = dist.TCPStore("127.0.0.1", port, None, is_master=False,
                              timeout=timedelta(seconds=timeout))
        dist.init_process_group("gloo", store=store, rank=rank, world_size=world_size,
                                timeout=timedelta(seconds=timeout))
        # gloo's init can return on one rank while another is still connecting its mesh; a rank
        # whose fn returns at once would then close the connection under it. Meet first.
        dist.barrier()
        try:
            out = fn(rank, world_size, *args)
        finally:
            dist.destroy_process_group()
        results.put((rank, True, pickle.dumps(out)))  # by value: the child may exit first
    except BaseException:  # report everything, including a collective's timeout
        results.put((rank, False, traceback.format_exc()))


def run(fn: Callable[..., Any], world_size: int, *args: Any, timeout: float = 60.0,
        threads: int = 1) -> list[Any]:
    """``[fn(0, world_size, *args), ..., fn(world_size - 1, world_size, *args)]``, one process each.

    Raises :class:`RankFailed` (with each failing rank's traceback) if any rank raised or did
    not report within ``timeout`` seconds; stragglers are killed. ``threads`` is each child's
    ``torch.set_num_threads``.
    """
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    ctx = mp.get_context("spawn")
    store = dist.TCPStore("127.0.0.1", 0, None, is_master=True,
                          timeout=timedelta(seconds=timeout))
    results = ctx.Queue()
    env = {"OMP_NUM_THREADS": str(threads)}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        procs = [ctx.Process(target=_child, daemon=True,
                             args=(r, world_size, store.port, timeout, threads, fn, args, results))
                 for r in range(world_size)]
        for proc in procs:
            proc.start()
    finally:
        for k, old in saved.items():
            if old is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = old
    deadline = time.monotonic() + timeout
    reports: dict[int, tuple[bool, Any]] = {}
    try:
        while len(reports) < world_size:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                rank, ok, out = results.get(timeout=min(left, 0.5))
            except queue_mod.Empty:
                if all(not p.is_alive() for p in procs) and results.empty():
                    break  # every child is gone, some without a report (killed, crashed)
                continue
            reports[rank] = (ok, out)
        for proc in procs:
            proc.join(timeout=max(0.0, min(5.0, deadline - time.monotonic())))
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
        del store
    failures = [f"rank {r}: {reports[r][1] if r in reports else 'no result (timed out or died)'}"
                for r in range(world_size) if not reports.get(r, (False,))[0]]
    if failures:
        raise RankFailed(f"{len(failures)} of {world_size} ranks failed:\n" + "\n".join(failures))
    return [pickle.loads(reports[r][1]) for r in range(world_size)]
