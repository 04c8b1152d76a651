"""Errors that become Kubernetes `Status` objects on the wire."""

from __future__ import annotations

from typing import Any

# HTTP code → the `reason` upstream sends with it when nothing more specific applies.
DEFAULT_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def cause(field: str, message: str, reason: str = "FieldValueInvalid") -> dict[str, str]:
    """One entry of `details.causes` (reasons as upstream: FieldValueInvalid, FieldValueRequired, …).

    As upstream, the cause's message is the error body alone; `invalid()` puts the field in front for the summary.
    """
    return {"reason": reason, "message": message, "field": field}


class StatusError(Exception):
    """An API error carrying everything needed to render a `Status` object."""

    def __init__(
        self,
        code: int,
        message: str,
        reason: str | None = None,
        *,
        name: str | None = None,
        group: str | None = None,
        kind: str | None = None,
        causes: list[dict[str, str]] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or DEFAULT_REASONS.get(code, "Unknown")
        self.name, self.group, self.kind = name, group, kind
        self.causes = causes or []
        self.retry_after = retry_after

    def to_status(self) -> dict[str, Any]:
        details: dict[str, Any] = {}
        if self.name is not None:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind is not None:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = self.causes
        if self.retry_after is not None:
            details["retryAfterSeconds"] = self.retry_after
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if details:
            status["details"] = details
        status["code"] = self.code  # last, as upstream's metav1.Status orders its fields
        return status


def qualified(resource: str, group: str) -> str:
    """`deployments.apps` for grouped resources, `pods` for core ones, as upstream messages say."""
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, group: str, name: str) -> StatusError:
    return StatusError(404, f'{qualified(resource, group)} "{name}" not found', name=name, group=group, kind=resource)


def already_exists(resource: str, group: str, name: str) -> StatusError:
    return StatusError(
        409, f'{qualified(resource, group)} "{name}" already exists', "AlreadyExists",
        name=name, group=group, kind=resource,
    )


def conflict(resource: str, group: str, name: str, why: str | None = None) -> StatusError:
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return StatusError(
        409, f'Operation cannot be fulfilled on {qualified(resource, group)} "{name}": {why}', "Conflict",
        name=name, group=group, kind=resource,
    )


def invalid(kind: str, group: str, name: str, causes: list[dict[str, str]]) -> StatusError:
    parts = [f"{c['field']}: {c['message']}" if c.get("field") else c["message"] for c in causes]
    summary = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    label = f"{kind}.{group}" if group else kind
    return StatusError(
        422, f'{label} "{name}" is invalid: {summary}', "Invalid", name=name, group=group, kind=kind, causes=causes,
    )


def bad_request(message: str) -> StatusError:
    return StatusError(400, message, "BadRequest")
