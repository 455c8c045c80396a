"""Wire payloads of the REST API. Requests forbid unknown fields so typos are reported."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

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


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


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


class ConversationStart(RequestModel):
    group_id: uuid.UUID | None = None
    message: MessageSend | None = None


class AssignRequest(RequestModel):
    operator_id: uuid.UUID | None = Field(
        default=None, description="Omit or null to pick the next available agent (round-robin)."
    )


class TransferRequest(RequestModel):
    operator_id: uuid.UUID | None = None
    group_id: uuid.UUID | None = None


class CsatRequest(RequestModel):
    score: int = Field(ge=1, le=5)
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
