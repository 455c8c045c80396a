"""The vocabulary of the personal-data registry: how a table and its columns are classified.

Categories:
- ``identifier``: directly identifies a person (name, e-mail, ...). Lives only in the vault.
- ``personal``: about a person, without naming them (login handle, timestamps of their acts).
- ``credential``: secrets that prove identity; never exported, destroyed with the account.
- ``operational``: not about a person (ids, settings, counters of a workspace).

The tables themselves are classified in ``registry_access``, ``registry_chat`` and
``registry_records``; ``confide.privacy.registry`` collects them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Category = Literal["identifier", "personal", "credential", "operational"]


@dataclass(frozen=True)
class Column:
    category: Category
    purpose: str = ""
    export: bool = False  # part of a data-subject access export
    erasure: str = ""  # what erasing the subject does to this value


@dataclass(frozen=True)
class Table:
    about: str  # whose data the rows are, and why the table exists
    retention: str
    protection: str
    readers: str
    columns: dict[str, Column] = field(default_factory=dict)


OPERATIONAL = Column("operational")


def personal(purpose: str, *, export: bool = True, erasure: str = "deleted") -> Column:
    return Column("personal", purpose, export, erasure)


def identifier(purpose: str, *, export: bool = True, erasure: str = "deleted") -> Column:
    return Column("identifier", purpose, export, erasure)


def credential(purpose: str) -> Column:
    return Column("credential", purpose, False, "deleted")


OPERATOR_READERS = (
    "The operator; admins of the workspace; managers for agents of their groups; teammates "
    "see name, alias, job title and avatar only; analysts and support see none."
)
