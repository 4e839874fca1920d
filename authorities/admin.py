from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.utils.html import format_html
from django_otp.plugins.otp_totp.models import TOTPDevice

from . import services
from .constants import Instrument
from .models import (
    AccountEvent,
    Authority,
    AuthorityDomain,
    RegistryChange,
    RegistryImport,
    User,
)
from .registry import instrument_problems
from .selectors import authority_for_email


class InstrumentsField(forms.JSONField):
    """The instruments as the registry file gives them: a JSON list of known codes. Django's
    JSON field took any JSON (-1, {}, NaN, a number of 5,000 digits): the save, or the registry
    snapshot after it, failed with a 500, and instruments that are not a list of codes would
    break every may_issue()."""

    def to_python(self, value):
        try:
            value = super().to_python(value)
        except ValueError:  # json.loads' own, for a number of more than 4,300 digits
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None
        if value is not None and (problems := instrument_problems(value)):
            allowed = ", ".join(Instrument.values)
            raise ValidationError([f"Instruments {p}; allowed: {allowed}." for p in problems])
        return value

    def bound_data(self, data, initial):
        try:
            return super().bound_data(data, initial)
        except ValueError:
            return forms.fields.InvalidJSONInput(data)


class CheckedSelection:
    """Django's admin actions filter pk__in with the posted ids as they are: one that is not an
    id (a mangled form) raised ValueError or DataError, a 500. Such a post selects nothing."""

    def response_action(self, request, queryset):
        try:
            for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
                if "\x00" in value:
                    raise ValidationError("NUL")
                self.model._meta.pk.to_python(value)
        except ValidationError:
            self.message_user(request, "The selection was not valid.", level=messages.ERROR)
            return None
        return super().response_action(request, queryset)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records (imports, changes, events) are evidence: staff read them, nobody edits them."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AuthorityDomainInline(admin.TabularInline):
    model = AuthorityDomain
    extra = 0


class RegistryChangeInline(admin.TabularInline):
    model = RegistryChange
    fields = ["changed_at", "changed_by", "origin", "changes"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Authority)
class AuthorityAdmin(CheckedSelection, admin.ModelAdmin):
    list_display = ["id", "name_en", "country", "kind", "status", "source_checked"]
    list_filter = ["status", "country", "kind"]
    search_fields = ["id", "name", "name_en", "domains__domain"]
    inlines = [AuthorityDomainInline, RegistryChangeInline]
    readonly_fields = ["status_changed_at", "updated_at"]
    formfield_overrides = {models.JSONField: {"form_class": InstrumentsField}}  # instruments

    def get_form(self, request, obj=None, change=False, **kwargs):
        # Snapshot before the edit, so save_related can record old -> new with who and when.
        request._registry_before = services.authority_snapshot(obj) if obj else {}
        return super().get_form(request, obj, change, **kwargs)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        services.registry_change_record(
            authority=form.instance, before=request._registry_before, by=request.user
        )

    def has_delete_permission(self, request, obj=None):
        return False  # suspend or revoke instead: requests keep their issuer


@admin.register(RegistryImport)
class RegistryImportAdmin(ReadOnlyAdmin):
    list_display = [
        "imported_at",
        "imported_by",
        "file_name",
        "version",
        "full",
        "added",
        "changed",
        "unchanged",
        "suspended",
    ]


@admin.register(RegistryChange)
class RegistryChangeAdmin(ReadOnlyAdmin):
    list_display = ["changed_at", "authority", "origin", "changed_by"]
    list_filter = ["origin"]


class AccountEventInline(admin.TabularInline):
    model = AccountEvent
    fk_name = "user"
    fields = ["at", "kind", "actor", "ip_address", "detail"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    max_num = 0


@admin.register(User)
class UserAdmin(CheckedSelection, BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "full_name", "authority", "email_verified_at", "approved_at"]
    list_filter = ["is_staff", "groups", "authority__country"]
    search_fields = ["email", "full_name", "authority__name_en"]
    readonly_fields = [
        "registry_evidence",
        "email_verified_at",
        "approved_at",
        "approved_by",
        "last_login",
        "date_joined",
    ]
    fieldsets = [
        (None, {"fields": ["email", "full_name", "password"]}),
        (
            "Registry evidence",
            {
                "fields": [
                    "authority",
                    "registry_evidence",
                    "email_verified_at",
                    "approved_at",
                    "approved_by",
                    "is_authority_contact",
                ]
            },
        ),
        ("Platform roles", {"fields": ["is_active", "is_staff", "is_superuser", "groups"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"fields": ["email", "full_name", "password1", "password2"]})]
    inlines = [AccountEventInline]
    actions = ["approve_officers", "reset_second_factor"]

    @admin.display(description="What the registry says")
    def registry_evidence(self, obj: User):
        if not obj.is_officer:
            return "Not an officer (platform account)."
        authority = obj.authority
        match = authority_for_email(obj.email)
        return format_html(
            "{} ({}, {}), status <strong>{}</strong>.<br>Source: {} — {} (checked {}).<br>"
            "Call-back number: {}.<br>E-mail domain {}: {}.",
            authority.name,
            authority.get_country_display(),
            authority.get_kind_display(),
            authority.get_status_display(),
            authority.source_list,
            authority.source_reference,
            authority.source_checked,
            authority.callback_phone,
            obj.email_domain,
            "matches this authority in the registry"
            if match and match.pk == authority.pk
            else "DOES NOT match this authority any more",
        )

    @admin.action(description="Approve selected officers (after checking the registry evidence)")
    def approve_officers(self, request, queryset):
        for officer in queryset:
            try:
                services.officer_approve(officer=officer, approver=request.user)
                self.message_user(request, f"{officer.email} approved.")
            except (ValidationError, PermissionDenied) as problem:
                self.message_user(request, f"{officer.email}: {problem}", level=messages.ERROR)

    @admin.action(description="Reset second factor (lost device): user enrols again at login")
    def reset_second_factor(self, request, queryset):
        for user in queryset:
            try:
                services.otp_reset_by_staff(
                    user=user, staff=request.user, reason="Reset from the admin"
                )
                self.message_user(request, f"Second factor of {user.email} reset.")
            except PermissionDenied as problem:
                self.message_user(request, f"{user.email}: {problem}", level=messages.ERROR)


# django-otp registers its devices in the admin, with pages that show a device's secret key and
# QR code. No staff member may see or copy someone's second factor: staff only reset it (the
# "Reset second factor" action above, recorded).
for _model in (TOTPDevice,):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
