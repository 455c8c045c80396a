"""The data processing agreement annex (GDPR Art. 28(3)): subject matter, duration, nature and
purpose, types of data, categories of data subjects, subprocessors and measures, drawn from the
same live sources as the record of processing (``processing_record``), so the two never
disagree."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from confide.access import policy
from confide.access.policy import Action, Principal
from confide.core.clock import utcnow
from confide.privacy.accountability.processing_record import compose_record, gather

if TYPE_CHECKING:
    from confide.runtime import Runtime

ANNEX_HEADINGS = {
    "subject_matter": "Subject matter",
    "duration": "Duration",
    "nature_purpose": "Nature and purpose of the processing",
    "data": "Types of personal data",
    "subjects": "Categories of data subjects",
    "subprocessors": "Subprocessors",
    "measures": "Technical and organisational measures",
}


def _items(record: dict[str, Any], key: str) -> list[dict[str, str]]:
    return next(s["items"] for s in record["sections"] if s["key"] == key)


async def build_annex(rt: Runtime, principal: Principal) -> dict[str, Any]:
    """The annex of the principal's workspace, in the record's shape (``sections``)."""
    policy.authorize(principal, Action.WORKSPACE_SETTINGS)
    assert principal.workspace_id is not None
    return await annex_of_workspace(rt, principal.workspace_id)


async def annex_of_workspace(rt: Runtime, workspace_id: uuid.UUID) -> dict[str, Any]:
    """The annex of any workspace, for the deployment's operator (command line)."""
    async with rt.db.session() as session:
        facts = await gather(rt, session, workspace_id)
    record = compose_record(rt.settings, facts)
    name = record["workspace"]["name"]
    processor = rt.settings.processor_name or "the operator of this deployment"
    category = _items(record, "1c")
    subs = [
        i
        for i in _items(record, "1d")
        if i["label"].startswith(("Subprocessor:", "SMTP relay", "Outbound"))
    ]
    sections = [
        (
            "subject_matter",
            [
                {
                    "label": "Service",
                    "value": f"{processor} hosts Confide, a live-chat platform, for {name}.",
                }
            ],
        ),
        (
            "duration",
            [
                {
                    "label": "Term",
                    "value": "For as long as the workspace exists; at its end the data is "
                    "erased (keys destroyed) or returned as the controller chooses.",
                },
                *_items(record, "1f"),
            ],
        ),
        ("nature_purpose", _items(record, "2b") + _items(record, "1b")),
        ("data", [i for i in category if not i["label"].startswith("Data subjects")]),
        ("subjects", [i for i in category if i["label"].startswith("Data subjects")]),
        (
            "subprocessors",
            subs or [{"label": "Subprocessors", "value": "None are engaged."}],
        ),
        ("measures", _items(record, "1g")),
    ]
    return {
        "title": "Data processing agreement: annex",
        "workspace": record["workspace"],
        "generated_at": utcnow().isoformat(),
        "sections": [
            {"key": key, "heading": ANNEX_HEADINGS[key], "items": items} for key, items in sections
        ],
        "missing": record["missing"],
    }
