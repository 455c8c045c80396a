"""Every error Confide reports to a client.

Each error knows its HTTP status and a stable machine code; the API turns it into
``{"error": {"code": ..., "message": ..., "field": ...}}``. Messages are full sentences that
say what to do, and never contain personal data.

    ConfideError                      500 internal_error
    ├── BadRequest                    400 bad_request
    │   ├── ValidationFailed          422 validation_failed   (names the field)
    │   │   ├── TransferNotSafeguarded 422 transfer_not_safeguarded (outside the EEA, Art. 44-46)
    │   │   └── OutboundAddressRefused 422 outbound_address_refused (SSRF: private address)
    │   ├── PayloadTooLarge           413 payload_too_large
    │   └── UnsupportedFileType       415 unsupported_file_type (judged by content)
    ├── Unauthenticated               401 not_authenticated
    │   ├── InvalidCredentials        401 invalid_credentials
    │   ├── InvalidToken              401 invalid_token
    │   ├── InvalidMfaCode            401 invalid_mfa_code
    │   ├── ResetLinkInvalid          401 reset_link_invalid
    │   ├── PortalLinkInvalid         401 portal_link_invalid
    │   └── InvalidSignature          401 invalid_signature
    ├── Forbidden                     403 forbidden
    │   ├── CsrfFailed                403 csrf_failed
    │   ├── MfaEnrolmentRequired      403 mfa_enrolment_required
    │   ├── ConsentRequired           403 consent_required
    │   └── MirroringDisabled         403 mirroring_disabled  (workspace turned sharing off)
    ├── NotFound                      404 not_found
    │   └── Gone                      410 gone                (erased subject, expired export)
    │       └── KeyErased             410 subject_erased      (key id tombstoned)
    ├── MethodNotAllowed              405 method_not_allowed
    ├── Conflict                      409 conflict
    │   ├── LegalHold                 409 legal_hold          (erasure blocked by a hold)
    │   ├── DatabaseInUse             409 database_in_use     (a restore meets a server)
    │   └── ConsentWithdrawn          409 consent_withdrawn   (the visitor said no to chat)
    ├── MailNotConfigured             409 mail_not_configured
    ├── BackupInvalid                 422 backup_invalid      (one line: what is wrong)
    │   └── KeyStoreCopyRetired       422 keystore_copy_retired (its master-key epoch is gone)
    ├── TooManyRequests               429 rate_limited
    │   └── AccountLocked             429 account_locked
    └── ServiceUnavailable            503 service_unavailable   (with Retry-After)
        └── AuditUnavailable          503 audit_unavailable   (nothing done or returned)

An outage of the database or Redis (``confide.core.outages.is_outage``) becomes
``ServiceUnavailable``, never a 500: the client is told when to try again (RFC 9110 §10.2.3).

Lower-level errors (database integrity, token decoding) are mapped into this tree with
``raise ... from exc`` where they happen, so the API layer never guesses.

Signals: exceptions that steer control flow inside Confide and never reach a client as such
(each is caught where its meaning is known):

    ConfideSignal
    ├── KeyUnavailable        a key needed to decrypt was destroyed or does not match
    ├── KeyStillPresent       shredding left a trace: nothing may claim the key destroyed
    ├── SealedStreamCorrupt   a sealed stream (backup, attachment) was altered, cut or reordered
    ├── LeaseLost             another worker holds the job now: stop touching it
    ├── SocketClosed          close this WebSocket with ``code`` and ``reason``
    ├── CsrfRefused           a console form's token did not match its cookie
    ├── MailFailed            the SMTP server could not be reached or refused: retry later
    ├── MailUnavailable       no SMTP server is configured (``CONFIDE_SMTP_HOST``)
    ├── OutboundRefused       an outbound request's host resolved to a refused address (SSRF)
    └── BodyTooLarge          a request body passed ``max_request_body_bytes`` mid-stream
"""

from __future__ import annotations

from typing import Any


class ConfideError(Exception):
    status_code = 500
    code = "internal_error"
    default_message = "Something went wrong on our side; the request was not applied."

    def __init__(
        self,
        message: str | None = None,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.field = field
        self.headers = headers or {}
        super().__init__(self.message)

    def to_body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}


class BadRequest(ConfideError):
    status_code = 400
    code = "bad_request"
    default_message = "The request could not be understood; check its format."


class ValidationFailed(BadRequest):
    status_code = 422
    code = "validation_failed"
    default_message = "A field has an invalid value; correct it and try again."


class TransferNotSafeguarded(ValidationFailed):
    """Personal data would go to a country outside the EEA with no adequacy decision or
    standard contractual clauses recorded (GDPR Art. 44-46)."""

    code = "transfer_not_safeguarded"
    default_message = (
        "This country is outside the EEA: record its safeguard (an adequacy decision or "
        "standard contractual clauses with their date) first."
    )


class OutboundAddressRefused(ValidationFailed):
    """An outbound URL resolves to a loopback, private, link-local or metadata address."""

    code = "outbound_address_refused"
    default_message = (
        "This address resolves to a private, loopback, link-local or metadata address; use a "
        "public address, or allow the network (CONFIDE_OUTBOUND_ALLOWED_NETWORKS)."
    )


class PayloadTooLarge(BadRequest):
    status_code = 413
    code = "payload_too_large"
    default_message = "The request body is too large; send less data."


class UnsupportedFileType(BadRequest):
    """A file whose content (never its name or declared type) is not an accepted type."""

    status_code = 415
    code = "unsupported_file_type"
    default_message = (
        "This kind of file cannot be sent here; send an image (PNG, JPEG, GIF, WebP), a PDF, "
        "an office document or a text file."
    )

    def __init__(self, message: str | None = None, **kwargs: object) -> None:
        kwargs.setdefault("field", "file")
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class Unauthenticated(ConfideError):
    status_code = 401
    code = "not_authenticated"
    default_message = "Sign in first: this request needs a valid access token or API key."


class InvalidCredentials(Unauthenticated):
    code = "invalid_credentials"
    default_message = "The workspace, username or password is not correct."


class InvalidToken(Unauthenticated):
    code = "invalid_token"
    default_message = "The token is invalid, expired or revoked; sign in again."


class InvalidMfaCode(Unauthenticated):
    code = "invalid_mfa_code"
    default_message = "The verification code is not correct; use a fresh code from your app."


class ResetLinkInvalid(InvalidToken):
    code = "reset_link_invalid"
    default_message = (
        "This reset link does not work any more: it was used, it expired, or a newer one was "
        "sent. Ask for a new link."
    )


class PortalLinkInvalid(InvalidToken):
    code = "portal_link_invalid"
    default_message = "This privacy portal link is invalid, used up or expired; ask for a new one."


class InvalidSignature(Unauthenticated):
    code = "invalid_signature"
    default_message = (
        "The X-Confide-Signature header is missing, malformed, stale or does not match the body; "
        "sign 't.body' with the channel's current secret."
    )


class Forbidden(ConfideError):
    status_code = 403
    code = "forbidden"
    default_message = "Your role does not allow this action."


class CsrfFailed(Forbidden):
    code = "csrf_failed"
    default_message = "The CSRF token is missing or does not match; reload the page and try again."


class MfaEnrolmentRequired(Forbidden):
    code = "mfa_enrolment_required"
    default_message = (
        "This workspace requires two-factor authentication for admins; "
        "enrol an authenticator app first."
    )


class ConsentRequired(Forbidden):
    code = "consent_required"
    default_message = (
        "The visitor has not given (or has withdrawn) the consent this needs; ask for it with "
        "the workspace's current consent request first."
    )


class MirroringDisabled(Forbidden):
    """The workspace turned page mirroring and co-browsing off (its privacy settings)."""

    code = "mirroring_disabled"
    default_message = "Page mirroring and co-browsing are turned off in this workspace."


class NotFound(ConfideError):
    status_code = 404
    code = "not_found"
    default_message = "Nothing exists at this address, or you may not see it."


class Gone(NotFound):
    """The data subject was erased (GDPR Art. 17): nothing of them can be read or written; or
    a subject export was deleted at its expiry."""

    status_code = 410
    code = "gone"
    default_message = "This person's data was erased; nothing of it remains to act on."


class KeyErased(Gone):
    """A data key was destroyed and tombstoned: the keyring refuses to create it again, so
    nothing new is ever stored under an erased person's (or conversation's) key id."""

    code = "subject_erased"


class MethodNotAllowed(ConfideError):
    status_code = 405
    code = "method_not_allowed"
    default_message = "This address does not accept that HTTP method."


class Conflict(ConfideError):
    status_code = 409
    code = "conflict"
    default_message = "The request conflicts with the current state; reload and try again."


class BackupInvalid(ConfideError):
    """A backup cannot be verified or restored: missing, altered (naming the chunk), made with
    another key, or not matching its manifest. The message is the one line to show."""

    status_code = 422
    code = "backup_invalid"
    default_message = "The backup cannot be used; run `confide backup verify` for the reason."


class KeyStoreCopyRetired(BackupInvalid):
    """A backup's key-store copy was sealed under a master-key epoch destroyed since (a key
    epoch followed an erasure): by design it no longer opens (``confide.crypto.epochs``)."""

    code = "keystore_copy_retired"


class MailNotConfigured(ConfideError):
    status_code = 409
    code = "mail_not_configured"
    default_message = (
        "Outgoing mail is not set up (CONFIDE_SMTP_HOST); reset the password with "
        "`confide operator set-password` instead."
    )


class LegalHold(Conflict):
    """Erasure refused: conversations of the subject are under legal hold (GDPR Art.
    17(3)(e)); lift the hold first."""

    code = "legal_hold"


class DatabaseInUse(Conflict):
    """A restore and a server, worker or other restore want the same database at once
    (``confide.core.db_use``); nothing was changed. The message is the one line to show."""

    code = "database_in_use"
    default_message = "The database is in use; stop what uses it and try again."


class ConsentWithdrawn(Conflict):
    """An operator's reply or file refused: the visitor withdrew (or refused) consent to the
    chat in a workspace that requires it, so nothing more is stored in it (GDPR Art. 7(3))."""

    code = "consent_withdrawn"
    default_message = (
        "The visitor withdrew consent: nothing more can be sent or stored in this chat."
    )


class TooManyRequests(ConfideError):
    status_code = 429
    code = "rate_limited"
    default_message = "Too many requests; wait a moment and try again."


class AccountLocked(TooManyRequests):
    code = "account_locked"
    default_message = (
        "This account is locked after repeated failed sign-ins; try again later "
        "or ask an admin to unlock it."
    )


class ServiceUnavailable(ConfideError):
    """A service Confide depends on (database, Redis) is unreachable for now.

    Answered with HTTP 503 and ``Retry-After: <retry_after_seconds>`` (RFC 9110 §10.2.3,
    §15.6.4); on a socket, an error frame with the same code, or a close with 1013.
    """

    status_code = 503
    code = "service_unavailable"
    default_message = (
        "The service is briefly unavailable (a database or Redis outage); nothing was lost, "
        "try again in a few seconds."
    )

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after_seconds: int = 5,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(
            message,
            field=field,
            headers={"Retry-After": str(retry_after_seconds), **(headers or {})},
        )
        self.retry_after_seconds = retry_after_seconds


class AuditUnavailable(ServiceUnavailable):
    """The audit record of an act or read could not be appended, so the act was rolled back
    and the read returned nothing (GDPR Art. 5(2) accountability: no record, no act)."""

    code = "audit_unavailable"
    default_message = (
        "The audit ledger could not record this, so nothing was changed or returned; "
        "try again shortly."
    )


class ConfideSignal(Exception):
    """Root of the internal signals (see the module docstring); never shown to a client."""


class KeyUnavailable(ConfideSignal):
    """A key needed to decrypt does not exist (destroyed) or does not match."""


class KeyStillPresent(ConfideSignal):
    """Shredding did not remove every trace of a key: nothing may claim it was destroyed."""


class SealedStreamCorrupt(ConfideSignal):
    """A sealed stream failed authentication at ``chunk_index`` (0-based): a flipped byte, a
    cut-off end, reordered or foreign chunks, or the wrong key (confide.crypto.streams)."""

    def __init__(self, message: str, chunk_index: int) -> None:
        super().__init__(message)
        self.chunk_index = chunk_index


class LeaseLost(ConfideSignal):
    """Another worker holds the job now (this one's lease expired): stop touching it."""


class SocketClosed(ConfideSignal):
    """Close the WebSocket with ``code`` (RFC 6455 §7.4) and a short ``reason``."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason


class CsrfRefused(ConfideSignal):
    """The form's token did not match the cookie: the post may come from another site."""


class BodyTooLarge(ConfideSignal):
    """The request body grew past the limit while it was being read."""


class MailFailed(ConfideSignal):
    """The SMTP server could not be reached or refused the mail; safe to retry later."""


class MailUnavailable(ConfideSignal):
    """No SMTP server is configured (``CONFIDE_SMTP_HOST``)."""


class OutboundRefused(ConfideSignal):
    """An outbound request's host resolved to a loopback, private, link-local or metadata
    address (``confide.core.outbound_guard``): nothing was sent."""
