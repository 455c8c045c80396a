"""Does a chat consent text say what the workspace actually does with the chat?

Why: a visitor consents to the text they read. A text that says "we store this chat for 90
days" while the workspace keeps no transcript (or keeps them three years), or one that says
"this chat is not recorded" while it is, makes the consent uninformed (GDPR Art. 4(11), 7(2):
consent must be informed and the request clear) and the widget contradicts itself. So the
`chat` text is checked against the privacy settings when it is published, and a settings
change that would make the active text untrue is refused until a new text is published
(``confide.privacy.settings``; for a retention change, first a text that names no period).

The check reads the claims a text can make in the shipped languages (en, de, fr, es, nl, it):
a storage period written with digits ("90 days", "12 Monate", "3 ans") and a statement that
nothing is recorded ("not recorded", "nicht gespeichert", ...). A period or any storage
wording is refused when transcripts are off, and "not recorded" is refused when they are on.
When transcripts are kept, every period the text names must also be one the web channel's
retention policy (which the retention job enforces) keeps a chat: the active period, the
archive period, or both together, within ``PERIOD_TOLERANCE`` ("3 years" for 1,095 days, "1
Monat" for one calendar month). Periods written in words ("one year") are not read, and any
period written with digits counts as a storage period.
"""

from __future__ import annotations

import re

from confide.core.errors import ValidationFailed
from confide.privacy.retention.policy import ChannelPolicy

DAYS_PER_UNIT = {"day": 1.0, "week": 7.0, "month": 30.44, "year": 365.25}
PERIOD_TOLERANCE = 0.10  # "3 years" is 1,095.75 days, "4 weeks" 28: close enough to 1,095 or 30
_UNITS = {
    "day": r"days?|tagen?|jours?|d[ií]as?|dagen|dag|giorni|giorno",
    "week": r"weeks?|wochen?|semaines?|semanas?|weken|week|settimane|settimana",
    "month": r"months?|monate?n?|mois|meses|mes|maanden|maand|mesi|mese",
    "year": r"years?|jahren?|jahre|ans?|ann[ée]es?|a[ñn]os?|jaren|jaar|anni|anno",
}
PERIOD = re.compile(  # "5 more years", "5 weitere Jahre": the archive after the active period
    r"\b(\d{1,4})\s*(?:(?:more|further|additional|weitere[n]?)\s+)?(?:"
    + "|".join(f"(?P<{u}>{p})" for u, p in _UNITS.items())
    + r")\b",
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


def claimed_periods(text: str) -> list[tuple[str, float]]:
    """Every storage period the text names, as (the words, days), in order."""
    return [_period_of(match) for match in PERIOD.finditer(text)]


def claimed_period_days(text: str) -> tuple[str, float] | None:
    """The first storage period the text names, as (the words, days); None if none."""
    match = PERIOD.search(text)
    return None if match is None else _period_of(match)


def _period_of(match: re.Match[str]) -> tuple[str, float]:
    unit = next(u for u in DAYS_PER_UNIT if match.group(u))
    return match.group(0), int(match.group(1)) * DAYS_PER_UNIT[unit]


def kept_periods(policy: ChannelPolicy) -> list[tuple[str, float]]:
    """The periods a text may name for ``policy``, as (in words, days): the active period,
    then (with an archive) the archive period and the two together."""
    if policy.active_months:
        months = policy.active_months
        active = (f"{months} month{'s' if months > 1 else ''}", months * DAYS_PER_UNIT["month"])
    else:
        active = (_days_in_words(policy.active_days), float(policy.active_days))
    if not policy.archive_days:
        return [active]
    both = policy.active_days + policy.archive_days  # an archive means no calendar months
    return [
        active,
        (_days_in_words(policy.archive_days), float(policy.archive_days)),
        (_days_in_words(both), float(both)),
    ]


def _days_in_words(days: int) -> str:
    words = f"{days} day{'s' if days != 1 else ''}"
    if days % 365 == 0:
        years = days // 365
        words += f" ({years} year{'s' if years > 1 else ''})"
    return words


def _those(policy: ChannelPolicy) -> str:
    return "these periods" if policy.archive_days else "that period"


def describe_kept(policy: ChannelPolicy) -> str:
    """How long ``policy`` keeps a chat, in words, for the messages below."""
    periods = kept_periods(policy)
    if len(periods) == 1:
        return f"{periods[0][0]}, with no archive"
    return (
        f"{periods[0][0]} active, then {periods[1][0]} in the restricted archive "
        f"({periods[2][0]} in all)"
    )


def unkept_period(text: str, policy: ChannelPolicy) -> str | None:
    """The first period the text names (its words) that ``policy`` does not keep a chat."""
    allowed = [days for _, days in kept_periods(policy)]
    for words, days in claimed_periods(text):
        if not any(abs(days - kept) <= PERIOD_TOLERANCE * kept for kept in allowed):
            return words
    return None


def check_chat_text(
    text: str, *, store_transcripts: bool, retention: ChannelPolicy | None = None
) -> None:
    """Raise ValidationFailed (field ``text``) when the text contradicts the settings.

    ``retention``: the web channel's policy, which every period the text names must match
    (None: periods are not compared, for a caller that changes only ``store_transcripts``)."""
    period = claimed_period_days(text)
    says_not_recorded = NOT_RECORDED.search(text)
    if store_transcripts:
        if says_not_recorded:
            raise ValidationFailed(
                f"The text says '{says_not_recorded.group(0)}', but this workspace keeps "
                "transcripts; describe what is kept, or turn transcripts off first.",
                field="text",
            )
        unkept = unkept_period(text, retention) if retention is not None else None
        if retention is not None and unkept:
            raise ValidationFailed(
                f"The text says '{unkept}', but web chats are kept {describe_kept(retention)}"
                f" (Settings → Retention); name {_those(retention)}, or no period while the "
                "retention is being changed.",
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
