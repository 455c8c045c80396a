"""Forensic check after shredding: do any of a batch's destroyed key bytes survive in a file?

Why a module of its own: the key store checks, after every destruction, that no wrapped key it
just deleted can still be read from its SQLite file (``confide.crypto.keystore``). Asking
``needle in blob`` once per key costs one full read of the file per key, so a batch of
``n`` keys in a store of ``m`` bytes costs ``n * m``: at retention's scale (a thousand keys per
batch, megabytes of store) that was most of end of life's time. :func:`find_traces` answers
for the whole batch in one pass over each file.

How: every occurrence of a needle of length ``L`` covers ``L - K + 1`` consecutive offsets, so
it contains exactly one offset that is a multiple of the stride ``L - K + 1``, and the ``K``
bytes read there are one of the needle's ``K``-byte windows. The file's windows at every
stride-th offset are cut out in C (``struct.iter_unpack``) into a set and intersected with the
needles' windows (cut out in C too, one offset at a time across all needles laid end to end),
and only needles with a window in common (those present, and the rare chance collision) are
searched for in full: exact, in about one pass per file per needle length.
Needles shorter than ``2 * K`` (none in practice: a wrapped key is at least 44 bytes) are
searched for one by one.
"""

from __future__ import annotations

import struct
from collections import defaultdict
from collections.abc import Iterable, Mapping
from operator import itemgetter

WINDOW_BYTES = 8


def find_traces(needles: Mapping[str, bytes], blobs: Iterable[bytes]) -> list[str]:
    """The ids (keys of ``needles``, in their order) whose bytes occur anywhere in any of
    ``blobs``. Exact: a needle is reported if and only if ``needle in blob`` for some blob."""
    files = list(blobs)
    found: set[str] = set()
    by_length: dict[int, dict[str, bytes]] = defaultdict(dict)
    for key, needle in needles.items():
        if len(needle) < 2 * WINDOW_BYTES:
            if any(needle in blob for blob in files):
                found.add(key)
        else:
            by_length[len(needle)][key] = needle
    for length, group in by_length.items():
        found |= _scan(group, length, files)
    return [key for key in needles if key in found]


def _scan(needles: dict[str, bytes], length: int, files: list[bytes]) -> set[str]:
    """Needles all of ``length`` bytes found in ``files``, by the strided window scan."""
    stride = length - WINDOW_BYTES + 1
    record = struct.Struct(f"{WINDOW_BYTES}s{stride - WINDOW_BYTES}x")
    keys = list(needles)
    # Every needle's window at offset ``o``, for each ``o`` below the stride: one unpack in C
    # over the needles laid end to end (a Python loop of ``stride`` steps, not of
    # ``stride * len(needles)``), paired with its owner in the same order.
    joined = b"".join(needles.values())
    windows: list[bytes] = []
    for o in range(stride):
        at = struct.Struct(f"{o}x{WINDOW_BYTES}s{length - WINDOW_BYTES - o}x")
        windows.extend(map(itemgetter(0), at.iter_unpack(joined)))
    owner_of = keys * stride
    owners = dict(zip(windows, owner_of, strict=True))
    # Two equal windows (a needle repeating itself, or two needles sharing 8 bytes: rare)
    # keep one owner in ``owners``; then every owner of each window is listed.
    shared: defaultdict[bytes, list[str]] | None = None
    if len(owners) < len(windows):
        shared = defaultdict(list)
        for window, key in zip(windows, owner_of, strict=True):
            shared[window].append(key)
    found: set[str] = set()
    for blob in files:
        # Zero padding makes whole records of the tail; a padded window can only add a
        # candidate, never hide one, and every candidate is checked in full below.
        padded = blob + bytes(-len(blob) % stride)
        common = set(map(itemgetter(0), record.iter_unpack(padded))) & owners.keys()
        if shared is None:
            candidates = set(map(owners.__getitem__, common))
        else:
            candidates = {key for window in common for key in shared[window]}
        found |= {key for key in candidates if needles[key] in blob}
    return found
