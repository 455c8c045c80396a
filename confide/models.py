"""Every table of Confide, imported in one place so metadata and migrations see them all."""

from __future__ import annotations

from confide.access import grant_models
from confide.access import models as access_models
from confide.audit import models as audit_models
from confide.chat import attachment_models
from confide.chat import models as chat_models
from confide.core.db import Base
from confide.jobs import models as jobs_models
from confide.privacy import hold_models
from confide.privacy import models as privacy_models
from confide.privacy.accountability import models as accountability_models
from confide.privacy.requests import models as requests_models
from confide.privacy.retention import models as retention_models

__all__ = [
    "Base",
    "access_models",
    "accountability_models",
    "attachment_models",
    "audit_models",
    "chat_models",
    "grant_models",
    "hold_models",
    "jobs_models",
    "privacy_models",
    "requests_models",
    "retention_models",
]

metadata = Base.metadata
