"""Typed errors from the API server's `Status` replies, one root exception as in requests.exceptions."""

from __future__ import annotations

from typing import Any

import requests


class ApiError(Exception):
    def __init__(self, status: int, reason: str, message: str = "", body: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status, self.reason, self.message = status, reason, message
        self.body = body or {}


class NotFound(ApiError): ...


class AlreadyExists(ApiError): ...


class Conflict(ApiError):
    """Stale resourceVersion (or a binding to an already bound pod): read again, then retry."""


class Invalid(ApiError): ...


class Forbidden(ApiError): ...


class Expired(ApiError):
    """410: the resourceVersion asked for is gone from history; relist."""


class Unavailable(ApiError):
    """The server could not be reached or answered 5xx after retries."""


_BY_REASON = {"NotFound": NotFound, "AlreadyExists": AlreadyExists, "Conflict": Conflict, "Invalid": Invalid,
              "Forbidden": Forbidden, "Expired": Expired, "Gone": Expired}
_BY_CODE = {404: NotFound, 409: Conflict, 422: Invalid, 403: Forbidden, 410: Expired}


def from_status(status: dict[str, Any], code: int | None = None) -> ApiError:
    code = int(status.get("code") or code or 500)
    reason = str(status.get("reason") or "")
    cls = _BY_REASON.get(reason) or _BY_CODE.get(code) or (Unavailable if code >= 500 else ApiError)
    return cls(code, reason or cls.__name__, str(status.get("message", "")), status)


def from_response(response: requests.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = {"message": response.text[:500]}
    if not isinstance(body, dict):
        body = {"message": str(body)[:500]}
    return from_status(body, response.status_code)
