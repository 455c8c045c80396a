"""Bounding glibc's malloc arenas (confide.core.memory), as `confide serve` does at start."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from confide.core.memory import limit_malloc_arenas

# Threads that allocate at once each get an arena of their own unless the limit holds: count
# the distinct arenas their blocks come from (malloc_info lists one <heap> per arena).
_PROBE = """
import ctypes, ctypes.util, sys, threading, os
from confide.core.memory import limit_malloc_arenas
if sys.argv[1] == "limit":
    assert limit_malloc_arenas(2)
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.fdopen.restype = ctypes.c_void_p
barrier = threading.Barrier(16)
blocks = []
def work():
    barrier.wait()
    for _ in range(200):
        blocks.append(libc.malloc(4096))
threads = [threading.Thread(target=work) for _ in range(16)]
for t in threads: t.start()
for t in threads: t.join()
r, w = os.pipe()
stream = libc.fdopen(w, b"w")
libc.malloc_info(0, ctypes.c_void_p(stream))
libc.fclose(ctypes.c_void_p(stream))
print(os.read(r, 1 << 20).decode().count("<heap nr="))
"""


def _arenas(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_the_limit_keeps_threads_to_two_arenas() -> None:
    assert _arenas("limit") <= 2
    assert _arenas("default") > 2  # without it, the same threads spread over more


def test_zero_leaves_the_allocator_alone() -> None:
    assert limit_malloc_arenas(0) is False


# The collector as `confide serve` tunes it: startup objects frozen, a high first threshold,
# and reference cycles made afterwards still collected without an explicit gc.collect().
_COLLECTOR = """
import gc, sys, weakref
from confide.core.memory import tune_collector
before = gc.get_threshold()
assert tune_collector(int(sys.argv[1])) is (int(sys.argv[1]) > 0)
now = gc.get_threshold()
print("unchanged" if now == before else now, gc.get_freeze_count() > 0)
class Node:
    pass
freed = []
a, b = Node(), Node()
a.other, b.other = b, a
weakref.finalize(a, freed.append, "cycle")
del a, b
keep = [[i] for i in range(3 * max(gc.get_threshold()[0], 700))]  # allocations only
print(freed)
"""


def _collector(threshold: int) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", _COLLECTOR, str(threshold)],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip().splitlines()


def test_the_server_collector_freezes_startup_and_still_frees_cycles() -> None:
    thresholds, freed = _collector(5000)
    assert thresholds == "(5000, 10, 10) True"
    assert freed == "['cycle']"


def test_zero_leaves_the_collector_alone() -> None:
    thresholds, freed = _collector(0)
    assert thresholds == "unchanged False"
    assert freed == "['cycle']"
