"""Domain errors: what went wrong, in words an operator or API client understands,
and the one body every error answer of the API has."""


def error_body(code: str, message: str, fields: list[dict[str, str]] | None = None) -> dict:
    """``{"error": {"code", "message", "fields"}}``: every error answer of the API."""
    return {"error": {"code": code, "message": message, "fields": fields or []}}


class DomainError(Exception):
    """A request the domain refuses; ``str(error)`` is the readable reason."""


class NotFound(DomainError):
    """The row does not exist in the caller's workspace."""


class Conflict(DomainError):
    """The row exists but its state does not allow the action."""


class InvalidValue(DomainError, ValueError):
    """A field's value breaks a rule."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class RuleBroken(InvalidValue):
    """A value each field's own schema allows, refused by a rule across fields or
    rows (a window that ends before it starts; a permit on a user's message)."""
