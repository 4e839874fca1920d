"""The one place that decides which pages need a login and a verified second factor.

Every view needs both unless it is marked here: `public` for pages anyone may see (landing,
health, sign-up), `login_step` for the pages between the password and the second factor
(enrolment, code entry). The middleware reads the marks, so a new view is protected by default.
"""

from collections.abc import Callable
from typing import TypeVar

V = TypeVar("V", bound=Callable)

PUBLIC = "public"
LOGIN_STEP = "login_step"


def public(view: V) -> V:
    view.portal_access = PUBLIC  # type: ignore[attr-defined]
    return view


def login_step(view: V) -> V:
    view.portal_access = LOGIN_STEP  # type: ignore[attr-defined]
    return view


def access_of(view: Callable) -> str | None:
    # Class-based views are wrapped by as_view(); the mark sits on view_class or the function.
    mark = getattr(view, "portal_access", None)
    if mark is None and hasattr(view, "view_class"):
        mark = getattr(view.view_class, "portal_access", None)
    return mark
