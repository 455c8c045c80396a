"""Does a chat consent text say what the workspace actually does with the chat?

Why: a visitor consents to the text they read. A text that says "we store this chat for 90
days" while the workspace keeps no transcript (or keeps them three years), or one that says
"this chat is not recorded" while it is, makes the consent uninformed (GDPR Art. 4(11), 7(2):
consent must be informed and the request clear) and the widget contradicts itself. So the
`chat` text is checked against the privacy settings when it is published, and a settings
change that would make the active text untrue is refused until a new text is published.

The check reads the claims a text can make in the shipped languages (en, de, fr, es, nl, it):
a storage period written with digits ("90 days", "12 Monate", "3 ans") and a statement that
nothing is recorded ("not recorded", "nicht gespeichert", ...). A period or any storage
wording is refused when transcripts are off, and "not recorded" is refused when they are on.
(Whether a named period matches the retention policy, which the retention job enforces, is
not checked here.)
"""

from __future__ import annotations

import re

from confide.core.errors import ValidationFailed

DAYS_PER_UNIT = {"day": 1.0, "week": 7.0, "month": 30.44, "year": 365.25}
_UNITS = {
    "day": r"days?|tagen?|jours?|d[ií]as?|dagen|dag|giorni|giorno",
    "week": r"weeks?|wochen?|semaines?|semanas?|weken|week|settimane|settimana",
    "month": r"months?|monate?n?|mois|meses|mes|maanden|maand|mesi|mese",
    "year": r"years?|jahren?|jahre|ans?|ann[ée]es?|a[ñn]os?|jaren|jaar|anni|anno",
}
PERIOD = re.compile(
    r"\b(\d{1,4})\s*(?:" + "|".join(f"(?P<{u}>{p})" for u, p in _UNITS.items()) + r")\b",
    re.IGNORECASE,
)
NOT_RECORDED = re.compile(
    r"\bnot\s+(?:be\s+)?(?:recorded|stored|kept|saved)\b|\bno\s+(?:record|transcript)\b"
    r"|\bnicht\s+(?:gespeichert|aufgezeichnet|aufbewahrt)\b"
    r"|\b(?:n'est|ne sont)\s+pas\s+(?:enregistr|conserv)\w*"
    r"|\bno\s+se\s+(?:guarda|graba|almacena|conserva)\w*"
    r"|\bniet\s+(?:opgeslagen|bewaard|vastgelegd)\b"
    r"|\bnon\s+(?:viene|vengono)\s+(?:registrat|conservat|salvat)\w*",
    re.IGNORECASE,
)
STORAGE = re.compile(
    r"\b(?:store[sd]?|keep|keeps|kept|retain(?:s|ed)?|save[sd]?|record(?:s|ed)?)\b"
    r"|\b(?:(?:auf)?bewahr\w*|(?:ge)?speicher\w*|aufgezeichnet|aufzeichn\w*)"
    r"|\b(?:conserv|enregistr|stock)\w*"
    r"|\b(?:guardamos|guarda|almacen)\w*"
    r"|\b(?:bewaren|bewaard|opgeslagen)\b"
    r"|\b(?:memorizz|registr)\w*",
    re.IGNORECASE,
)


def claimed_period_days(text: str) -> tuple[str, float] | None:
    """The first storage period the text names, as (the words, days); None if none."""
    match = PERIOD.search(text)
    if match is None:
        return None
    unit = next(u for u in DAYS_PER_UNIT if match.group(u))
    return match.group(0), int(match.group(1)) * DAYS_PER_UNIT[unit]


def check_chat_text(text: str, *, store_transcripts: bool) -> None:
    """Raise ValidationFailed (field ``text``) when the text contradicts the settings."""
    period = claimed_period_days(text)
    says_not_recorded = NOT_RECORDED.search(text)
    if store_transcripts:
        if says_not_recorded:
            raise ValidationFailed(
                f"The text says '{says_not_recorded.group(0)}', but this workspace keeps "
                "transcripts; describe what is kept, or turn transcripts off first.",
                field="text",
            )
        return
    if period:
        raise ValidationFailed(
            f"The text says '{period[0]}', but this workspace keeps no transcripts; say that "
            "the chat is relayed live and not kept.",
            field="text",
        )
    storage = STORAGE.search(NOT_RECORDED.sub("", text))
    if storage:
        raise ValidationFailed(
            f"The text speaks of storing the chat ('{storage.group(0)}'), but this workspace "
            "keeps no transcripts; say that the chat is relayed live and not kept.",
            field="text",
        )
