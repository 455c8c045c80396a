"""The record of processing (Art. 30) and the DPA annex follow live configuration, and export
as Markdown, JSON and a real PDF (rasterised with pdftoppm, read back with pdftotext)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from confide.core.config import Settings
from confide.privacy.accountability.activities import ACTIVITIES
from confide.privacy.accountability.processing_record import HEADINGS
from confide.privacy.subject_map import SUBJECT_MAP
from tests.conftest import World
from tests.privacy.helpers import admin_headers, publish, set_privacy

PROFILE = {
    "controller_name": "Acme Ltd",
    "controller_contact": "Acme Ltd, 1 Example Street, Lyon; privacy@acme.example",
    "representative": "None needed: established in France",
    "dpo_contact": "dpo@acme.example",
    "authority_name": "CNIL",
    "authority_email": "notifications@cnil.example",
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_overrides(
        deployment_region="FR",
        processor_name="Example Hosting SAS",
        processor_contact="ops@hosting.example",
    )


TABLES = [t for a in ACTIVITIES for t in a.tables]


def section(record: dict[str, Any], key: str) -> dict[str, str]:
    found = next(s for s in record["sections"] if s["key"] == key)
    return {i["label"]: i["value"] for i in found["items"]}


async def record_of(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, Any]:
    response = await client.get("/api/v1/records/processing", headers=admin)
    assert response.status_code == 200, response.text
    record: dict[str, Any] = response.json()
    return record


async def test_every_art_30_field_is_filled_from_live_settings(
    world: World, client: httpx.AsyncClient
) -> None:
    admin = await admin_headers(world)
    empty = await record_of(client, admin)
    assert empty["missing"] == ["controller_name"]  # says what to set, invents nothing
    assert section(empty, "1a")["Controller"].startswith("Not recorded yet")

    assert (
        await client.put("/api/v1/controller-profile", json=PROFILE, headers=admin)
    ).status_code == 200
    record = await record_of(client, admin)
    assert record["missing"] == []
    assert [s["heading"] for s in record["sections"]] == list(HEADINGS.values())
    for part in record["sections"]:
        assert part["items"], part["heading"]
        for item in part["items"]:
            assert item["value"].strip() and "Not recorded" not in item["value"], item
    assert section(record, "1a")["Data protection officer (Art. 37)"] == "dpo@acme.example"
    assert section(record, "1e")["Where the data is stored"] == "FR (inside the EEA)"
    # The whole life: active, then the restricted archive (default 5 years), then destroyed.
    assert section(record, "1f")["Conversations on web"] == (
        "1095 days, then 1825 days in the restricted archive (archive custodians only, with a "
        "filed reason), then destroyed (anonymised statistics kept)"
    )
    assert section(record, "2a")["Processor"] == "Example Hosting SAS"
    measures = section(record, "1g")
    assert measures["Multi-factor authentication"] == "Optional for admins"
    assert measures["Redaction"] == "Masked before storage: card numbers, IBANs."


async def test_the_record_changes_when_transcripts_are_turned_off(
    world: World, client: httpx.AsyncClient
) -> None:
    admin = await admin_headers(world)
    before = await record_of(client, admin)
    assert section(before, "1g")["Transcripts"] == "Stored, encrypted per conversation"
    chat = "Answering visitors in live chat and on connected channels"
    assert "message texts," in section(before, "1b")[chat]
    await set_privacy(
        client, admin, store_transcripts=False, ip_handling="none", retention_days={"web": 30}
    )
    after = await record_of(client, admin)
    assert section(after, "1g")["Transcripts"].startswith("Off: message texts are never")
    assert "message texts (relayed, not stored)" in section(after, "1b")[chat]
    assert section(after, "1f")["Message texts"] == "Not stored (transcripts off)."
    assert section(after, "1f")["Conversations on web"].startswith("30 days, then 1825 days")
    assert section(after, "1g")["IP addresses of visitors"].startswith("not stored")


async def test_a_subprocessor_becomes_a_recipient_and_a_transfer(
    world: World, client: httpx.AsyncClient
) -> None:
    admin = await admin_headers(world)
    assert section(await record_of(client, admin), "1e")["Transfers outside the EEA"].startswith(
        "None"
    )
    added = await client.post(
        "/api/v1/subprocessors",
        json={
            "name": "Example SMS Inc.",
            "service": "SMS delivery",
            "country": "US",
            "host": "sms.example.com",
            "safeguard": "scc",
            "safeguard_date": "2025-03-01",
        },
        headers=admin,
    )
    assert added.status_code == 201, added.text
    record = await record_of(client, admin)
    assert section(record, "1d")["Subprocessor: Example SMS Inc."] == (
        "SMS delivery (US, standard contractual clauses of 2025-03-01 (Art. 46(2)(c)), "
        "receives data at sms.example.com)"
    )
    transfers = section(record, "1e")
    assert transfers["Example SMS Inc. (US)"].startswith("standard contractual clauses of 2025")
    assert "Transfers outside the EEA" not in transfers
    annex = (await client.get("/api/v1/records/dpa-annex", headers=admin)).json()
    assert "Subprocessor: Example SMS Inc." in section(annex, "subprocessors")


async def test_markdown_export_has_every_heading(world: World, client: httpx.AsyncClient) -> None:
    admin = await admin_headers(world)
    await client.put("/api/v1/controller-profile", json=PROFILE, headers=admin)
    response = await client.get("/api/v1/records/processing?format=md", headers=admin)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/markdown")
    assert "record-of-processing-acme.md" in response.headers["content-disposition"]
    for heading in HEADINGS.values():
        assert f"## {heading}\n" in response.text
    exported = await client.get("/api/v1/records/processing?format=json", headers=admin)
    assert json.loads(exported.text)["workspace"]["name"] == "Acme"


async def test_only_admins_read_the_record(world: World, client: httpx.AsyncClient) -> None:
    from confide.access.models import Role

    agent = await world.headers(await world.operator("alice", Role.AGENT))
    assert (await client.get("/api/v1/records/processing", headers=agent)).status_code == 403


@pytest.mark.parametrize("path", ["/api/v1/records/processing", "/api/v1/records/dpa-annex"])
async def test_pdf_is_rendered_non_blank_with_every_heading(
    world: World, client: httpx.AsyncClient, tmp_path: Path, path: str
) -> None:
    assert shutil.which("pdftoppm") and shutil.which("pdftotext"), "install poppler-utils"
    admin = await admin_headers(world)
    await client.put("/api/v1/controller-profile", json=PROFILE, headers=admin)
    response = await client.get(f"{path}?format=pdf", headers=admin)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    pdf = tmp_path / "record.pdf"
    pdf.write_bytes(response.content)

    subprocess.run(
        ["pdftoppm", "-f", "1", "-l", "1", "-r", "50", "-gray", str(pdf), str(tmp_path / "page")],
        check=True,
    )
    [page] = list(tmp_path.glob("page*.pgm"))
    pixels = _pgm_pixels(page.read_bytes())
    dark = sum(1 for p in pixels if p < 128)
    assert dark > len(pixels) // 200, "the first page is blank"

    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    flat = " ".join(text.split())
    assert "Acme" in flat
    headings = HEADINGS.values() if path.endswith("processing") else _annex_headings()
    for heading in headings:
        assert heading in flat, heading


def _annex_headings() -> list[str]:
    from confide.privacy.accountability.annex import ANNEX_HEADINGS

    return list(ANNEX_HEADINGS.values())


def _pgm_pixels(data: bytes) -> bytes:
    """The pixel bytes of a binary PGM (P5) image."""
    fields: list[bytes] = []
    index = 0
    while len(fields) < 4:
        while data[index : index + 1].isspace():
            index += 1
        if data[index : index + 1] == b"#":
            index = data.index(b"\n", index) + 1
            continue
        end = index
        while not data[end : end + 1].isspace():
            end += 1
        fields.append(data[index:end])
        index = end
    assert fields[0] == b"P5"
    width, height = int(fields[1]), int(fields[2])
    return data[index + 1 : index + 1 + width * height]


async def test_rendering_a_pdf_fetches_nothing() -> None:
    import asyncio

    from confide.privacy.accountability import render

    connections: list[int] = []

    async def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        writer.close()

    server = await asyncio.start_server(count, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    html = (
        f'<html><head><link rel="stylesheet" href="http://127.0.0.1:{port}/x.css"></head>'
        f'<body><img src="http://127.0.0.1:{port}/pixel.png"><p>Acme</p></body></html>'
    )
    async with server:
        pdf = await asyncio.to_thread(render._render_pdf, html)
    assert pdf.startswith(b"%PDF-") and connections == []


async def test_the_chat_is_processed_on_consent_when_the_workspace_asks_it_first(
    world: World, client: httpx.AsyncClient
) -> None:
    admin = await admin_headers(world)
    chat = "Answering visitors in live chat and on connected channels"
    before = section(await record_of(client, admin), "1b")
    assert before[chat].startswith("Art. 6(1)(b) contract.")
    assert not any("(" + table + ")" in value for value in before.values() for table in TABLES)
    await publish(client, admin, "chat", "We keep this chat for 3 years to answer you. OK?")
    await set_privacy(client, admin, consent_required=True)
    after = section(await record_of(client, admin), "1b")
    assert after[chat].startswith("Art. 6(1)(a) consent of the visitor, asked before chatting.")
    assert after["Security of the service"].startswith("Art. 6(1)(f) legitimate interest.")


def test_every_table_holding_personal_data_belongs_to_one_activity_of_its_basis() -> None:
    for table, entry in SUBJECT_MAP.items():
        if entry.legal_basis == "not_personal":
            continue
        owners = [a for a in ACTIVITIES if table in a.tables]
        assert len(owners) == 1, f"{table} belongs to {len(owners)} activities"
        assert owners[0].legal_basis == entry.legal_basis, table
    listed = [t for a in ACTIVITIES for t in a.tables]
    assert sorted(set(listed) - set(SUBJECT_MAP)) == []  # no activity names a gone table
