from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, gettext_lazy
from django_otp.plugins.otp_totp.models import TOTPDevice

from . import accounts, registry_import, second_factor, selectors
from .constants import Instrument
from .models import (
    AccountEvent,
    Authority,
    AuthorityDomain,
    IdentityCheck,
    RegistryChange,
    RegistryImport,
    User,
)


class InstrumentsField(forms.MultipleChoiceField):
    """An authority's instruments, one checkbox each (typing the registry's JSON list by hand
    invited typos). Stored as the registry file gives them: a list of known codes, each once,
    in Instrument's order."""

    widget = forms.CheckboxSelectMultiple

    def __init__(self, **kwargs):
        super().__init__(choices=Instrument.choices, **kwargs)

    def clean(self, value):
        chosen = set(super().clean(value))
        return [code for code in Instrument.values if code in chosen]


class LinesField(forms.CharField):
    """A JSON list of short texts, typed one per line; blank lines and repeats are dropped."""

    widget = forms.Textarea(attrs={"rows": 3})

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        lines = (line.strip() for line in (super().to_python(value) or "").splitlines())
        return list(dict.fromkeys(line for line in lines if line))


class AuthorityForm(forms.ModelForm):
    instruments = InstrumentsField(
        label=gettext_lazy("Instruments"),
        help_text=gettext_lazy("What the official source says this authority may issue."),
    )
    signing_identifiers = LinesField(
        label=gettext_lazy("Signing identifiers"),
        required=False,
        help_text=Authority._meta.get_field("signing_identifiers").help_text,
    )

    class Meta:
        model = Authority
        fields = [
            "id",
            "name",
            "name_en",
            "country",
            "kind",
            "instruments",
            "callback_phone",
            "source_list",
            "source_reference",
            "source_checked",
            "status",
            "status_reason",
            "colleagues_see_requests",
            "enforcing",
            "signing_identifiers",
        ]


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


@admin.display(description=gettext_lazy("What changed"))
def registry_change_in_words(change: RegistryChange):
    return format_html_join("", "<div>{}</div>", ((line,) for line in change.in_words()))


class RegistryChangeInline(admin.TabularInline):
    model = RegistryChange
    fields = ["changed_at", "changed_by", "origin", registry_change_in_words]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Authority)
class AuthorityAdmin(CheckedSelection, admin.ModelAdmin):
    form = AuthorityForm
    list_display = ["id", "name_en", "country", "kind", "status", "enforcing", "source_checked"]
    list_filter = ["status", "country", "kind", "enforcing"]
    search_fields = ["id", "name", "name_en", "domains__domain"]
    inlines = [AuthorityDomainInline, RegistryChangeInline]
    readonly_fields = ["status_changed_at", "updated_at"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        # Snapshot before the edit, so save_related can record old -> new with who and when.
        request._registry_before = registry_import.authority_snapshot(obj) if obj else {}
        return super().get_form(request, obj, change, **kwargs)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        request._registry_change = registry_import.registry_change_record(
            authority=form.instance, before=request._registry_before, by=request.user
        )

    def construct_change_message(self, request, form, formsets, add=False):
        # The admin's history of the authority says what changed, as the registry change log
        # does ("Instruments: added …"), not only which fields.
        change = getattr(request, "_registry_change", None)
        if change is None:
            return super().construct_change_message(request, form, formsets, add)
        return " · ".join(change.in_words())

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
    list_display = ["changed_at", "authority", "origin", "changed_by", registry_change_in_words]
    list_filter = ["origin"]
    fields = [
        "authority",
        "changed_at",
        "changed_by",
        "origin",
        "registry_import",
        registry_change_in_words,
    ]
    readonly_fields = fields


class ReadOnlyUserInline(admin.TabularInline):
    """A user's records (events, identity checks) on their page: evidence, read only."""

    fk_name = "user"
    extra = 0
    can_delete = False
    max_num = 0

    def get_readonly_fields(self, request, obj=None):
        return self.fields


class AccountEventInline(ReadOnlyUserInline):
    model = AccountEvent
    fields = ["at", "kind", "actor", "ip_address", "detail"]


class IdentityCheckInline(ReadOnlyUserInline):
    model = IdentityCheck
    fields = ["checked_at", "checked_by", "phone_called", "outcome", "note"]
    verbose_name = "identity check (staff call-back)"


class UserAddForm(forms.ModelForm):
    """A platform account (legal team, staff). No password: the owner chooses it through the
    link e-mailed to the address (accounts.staff_account_created). Officers sign up themselves,
    so an address of a registry authority is refused here."""

    class Meta:
        model = User
        fields = ["email", "full_name"]

    def clean_email(self):
        email = self.cleaned_data["email"].strip().lower()
        if selectors.authority_for_email(email) is not None:
            raise ValidationError("Officers sign up themselves; this is an authority's address.")
        if User.objects.filter(email=email).exists():
            raise ValidationError("An account with this address exists.")
        return email

    def save(self, commit=True):
        user = super().save(commit=False)
        user.set_unusable_password()
        if commit:
            user.save()
        return user


class UserChangeForm(forms.ModelForm):
    """No password field (Django's shows the hash and links to a page that sets it)."""

    class Meta:
        model = User
        fields = ["full_name"]


class IdentityCheckForm(forms.Form):
    outcome = forms.ChoiceField(
        choices=IdentityCheck.Outcome.choices,
        widget=forms.RadioSelect,
        label="Outcome of the call-back",
    )
    note = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        help_text="Whom you reached, how they confirmed who they are and that they asked for "
        "the reset.",
    )


class ApprovalFilter(admin.SimpleListFilter):
    """Officers waiting for a staff member's approval (the staff e-mail about a sign-up links to
    one of them), or those approved."""

    title = gettext_lazy("approval")
    parameter_name = "approval"

    def lookups(self, request, model_admin):
        return [
            ("waiting", gettext_lazy("Waiting for approval")),
            ("approved", gettext_lazy("Approved officers")),
        ]

    def queryset(self, request, queryset):
        if self.value() == "waiting":
            return queryset.filter(selectors.AWAITS_APPROVAL)
        if self.value() == "approved":
            return queryset.filter(authority__isnull=False, approved_at__isnull=False)
        return queryset


@admin.register(User)
class UserAdmin(CheckedSelection, BaseUserAdmin):
    """Staff see and change an account's roles and standing; they never set or see a password
    (no password field, no password page) and never change who an officer is (e-mail and
    authority are read-only). Every save is an AccountEvent e-mailed to the owner."""

    ordering = ["email"]
    list_display = ["email", "full_name", "authority", "email_verified_at", "approved_at"]
    list_filter = [ApprovalFilter, "is_staff", "groups", "authority__country"]
    search_fields = ["email", "full_name", "authority__name_en"]
    form = UserChangeForm
    add_form = UserAddForm
    readonly_fields = [
        "registry_evidence",
        "second_factor",
        "email_verified_at",
        "approved_at",
        "approved_by",
        "second_factor_reset_by",
        "last_login",
        "date_joined",
    ]
    fieldsets = [
        (None, {"fields": ["email", "full_name"]}),
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
        ("Second factor", {"fields": ["second_factor", "second_factor_reset_by"]}),
        ("Platform roles", {"fields": ["is_active", "is_staff", "is_superuser", "groups"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"fields": ["email", "full_name"]})]
    inlines = [IdentityCheckInline, AccountEventInline]
    actions = ["approve_officers", "reinstate_platform_accounts", "reset_second_factor"]

    class Media:
        js = ["js/confirm.js"]  # the Approve button's data-confirm (strict CSP: no inline script)

    def get_inline_instances(self, request, obj=None):
        return super().get_inline_instances(request, obj) if obj is not None else []

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return super().get_readonly_fields(request, obj)
        # Who the account is: only sign-up and the owner's confirmed e-mail change set these.
        # Staff rights are given with `manage.py createsuperuser` (server access), never here:
        # otherwise one staff member could make a second identity of theirs staff and be their
        # own "other staff member" for the approval after a reset.
        readonly = ["email", "authority", "is_staff", "is_superuser"]
        return [*super().get_readonly_fields(request, obj), *readonly]

    def has_delete_permission(self, request, obj=None):
        return False  # deactivate (is_active, recorded): events and requests keep their user

    def get_urls(self):
        reset = path(
            "<path:object_id>/reset-second-factor/",
            self.admin_site.admin_view(self.reset_second_factor_view),
            name="authorities_user_reset_second_factor",
        )
        approve = path(
            "<path:object_id>/approve/",
            self.admin_site.admin_view(self.approve_view),
            name="authorities_user_approve",
        )
        return [reset, approve, *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # An officer waiting for approval: the Approve button, with the registry evidence, above
        # the form (templates/admin/authorities/user/change_form.html).
        user = self.get_object(request, unquote(object_id))
        if user is not None and selectors.officer_awaits_approval(user):
            extra_context = {
                **(extra_context or {}),
                "approval_evidence": selectors.officer_registry_evidence(user),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def approve_view(self, request, object_id):
        """The Approve button of an officer's page: accounts.officer_approve, which checks and
        records it (AccountEvent) and e-mails the officer."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        officer = self.get_object(request, unquote(object_id))
        if officer is None or not self.has_change_permission(request, officer):
            raise Http404
        try:
            accounts.officer_approve(officer=officer, approver=request.user)
            self.message_user(
                request,
                gettext("Approved: %(email)s. The officer is e-mailed and may submit requests.")
                % {"email": officer.email},
            )
        except (ValidationError, PermissionDenied) as problem:
            self.message_user(
                request,
                " ".join(getattr(problem, "messages", [str(problem)])),
                level=messages.ERROR,
            )
        return redirect("admin:authorities_user_change", officer.pk)

    def user_change_password(self, request, id, form_url=""):
        raise Http404("Staff do not set passwords.")

    def save_model(self, request, obj, form, change):
        if change:
            request._account_before = accounts.staff_snapshot(User.objects.get(pk=obj.pk))
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if change:
            accounts.staff_change_record(
                user=form.instance, staff=request.user, before=request._account_before
            )
        else:
            accounts.staff_account_created(user=form.instance, staff=request.user)

    @admin.display(description="What the registry says")
    def registry_evidence(self, obj: User):
        evidence = selectors.officer_registry_evidence(obj)
        if evidence is None:
            return gettext("Not an officer (platform account).")
        if selectors.officer_awaits_approval(obj):
            # Once on the page: above the form, beside the Approve button (change_view).
            return gettext("Shown above, beside the Approve button.")
        return render_to_string(
            "admin/authorities/user/registry_evidence.html", {"evidence": evidence}
        )

    @admin.display(description="Second factor")
    def second_factor(self, obj: User):
        if obj.pk is None:
            return "-"
        enrolled = selectors.has_second_factor(obj)
        state = "enrolled" if enrolled else "none (set up at the next login)"
        url = reverse("admin:authorities_user_reset_second_factor", args=[obj.pk])
        return format_html(
            '{}. <a href="{}">Reset second factor after a call-back…</a>', state, url
        )

    def reset_second_factor_view(self, request, object_id):
        """The reset, after a call-back on the registry number of the officer's authority
        (shown here, never typed in). Recorded whatever the outcome; done only if confirmed."""
        user = self.get_object(request, unquote(object_id))
        if user is None or not self.has_change_permission(request, user):
            raise Http404
        change_url = reverse("admin:authorities_user_change", args=[user.pk])
        form = IdentityCheckForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                check = accounts.identity_check_record(
                    user=user,
                    staff=request.user,
                    outcome=form.cleaned_data["outcome"],
                    note=form.cleaned_data["note"],
                )
                if check.outcome != IdentityCheck.Outcome.CONFIRMED:
                    self.message_user(
                        request,
                        f"Not reset: the call-back did not confirm {user.email}'s identity "
                        "(recorded; the owner is told by e-mail).",
                        level=messages.ERROR,
                    )
                else:
                    second_factor.otp_reset_by_staff(
                        user=user, staff=request.user, identity_check=check
                    )
                    self.message_user(
                        request,
                        f"Second factor of {user.email} reset. "
                        + (
                            "The account awaits approval by another staff member once a new "
                            "second factor is set up."
                            if user.is_officer
                            else "A new one is set up at the next login."
                        ),
                    )
            except (PermissionDenied, ValidationError) as problem:
                self.message_user(
                    request,
                    " ".join(getattr(problem, "messages", [str(problem)])),
                    level=messages.ERROR,
                )
            return redirect(change_url)
        authority = user.authority
        context = {
            **self.admin_site.each_context(request),
            "title": f"Reset the second factor of {user.email}",
            "subject": user,
            "authority": authority,
            "callback_phone": authority.callback_phone if authority else "",
            "form": form,
            "opts": self.model._meta,
            "original": user,
            "change_url": change_url,
            "has_view_permission": True,
        }
        return TemplateResponse(request, "admin/authorities/user/reset_second_factor.html", context)

    @admin.action(description="Approve selected officers (after checking the registry evidence)")
    def approve_officers(self, request, queryset):
        for officer in queryset:
            try:
                accounts.officer_approve(officer=officer, approver=request.user)
                self.message_user(request, f"{officer.email} approved.")
            except (ValidationError, PermissionDenied) as problem:
                self.message_user(request, f"{officer.email}: {problem}", level=messages.ERROR)

    @admin.action(description="Reinstate selected platform accounts after a second-factor reset")
    def reinstate_platform_accounts(self, request, queryset):
        for user in queryset:
            try:
                accounts.platform_account_reinstate(user=user, approver=request.user)
                self.message_user(request, f"{user.email} reinstated.")
            except (ValidationError, PermissionDenied) as problem:
                self.message_user(request, f"{user.email}: {problem}", level=messages.ERROR)

    @admin.action(description="Reset second factor (lost device): after a call-back")
    def reset_second_factor(self, request, queryset):
        # The reset needs a call-back per account: the action only opens that page.
        users = list(queryset[:2])
        if len(users) != 1:
            self.message_user(
                request, "Select one account: each reset needs its own call-back.", messages.ERROR
            )
            return None
        return redirect("admin:authorities_user_reset_second_factor", users[0].pk)


# django-otp registers its devices in the admin, with pages that show a device's secret key and
# QR code. No staff member may see or copy someone's second factor: staff only reset it (the
# "Reset second factor" action above, recorded).
for _model in (TOTPDevice,):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
