"""The one-pass trace scan answers exactly what ``needle in blob`` per needle would."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from confide.crypto.traces import find_traces

needle_st = st.binary(min_size=1, max_size=70)


@settings(max_examples=200, deadline=None)
@given(
    needles=st.lists(needle_st, min_size=1, max_size=12),
    noise=st.binary(max_size=400),
    planted=st.lists(st.tuples(st.integers(0, 11), st.integers(0, 400))),
)
def test_scan_finds_exactly_the_needles_present(
    needles: list[bytes], noise: bytes, planted: list[tuple[int, int]]
) -> None:
    blob = bytearray(noise)
    for which, at in planted:
        needle = needles[which % len(needles)]
        at = min(at, len(blob))
        blob[at:at] = needle  # insert, so every offset (start, end of file) is tried
    blobs = [bytes(blob), noise[::-1]]
    ids = {f"key-{i}": needle for i, needle in enumerate(needles)}
    expected = [key for key, needle in ids.items() if any(needle in b for b in blobs)]
    assert find_traces(ids, blobs) == expected


def test_a_wrapped_key_left_in_a_file_is_found_and_a_shredded_one_is_not() -> None:
    kept, shredded = bytes(range(60)), bytes(range(100, 160))
    blob = b"\0" * 4096 + kept + b"\0" * 17
    assert find_traces({"kept": kept, "shredded": shredded}, [blob, b""]) == ["kept"]
