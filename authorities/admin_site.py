"""The staff admin site (replaces django.contrib.admin's default): it sits with the accounts and
second factors it guards, so portal imports no app."""

from functools import update_wrapper

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import Http404
from django.shortcuts import redirect


class PortalAdminSite(admin.AdminSite):
    """Django admin for platform staff only. The second factor is already required by
    portal.middleware for every admin URL; here, anyone logged in who is not staff meets a 404
    (the admin does not exist for them), staff whose session was verified with a code rather than
    a passkey meet the page that asks for one (PORTAL_PHISHING_RESISTANT_FOR, "admin"), and the
    admin's own login page is never used."""

    site_header = "EU Authority Request Portal — staff"
    site_title = "Portal staff"

    def has_permission(self, request):
        # Not while the account awaits reinstatement after a staff reset of its second factor.
        user = request.user
        return user.is_active and user.is_staff and not getattr(user, "awaits_reinstatement", False)

    def admin_view(self, view, cacheable=False):
        inner = super().admin_view(view, cacheable)

        def guarded(request, *args, **kwargs):
            if request.user.is_authenticated and not self.has_permission(request):
                raise Http404
            if request.user.is_authenticated and not _passkey_session_may_administer(request):
                return _passkey_required(request)
            return inner(request, *args, **kwargs)

        return update_wrapper(guarded, view)

    def login(self, request, extra_context=None):
        if request.user.is_authenticated and not self.has_permission(request):
            raise Http404
        return redirect("admin:index")


def _passkey_session_may_administer(request) -> bool:
    # Staff sessions change the registry and accounts: a phished code must not be enough
    # (settings.PORTAL_PHISHING_RESISTANT_FOR, action "admin").
    from .second_factor import ADMIN, session_may

    return session_may(request, ADMIN)


def _passkey_required(request):
    # Imported when used: INSTALLED_APPS loads this module before the apps' models are ready.
    from .passkey_views import passkey_required_response
    from .second_factor import ADMIN

    return passkey_required_response(request, ADMIN, request.get_full_path())


class PortalAdminConfig(AdminConfig):
    default_site = "authorities.admin_site.PortalAdminSite"
