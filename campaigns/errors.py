"""Domain errors. Each carries the HTTP status the API layer renders it with."""

from __future__ import annotations


class BudgetPilotError(Exception):
    """Base of every error a user is meant to read."""

    status_code: int = 400
    title: str = "Bad request"
    # True when the unit of work should commit what it did before the error (an expiry).
    keeps_changes: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(BudgetPilotError):
    title = "Configuration error"


class ValidationError(BudgetPilotError):
    status_code = 422
    title = "Invalid input"


class NotFoundError(BudgetPilotError):
    status_code = 404
    title = "Not found"


class ConflictError(BudgetPilotError):
    status_code = 409
    title = "Conflict"


class PermissionDeniedError(BudgetPilotError):
    status_code = 403
    title = "Forbidden"


class SchemaError(BudgetPilotError):
    """The database is at a schema this version cannot use."""

    status_code = 503
    title = "Database schema mismatch"


class ImportRejected(ValidationError):
    """A CSV file was refused; nothing of it was written."""

    title = "CSV import rejected"

    def __init__(self, path: str, errors: list[str]) -> None:
        shown = errors[:20]
        more = f"\n... and {len(errors) - len(shown)} more" if len(errors) > len(shown) else ""
        super().__init__(f"{path}: rejected, nothing imported:\n" + "\n".join(shown) + more)
        self.path = path
        self.errors = errors


class AuthenticationError(BudgetPilotError):
    """No token, or one that is unknown or revoked."""

    status_code = 401
    title = "Unauthorized"


class StaleVersionError(ConflictError):
    """An optimistic-concurrency check failed: someone changed the record first."""

    title = "Stale version"


class ShiftExpiredError(ConflictError):
    """The proposal's data changed or its time ran out; the expiry itself is kept."""

    title = "Shift expired"
    keeps_changes = True


class FxRateMissingError(ValidationError):
    title = "Missing FX rate"


class UnavailableError(BudgetPilotError):
    """A part the request needs is not available in this installation or right now."""

    status_code = 503
    title = "Service unavailable"


class DatabaseBusyError(UnavailableError):
    """SQLite refused a write because another connection holds the write lock."""

    title = "Database busy"
