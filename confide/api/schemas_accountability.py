"""Request bodies of the breach register, subprocessors and controller details."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints

from confide.api.schemas import RequestModel

LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
Category = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Detail = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


class BreachWrite(RequestModel):
    """A breach as the register records it (GDPR Art. 33(3)); never the people in it."""

    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    nature: LongText
    detected_at: AwareDatetime
    aware_at: AwareDatetime | None = Field(
        default=None, description="When the controller became aware (default: now)."
    )
    data_categories: list[Category] = Field(min_length=1, max_length=30)
    subject_categories: list[Category] = Field(min_length=1, max_length=30)
    approx_subjects: int = Field(ge=0, le=1_000_000_000)
    approx_records: int = Field(ge=0, le=1_000_000_000_000)
    consequences: LongText
    measures: LongText
    high_risk: bool = False


class BreachNotify(RequestModel):
    audience: Literal["admins", "authority", "subjects"]
    reference: Detail | None = Field(
        default=None,
        description="A notification made elsewhere (the authority's case number, how the "
        "data subjects were told); omit to e-mail it.",
    )
    subject_ids: list[uuid.UUID] = Field(
        default_factory=list,
        max_length=10_000,
        description="audience subjects, by e-mail: the data subjects to tell (Art. 34), from "
        "the exposure listing; those without an e-mail address are not counted.",
    )


class SubprocessorWrite(RequestModel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    service: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    country: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=2)]
    host: Annotated[str, StringConstraints(strip_whitespace=True, max_length=253)] | None = None
    safeguard: Literal["adequacy", "scc"] | None = None
    safeguard_date: dt.date | None = None


class ControllerProfileWrite(RequestModel):
    controller_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
    controller_contact: Detail
    representative: Detail | None = None
    dpo_contact: Detail | None = None
    authority_name: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None
    ) = None
    authority_email: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=254)] | None
    ) = None


class ExposureQuery(RequestModel):
    actor_id: uuid.UUID
    since: AwareDatetime
    until: AwareDatetime
