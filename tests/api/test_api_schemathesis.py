"""schemathesis against the live schema: the portal served on loopback (pytest-django's live
server, the real test database), the schema read from /api/v1/schema/ as a client reads it, and
every operation called with the generated cases under the submit+read token of an approved
officer; then the schema's links (create -> submit -> read, and the rest) as a state machine.
Every response must pass not_a_server_error, response_schema_conformance,
status_code_conformance and content_type_conformance.

Examples per operation and mode: PORTAL_API_FUZZ_EXAMPLES (15 by default, under two minutes on
two cores); each run prints "schemathesis: N operations, M examples, F failures"."""

import os
import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from authorities.constants import Instrument
from requests_app import services
from requests_app.models import LegalRequest, Status
from tests import figures
from tests.requests_app.helpers import pdf_bytes

from .helpers import approved_client, epoc_body

# A server (a thread of this process, as pytest-django's live_server is): left out by make check.
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]
EXAMPLES = int(os.environ.get("PORTAL_API_FUZZ_EXAMPLES", "15"))
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
FIGURE = "schemathesis"
PDF = pdf_bytes()


@pytest.fixture
def api(live_server, officer, staff, settings):
    """The live portal, the schema it serves and a submit+read token of an approved officer;
    the officer's rate limits wide enough for the fuzzing (429 is documented, but a limit hit
    early would leave the rest of the examples answering only that)."""
    settings.PORTAL_RATE_API = "100000/h"
    settings.PORTAL_RATE_SUBMISSION = "100000/h"
    settings.PORTAL_RATE_UPLOAD = "100000/h"
    _, token = approved_client(officer, staff)
    base = live_server.url
    schema = schemathesis.openapi.from_url(f"{base}/api/v1/schema/?format=json")
    # The token as configuration, not per call: schemathesis then sends it on every case
    # instead of generating Authorization headers of its own.
    schema.config.update(base_url=base, headers={"Authorization": f"Bearer {token}"})
    # Requests of the officer's for the path parameters: a random id is only ever a 404.
    drafts = [
        services.legal_request_save_draft(
            officer=officer,
            instrument=Instrument.EPOC,
            data={k: v for k, v in epoc_body().items() if k not in ("instrument", "targets")},
            targets=[],
        )
        for _ in range(2)
    ]
    return {
        "base": base,
        "schema": schema,
        "headers": {"Authorization": f"Bearer {token}"},
        "ids": [str(d.public_id) for d in drafts],
    }


def _with_real_ids(case, ids):
    """Half of the cases name one of the officer's requests instead of a random id."""
    public_id = (case.path_parameters or {}).get("public_id")
    if isinstance(public_id, str):
        draw = int(uuid.uuid5(uuid.NAMESPACE_URL, public_id))
        if draw % 2:
            case.path_parameters["public_id"] = ids[draw // 2 % len(ids)]


@pytest.mark.figure(FIGURE)
def test_every_operation_passes_the_checks(api):
    schema = api["schema"]
    operations = [result.ok() for result in schema.get_all_operations()]
    examples = 0
    for operation in operations:
        for mode in MODES:

            @given(case=operation.as_strategy(generation_mode=mode))
            @hypothesis_settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            def run(case):
                nonlocal examples
                _with_real_ids(case, api["ids"])
                response = case.call(base_url=api["base"], headers=api["headers"])
                case.validate_response(response, checks=CHECKS, headers=api["headers"])
                examples += 1

            run()
    figures.record(FIGURE, ("operations", len(operations), examples))


@pytest.mark.figure(FIGURE)
def test_the_links_create_submit_read_pass_the_checks(api):
    schema = api["schema"]
    base, headers = api["base"], api["headers"]
    steps = 0

    class Links(schema.as_state_machine()):
        """Here every new draft is the documented valid EPOC and every document a real PDF:
        random text passes neither the form nor the upload check (the test above sends it),
        and the chains are to reach a submission."""

        def before_call(self, case):
            if case.operation.label == "POST /api/v1/requests/":
                # A new key each time: a key seen before would replay an earlier scenario's
                # draft, and its state (submitted by then) would make the same steps answer
                # differently, which Hypothesis refuses as flaky.
                case.headers = {**(case.headers or {}), "Idempotency-Key": str(uuid.uuid4())}
                case.body = epoc_body()
            elif case.operation.label == "POST /api/v1/requests/{public_id}/documents/":
                case.body = {"file": PDF}

        def get_call_kwargs(self, case):
            return {"base_url": base, "headers": headers}

        def validate_response(self, response, case, **kwargs):
            nonlocal steps
            case.validate_response(response, checks=CHECKS, headers=headers)
            steps += 1

    Links.run(
        settings=hypothesis_settings(
            max_examples=EXAMPLES,
            stateful_step_count=10,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
    )
    # The chain was followed, not only its first step: drafts made, and submitted, by the links.
    made_here = LegalRequest.objects.exclude(public_id__in=api["ids"])
    assert made_here.exists()
    assert made_here.exclude(status=Status.DRAFT).exists()
    figures.record(FIGURE, ("links", 0, steps))
