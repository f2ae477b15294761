"""Errors shared by actions and adapters, and the service's domain errors (mapped to HTTP)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ActionError(Exception):
    """An action could not do its work; `output` keeps what the target said."""

    def __init__(self, message: str, output: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.output = dict(output or {})


class PlaybookError(Exception):
    """A request the service refuses; `status` is the HTTP status the API answers with."""

    status = 400

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class NotFound(PlaybookError):
    status = 404


class Forbidden(PlaybookError):
    status = 403


class Invalid(PlaybookError):
    status = 422


class Conflict(PlaybookError):
    status = 409


class RateLimited(PlaybookError):
    status = 409


class CircuitOpen(PlaybookError):
    status = 423
