"""The admin of the API clients (docs/api.md): staff approve and revoke them."""

from django.contrib import admin, messages

from .api import services
from .api.models import ApiClient


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    """Staff approve the clients officers register, and may revoke any. Nothing else changes
    here: the token exists only as its hash, and a client is never added by hand."""

    list_display = ("name", "token_prefix", "authority", "officer", "scopes", "state", "expires_at")
    list_filter = ("approved_at", "revoked_at")
    search_fields = ("name", "token_prefix", "officer__email", "authority__id")
    readonly_fields = [field.name for field in ApiClient._meta.fields]
    actions = ["approve_clients", "revoke_clients"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Approve selected API clients")
    def approve_clients(self, request, queryset):
        for client in queryset:
            services.api_client_approve(staff=request.user, client=client)
        messages.success(request, f"{queryset.count()} client(s) approved.")

    @admin.action(description="Revoke selected API clients")
    def revoke_clients(self, request, queryset):
        for client in queryset:
            services.api_client_revoke(user=request.user, client=client)
        messages.success(request, f"{queryset.count()} client(s) revoked.")
