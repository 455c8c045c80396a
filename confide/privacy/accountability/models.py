"""Tables of accountability: breaches and their notifications, subprocessors, and each
workspace's controller details.

A breach with ``workspace_id`` NULL is the platform's (the processor's): it names the affected
workspaces, whose admins must hear of it. Breach rows hold descriptions of an incident, never
the people in it: who was exposed is derived from the audit ledger when asked
(``accountability.exposure``), and notifications keep counts of recipients, not addresses.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from confide.core.clock import utcnow
from confide.core.db import Base, UTCDateTime, new_id


class Breach(Base):
    """One personal-data breach (GDPR Art. 4(12)) as the register records it (Art. 33(5))."""

    __tablename__ = "breaches"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    nature: Mapped[str] = mapped_column(Text)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Awareness starts the 72-hour clock of Art. 33(1); usually the moment it was recorded.
    aware_at: Mapped[datetime] = mapped_column(UTCDateTime)
    data_categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    subject_categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    approx_subjects: Mapped[int] = mapped_column(Integer, default=0)
    approx_records: Mapped[int] = mapped_column(Integer, default=0)
    consequences: Mapped[str] = mapped_column(Text)
    measures: Mapped[str] = mapped_column(Text)
    high_risk: Mapped[bool] = mapped_column(Boolean, default=False)
    affected_workspace_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    recorded_by: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BreachNotification(Base):
    """One notification of a breach: to a workspace's admins, the supervisory authority or
    the data subjects; by e-mail (sent by Confide) or recorded (made by other means)."""

    __tablename__ = "breach_notifications"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    breach_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("breaches.id", ondelete="CASCADE"), index=True
    )
    audience: Mapped[str] = mapped_column(String(16))  # admins, authority, subjects
    workspace_id: Mapped[uuid.UUID | None] = mapped_column()
    method: Mapped[str] = mapped_column(String(16))  # email, recorded
    status: Mapped[str] = mapped_column(String(16))  # pending, sent, failed, recorded
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    reference: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Subprocessor(Base):
    """A recipient processing personal data on the deployment's or a workspace's behalf
    (Art. 28(2), 30(1)(d)); outside the EEA with its safeguard (Art. 44-46)."""

    __tablename__ = "subprocessors"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # NULL: the deployment's own (every workspace's record lists it).
    workspace_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    service: Mapped[str] = mapped_column(String(300))
    country: Mapped[str] = mapped_column(String(2))
    # The host it receives data at, matched against outbound webhook URLs.
    host: Mapped[str | None] = mapped_column(String(253))
    safeguard: Mapped[str | None] = mapped_column(String(16))  # adequacy, scc
    safeguard_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ControllerProfile(Base):
    """Who the controller is (Art. 30(1)(a)) and which authority it answers to (Art. 33)."""

    __tablename__ = "controller_profiles"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    controller_name: Mapped[str] = mapped_column(String(200))
    controller_contact: Mapped[str] = mapped_column(String(500))
    representative: Mapped[str | None] = mapped_column(String(500))
    dpo_contact: Mapped[str | None] = mapped_column(String(500))
    authority_name: Mapped[str | None] = mapped_column(String(200))
    authority_email: Mapped[str | None] = mapped_column(String(254))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
