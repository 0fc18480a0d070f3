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
)


def error_for_code(code: str, message: str | None = None) -> SchedgenError:
    """Rebuild an error from its stable code (used across process boundaries)."""
    for cls in ERROR_TYPES:
        if cls.code == code:
            return cls(message)
    return SchedgenError(message)
