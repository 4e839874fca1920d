"""Scopes: a read-scope token reads; writing (any POST) needs the submit scope."""

from django.utils.translation import gettext
from rest_framework.permissions import SAFE_METHODS, BasePermission

from .models import ApiClient


class ClientScope(BasePermission):
    def has_permission(self, request, view) -> bool:
        client = request.auth
        if not isinstance(client, ApiClient):
            return False
        scope = ApiClient.Scope.READ if request.method in SAFE_METHODS else ApiClient.Scope.SUBMIT
        if not client.has_scope(scope):
            self.message = gettext("This token does not have the %(scope)s scope.") % {
                "scope": scope
            }
            return False
        return True
