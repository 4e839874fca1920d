"""Structured logs: every line says which HTTP request or Celery task wrote it, and which legal
request (LR-...) it was about, so one request can be followed across web and worker.

What a line may carry: the request id, the reference, the task id and name, the method, the URL
pattern (never the path's tokens, never the query string: a reviewer's search `?q=` is often a
target's identifier) and the status.
Never a target identifier (e-mail addresses, phone numbers, account IDs of the people an order is
about) and never a request's content: no view, service or task logs form data or RequestTarget
values, and the request line below logs no body and no query string.

The context lives in context variables, set by RequestIdMiddleware (web) and the Celery task
signals (worker), and `bind_reference` where a legal request is loaded. LogContextFilter copies it
onto every record the handler formats: JSON in production (python-json-logger), readable text
with DJANGO_DEBUG=1 (settings.LOGGING, docs/operations.md).
"""

import logging
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

request_logger = logging.getLogger("portal.request")

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_reference: ContextVar[str | None] = ContextVar("reference", default=None)
_task_id: ContextVar[str | None] = ContextVar("task_id", default=None)
_task_name: ContextVar[str | None] = ContextVar("task_name", default=None)

CONTEXT_FIELDS = {
    "request_id": _request_id,
    "reference": _reference,
    "task_id": _task_id,
    "task": _task_name,
}
REQUEST_ID_HEADER = "X-Request-ID"
# An id from a trusted front proxy is kept (the proxy's and our lines then match); anything else
# (too long, spaces, control characters, a log-injection attempt) is replaced by our own.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,63}")


def bind_reference(reference: str | None) -> None:
    """The legal request this HTTP request or task is about (its reference, LR-...), for every
    line logged from here until the request or task ends. A draft has no reference: nothing."""
    if reference:
        _reference.set(reference)


@contextmanager
def reference_bound(reference: str | None) -> Iterator[None]:
    """The legal request one step of a batch is about (a task that sweeps or sends for many
    requests): its lines name it, and the next step's do not."""
    token = _reference.set(reference or None)
    try:
        yield
    finally:
        _reference.reset(token)


def current_context() -> dict[str, str]:
    return {name: value for name, var in CONTEXT_FIELDS.items() if (value := var.get())}


class LogContextFilter(logging.Filter):
    """Copies the bound context onto the record (fields absent when unset)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in current_context().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class ContextTextFormatter(logging.Formatter):
    """Development (DJANGO_DEBUG=1): the usual text line, the context appended in brackets."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(
            f"{name}={getattr(record, name)}" for name in CONTEXT_FIELDS if hasattr(record, name)
        )
        if not context:
            return line
        first, newline, rest = line.partition("\n")
        return f"{first} [{context}]{newline}{rest}"


class PortalJsonFormatter(JsonFormatter):
    """python-json-logger's formatter, less the `request` Django attaches to its own records
    (django.request, django.security): its repr is the full path with the query string."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("reserved_attrs", [*RESERVED_ATTRS, "request"])
        super().__init__(*args, **kwargs)


class RequestIdMiddleware:
    """First middleware: gives each HTTP request an id (a sane incoming X-Request-ID, else a new
    one), returns it in the X-Request-ID response header, and logs one line when the request ends:
    method, path, status, duration, and the reference if a view handled a legal request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if SANE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        tokens = [_request_id.set(request_id), _reference.set(None)]
        started = time.monotonic()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            user = getattr(request, "user", None)
            route = _route(request)
            request_logger.info(
                "%s %s %s",
                request.method,
                route,
                response.status_code,
                extra={
                    "method": request.method,
                    "route": route,
                    "status": response.status_code,
                    "duration_ms": round((time.monotonic() - started) * 1000, 1),
                    "user_id": user.pk if user is not None and user.is_authenticated else None,
                },
            )
            return response
        finally:
            _reference.reset(tokens[1])
            _request_id.reset(tokens[0])


def _route(request: HttpRequest) -> str:
    """The URL pattern that answered ("/reset/<uidb64>/<token>/"), not the path: a path can hold
    a password-reset or e-mail confirmation token. An unresolved path (a 404) holds none."""
    match = getattr(request, "resolver_match", None)
    return f"/{match.route}" if match is not None else request.path


def task_started(task_id: str | None = None, task=None, **kwargs) -> None:
    """Celery task_prerun: every line of this task carries its id and name; a reference bound
    by a previous task on this process is dropped."""
    _task_id.set(task_id)
    _task_name.set(getattr(task, "name", None))
    _reference.set(None)


def task_finished(**kwargs) -> None:
    """Celery task_postrun: lines of the worker itself carry no task context."""
    for var in (_task_id, _task_name, _reference):
        var.set(None)
