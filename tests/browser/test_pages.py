"""Every main page (tests/page_tour.py) in a real browser, on a phone (390 x 844, an iPhone 12 to
15) and on a desktop: nothing scrolls sideways on the phone, and axe-core finds no serious or
critical violation at either width. Phone-width screenshots of the main pages go to
docs/screenshots/phone/ (the README shows them)."""

import base64
import re

import pytest
from django.conf import settings
from django.contrib.auth.models import Group

from tests.browser.conftest import SCREENSHOTS, axe_violations
from tests.browser.test_journeys import AXE_RESULTS, code_for
from tests.factories import AuthorityFactory, OfficerFactory, UserFactory, totp_device
from tests.page_tour import PAGES, Tour, build_tour, client_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

# The page's width beyond the window, and the elements that stick out (the widest first): what
# a failure needs to say to be fixed.
OVERFLOW = """() => {
  const width = window.innerWidth;
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const box = el.getBoundingClientRect();
    if (box.right > width + 1 && box.width > 0) {
      const name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
        + (el.className && typeof el.className === 'string'
           ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
      out.push([Math.round(box.right), name]);
    }
  }
  out.sort((a, b) => b[0] - a[0]);
  return {scrollWidth: document.documentElement.scrollWidth, innerWidth: width,
          culprits: out.slice(0, 4).map(([right, name]) => `${name} (to ${right}px)`)};
}"""


@pytest.fixture
def tour(db, authority) -> Tour:
    enforcing_authority = AuthorityFactory(
        id="IE-DOJ",
        name_en="Department of Justice (enforcing authority)",
        country="IE",
        kind="other",
        instruments=["inquiry"],
        enforcing=True,
        domains=["justice.ie"],
    )

    def staff(email: str, group: str):
        user = UserFactory(email=email)
        user.groups.add(Group.objects.get_or_create(name=group)[0])
        totp_device(user)
        return user

    def officer_of(who, email: str, full_name: str):
        user = OfficerFactory(authority=who, email=email, full_name=full_name)
        totp_device(user)
        return user

    return build_tour(
        officer=officer_of(authority, "marie@interieur.gouv.fr", "Marie Durand"),
        colleague=officer_of(authority, "paul@interieur.gouv.fr", "Paul Martin"),
        reviewer=staff("reviewer@platform.example", "reviewer"),
        lead=staff("lead@platform.example", "lead"),
        auditor=staff("auditor@platform.example", "auditor"),
        enforcer=officer_of(enforcing_authority, "siobhan@justice.ie", "Siobhán Murphy"),
        newcomer=OfficerFactory(
            authority=authority, email="claire@interieur.gouv.fr", full_name="Claire Petit"
        ),
    )


def _browser_page(browser, portal: str, session_key: str | None):
    context = browser.new_context(viewport=PHONE)
    context.set_default_timeout(45_000)
    if session_key:
        context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": session_key, "url": portal}]
        )
    return context, context.new_page()


def _phone_screenshot(page, name: str) -> None:
    folder = SCREENSHOTS / "phone"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_every_main_page_fits_a_phone_and_passes_axe(portal, browser, tour):
    """All pages are visited and every failure is reported at once, with its width."""
    too_wide: dict[str, str] = {}
    inaccessible: dict[str, list] = {}
    broken: dict[str, int] = {}
    for who in dict.fromkeys(page.who for page in PAGES):
        client = client_for(tour, who)
        session_key = (
            client.cookies[settings.SESSION_COOKIE_NAME].value if who != "public" else None
        )
        context, page = _browser_page(browser, portal, session_key)
        try:
            for entry in (p for p in PAGES if p.who == who):
                url = portal + entry.path(tour)
                for viewport in (PHONE, DESKTOP):
                    page.set_viewport_size(viewport)
                    response = page.goto(url)
                    if response is None or response.status != 200:
                        broken[entry.name] = response.status if response else 0
                        break
                    label = f"{entry.name} @{viewport['width']}"
                    if viewport is PHONE:
                        measured = page.evaluate(OVERFLOW)
                        if measured["scrollWidth"] > measured["innerWidth"]:
                            too_wide[entry.name] = (
                                f"{measured['scrollWidth']}px > {measured['innerWidth']}px: "
                                + ", ".join(measured["culprits"])
                            )
                        if entry.screenshot:
                            _phone_screenshot(page, entry.screenshot)
                    violations = axe_violations(page)
                    AXE_RESULTS[label] = violations
                    if violations:
                        inaccessible[label] = violations
        finally:
            context.close()
    assert broken == {}, f"pages that did not open: {broken}"
    assert too_wide == {}, "pages wider than a 390 px phone:\n" + "\n".join(
        f"  {name}: {why}" for name, why in too_wide.items()
    )
    assert inaccessible == {}, f"axe-core, serious or critical: {inaccessible}"


def test_second_factor_setup_and_backup_codes_fit_a_phone(portal, browser, tour):
    """The backup codes appear only once the set-up code is right: the page is reached by
    setting up the second factor in the browser, as a newcomer does."""
    client = client_for(tour, "newcomer")
    context, page = _browser_page(
        browser, portal, client.cookies[settings.SESSION_COOKIE_NAME].value
    )
    try:
        page.goto(portal + "/login/second-factor/setup/")
        secret = page.inner_text("#totp-secret").replace(" ", "")
        key_hex = base64.b32decode(secret + "=" * (-len(secret) % 8)).hex()
        page.fill("input[name=token]", code_for(key_hex))
        page.click("main button[type=submit]")
        page.wait_for_selector("#backup-codes")
        measured = page.evaluate(OVERFLOW)
        assert measured["scrollWidth"] <= measured["innerWidth"], measured
        _phone_screenshot(page, "13-backup-codes")
        violations = axe_violations(page)
        AXE_RESULTS["backup codes @390"] = violations
        assert violations == []
        page.set_viewport_size(DESKTOP)
        assert axe_violations(page) == []
        assert re.search(r"/login/second-factor/setup/", page.url)
    finally:
        context.close()
