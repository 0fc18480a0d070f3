"""The SchedgenError tree: stable error codes and messages a student understands (no HTTP here)."""

from __future__ import annotations

from typing import ClassVar


class SchedgenError(Exception):
    """Base class for every error schedgen reports to a user."""

    code: ClassVar[str] = "INTERNAL_ERROR"
    default_message: ClassVar[str] = "Something went wrong on our side. Please try again."

    def __init__(
        self, message: str | None = None, *, page: int | None = None, row: int | None = None
    ) -> None:
        self.message = message or self.default_message
        self.page = page
        self.row = row
        super().__init__(self.message)

    def to_dict(self) -> dict[str, object]:
        """Return the error as a JSON-ready mapping with its stable code."""
        out: dict[str, object] = {"code": self.code, "message": self.message}
        if self.page is not None:
            out["page"] = self.page
        if self.row is not None:
            out["row"] = self.row
        return out


class InputError(SchedgenError):
    """Base class for errors caused by the file a user gave us (never worth retrying)."""

    code = "BAD_INPUT"
    default_message = "This file cannot be read as a timetable."


class EmptyFileError(InputError):
    """Raised when the uploaded file has no bytes at all."""

    code = "EMPTY_FILE"
    default_message = "This file is empty. Download the timetable PDF from the UP portal again."


class NotPdfError(InputError):
    """Raised when the file does not start like a PDF."""

    code = "NOT_A_PDF"
    default_message = "This file is not a PDF. Upload the timetable PDF exactly as the UP portal gives it."


class CorruptPdfError(InputError):
    """Raised when the PDF is damaged or truncated."""

    code = "CORRUPT_PDF"
    default_message = "This PDF is damaged or incomplete (perhaps the download was cut off). Download it again from the UP portal."


class PasswordProtectedError(InputError):
    """Raised when the PDF needs a password to open."""

    code = "PASSWORD_PROTECTED"
    default_message = (
        "This PDF is password protected. Download it again from the UP portal without adding a password."
    )


class FileTooLargeError(InputError):
    """Raised when the file is larger than the upload limit."""

    code = "FILE_TOO_LARGE"
    default_message = "This file is too large. UP timetable PDFs are far smaller than 10 MB."


class TooManyPagesError(InputError):
    """Raised when the PDF has more pages than a timetable can have."""

    code = "TOO_MANY_PAGES"
    default_message = "This PDF has too many pages for a UP timetable (the limit is 100 pages)."


class NoTextLayerError(InputError):
    """Raised when the PDF has no text to read (a scan or a photo)."""

    code = "NO_TEXT_LAYER"
    default_message = (
        "This PDF has no readable text (it looks like a scan or a photo). "
        "Download the original PDF from the UP portal instead."
    )


class NotTimetableError(InputError):
    """Raised when the PDF has text but is not a UP lectures, tests or exams timetable."""

    code = "NOT_A_TIMETABLE"
    default_message = (
        "This PDF is not a UP timetable. Upload the Lectures, Semester Tests or Exams PDF from the UP portal."
    )


class ParseLimitError(InputError):
    """Raised when reading the file needs more time, memory or work than any real timetable does."""

    code = "PARSE_LIMIT_EXCEEDED"
    default_message = "This PDF is too complex to read safely. UP timetables are simple; download the original from the portal."


class UnknownOfferingError(InputError):
    """Raised when a lecture's offering code (S1, Q3, ...) cannot be turned into dates."""

    code = "UNKNOWN_OFFERING"
    default_message = (
        "Some classes are offered in a period we have no dates for. Give that period's dates yourself."
    )


class TermDataError(InputError):
    """Base class for errors in term data (semester and recess dates)."""

    code = "INVALID_TERM_DATA"
    default_message = "The term dates file cannot be read. Check its dates and layout."


class UnknownTermYearError(TermDataError):
    """Raised when there are no term dates for the year asked for."""

    code = "UNKNOWN_TERM_YEAR"
    default_message = "We have no term dates for that year. Give the semester dates yourself."


class BadUploadError(InputError):
    """Raised when an upload request is not a multipart form with one to three PDFs in `files`."""

    code = "BAD_UPLOAD"
    default_message = "Choose one to three timetable PDFs to upload."


class TooManyFilesError(InputError):
    """Raised when more files are sent than one upload may carry."""

    code = "TOO_MANY_FILES"
    default_message = "Upload at most three PDFs at a time: Lectures, Semester Tests and Exams."


class BlobTooLargeError(FileTooLargeError):
    """Raised when a stream given to BlobStore.put is longer than its max_bytes."""


class BlobNotFoundError(SchedgenError):
    """Raised when no blob is stored under the key asked for."""

    code = "BLOB_NOT_FOUND"
    default_message = (
        "This upload is no longer stored (uploads are deleted after a day). Please upload it again."
    )


class JobNotFoundError(SchedgenError):
    """Raised when a job id is unknown (or already deleted)."""

    code = "NOT_FOUND"
    default_message = "There is no such job. It may have expired or been deleted."


class JobTimeoutError(SchedgenError):
    """Raised (recorded) when a job ran past the job time limit."""

    code = "JOB_TIMEOUT"
    default_message = "Reading this file took far too long and was stopped. Please upload it again."


class QueueFullError(SchedgenError):
    """Raised when too many jobs are waiting: the client should try again later (backpressure)."""

    code = "QUEUE_FULL"
    default_message = "Lots of students are uploading right now. Please try again in a minute."


class QueueUnavailableError(SchedgenError):
    """Raised when a job cannot be handed to the broker (Redis down); the reconciler enqueues it later."""

    code = "QUEUE_UNAVAILABLE"
    default_message = "The job queue is unavailable right now; your upload is saved and will be processed."


class BlobStoreUnavailableError(SchedgenError):
    """Raised when the blob store cannot be reached or used; worth retrying later."""

    code = "STORAGE_UNAVAILABLE"
    default_message = "We cannot store or read files right now. Please try again in a few minutes."


class DatabaseUnavailableError(SchedgenError):
    """Raised when the database cannot be reached after every start-up attempt."""

    code = "DATABASE_UNAVAILABLE"
    default_message = "The service cannot reach its database right now. Please try again in a few minutes."


# --- hardening (issue 5): rate limits, quotas, authentication, request limits


class RateLimitedError(SchedgenError):
    """Raised when a client made more requests than its rate limit allows."""

    code = "RATE_LIMITED"
    default_message = "Too many requests. Please wait a little and try again."


class RateLimiterUnavailableError(SchedgenError):
    """Raised when the rate limiter's store cannot be reached and the limiter is set to fail closed."""

    code = "RATE_LIMITER_UNAVAILABLE"
    default_message = "The service is busy right now. Please try again in a minute."


class QuotaExceededError(SchedgenError):
    """Raised when an upload would take a user's stored files past their storage quota."""

    code = "QUOTA_EXCEEDED"
    default_message = "You have used all your storage. Delete old jobs and try again."

    @classmethod
    def for_usage(cls, used: int, incoming: int, limit: int) -> QuotaExceededError:
        """The error with a message stating current usage, the upload's size and the limit."""
        return cls(
            f"Storage quota exceeded: you have {_size(used)} stored and this upload adds "
            f"{_size(incoming)}; the limit is {_size(limit)}. "
            "Delete jobs you no longer need (or wait until they expire) and try again."
        )


def _size(count: int) -> str:
    """A byte count for people: 850 KB, 12.5 MB."""
    return f"{count / 1024:.0f} KB" if count < 1024 * 1024 else f"{count / (1024 * 1024):.1f} MB"


class UnauthorizedError(SchedgenError):
    """Raised when a request to a protected endpoint has no valid credentials."""

    code = "UNAUTHORIZED"
    default_message = "A valid admin token is required."


class IpBlockedError(SchedgenError):
    """Raised when a request comes from an address blocked after repeated failed sign-ins."""

    code = "IP_BLOCKED"
    default_message = "Too many failed sign-in attempts from your address. Please try again in an hour."


class CsrfError(SchedgenError):
    """Raised when a state-changing form post comes from another site."""

    code = "CSRF_FAILED"
    default_message = "This form was sent from another site and was refused. Reload the page and try again."


class RequestTimeoutError(SchedgenError):
    """Raised when a request takes longer than the request time limit."""

    code = "REQUEST_TIMEOUT"
    default_message = "The request took too long and was stopped. Please try again."


class NotReadyError(SchedgenError):
    """Raised when a dependency the service needs (database, Redis, storage, workers) is not available."""

    code = "NOT_READY"
    default_message = "The service is not ready."


class JobNotRetryableError(SchedgenError):
    """Raised when an admin asks to retry a job that cannot be retried (finished, or its PDF is gone)."""

    code = "JOB_NOT_RETRYABLE"
    default_message = (
        "This job cannot be retried: it is not failed or pending, or its PDF is no longer stored."
    )


ERROR_TYPES: tuple[type[SchedgenError], ...] = (
    SchedgenError,
    InputError,
    EmptyFileError,
    NotPdfError,
    CorruptPdfError,
    PasswordProtectedError,
    FileTooLargeError,
    TooManyPagesError,
    NoTextLayerError,
    NotTimetableError,
    ParseLimitError,
    UnknownOfferingError,
    TermDataError,
    UnknownTermYearError,
    BadUploadError,
    TooManyFilesError,
    BlobTooLargeError,
    BlobNotFoundError,
    JobNotFoundError,
    JobTimeoutError,
    QueueFullError,
    QueueUnavailableError,
    BlobStoreUnavailableError,
    DatabaseUnavailableError,
    RateLimitedError,
    RateLimiterUnavailableError,
    QuotaExceededError,
    UnauthorizedError,
    IpBlockedError,
    CsrfError,
    RequestTimeoutError,
    NotReadyError,
    JobNotRetryableError,
)


def error_for_code(code: str, message: str | None = None) -> SchedgenError:
    """Rebuild an error from its stable code (used across process boundaries)."""
    for cls in ERROR_TYPES:
        if cls.code == code:
            return cls(message)
    return SchedgenError(message)


# --- google + feeds (issue 6)


class FeedNotFoundError(SchedgenError):
    """Raised when no calendar feed has the token asked for (or its timetable has expired)."""

    code = "FEED_NOT_FOUND"
    default_message = "There is no calendar feed at this address. Make a new link on the 'Get it' page."


class FeedRevokedError(SchedgenError):
    """Raised when a calendar feed's link was revoked or replaced by a new one."""

    code = "FEED_REVOKED"
    default_message = (
        "This calendar link was switched off by its owner. Remove the subscription from your calendar app."
    )


class GoogleError(SchedgenError):
    """Base class for errors talking to Google."""

    code = "GOOGLE_ERROR"
    default_message = "Something went wrong talking to Google Calendar. Please try again."


class GoogleNotConfiguredError(GoogleError):
    """Raised when Google sync is used but no Google OAuth client is configured."""

    code = "GOOGLE_NOT_CONFIGURED"
    default_message = "Google Calendar sync is not set up on this server. Download the .ics file instead."


class GoogleAuthError(GoogleError):
    """Raised when a Google sign-in fails: bad or stale state, a refused or invalid code."""

    code = "GOOGLE_AUTH_FAILED"
    default_message = "Signing in with Google did not work. Please start again from the 'Get it' page."


class GoogleSignInRequiredError(GoogleError):
    """Raised when a Google action needs a signed-in Google account and there is none."""

    code = "GOOGLE_SIGN_IN_REQUIRED"
    default_message = "Sign in with Google first."


class GoogleAccessRevokedError(GoogleError):
    """Raised when Google refuses our refresh token (access removed in the Google account, or expired)."""

    code = "GOOGLE_ACCESS_REVOKED"
    default_message = (
        "schedgen no longer has access to your Google Calendar (it was removed in your Google account). "
        "Sign in with Google again."
    )


class GoogleQuotaError(GoogleError):
    """Raised when Google keeps answering 'rate limit exceeded' after every retry."""

    code = "GOOGLE_QUOTA"
    default_message = (
        "Google Calendar is limiting how fast we may add events. We tried several times; "
        "please sync again in a few minutes (nothing is duplicated)."
    )


class GoogleUnavailableError(GoogleError):
    """Raised when Google cannot be reached or keeps failing on its side."""

    code = "GOOGLE_UNAVAILABLE"
    default_message = "Google Calendar cannot be reached right now. Please try again in a few minutes."


class GoogleRejectedError(GoogleError):
    """Raised (recorded per event) when Google refuses one change."""

    code = "GOOGLE_REJECTED"
    default_message = "Google Calendar refused this event."


class GoogleCalendarNotFoundError(GoogleError):
    """Raised when the calendar chosen is not (or no longer) in the student's Google account."""

    code = "GOOGLE_CALENDAR_NOT_FOUND"
    default_message = "That calendar is not in your Google account any more. Choose another one."


class SyncNotFoundError(SchedgenError):
    """Raised when a sync id is unknown or belongs to another account."""

    code = "SYNC_NOT_FOUND"
    default_message = "There is no such sync."


ERROR_TYPES = (
    *ERROR_TYPES,
    FeedNotFoundError,
    FeedRevokedError,
    GoogleError,
    GoogleNotConfiguredError,
    GoogleAuthError,
    GoogleSignInRequiredError,
    GoogleAccessRevokedError,
    GoogleQuotaError,
    GoogleUnavailableError,
    GoogleRejectedError,
    GoogleCalendarNotFoundError,
    SyncNotFoundError,
)
