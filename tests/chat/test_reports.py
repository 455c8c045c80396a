"""Reports from the anonymised statistics: scoped by role (managers their groups, analysts
pseudonymised, agents none), percentiles and CSAT, CSV safe against formula injection, and
the console page with server-rendered SVG charts."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import httpx

from confide.access.models import Role
from confide.chat.reports import csv_cell, percentile
from confide.core import clock
from confide.privacy.retention.run import do_run_retention
from confide.runtime import Runtime
from tests.conftest import World
from tests.privacy.retention_helpers import seed_conversation
from tests.web.helpers import sign_in


async def _seed(world: World, client: httpx.AsyncClient, rt: Runtime) -> dict[str, object]:
    root = await world.operator("root", Role.ADMIN)
    admin = await world.headers(root)
    support = await world.group("Support")  # the workspace's first group: chats land here
    billing = await world.group('=HYPERLINK("http://evil.example")')
    for score in (2, 4, 5):
        await seed_conversation(rt, client, admin, csat=score)
    await do_run_retention(rt, as_of=clock.utcnow() + timedelta(days=1))
    return {"root": root, "admin": admin, "support": support, "billing": billing}


async def test_reports_are_scoped_by_role_and_pseudonymised_for_analysts(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    seeded = await _seed(world, client, rt)
    admin = seeded["admin"]
    report = (await client.get("/api/v1/reports", headers=admin)).json()  # type: ignore[arg-type]
    assert report["conversations"] == 3
    assert {row["group"] for row in report["per_day"]} == {"Support"}
    assert report["csat"] == {
        "distribution": {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1}, "average": 3.67
    }  # fmt: skip
    assert report["first_response_seconds"]["p50"] is not None

    manager = await world.headers(
        await world.operator("mia", Role.MANAGER, groups=[seeded["billing"]])  # type: ignore[list-item]
    )
    assert (await client.get("/api/v1/reports", headers=manager)).json()["conversations"] == 0
    analyst = await world.headers(
        await world.operator("ana", Role.ANALYST, groups=[seeded["support"]])  # type: ignore[list-item]
    )
    seen = (await client.get("/api/v1/reports", headers=analyst)).json()
    assert seen["conversations"] == 3
    assert all(row["group"].startswith("group-") for row in seen["per_day"])
    agent = await world.headers(await world.operator("ben", Role.AGENT))
    assert (await client.get("/api/v1/reports", headers=agent)).status_code == 403
    bad = await client.get(
        "/api/v1/reports", params={"start": "2026-02-01", "end": "2026-01-01"}, headers=admin
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "start"


async def test_report_csv_escapes_cells_that_a_spreadsheet_would_run(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    seeded = await _seed(world, client, rt)
    admin = seeded["admin"]
    await client.post(
        "/api/v1/retention/bulk-delete", json={"channel": "web", "dry_run": True}, headers=admin
    )
    assert [csv_cell(v) for v in ("=1+1", "+3", "-2", "@SUM(A1)", "plain", 7)] == [
        "'=1+1", "'+3", "'-2", "'@SUM(A1)", "plain", "7"
    ]  # fmt: skip
    # A group whose name is a formula: moved there, it reaches the CSV escaped.
    from sqlalchemy import update

    from confide.privacy.retention.models import ConversationStatistics

    async with rt.db.transaction() as tx:
        await tx.execute(update(ConversationStatistics).values(group_id=seeded["billing"]))
    response = await client.get("/api/v1/reports.csv", headers=admin)  # type: ignore[arg-type]
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["day", "channel", "group", "conversations"]
    assert rows[1][2] == '\'=HYPERLINK("http://evil.example")'


async def test_reports_page_draws_svg_charts_and_offers_the_csv(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    seeded = await _seed(world, client, rt)
    await sign_in(world, seeded["root"])  # type: ignore[arg-type]
    page = await client.get("/console/reports")
    assert page.status_code == 200, page.text
    assert '<svg id="chart-per-day"' in page.text and '<svg id="chart-csat"' in page.text
    assert "<script>" not in page.text and "cdn" not in page.text.lower()
    assert 'href="/console/reports"' in page.text  # in the navigation
    download = await client.get("/console/reports.csv")
    assert download.status_code == 200 and download.text.startswith("day,channel,group")


def test_percentiles_are_nearest_rank() -> None:
    values = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6]
    assert [percentile(values, p) for p in (50, 90, 99)] == [5, 9, 10]
    assert percentile([], 50) is None
