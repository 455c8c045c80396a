"""Wire payloads of the REST API. Requests forbid unknown fields so typos are reported."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal, get_args

from fastapi import Query
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

WorkspaceRole = Literal["admin", "manager", "agent", "analyst"]
Username = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Password = Annotated[str, StringConstraints(min_length=1, max_length=256)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
]
AvatarUrl = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=500, pattern=r"^(https://|/)\S+$")
]
OtpCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=6, max_length=8)]
RecoveryCodeText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=6, max_length=20)
]


def _no_nul(value: Any) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("Remove the invisible NUL character (\\0) from the text.")
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_nul(key)
            _no_nul(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _no_nul(item)


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_nul_characters(cls, value: Any, info: ValidationInfo) -> Any:
        # PostgreSQL cannot store NUL in text; no legitimate input contains one. Nested request
        # models check their own fields, so the error names the innermost field.
        field = cls.model_fields.get(info.field_name or "")
        if field is not None and _holds_request_model(field.annotation):
            return value
        _no_nul(value)
        return value


def _holds_request_model(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_holds_request_model(arg) for arg in get_args(annotation))


class LoginRequest(RequestModel):
    workspace: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, description="Workspace slug; omit for platform support accounts."
    )
    username: Username
    password: Password
    transport: Literal["token", "cookie"] = "token"


class MfaLoginRequest(RequestModel):
    challenge: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    code: OtpCode | None = None
    recovery_code: RecoveryCodeText | None = None


class RefreshRequest(RequestModel):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None


class LogoutRequest(RequestModel):
    everywhere: bool = False


class TokenResponse(BaseModel):
    token_type: str = "bearer"
    access_token: str | None = None
    expires_in: int
    refresh_token: str | None = None
    csrf_token: str | None = None
    mfa_enrolment_required: bool = False


class MfaChallengeResponse(BaseModel):
    mfa_required: bool = True
    challenge: str


class ProfileFields(RequestModel):
    name: ShortText | None = None
    alias: ShortText | None = None
    email: Email | None = None
    job_title: ShortText | None = None
    avatar_url: AvatarUrl | None = None


class OperatorCreate(ProfileFields):
    username: Username
    password: Password
    role: WorkspaceRole
    group_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)


class OperatorUpdate(ProfileFields):
    role: WorkspaceRole | None = None
    group_ids: list[uuid.UUID] | None = Field(default=None, max_length=100)


class PasswordChange(RequestModel):
    current_password: Password
    new_password: Password


class MfaCode(RequestModel):
    code: OtpCode


class MfaDisable(RequestModel):
    password: Password
    code: OtpCode


class WorkspaceUpdate(RequestModel):
    name: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
        | None
    ) = None
    mfa_required_for_admins: bool | None = None
    # Privacy settings (confide.privacy.settings validates them; ranges repeated here for docs).
    redact_cards: bool | None = None
    redact_ibans: bool | None = None
    redact_phones: bool | None = None
    redact_emails: bool | None = None
    phone_region: Annotated[str, StringConstraints(min_length=2, max_length=2)] | None = Field(
        default=None, description="Older one-region form of phone_regions (sets the list to it)."
    )
    phone_regions: list[Annotated[str, StringConstraints(min_length=2, max_length=2)]] | None = (
        Field(
            default=None,
            max_length=20,
            description="Regions (ISO 3166-1 alpha-2) whose national phone formats are "
            "recognised by redaction; numbers written with +<country> are recognised anyway.",
        )
    )
    redaction_patterns: list[str] | None = Field(default=None, max_length=20)
    ip_handling: Literal["none", "truncated", "full"] | None = None
    store_transcripts: bool | None = None
    connection_log_retention_days: int | None = Field(default=None, ge=1, le=365)
    consent_required: bool | None = None
    retention_days: dict[str, int] | None = Field(
        default=None,
        max_length=10,
        description="Days conversations stay active, per channel (web, social, call, sms, "
        "video; 1-3650; defaults web and social 1095, others 365). Partial: channels not sent "
        "keep their value. The daily retention job acts on it.",
    )
    archive_days: dict[str, int] | None = Field(
        default=None,
        max_length=10,
        description="Days in the restricted archive after active retention, per channel "
        "(0-3650, default 1825; 0 = no archive). Partial, like retention_days.",
    )
    delete_after_months: int | None = Field(
        default=None,
        description="The simple form: delete transcripts N months after the conversation "
        "ended (1-36), no archive; 0 turns it off.",
    )
    mirroring_enabled: bool | None = Field(
        default=None,
        description="Off: visitors are never offered page mirroring or co-browsing, and the "
        "relay refuses both (on by default; each still needs the visitor's own consent).",
    )


# -- the widget's settings (admins) -----------------------------------------------------------

HexColor = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^#[0-9a-fA-F]{6}$")]
# An origin as browsers send it: scheme, host, optional port; no path, no trailing slash.
EmbedOrigin = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        max_length=200,
        pattern=r"^https?://(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*)(:[0-9]{1,5})?$",
    ),
]
LanguageTag = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
]
UrlPath = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=200, pattern=r"^/\S*$")
]


def _path_only(value: str) -> str:
    """A page path without its query string or fragment: those carry e-mail addresses, tokens
    and search terms (``/verify?email=...``), which must not rest in the database."""
    return value.split("?", 1)[0].split("#", 1)[0] or "/"


PagePath = Annotated[UrlPath, AfterValidator(_path_only)]


class EngagementRule(RequestModel):
    """A proactive greeting, shown by the widget when every condition given holds. The widget
    evaluates it in the visitor's browser, from data that stays there."""

    message: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    after_seconds: int | None = Field(default=None, ge=0, le=86_400)
    min_page_views: int | None = Field(default=None, ge=1, le=10_000)
    path_prefix: UrlPath | None = None
    languages: list[LanguageTag] | None = Field(default=None, min_length=1, max_length=20)


WidgetTitle = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
LauncherLabel = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)
]


class WidgetSettingsUpdate(RequestModel):
    accent_color: HexColor | None = None
    position: Literal["right", "left"] | None = None
    title: WidgetTitle | None = None
    greeting: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] | None = None
    launcher_label: LauncherLabel | None = None
    prechat_enabled: bool | None = None
    prechat_ask_name: bool | None = None
    prechat_ask_email: bool | None = None
    csat_enabled: bool | None = None
    engagement_rules: list[EngagementRule] | None = Field(default=None, max_length=10)
    allowed_origins: list[EmbedOrigin] | None = Field(
        default=None,
        max_length=50,
        description="Origins (scheme, host and optional port, no path) allowed to embed the "
        "widget; empty: any.",
    )
    theme: Literal["auto", "light", "dark"] | None = Field(
        default=None, description="auto follows the visitor's prefers-color-scheme."
    )
    strings: dict[str, dict[str, str]] | None = Field(
        default=None,
        description='Wording per language over the shipped tables: {"de": {"endChat": "..."}}.',
    )


class GroupHoursWrite(RequestModel):
    time_zone: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    weekly: dict[str, list[list[str]]] = Field(
        default_factory=dict, description='{"mon": [["09:00", "17:00"]], ...} in local time.'
    )
    holidays: list[str] = Field(default_factory=list, max_length=366)
    expected_reply_minutes: int | None = Field(default=None, ge=1, le=10_080)


class ConsentRequestWrite(RequestModel):
    version: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
    text: Annotated[str, StringConstraints(min_length=1, max_length=10_000)]
    store_transcripts: bool | None = Field(
        default=None,
        description="chat only: switch transcripts on or off together with this text, so the "
        "text and the setting never disagree.",
    )
    language: (
        Annotated[
            str, StringConstraints(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?$", max_length=35)
        ]
        | None
    ) = Field(
        default=None,
        description="The language of this text (e.g. 'de'); none: the default text for every "
        "language without its own.",
    )


ConsentPurpose = Literal["chat", "preview", "mirroring", "cobrowsing", "email"]


class ConsentDecision(RequestModel):
    purpose: ConsentPurpose
    version: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    text_hash: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    decision: Literal["granted", "refused", "withdrawn"]
    conversation_id: uuid.UUID | None = None


class GroupWrite(RequestModel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class ApiKeyCreate(RequestModel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


# -- chat ---------------------------------------------------------------------------------

ClientId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
MessageBody = Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
ChannelName = Literal["web", "social", "call", "sms", "video"]


class MessageSend(RequestModel):
    client_id: ClientId
    body: MessageBody


class VisitorContext(RequestModel):
    """What the widget kept in the browser until the visitor started a chat: sent with the
    conversation, never before (engagement rules are evaluated in the browser)."""

    page_views: int | None = Field(default=None, ge=0, le=1_000_000)
    seconds_on_site: int | None = Field(default=None, ge=0, le=10_000_000)
    language: Annotated[str, StringConstraints(max_length=35)] | None = None
    path: PagePath | None = Field(
        default=None, description="The page's path; a query or fragment is dropped, never kept."
    )
    rule: int | None = Field(default=None, ge=0, le=9, description="Engagement rule shown.")


class ConversationStart(RequestModel):
    group_id: uuid.UUID | None = None
    message: MessageSend | None = None
    context: VisitorContext | None = None


class AssignRequest(RequestModel):
    operator_id: uuid.UUID | None = Field(
        default=None, description="Omit or null to pick the next available agent (round-robin)."
    )


class TransferRequest(RequestModel):
    operator_id: uuid.UUID | None = None
    group_id: uuid.UUID | None = None


class CsatRequest(RequestModel):
    score: int = Field(ge=1, le=5, strict=True)  # JSON 4, not "4" or true
    comment: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = None


Phone = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=32, pattern=r"^\+?[0-9 ().-]{3,31}$")
]


class IdentityFields(RequestModel):
    name: ShortText | None = None
    email: Email | None = None
    phone: Phone | None = None
    attributes: dict[str, str | int | float | bool | None] | None = Field(
        default=None, max_length=50
    )


class VisitorIdentify(IdentityFields):
    vuid: Annotated[str, StringConstraints(min_length=3, max_length=40)]


class PresenceUpdate(RequestModel):
    availability: Literal["available", "away"]
    max_concurrent_chats: int | None = Field(default=None, ge=1, le=100)


# -- channels: social/SMS endpoints, inbound webhook, recorded call/SMS/video ----------------

SeqParam = Annotated[int, Query(ge=0, le=2**62, description="Sequence number (exclusive).")]
LimitParam = Annotated[int, Query(ge=1, le=200, description="Page size.")]


class ReopenRequest(RequestModel):
    token: Annotated[str, StringConstraints(min_length=20, max_length=2000)]


class TranscriptMailRequest(RequestModel):
    email: Email
