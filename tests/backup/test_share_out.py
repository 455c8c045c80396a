"""How verify shares a dump's tables out between its pg_restore processes: about as many rows
each, every line kept once, each share in the dump's own order (a dump read from a pipe cannot
be restored out of order)."""

from __future__ import annotations

from confide.backup.pg_load import share_out

LISTING = [
    ";",
    "; Archive created at 2026-11-30",
    "3909; 0 16390 TABLE DATA public alembic_version postgres",
    "3926; 0 16500 TABLE DATA public message_texts postgres",
    "3925; 0 16510 TABLE DATA public messages postgres",
    "3970; 0 0 SEQUENCE SET public jobs_id_seq postgres",
    "3923; 0 16520 TABLE DATA public conversations postgres",
    "3968; 0 16530 TABLE DATA public workspaces postgres",
]
ROWS = {"message_texts": 1000, "messages": 1000, "conversations": 100, "workspaces": 1}


def test_two_shares_of_about_as_many_rows_in_dump_order() -> None:
    first, second = share_out(LISTING, ROWS, 2)
    assert sorted(first + second) == sorted(LISTING)
    for share in (first, second):
        assert share == [line for line in LISTING if line in share]
    in_first = {line.split()[6] for line in first if "TABLE DATA" in line}
    in_second = {line.split()[6] for line in second if "TABLE DATA" in line}
    assert {"message_texts", "messages"} & in_first and {"message_texts", "messages"} & in_second
    assert all(not line.startswith(";") and "SEQUENCE" not in line for line in second)


def test_no_empty_share() -> None:
    one_table = [*LISTING[:2], LISTING[2]]
    assert share_out(one_table, ROWS, 2) == [one_table]
