"""Memory of a long-running server: glibc's malloc arenas, and Python's cyclic collector.

Arenas: glibc's malloc arenas are bounded so that many idle sockets do not cost their weight
twice.

Why: glibc gives each thread that allocates while another holds the main arena an arena of its
own, up to 8 per core. The database driver runs every SQLite connection on a thread of its
own (aiosqlite), so a node that opens thousands of sockets at once (each one authenticated,
logged and subscribed through the database) spreads its memory over many arenas whose freed
space cannot be returned or shared. Measured on 280 widget sockets opened 100 at a time
(docs/performance.md, "Idle socket memory"): about 58 KiB of resident memory per socket with
glibc's default, 42 KiB with at most 2 arenas. Python's own allocations are serialised by the
GIL anyway, so fewer arenas costs no measurable throughput here.

``mallopt(M_ARENA_MAX, n)`` is the documented glibc call (``man 3 mallopt``); it is what the
``MALLOC_ARENA_MAX`` environment variable sets, but applies from inside the process, before
the server starts its threads. On a C library without it (musl, macOS) nothing is changed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging

log = logging.getLogger("confide.core.memory")
M_ARENA_MAX = -8  # glibc's <malloc.h>


def limit_malloc_arenas(arenas: int) -> bool:
    """Let glibc's malloc use at most ``arenas`` arenas from now on (0: leave its default).
    Call before the process starts threads. Returns whether the limit was applied; never
    raises (a platform without glibc's ``mallopt`` keeps its own allocator's behaviour)."""
    if arenas <= 0:
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    applied = bool(mallopt(M_ARENA_MAX, arenas))
    if not applied:
        log.warning("could not limit malloc arenas to %d", arenas)
    return applied


# Python's default first-generation threshold (700 allocations) is meant for small programs.
GC_GEN1_THRESHOLD = 10
GC_GEN2_THRESHOLD = 10


def tune_collector(gen0_threshold: int) -> bool:
    """Make full collections rare and cheap in a server that holds many sockets; call once the
    application has started (its modules, routes and caches loaded). 0 leaves Python's
    defaults. Returns whether anything was changed; never raises.

    Why (measured in ``realistic_day``, docs/performance.md): with 5,000 open sockets a node
    holds about 1,000,000 objects the collector tracks, and a full (generation 2) collection
    walks all of them, stopping the event loop for 0.5-1.3 s, every 30 s or so under chat
    load: the p99 of message delivery was those pauses. Two causes, two remedies:

    - everything alive at startup (modules, the ORM's mappers, compiled statements) is moved
      to the permanent generation (``gc.freeze()``), which no collection walks again;
    - with the default threshold of 700 allocations, a collection runs every few hundred
      microseconds under load, and every object of a request still in flight (its session,
      rows, coroutines awaiting the database) survives it and is promoted, until the old
      generation has grown by the quarter that triggers a full collection (the rule in CPython's
      ``gcmodule.c``). A first-generation threshold of tens of thousands lets those objects die
      young, where a collection costs microseconds; reference cycles are still found.
    """
    if gen0_threshold <= 0:
        return False
    gc.collect()
    gc.freeze()
    gc.set_threshold(gen0_threshold, GC_GEN1_THRESHOLD, GC_GEN2_THRESHOLD)
    return True
