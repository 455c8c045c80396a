"""The settings pages: roles, CSRF, errors next to the field the API named, nothing
half-written, and changes stored and audited like the API's."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from confide.access.models import Operator, Role
from confide.access.tokens import API_KEY_PREFIX
from confide.access.workspaces import get_workspace
from confide.audit.models import AuditEvent
from confide.privacy import settings as privacy_settings
from confide.privacy.redaction import RedactionPolicy
from confide.privacy.redaction_accuracy import load_corpus, measure
from tests.conftest import World
from tests.web.helpers import XSS, form_csrf, post_form, sign_in

PRIVACY = "/console/settings/privacy"


def _privacy_form(**overrides: str | list[str]) -> dict[str, str | list[str]]:
    form: dict[str, str | list[str]] = {
        "ip_handling": "truncated",
        "connection_log_retention_days": "7",
        "store_transcripts": "1",
        "redact_cards": "1",
        "redact_ibans": "1",
        "phone_regions": "",
        "redaction_patterns": "",
    }
    form.update(overrides)
    return {k: v for k, v in form.items() if v is not None}


async def test_an_agent_cannot_open_any_settings_page(world: World) -> None:
    agent = await world.operator("agent", Role.AGENT)
    await sign_in(world, agent)
    for section in ("", "/operators", "/groups", "/api-keys", "/privacy", "/consent", "/retention"):
        page = await world.client.get(f"/console/settings{section}")
        assert page.status_code == 403, section
    inbox = await world.client.get("/console/")
    assert 'href="/console/settings"' not in inbox.text


async def test_an_agent_posting_a_settings_form_is_refused_and_nothing_changes(
    world: World,
) -> None:
    agent = await world.operator("agent", Role.AGENT)
    await sign_in(world, agent)
    page = await world.client.get("/console/account")
    response = await world.client.post(
        PRIVACY, data={"csrf_token": form_csrf(page.text), **_privacy_form(ip_handling="full")}
    )
    assert response.status_code == 403
    stored = await privacy_settings.read(world.rt, await world.workspace())
    assert stored["ip_handling"] == "truncated"


async def test_a_manager_manages_operators_but_not_workspace_settings(world: World) -> None:
    sales = await world.group("Sales")
    manager = await world.operator("boss", Role.MANAGER, groups=[sales])
    await sign_in(world, manager)
    assert (
        (await world.client.get("/console/settings"))
        .headers["location"]
        .endswith("/console/settings/operators")
    )
    assert (await world.client.get("/console/settings/operators")).status_code == 200
    assert (await world.client.get(PRIVACY)).status_code == 403
    # The API's rule holds on the form: managers create agents only.
    response = await post_form(
        world.client,
        "/console/settings/operators",
        "/console/settings/operators",
        {
            "username": "newadmin",
            "password": "a long enough password",
            "role": "admin",
            "group_ids": [str(sales)],
        },
    )
    assert response.status_code == 403
    assert 'id="err-role"' in response.text
    async with world.rt.db.session() as session:
        count = await session.scalar(
            select(func.count()).select_from(Operator).where(Operator.username == "newadmin")
        )
    assert count == 0


async def test_settings_form_without_a_valid_csrf_token_is_refused(world: World) -> None:
    admin = await world.operator("root", Role.ADMIN)
    await sign_in(world, admin)
    await world.client.get(PRIVACY)
    for token in ("", "forged-token"):
        response = await world.client.post(
            PRIVACY, data={"csrf_token": token, **_privacy_form(ip_handling="full")}
        )
        assert response.status_code == 403
    stored = await privacy_settings.read(world.rt, await world.workspace())
    assert stored["ip_handling"] == "truncated"
    # The session survives the refused form.
    assert (await world.client.get(PRIVACY)).status_code == 200


async def test_signed_out_settings_post_goes_to_sign_in(world: World) -> None:
    page = await world.client.get("/console/login")
    response = await world.client.post(
        PRIVACY, data={"csrf_token": form_csrf(page.text), **_privacy_form()}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login"


async def test_admin_changes_privacy_settings_and_they_are_stored_and_audited(
    world: World,
) -> None:
    admin = await world.operator("root", Role.ADMIN)
    await sign_in(world, admin)
    response = await post_form(
        world.client,
        PRIVACY,
        PRIVACY,
        _privacy_form(
            ip_handling="none",
            connection_log_retention_days="3",
            redact_phones="1",
            phone_regions="fr, de",
            redaction_patterns="ORDER-[0-9]{6}\nTICKET-[0-9]+",
        ),
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"{PRIVACY}?saved=1"
    stored = await privacy_settings.read(world.rt, await world.workspace())
    assert stored["ip_handling"] == "none"
    assert stored["connection_log_retention_days"] == 3
    assert stored["redact_phones"] is True and stored["redact_emails"] is False
    assert stored["phone_regions"] == ["FR", "DE"]
    assert stored["phone_region"] == "FR"  # the older one-region form follows the list
    assert stored["redaction_patterns"] == ["ORDER-[0-9]{6}", "TICKET-[0-9]+"]
    page = await world.client.get(f"{PRIVACY}?saved=1")
    assert "Saved." in page.text
    assert 'value="none" checked' in page.text
    async with world.rt.db.session() as session:
        recorded = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.actor_id == admin.id, AuditEvent.action == "workspace.settings")
        )
    assert recorded == 1


async def test_bad_privacy_input_shows_the_error_next_to_the_field_and_changes_nothing(
    world: World,
) -> None:
    admin = await world.operator("root", Role.ADMIN)
    await sign_in(world, admin)
    for field, bad in (
        ("connection_log_retention_days", "0"),
        ("connection_log_retention_days", "many"),
        ("redaction_patterns", "fine\n(unclosed"),
        ("phone_regions", "GB ZZ"),
    ):
        response = await post_form(
            world.client, PRIVACY, PRIVACY, _privacy_form(ip_handling="full", **{field: bad})
        )
        assert response.status_code == 422, (field, bad)
        assert f'id="err-{field}"' in response.text, (field, bad)
        assert f'aria-describedby="err-{field}' in response.text  # + hint-... when it has one
        # What was typed is kept in the form.
        assert 'value="full" checked' in response.text
        stored = await privacy_settings.read(world.rt, await world.workspace())
        assert stored["ip_handling"] == "truncated"  # nothing half-written
        assert stored["redaction_patterns"] == []


async def test_retention_days_are_stored_per_channel(world: World) -> None:
    admin = await world.operator("root", Role.ADMIN)
    await sign_in(world, admin)
    path = "/console/settings/retention"
    page = await world.client.get(path)
    assert "retention job" in page.text and 'id="retention-next"' in page.text
    days = {"web": "1095", "social": "1095", "call": "365", "sms": "365", "video": "30"}
    bad = await post_form(
        world.client,
        path,
        path,
        {f"retention_days.{k}": v for k, v in {**days, "sms": "0"}.items()},
    )
    assert bad.status_code == 422
    assert 'id="err-retention_days.sms"' in bad.text
    assert (await privacy_settings.read(world.rt, await world.workspace()))["retention_days"][
        "web"
    ] == 1095
    empty = await post_form(world.client, path, path, {f"retention_days.{k}": "" for k in days})
    assert empty.status_code == 422 and "nothing was changed" in empty.text
    assert 'id="err-retention_days.web"' in empty.text
    good = await post_form(
        world.client, path, path, {f"retention_days.{k}": v for k, v in days.items()}
    )
    assert good.status_code == 303
    stored = await privacy_settings.read(world.rt, await world.workspace())
    assert stored["retention_days"] == {k: int(v) for k, v in days.items()}


async def test_mfa_requirement_and_workspace_name(world: World) -> None:
    admin = await world.operator("root", Role.ADMIN)
    await sign_in(world, admin)
    path = "/console/settings/security"
    empty = await post_form(world.client, path, path, {"name": "  "})
    assert empty.status_code == 422 and 'id="err-name"' in empty.text
    saved = await post_form(
        world.client, path, path, {"name": "Acme Shop", "mfa_required_for_admins": "1"}
    )
    assert saved.status_code == 303
    workspace = await get_workspace(world.rt, await world.workspace())
    assert workspace.name == "Acme Shop"
    assert workspace.mfa_required_for_admins is True
    # Decided on every request: this admin, without MFA, must now enrol before anything else.
    after = await world.client.get(path)
    assert after.status_code == 303 and after.headers["location"] == "/console/mfa/enrol"


async def test_operator_created_edited_and_removed_through_the_forms(world: World) -> None:
    sales = await world.group("Sales")
    admin = await world.operator("root", Role.ADMIN)
    await sign_in(world, admin)
    path = "/console/settings/operators"
    bad = await post_form(
        world.client,
        path,
        path,
        {
            "username": "dana",
            "password": "a long enough password",
            "role": "agent",
            "email": "not-an-email",
            "name": XSS,
        },
    )
    assert bad.status_code == 422
    assert 'id="err-email"' in bad.text
    assert XSS not in bad.text and "&lt;img src=x" in bad.text  # typed values are escaped
    created = await post_form(
        world.client,
        path,
        path,
        {
            "username": "dana",
            "password": "a long enough password",
            "role": "agent",
            "name": "Dana Example",
            "group_ids": [str(sales)],
        },
    )
    assert created.status_code == 303
    listing = await world.client.get(path)
    assert "Dana Example" in listing.text
    async with world.rt.db.session() as session:
        dana = await session.scalar(select(Operator).where(Operator.username == "dana"))
    assert dana is not None
    edit = f"{path}/{dana.id}"
    changed = await post_form(
        world.client,
        edit,
        edit,
        {"name": "Dana Example", "role": "manager", "group_ids": [str(sales)]},
    )
    assert changed.status_code == 303
    view = (await world.client.get(f"/api/v1/operators/{dana.id}")).json()
    assert view["role"] == "manager" and view["group_ids"] == [str(sales)]
    removed = await post_form(world.client, edit, f"{edit}/remove", {})
    assert removed.status_code == 303
    assert "Dana Example" not in (await world.client.get(path)).text


async def test_api_key_secret_is_shown_once(world: World) -> None:
    admin = await world.operator("root", Role.ADMIN)
    await sign_in(world, admin)
    path = "/console/settings/api-keys"
    empty = await post_form(world.client, path, path, {"name": ""})
    assert empty.status_code == 422 and 'id="err-name"' in empty.text
    created = await post_form(world.client, path, path, {"name": "shop backend"})
    assert created.status_code == 200
    assert created.headers["cache-control"] == "no-store"
    secret = created.text.split('id="new-key">', 1)[1].split("<", 1)[0]
    assert secret.startswith(API_KEY_PREFIX)
    listing = await world.client.get(path)
    assert "shop backend" in listing.text and secret not in listing.text
    identify = await world.client.post(
        "/api/v1/visitors/identify",
        json={"vuid": "v_unknown", "name": "x"},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert identify.status_code == 404  # the key works: the visitor is what is unknown


async def test_consent_request_published_with_errors_per_purpose(world: World) -> None:
    admin = await world.operator("root", Role.ADMIN)
    await sign_in(world, admin)
    path = "/console/settings/consent"
    bad = await post_form(world.client, path, f"{path}/chat", {"version": "v1", "text": ""})
    assert bad.status_code == 422
    assert 'id="err-chat.text"' in bad.text
    good = await post_form(world.client, path, f"{path}/chat", {"version": "v1", "text": XSS})
    assert good.status_code == 303
    page = await world.client.get(path)
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text and XSS not in page.text
    listed = (await world.client.get("/api/v1/consent/requests")).json()["requests"]
    assert [(r["purpose"], r["version"]) for r in listed] == [("chat", "v1")]


async def test_groups_created_renamed_and_deleted(world: World) -> None:
    admin = await world.operator("root", Role.ADMIN)
    await sign_in(world, admin)
    path = "/console/settings/groups"
    assert (await post_form(world.client, path, path, {"name": "Billing"})).status_code == 303
    duplicate = await post_form(world.client, path, path, {"name": "Billing"})
    assert duplicate.status_code == 409 and 'id="err-name"' in duplicate.text
    group = (await world.client.get("/api/v1/groups")).json()["groups"][0]
    renamed = await post_form(world.client, path, f"{path}/{group['id']}", {"name": "Invoices"})
    assert renamed.status_code == 303
    assert "Invoices" in (await world.client.get(path)).text
    deleted = await post_form(world.client, path, f"{path}/{group['id']}/delete", {})
    assert deleted.status_code == 303
    assert (await world.client.get("/api/v1/groups")).json()["groups"] == []


async def test_widget_settings_page_shows_the_snippet_and_stores_changes(world: World) -> None:
    admin = await world.operator("root", Role.ADMIN)
    await sign_in(world, admin)
    path = "/console/settings/widget"
    page = await world.client.get(path)
    assert page.status_code == 200
    assert "/widget.js&#34; data-workspace=&#34;acme&#34;" in page.text  # the snippet, escaped
    form = {
        "title": "Talk to Acme",
        "launcher_label": "Help",
        "accent_color": "#123456",
        "position": "left",
        "greeting": "Hello!",
        "csat_enabled": "1",
        "allowed_origins": "https://shop.example.com",
    }
    bad = await post_form(world.client, path, path, {**form, "accent_color": "red"})
    assert bad.status_code == 422 and 'id="err-accent_color"' in bad.text
    assert (await world.client.get("/api/v1/workspace/widget")).json()["title"] == "Chat with us"
    saved = await post_form(world.client, path, path, form)
    assert saved.status_code == 303
    stored = (await world.client.get("/api/v1/workspace/widget")).json()
    assert stored["title"] == "Talk to Acme" and stored["position"] == "left"
    assert stored["accent_color"].lower() == "#123456"
    assert stored["prechat_enabled"] is False and stored["csat_enabled"] is True
    assert stored["allowed_origins"] == ["https://shop.example.com"]


async def test_a_manager_editing_an_agent_keeps_groups_the_manager_cannot_see(
    world: World,
) -> None:
    sales = await world.group("Sales")
    billing = await world.group("Billing")
    manager = await world.operator("boss", Role.MANAGER, groups=[sales])
    agent = await world.operator("ivy", Role.AGENT, groups=[sales, billing], name="Ivy Agent")
    await sign_in(world, manager)
    edit = f"/console/settings/operators/{agent.id}"
    page = await world.client.get(edit)
    assert "Billing" not in page.text  # not one of the manager's groups
    assert f'type="hidden" name="group_ids" value="{billing}"' in page.text
    response = await post_form(
        world.client,
        edit,
        edit,
        {
            "name": "Ivy Agent",
            "alias": "Ivy",
            "role": "agent",
            "group_ids": [str(sales), str(billing)],
        },
    )
    assert response.status_code == 303, response.text
    admin = await world.operator("root", Role.ADMIN)
    view = (
        await world.client.get(f"/api/v1/operators/{agent.id}", headers=await world.headers(admin))
    ).json()
    assert view["alias"] == "Ivy"
    assert sorted(view["group_ids"]) == sorted([str(sales), str(billing)])


async def test_privacy_page_shows_the_measured_redaction_accuracy_of_the_saved_settings(
    world: World,
) -> None:
    admin = await world.operator("root", Role.ADMIN)
    await sign_in(world, admin)
    page = await world.client.get(PRIVACY)
    assert page.status_code == 200
    corpus = load_corpus()
    assert f"{len(corpus.lines)} messages, {corpus.must_not_mask} of them" in page.text
    # Defaults: cards and IBANs on, phones and e-mails off, so only those two are measured.
    rows = re.findall(r'<th scope="row">(\w+)</th><td>([\d.]+)</td><td>([\d.]+)</td>', page.text)
    defaults = measure(RedactionPolicy())
    assert rows == [
        (kind, f"{score.precision:.2f}", f"{score.recall:.2f}") for kind, score in defaults.items()
    ]
    assert [kind for kind, _p, _r in rows] == ["card", "iban"]
    await post_form(
        world.client, PRIVACY, PRIVACY, _privacy_form(redact_phones="1", phone_regions="GB")
    )
    page = await world.client.get(PRIVACY)
    rows = re.findall(r'<th scope="row">(\w+)</th><td>([\d.]+)</td><td>([\d.]+)</td>', page.text)
    phone = measure(RedactionPolicy(phones=True, phone_regions=("GB",)))["phone"]
    assert ("phone", f"{phone.precision:.2f}", f"{phone.recall:.2f}") in rows


async def test_form_fields_carry_their_browser_hints_as_attributes_not_text(world: World) -> None:
    agent = await world.operator("agent", Role.AGENT)
    await sign_in(world, agent)
    page = (await world.client.get("/console/account")).text
    # Password managers and length limits need real attributes, not escaped text.
    assert 'autocomplete="current-password" maxlength="256"' in page
    assert "&#34;" not in page
