"""The vocabulary of the personal-data registry: how a table and its columns are classified.

Categories:
- ``identifier``: directly identifies a person (name, e-mail, ...). Lives only in the vault.
- ``personal``: about a person, without naming them (login handle, timestamps of their acts).
- ``credential``: secrets that prove identity; never exported, destroyed with the account.
- ``operational``: not about a person (ids, settings, counters of a workspace).

The tables themselves are classified in ``registry_access``, ``registry_chat`` and
``registry_records``; ``confide.privacy.registry`` collects them.

The subject data map's vocabulary is here too (``Owner``, ``Reach``, ``TableMap``, ...): the
map itself is in ``confide.privacy.subject_map`` and ``subject_map_lifecycle``.
"""

from __future__ import annotations

import uuid
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


# -- the subject data map's vocabulary (confide.privacy.subject_map) ----------------------

Owner = Literal[
    "visitor", "subject", "conversation", "message", "operator", "auth_session", "workspace", "none"
]
OnErase = Literal["delete_row", "shred_key", "null_columns", "keep_pseudonymised"]
Export = Literal["include", "exclude", "as_pseudonym"]
LegalBasis = Literal[
    "contract",  # Art. 6(1)(b)
    "legal_obligation",  # Art. 6(1)(c)
    "legitimate_interest",  # Art. 6(1)(f)
    "consent",  # Art. 6(1)(a)
    "not_personal",
]
SUBJECT_OWNERS: tuple[Owner, ...] = (
    "visitor",
    "subject",
    "conversation",
    "message",
    "operator",
    "auth_session",
)


PersonKind = Literal["visitor", "operator"]


@dataclass(frozen=True)
class SubjectRef:
    """A data subject as erasure and export name one: a visitor or an operator by row id.

    ``do_erase_subject(rt, actor, ref.kind, ref.person_id)`` and
    ``build_subject_export(rt, principal, ref)`` take the same pair; the vault's subject id is
    resolved from the row (``visitors.subject_id`` / ``operators.subject_id``)."""

    kind: PersonKind
    person_id: uuid.UUID


@dataclass(frozen=True)
class Reach:
    """Rows of the table whose ``column`` holds an id of ``owner``, and what erasure does."""

    owner: Owner
    column: str
    on_erase: OnErase
    null_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableMap:
    purpose: str
    legal_basis: LegalBasis
    retention: str  # which clock: conversation | account | connection_log | audit | none
    export: Export
    reach: tuple[Reach, ...] = ()
    keep_reason: str = ""
    # Columns naming blobs in the blob store (confide.core.blobs): whoever deletes rows of the
    # table (erasure, retention) deletes these blobs after the commit.
    blob_columns: tuple[str, ...] = ()

    @property
    def owner(self) -> Owner:
        return self.reach[0].owner if self.reach else "workspace"


def not_personal(purpose: str) -> TableMap:
    return TableMap(purpose, "not_personal", "none", "exclude")


STUB_OPERATOR_REASON = (
    "Conversations, messages, API keys and consent requests of other people name their "
    "operator: the row stays as a stub (username replaced by a pseudonym, password, login "
    "facts and profile removed, status removed) so those records still resolve."
)
AUDIT_KEEP_REASON = (
    "Accountability (Art. 5(2), kept under Art. 17(3)(b),(e)): the chain must still verify. "
    "Records keep the random subject id; their details were sealed under the subject's key, "
    "which erasure destroys."
)
