"""The one place that decides which pages need a login and a verified second factor.

Every view needs both unless it is marked here: `public` for pages anyone may see (landing,
health, sign-up), `login_step` for the pages between the password and the second factor
(enrolment, code entry). The middleware reads the marks, so a new view is protected by default.
"""

from collections.abc import Callable
from functools import wraps
from typing import TypeVar

from django.http import Http404

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


def only_for(predicate: Callable) -> Callable[[V], V]:
    """Outermost decorator of a view for one audience: to anyone else the page does not exist,
    whatever the method (a 405 or 403 would tell them that the URL is real)."""

    def decorator(view: V) -> V:
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not predicate(request.user):
                raise Http404
            return view(request, *args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator
