"""The API's pages in a real browser (issue 19): an officer registers a client and sees its
token once; the documentation page renders the schema from our own static files under the
strict CSP (a violation is a console error)."""

import pytest

from tests.browser.conftest import screenshot
from tests.browser.test_journeys import (  # noqa: F401 - cast: a fixture
    cast,
    check_axe,
    code_for,
    key_of,
    log_in,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_officer_registers_a_client_and_reads_the_api_docs(portal, page_factory, cast):  # noqa: F811
    page = page_factory()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("response", lambda r: errors.append(r.url) if r.status >= 400 else None)
    log_in(page, portal, cast["officer"])
    page.goto(portal + "/account/")
    page.click("#api-clients a")
    page.fill("input[name=name]", "Case system")
    page.check("input[name=scopes][value=submit]")
    page.fill("input[name=otp_token]", code_for(key_of(cast["officer"]), ahead=1))
    page.click("#register button[type=submit]")
    token = page.inner_text("#token-value")
    assert token.startswith("lrp_")
    screenshot(page, "api-clients")
    check_axe(page, "api clients")
    page.reload()  # shown once: not on the page again
    assert token not in page.content()

    # The portal's pages have no favicon (the browser's own request for one is a 404): the
    # documentation page is checked from here.
    errors.clear()
    page.goto(portal + "/api/v1/docs/")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "Legal request portal API" in page.inner_text(".swagger-ui .info .title")
    page.wait_for_selector("text=/api/v1/requests/")
    assert errors == [], errors
