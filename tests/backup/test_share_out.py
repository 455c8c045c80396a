"""How verify shares a dump's tables out between its pg_restore processes: runs of the dump's
order (so every pass but the last stops reading early) of about as many rows each, every line
kept once, each share in the dump's own order (a dump read from a pipe cannot be restored out
of order), what is not a table's data with the last run (the pass that reads to the end)."""

from __future__ import annotations

from confide.backup.pg_load import share_out

LISTING = [
    ";",
    "; Archive created at 2026-11-30",
    "3909; 0 16390 TABLE DATA public alembic_version postgres",
    "3923; 0 16520 TABLE DATA public conversations postgres",
    "3926; 0 16500 TABLE DATA public message_texts postgres",
    "3925; 0 16510 TABLE DATA public messages postgres",
    "3968; 0 16530 TABLE DATA public workspaces postgres",
    "3970; 0 0 SEQUENCE SET public jobs_id_seq postgres",
]
ROWS = {"message_texts": 1000, "messages": 1000, "conversations": 100, "workspaces": 1}


def _tables(share: list[str]) -> list[str]:
    return [line.split()[6] for line in share if "TABLE DATA" in line]


def test_two_runs_of_about_as_many_rows_in_dump_order() -> None:
    first, second = share_out(LISTING, ROWS, 2)
    assert sorted(first + second) == sorted(LISTING)
    for share in (first, second):
        assert share == [line for line in LISTING if line in share]
    assert _tables(first) == ["alembic_version", "conversations", "message_texts"]
    assert _tables(second) == ["messages", "workspaces"]
    assert all(not line.startswith(";") and "SEQUENCE" not in line for line in first)


def test_a_large_table_goes_to_the_next_run_when_less_than_half_of_it_fits() -> None:
    rows = {**ROWS, "conversations": 1200}  # 3201 rows: 1600 each; 1200 + 1000 is further
    first, second = share_out(LISTING, rows, 2)
    assert _tables(first) == ["alembic_version", "conversations"]
    assert _tables(second) == ["message_texts", "messages", "workspaces"]


def test_no_empty_share() -> None:
    one_table = [*LISTING[:2], LISTING[2]]
    assert share_out(one_table, ROWS, 2) == [one_table]
    assert share_out(LISTING[:2], ROWS, 2) == [LISTING[:2]]
