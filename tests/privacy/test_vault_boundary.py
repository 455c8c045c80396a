"""Only confide/privacy/vault.py may touch the vault's table; everything else asks the vault."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from confide.access.models import Operator, Role
from confide.core.errors import ValidationFailed
from confide.privacy.models import PersonalField
from confide.runtime import Runtime
from tests.conftest import World

PACKAGE = Path(__file__).resolve().parents[2] / "confide"
ALLOWED = {
    "privacy/vault.py",
    "privacy/models.py",
    "privacy/registry_access.py",
    "privacy/registry_chat.py",
    "privacy/registry_hardening.py",
    "privacy/docs.py",
    "privacy/subject_map.py",  # the map names every table; erasure walks it by name
}


def test_no_module_but_the_vault_uses_personal_fields() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative in ALLOWED or relative.startswith("migrations/"):
            continue
        source = path.read_text()
        if re.search(r"\b(PersonalField|personal_fields|MessageText|message_texts)\b", source):
            offenders.append(relative)
    assert offenders == []


async def test_operator_identifiers_are_stored_encrypted_in_the_vault_not_in_operators(
    world: World, rt: Runtime
) -> None:
    account = await world.operator(
        "ivy", Role.AGENT, name="Ivy Vaultcheck", email="ivy.vaultcheck@example.invalid"
    )
    async with rt.db.session() as session:
        rows = (await session.scalars(select(PersonalField))).all()
        operator = await session.get(Operator, account.id)
        assert operator is not None
        readable = await rt.vault.read_fields(session, [operator.subject_id])
    stored = {row.name: row.value for row in rows}
    assert set(stored) == {"name", "email"}
    assert all(v.startswith("ck1:") for v in stored.values())
    assert "Vaultcheck" not in str(stored) and "ivy" not in str(stored)
    assert readable[operator.subject_id] == {
        "name": "Ivy Vaultcheck",
        "email": "ivy.vaultcheck@example.invalid",
    }
    email_row = next(r for r in rows if r.name == "email")
    assert email_row.blind_index and "ivy" not in email_row.blind_index


async def test_a_ciphertext_moved_to_another_field_does_not_decrypt(
    world: World, rt: Runtime
) -> None:
    account = await world.operator("moe", Role.AGENT, name="Moe Example", alias="Moe")
    async with rt.db.transaction() as session:
        operator = await session.get(Operator, account.id)
        assert operator is not None
        name_row = await session.get(PersonalField, (operator.subject_id, "name"))
        alias_row = await session.get(PersonalField, (operator.subject_id, "alias"))
        assert name_row is not None and alias_row is not None
        alias_row.value = name_row.value  # an attacker with database access swaps ciphertexts
    async with rt.db.session() as session:
        readable = await rt.vault.read_fields(session, [operator.subject_id])
    assert readable[operator.subject_id] == {"name": "Moe Example"}


async def test_vault_finds_a_person_by_email_through_the_blind_index(
    world: World, rt: Runtime
) -> None:
    account = await world.operator("joe", email="Joe.Lookup@Example.invalid")
    other_ws = await world.workspace("globex")
    async with rt.db.session() as session:
        found = await rt.vault.find_subjects(
            session,
            workspace_id=world.workspaces["acme"],
            field="email",
            value="  joe.lookup@example.INVALID ",
        )
        elsewhere = await rt.vault.find_subjects(
            session, workspace_id=other_ws, field="email", value="joe.lookup@example.invalid"
        )
    async with rt.db.session() as session:
        operator = await session.get(Operator, account.id)
    assert operator is not None
    assert found == [operator.subject_id]
    assert elsewhere == []


async def test_vault_refuses_undeclared_fields(world: World, rt: Runtime) -> None:
    account = await world.operator("kim")
    with pytest.raises(ValidationFailed) as refused:
        async with rt.db.transaction() as session:
            operator = await session.get(Operator, account.id)
            assert operator is not None
            await rt.vault.write_fields(session, operator.subject_id, {"shoe_size": "44"})
    assert refused.value.field == "shoe_size"


async def test_erasing_a_subject_removes_every_field(world: World, rt: Runtime) -> None:
    account = await world.operator("lee", name="Lee Erase", email="lee.erase@example.invalid")
    async with rt.db.transaction() as session:
        operator = await session.get(Operator, account.id)
        assert operator is not None
        await rt.vault.erase_subject(session, operator.subject_id)
    async with rt.db.session() as session:
        assert await rt.vault.read_fields(session, [operator.subject_id]) == {
            operator.subject_id: {}
        }
        assert (
            await rt.vault.find_subjects(
                session,
                workspace_id=operator.workspace_id,
                field="email",
                value="lee.erase@example.invalid",
            )
            == []
        )
