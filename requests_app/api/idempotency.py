"""Idempotency-Key: the first answer to a client's POST is kept with its key, and the same POST
sent again gets that answer back instead of acting twice (docs/api.md, "Idempotency")."""

import hashlib
import json

from django.db import IntegrityError, transaction
from django.utils.translation import gettext
from rest_framework.response import Response

from .models import IdempotencyKey
from .problems import Invalid

HEADER = "Idempotency-Key"
MAX_LENGTH = 200


def idempotent(request, run, *, required: bool = False) -> Response:
    """Run `run()` (which returns a Response) once per key of this client.

    1. No key: run (or 422 if the operation requires one).
    2. Insert the key first, in the same transaction as the action: a concurrent retry with the
       same key waits on the unique index until this one commits, then reads its answer.
    3. A key already stored: the same method, path and body get the stored answer (with
       `Idempotent-Replayed: true`); anything else is the client's mistake, 422.
    4. An error rolls everything back, the key included: a retry acts afresh.
    """
    key = request.headers.get(HEADER, "").strip()
    if not key:
        if required:
            raise Invalid({HEADER: [gettext("Send an Idempotency-Key header with this POST.")]})
        return run()
    if len(key) > MAX_LENGTH:
        raise Invalid({HEADER: [gettext("At most %(max)s characters.") % {"max": MAX_LENGTH}]})
    body = json.dumps(request.data, sort_keys=True, default=str)
    fingerprint = hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()
    client = request.auth
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = IdempotencyKey.objects.create(
                    client=client, key=key, fingerprint=fingerprint
                )
        except IntegrityError:
            record = IdempotencyKey.objects.select_for_update().get(client=client, key=key)
            if record.fingerprint != fingerprint:
                raise Invalid(
                    {HEADER: [gettext("This key was used for another request; use a new key.")]}
                ) from None
            return Response(
                record.body, status=record.status_code, headers={"Idempotent-Replayed": "true"}
            )
        response = run()
        record.status_code = response.status_code
        record.body = json.loads(json.dumps(response.data, default=str))
        record.save(update_fields=["status_code", "body"])
        return response
