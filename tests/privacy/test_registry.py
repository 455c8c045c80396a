from __future__ import annotations

from pathlib import Path

from confide.models import metadata
from confide.privacy.docs import render_privacy_doc
from confide.privacy.registry import REGISTRY, stale_entries, unclassified_columns

ROOT = Path(__file__).resolve().parents[2]


def _schema() -> dict[str, list[str]]:
    return {name: [c.name for c in table.columns] for name, table in metadata.tables.items()}


def test_every_column_of_every_table_is_classified() -> None:
    missing = unclassified_columns(_schema())
    assert missing == [], (
        f"Classify these columns in confide/privacy/registry_*.py: {missing}; "
        "then run `confide docs privacy --write`."
    )


def test_registry_names_no_column_that_does_not_exist() -> None:
    assert stale_entries(_schema()) == []


def test_direct_identifiers_live_only_in_the_vault_table() -> None:
    holders = {
        table
        for table, entry in REGISTRY.items()
        for column in entry.columns.values()
        if column.category == "identifier"
    }
    assert holders == {"personal_fields", "message_texts"}


def test_unclassified_column_is_reported() -> None:
    schema = _schema()
    schema["operators"] = [*schema["operators"], "shoe_size"]
    assert unclassified_columns(schema) == ["operators.shoe_size"]


def test_committed_privacy_doc_matches_the_registry() -> None:
    committed = (ROOT / "docs" / "privacy.md").read_text()
    assert committed == render_privacy_doc(), "Run `confide docs privacy --write`."
