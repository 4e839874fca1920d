"""Errors as RFC 9457 problem details: application/problem+json with type, title, status,
detail, and for invalid input an `errors` list naming each field that failed."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext
from django.views.decorators.csrf import csrf_exempt
from django_ratelimit.exceptions import Ratelimited
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from portal.access import public
from requests_app.lifecycle import TransitionError

PROBLEM_TYPE = "https://portal.example/api/problems/"
CONTENT_TYPE = "application/problem+json"

TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
}
SLUGS = {
    400: "bad-request",
    401: "not-authenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "too-large",
    415: "unsupported-media-type",
    422: "invalid-input",
    429: "rate-limited",
}


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request is not in a state that allows this."


class Invalid(exceptions.APIException):
    """Invalid input, by field: {"field": ["message", ...]} ("" or "non_field_errors": the
    whole request)."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY

    def __init__(self, errors: dict[str, list[str]], detail: str | None = None):
        self.errors = errors
        super().__init__(detail or gettext("The request has invalid fields; see errors."))


def problem(status_code: int, detail: str, errors: list[dict] | None = None, headers=None):
    body = {
        "type": PROBLEM_TYPE + SLUGS.get(status_code, "error"),
        "title": TITLES.get(status_code, "Error"),
        "status": status_code,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    return Response(body, status=status_code, headers=headers, content_type=CONTENT_TYPE)


def field_errors(errors) -> list[dict]:
    """[{"field": name, "detail": message}] from a Django message_dict or a DRF detail dict."""
    found = []
    if isinstance(errors, dict):
        for field, messages in errors.items():
            messages = messages if isinstance(messages, list | tuple) else [messages]
            name = "" if field in ("__all__", "non_field_errors", None) else field
            for message in messages:
                if isinstance(message, dict | list):
                    for sub in field_errors(message):
                        joined = f"{name}.{sub['field']}" if sub["field"] else name
                        found.append({"field": joined, "detail": sub["detail"]})
                else:
                    found.append({"field": name, "detail": str(message)})
    else:
        for message in errors if isinstance(errors, list | tuple) else [errors]:
            found.append({"field": "", "detail": str(message)})
    return found


def django_validation_errors(error: DjangoValidationError) -> list[dict]:
    if hasattr(error, "error_dict"):
        return field_errors(error.message_dict)
    return field_errors(error.messages)


def problem_exception_handler(exc, context):
    """Every error of the API as a problem. Django's own exceptions from the services (a refusal
    of the policy, a submission's missing fields) keep their words."""
    if isinstance(exc, Ratelimited):
        return problem(429, gettext("Too many calls; wait and try again."))
    if isinstance(exc, Http404):
        return problem(404, gettext("Not found."))
    if isinstance(exc, TransitionError):
        return problem(409, " ".join(exc.messages))
    if isinstance(exc, DjangoValidationError):
        return problem(
            422,
            gettext("The request has invalid fields; see errors."),
            django_validation_errors(exc),
        )
    if isinstance(exc, DjangoPermissionDenied):
        return problem(403, str(exc) or gettext("Forbidden."))
    if isinstance(exc, Invalid):
        return problem(422, str(exc.detail), field_errors(exc.errors))
    response = exception_handler(exc, context)
    if response is None:
        return None  # a server error: Django's 500 (logged, and never the stack to the client)
    headers = {
        name: value
        for name, value in response.items()
        if name in ("WWW-Authenticate", "Retry-After", "Allow")
    }
    if isinstance(exc, exceptions.ValidationError):
        return problem(
            422,
            gettext("The request has invalid fields; see errors."),
            field_errors(exc.detail),
            headers,
        )
    detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
    return problem(response.status_code, str(detail), headers=headers)


@public
@csrf_exempt
def not_found(request, *args, **kwargs) -> JsonResponse:
    """Any other path under /api/v1/: a problem, not the pages' HTML 404."""
    body = {
        "type": PROBLEM_TYPE + SLUGS[404],
        "title": TITLES[404],
        "status": 404,
        "detail": gettext("No such API resource."),
    }
    return JsonResponse(body, status=404, content_type=CONTENT_TYPE)
