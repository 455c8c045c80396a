"""The subject data map covers every table, and every reach names a real column."""

from __future__ import annotations

from confide.models import metadata
from confide.privacy.registry import REGISTRY
from confide.privacy.subject_map import SUBJECT_MAP, SUBJECT_OWNERS, unmapped_tables


def test_every_table_of_the_schema_is_in_the_subject_map() -> None:
    missing = unmapped_tables(list(metadata.tables))
    assert missing == [], f"Map these tables in confide/privacy/subject_map.py: {missing}"
    assert set(SUBJECT_MAP) == set(metadata.tables), "the map names a table that does not exist"


def test_an_unmapped_table_is_reported() -> None:
    assert unmapped_tables([*metadata.tables, "shoe_sizes"]) == ["shoe_sizes"]


def test_every_reach_names_a_column_of_its_table_and_kept_rows_say_why() -> None:
    problems = []
    for name, entry in SUBJECT_MAP.items():
        columns = set(metadata.tables[name].columns.keys())
        for reach in entry.reach:
            if reach.column not in columns:
                problems.append(f"{name}.{reach.column}: no such column")
            if reach.owner not in SUBJECT_OWNERS:
                problems.append(f"{name}: reach from {reach.owner}")
            if reach.on_erase == "keep_pseudonymised" and not entry.keep_reason:
                problems.append(f"{name}: kept without a reason")
            if reach.on_erase == "null_columns" and (
                not reach.null_columns or not set(reach.null_columns) <= columns
            ):
                problems.append(f"{name}: nulls unknown columns")
    assert problems == []


def test_a_table_with_personal_columns_is_reached_from_a_subject() -> None:
    unreached = [
        name
        for name, table in REGISTRY.items()
        if any(c.category in ("identifier", "credential") for c in table.columns.values())
        and not SUBJECT_MAP[name].reach
        and name not in ("channel_endpoints",)  # the workspace's own signing secret
    ]
    assert unreached == []
