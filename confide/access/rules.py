"""Conversation rules written once: a SQL expression that also runs in Python.

A rule of ``confide.access.policy`` is a SQLAlchemy boolean expression over the columns named in
:class:`ConversationColumns`. A list query puts it in its WHERE clause (chat passes its
``Conversation`` ORM class as the columns). A single conversation in memory (a loaded row, or
:class:`ConversationFacts` from an event) is checked by :func:`holds`, which evaluates the very
same expression with SQLAlchemy's ORM evaluator, SQL's three-valued logic included. Nothing is
kept in step by hand; ``tests/access/test_policy.py`` proves, for random facts and principals,
that the Python answer equals the answer of SQLite and PostgreSQL.

The principal's own ids enter a rule through :func:`principal_match`: a bound value in SQL, and
in a compiled check a value read from the principal at each check, so one compiled check serves
every principal of the same shape (5,000 visitors share one instead of holding 3 KiB each).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, cast

from sqlalchemy import ColumnElement, SQLColumnExpression, bindparam, column, table

# Private in name since SQLAlchemy 2.0.4; pinned by pyproject (sqlalchemy <2.2), and any drift
# would show in the property test comparing its answers with the database's.
from sqlalchemy.orm.evaluator import _EvaluatorCompiler

# Values of confide.chat.models.ConversationLifecycle / ConversationStatus (access does not
# import chat; tests/access/test_policy.py checks that they match).
ACTIVE, ARCHIVED, WAITING = "active", "archived", "waiting"


class ConversationAccess(enum.StrEnum):
    READ = "read"  # see it and its transcript
    WORK = "work"  # also act on it: reply, assign, transfer, close, reopen


class ConversationColumns(Protocol):
    """The columns a conversation rule reads: chat's ``Conversation`` class, or any namespace
    of SQL columns with these names (:data:`COLUMN_NAMES`)."""

    @property
    def id(self) -> SQLColumnExpression[Any]: ...
    @property
    def workspace_id(self) -> SQLColumnExpression[Any]: ...
    @property
    def visitor_id(self) -> SQLColumnExpression[Any]: ...
    @property
    def group_id(self) -> SQLColumnExpression[Any]: ...
    @property
    def assignee_id(self) -> SQLColumnExpression[Any]: ...
    @property
    def status(self) -> SQLColumnExpression[Any]: ...
    @property
    def lifecycle(self) -> SQLColumnExpression[Any]:  # "active" | "archived"
        ...
    @property
    def restricted(self) -> SQLColumnExpression[bool]:  # the subject's restriction, Art. 18
        ...
    @property
    def held(self) -> SQLColumnExpression[bool]:  # legal hold
        ...


COLUMN_NAMES = (
    "id",
    "workspace_id",
    "visitor_id",
    "group_id",
    "assignee_id",
    "status",
    "lifecycle",
    "restricted",
    "held",
)


@dataclass(frozen=True, kw_only=True)
class ConversationFacts:
    """A conversation as the policy sees it in memory (the same names as the columns)."""

    id: uuid.UUID
    workspace_id: uuid.UUID
    group_id: uuid.UUID | None
    assignee_id: uuid.UUID | None
    status: str  # "waiting", "open", "closed"
    visitor_id: uuid.UUID | None
    lifecycle: str  # "active", "archived"
    restricted: bool
    held: bool = False  # never changes who may read; only whether it may be destroyed


# The columns by name only (no table behind them), for rules evaluated in memory.
FACTS = cast(
    ConversationColumns,
    table("conversations", *(column(name) for name in COLUMN_NAMES)).c,
)


PRINCIPAL_IDS = ("workspace_id", "visitor_id", "operator_id")
_PARAM_PREFIX = "principal_"


def principal_match(
    column: SQLColumnExpression[Any], name: str, value: uuid.UUID
) -> ColumnElement[bool]:
    """``column == value`` where ``value`` is the principal's ``name`` (one of
    :data:`PRINCIPAL_IDS`). In SQL the value is bound as usual; a check compiled from the rule
    reads it from the principal it is given (see :func:`compile_check`)."""
    assert name in PRINCIPAL_IDS
    sql_type = cast(ColumnElement[Any], column).type  # the column's own type binds the value
    param = bindparam(_PARAM_PREFIX + name, value, type_=sql_type, unique=True)
    return column == param


class _Checked:
    """What a compiled check evaluates: the conversation (columns) and the principal (ids)."""

    __slots__ = ("principal", "row")

    def __init__(self, row: object, principal: object) -> None:
        self.row = row
        self.principal = principal


class _EvaluateByName(_EvaluatorCompiler):
    """SQLAlchemy's ORM evaluator (behind ``synchronize_session="evaluate"``), reading each
    column by name from any object instead of through an ORM mapper, and the principal's ids
    (:func:`principal_match`) from the principal checked."""

    def visit_column(self, clause: Any) -> Any:
        name = clause.key
        return lambda checked: getattr(checked.row, name)

    def visit_bindparam(self, clause: Any) -> Any:
        # ``unique=True`` renames the key for SQL; the name given is kept as ``_orig_key``
        # (any drift would show in the property test comparing answers with the database's).
        key = str(getattr(clause, "_orig_key", clause.key))
        if not key.startswith(_PARAM_PREFIX):
            return super().visit_bindparam(clause)  # type: ignore[no-untyped-call]
        name = key.removeprefix(_PARAM_PREFIX)
        return lambda checked: getattr(checked.principal, name)


Check = Callable[[object, object], bool]


def compile_check(rule: ColumnElement[bool]) -> Check:
    """A Python check ``check(conversation, principal)`` for ``rule`` (built over
    :data:`FACTS`), answering for one conversation as a WHERE clause would: NULL counts as
    false. The principal gives the ids the rule names through :func:`principal_match` (any
    object with those attributes; ``None`` for a rule that names none). Raises
    ``sqlalchemy.orm.evaluator.UnevaluatableError`` for a construct the evaluator does not know
    (a rule must stay within and/or/==/IN/IS)."""
    evaluate = _EvaluateByName().process(rule)  # type: ignore[no-untyped-call]
    return lambda conversation, principal: evaluate(_Checked(conversation, principal)) is True


def holds(rule: ColumnElement[bool], conversation: object, principal: object = None) -> bool:
    """Evaluate ``rule`` once against ``conversation`` (see :func:`compile_check`)."""
    return compile_check(rule)(conversation, principal)
