"""The personal-data registry: every column of every table, classified.

Why: GDPR accountability (Art. 5(2), Art. 30) means knowing, for each piece of data, whether it
is personal, why it is kept, for how long, how it is protected, who can read it and what erasure
does to it. Keeping that knowledge next to the schema, and failing a test when a new column is
not classified (``tests/privacy/test_registry.py``), is what keeps it true. ``docs/privacy.md``
and the record of processing are generated from here.

The vocabulary (categories, ``Column``, ``Table``) lives in ``confide.privacy.datamap``; the
tables are classified by area in ``registry_access``, ``registry_chat``, ``registry_records``,
``registry_hardening``, ``registry_attachments``, ``registry_requests``,
``registry_accountability``, ``registry_custody`` and ``registry_retention``, and collected
here.
"""

from __future__ import annotations

from confide.privacy.datamap import Category, Column, Table
from confide.privacy.registry_access import ACCESS_TABLES
from confide.privacy.registry_accountability import ACCOUNTABILITY_TABLES
from confide.privacy.registry_attachments import ATTACHMENT_TABLES
from confide.privacy.registry_chat import CHAT_TABLES
from confide.privacy.registry_custody import CUSTODY_TABLES
from confide.privacy.registry_hardening import TABLES as HARDENING_TABLES
from confide.privacy.registry_records import RECORD_TABLES
from confide.privacy.registry_requests import REQUEST_TABLES
from confide.privacy.registry_retention import RETENTION_TABLES

__all__ = [
    "REGISTRY",
    "Category",
    "Column",
    "Table",
    "stale_entries",
    "unclassified_columns",
]

REGISTRY: dict[str, Table] = {
    **ACCESS_TABLES,
    **CHAT_TABLES,
    **RECORD_TABLES,
    **HARDENING_TABLES,
    **ATTACHMENT_TABLES,
    **REQUEST_TABLES,
    **ACCOUNTABILITY_TABLES,
    **CUSTODY_TABLES,
    **RETENTION_TABLES,
}


def unclassified_columns(tables: dict[str, list[str]]) -> list[str]:
    """``table.column`` names present in the schema but missing from the registry."""
    missing = []
    for table, columns in tables.items():
        entry = REGISTRY.get(table)
        for column in columns:
            if entry is None or column not in entry.columns:
                missing.append(f"{table}.{column}")
    return missing


def stale_entries(tables: dict[str, list[str]]) -> list[str]:
    """Registry entries that no longer exist in the schema."""
    stale = []
    for table, entry in REGISTRY.items():
        for column in entry.columns:
            if column not in tables.get(table, []):
                stale.append(f"{table}.{column}")
    return stale
