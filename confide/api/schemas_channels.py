"""Request bodies of the social/SMS channel endpoints and recorded conversations."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    ConfigDict,
    Field,
    StringConstraints,
)

from confide.api.schemas import (
    ClientId,
    IdentityFields,
    MessageBody,
    Phone,
    RequestModel,
    ShortText,
)

SocialChannel = Literal["social", "sms"]
RecordedChannel = Literal["call", "sms", "video"]
# https anywhere; plain http only to this machine (a local bridge, or tests).
OutboundUrl = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        max_length=500,
        pattern=r"^(https://[^\s/@]+|http://(127\.0\.0\.1|localhost|\[::1\])(:[0-9]{1,5})?)(/\S*)?$",
    ),
]
ExternalId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
MetadataValue = Annotated[str, StringConstraints(max_length=200)] | int | float | bool | None


class ChannelEndpointWrite(RequestModel):
    outbound_url: OutboundUrl | None = Field(
        default=None, description="Where operator replies are POSTed; omit for inbound only."
    )
    outbound_country: Annotated[str, StringConstraints(min_length=2, max_length=2)] | None = Field(
        default=None,
        description="Country of the receiver (ISO 3166-1, e.g. US); omit when it runs in the "
        "deployment's region. Outside the EEA a subprocessor entry for its host must record "
        "the safeguard.",
    )
    enabled: bool = True


class InboundSender(RequestModel):
    name: ShortText | None = None
    phone: Phone | None = None
    handle: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None


class InboundMessage(RequestModel):
    thread_id: ExternalId
    message_id: ExternalId = Field(description="The provider's id: a redelivery is stored once.")
    text: MessageBody
    sender: InboundSender = Field(default_factory=InboundSender)


class RecordedMetadata(RequestModel):
    """Facts about a call, SMS exchange or video session, plus a few scalar extras of the host's
    own (at most 20). Never the media, and no identifiers: those go in ``visitor``."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, MetadataValue] = Field(init=False)

    started_at: AwareDatetime
    duration_seconds: int = Field(ge=0, le=7 * 86_400)
    direction: Literal["inbound", "outbound"]


class TranscriptEntry(RequestModel):
    author: Literal["visitor", "operator", "bot", "system"]
    text: MessageBody
    client_id: ClientId | None = None


class RecordedConversation(RequestModel):
    channel: RecordedChannel
    vuid: Annotated[str, StringConstraints(min_length=3, max_length=40)] | None = Field(
        default=None, description="An existing visitor; omit to create a new one."
    )
    visitor: IdentityFields | None = Field(
        default=None, description="Identity to attach (through the vault) to the visitor."
    )
    group_id: uuid.UUID | None = None
    external_thread: ExternalId | None = Field(
        default=None, description="The host's call/thread id: a retried recording is stored once."
    )
    metadata: RecordedMetadata
    transcript: list[TranscriptEntry] | None = Field(default=None, max_length=1000)
    status: Literal["closed", "open"] = "closed"


# -- query parameters shared by list endpoints ---------------------------------------------
