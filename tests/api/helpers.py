"""API test building blocks: an approved client with its token, JSON calls with it."""

import json
import uuid

from django.utils import timezone

from authorities.constants import Instrument
from requests_app.api import services
from tests.requests_app.helpers import VALID


def approved_client(officer, staff, *, scopes=("read", "submit"), allowed_ips=""):
    client, token = services.api_client_register(
        officer=officer, name="Case system", scopes=list(scopes), days=90, allowed_ips=allowed_ips
    )
    services.api_client_approve(staff=staff, client=client)
    return client, token


def auth(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def call(http, method: str, url: str, token: str | None = None, body=None, key=None, **extra):
    headers = dict(extra)
    if token:
        headers.update(auth(token))
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    if body is not None and not isinstance(body, dict | list) or method == "get":
        return getattr(http, method)(url, body, **headers)
    return getattr(http, method)(
        url, json.dumps(body or {}), content_type="application/json", **headers
    )


def epoc_body(**changes) -> dict:
    """The pages' valid EPOC as the API takes it: targets as a list of identifiers."""
    body = {**VALID[Instrument.EPOC], "instrument": Instrument.EPOC}
    body["targets"] = body["targets"].split("\n")
    body.update(changes)
    return body


def new_key() -> str:
    return str(uuid.uuid4())


def now():
    return timezone.now()
