"""The demo workspace ``confide demo`` (and ``python3 dev.py run``) creates.

Why it is configured rather than bare: the demo is where people judge the product, so it shows
the privacy features switched on the way a careful controller would have them: consent asked
before chatting (with the preview, page-mirroring and co-browsing requests published, so the
widget offers them), e-mail addresses and phone numbers masked in messages as well as card
numbers and IBANs, and the controller's details filled in so the record of processing is
complete. Everything is fictional (``example.invalid`` addresses); two-factor sign-in is
optional so the demo can be tried in one step (real workspaces require it for admins).
"""

from __future__ import annotations

import secrets
import uuid

from confide.access.models import Role
from confide.access.policy import Principal
from confide.runtime import Runtime

DEMO_WORKSPACE = "demo"
ACCOUNTS = (
    ("admin", "demo-admin", Role.ADMIN, "Ada Admin (demo)"),
    ("agent", "demo-agent", Role.AGENT, "Alex Agent (demo)"),
)
CONSENT_TEXTS = {
    "chat": "We keep this conversation for 3 years to answer you, then 5 more years in a "
    "restricted archive opened only for legal claims, then delete it. You can ask for a copy "
    "or its deletion at any time. Start the chat?",
    "preview": "Let our agents see what you type before you send it, so they can prepare "
    "an answer?",
    "mirroring": "Let our agents see the page you are on (what you type in forms is never shown)?",
    "cobrowsing": "Let an agent guide you on this page? You can stop at any time.",
}
PRIVACY = {
    "redact_emails": True,
    "redact_phones": True,
    "phone_regions": ["GB", "FR", "DE", "US"],
}
CONTROLLER = {
    "controller_name": "Demo Company (fictional)",
    "controller_contact": "Demo Company, 1 Example Street; privacy@demo.example.invalid",
    "dpo_contact": "dpo@demo.example.invalid",
    "authority_name": "Example Supervisory Authority (fictional)",
}


async def prepare_demo(rt: Runtime) -> list[tuple[str, str, str]]:
    """Create the demo workspace, or give its accounts new passwords when it exists.

    Returns ``[(label, username, password)]``, the passwords random and shown once. The database
    must be migrated. Raises nothing of its own; a half-created demo cannot happen because an
    existing workspace is only ever given new passwords."""
    from confide.access.operators import do_set_password, find_operator_by_username
    from confide.access.workspaces import find_workspace_by_slug

    workspace = await find_workspace_by_slug(rt, DEMO_WORKSPACE)
    if workspace is None:
        return await _create(rt)
    logins = []
    for label, username, _role, _name in ACCOUNTS:
        async with rt.db.session() as session:
            operator = await find_operator_by_username(session, workspace.id, username)
        if operator is None:
            continue  # removed by an admin of the demo: not brought back
        password = secrets.token_urlsafe(12)
        await do_set_password(rt, operator.id, password, current_password=None)
        logins.append((label, username, password))
    return logins


async def _create(rt: Runtime) -> list[tuple[str, str, str]]:
    from confide.access.groups import do_create_group
    from confide.access.operators import do_create_operator
    from confide.access.workspaces import do_create_workspace, do_update_workspace_settings
    from confide.privacy.accountability.subprocessors import do_update_controller_profile
    from confide.privacy.consent_requests import do_publish_request

    workspace = await do_create_workspace(
        rt, slug=DEMO_WORKSPACE, name="Demo Company", mfa_required_for_admins=False
    )
    support = await do_create_group(rt, None, workspace.id, "Support")
    logins, ids = [], {}
    for label, username, role, name in ACCOUNTS:
        password = secrets.token_urlsafe(12)
        ids[role] = await do_create_operator(
            rt,
            None,
            workspace_id=workspace.id,
            username=username,
            password=password,
            role=role,
            profile={
                "name": name,
                "alias": name.split()[0],
                "email": f"{username}@example.invalid",
            },
            group_ids=[support.id],
        )
        logins.append((label, username, password))
    admin = _admin(workspace.id, ids[Role.ADMIN], support.id)
    for purpose, text in CONSENT_TEXTS.items():
        await do_publish_request(rt, admin, purpose, version="1", text=text)
    await do_update_workspace_settings(
        rt,
        admin,
        workspace.id,
        name=None,
        mfa_required_for_admins=None,
        privacy={**PRIVACY, "consent_required": True},
    )
    await do_update_controller_profile(rt, admin, CONTROLLER)
    return logins


def _admin(workspace_id: uuid.UUID, operator_id: uuid.UUID, group_id: uuid.UUID) -> Principal:
    # The demo's own admin does the set-up, so the audit trail names who configured it.
    return Principal(
        kind="operator",
        workspace_id=workspace_id,
        role=Role.ADMIN,
        operator_id=operator_id,
        group_ids=frozenset({group_id}),
    )
