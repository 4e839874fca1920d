from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from authorities.constants import AuthorityStatus
from authorities.models import Authority

from . import instruments, trust
from .identifiers import parse_targets
from .models import LegalRequest, ValidationOutcome
from .uploads import check_upload

LANGUAGES = [
    ("en", _("English")),
    ("fr", _("French")),
    ("de", _("German")),
    ("nl", _("Dutch")),
    ("it", _("Italian")),
    ("es", _("Spanish")),
    ("pt", _("Portuguese")),
    ("pl", _("Polish")),
    ("other", _("Another EU language")),
]


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several documents in one field; each is checked by content (uploads.check_upload)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ".pdf,.png,.jpg,.jpeg"}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else ([data] if data else [])
        if not files and self.required:
            raise ValidationError(self.error_messages["required"], code="required")
        checked, errors = [], []
        anchors = trust.anchors_file() if files else None
        for uploaded in files:
            try:
                checked.append((uploaded, check_upload(uploaded, anchors=anchors)))
            except ValidationError as exc:
                errors.extend(exc.messages)
        if errors:
            raise ValidationError(errors)
        return checked


# How each kind of target is typed; the help lists only the kinds the instrument's rule
# accepts (instruments.InstrumentRule.target_kinds), in this order.
TARGET_KIND_HELP = {
    "username": _("usernames (@name)"),
    "phone": _("phone numbers in international format (+33612345678)"),
    "account_id": _("account ids (id:12345)"),
    "url": _("links to the platform (https://platform.example/...)"),
}


def target_help(target_kinds) -> str:
    kinds = [str(text) for kind, text in TARGET_KIND_HELP.items() if kind in target_kinds]
    return gettext("Accepted for this instrument: %(kinds)s.") % {"kinds": "; ".join(kinds)}


# Which form fields each instrument shows (beyond the ones every request has).
FIELDS_BY_REQUIREMENT = {
    instruments.OFFENCE: ["offence"],
    instruments.DATA_CATEGORIES: ["data_categories"],
    instruments.PERIOD: ["period_start", "period_end"],
    instruments.REDRESS: ["redress_information"],
    instruments.TERRITORIAL_SCOPE: ["territorial_scope"],
}


# The requirement (instruments.InstrumentRule.required) a form field answers, where the names
# differ.
REQUIREMENT_OF_FIELD = {
    name: requirement for requirement, names in FIELDS_BY_REQUIREMENT.items() for name in names
}


class LegalRequestForm(forms.Form):
    """The officer's form for one instrument. Field formats are checked here; whether the
    request may be submitted (required fields, powers) is validation.submission_problems, which
    the view shows next to the same fields."""

    case_reference = forms.CharField(
        label=_("Case or file reference"),
        max_length=LegalRequest._meta.get_field("case_reference").max_length,
        required=False,
        error_messages={
            "max_length": _(
                "The case reference has %(show_value)d characters; at most %(limit_value)d "
                "fit. Shorten it: nothing is cut off for you."
            )
        },
    )
    legal_basis = forms.CharField(
        label=_("Legal basis"),
        max_length=500,
        required=False,
        help_text=_("The provisions of national and EU law the order is based on."),
    )
    offence = forms.CharField(
        label=_("Offence under investigation"), max_length=500, required=False
    )
    threshold_met = forms.BooleanField(
        label=_(
            "The offence is punishable by a maximum of at least 3 years, or is a listed offence "
            "(needed for traffic and content data)"
        ),
        required=False,
    )
    targets = forms.CharField(
        label=_("Target identifiers, one per line"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    data_categories = forms.MultipleChoiceField(
        label=_("Data requested"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    period_start = forms.DateField(
        label=_("Period from"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    period_end = forms.DateField(
        label=_("Period to"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    statement_of_reasons = forms.CharField(
        label=_("Statement of reasons"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        max_length=20000,
    )
    redress_information = forms.CharField(
        label=_("Information about redress available to the provider and the user"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=5000,
    )
    territorial_scope = forms.CharField(
        label=_("Territorial scope of the order"), max_length=300, required=False
    )
    confidential = forms.BooleanField(
        label=_("Confidential: do not notify the user concerned"), required=False
    )
    confidential_until = forms.DateField(
        label=_("Confidential until"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    is_emergency = forms.BooleanField(
        label=_(
            "Emergency: imminent threat to life, physical integrity or safety, or to critical "
            "infrastructure"
        ),
        required=False,
    )
    emergency_justification = forms.CharField(
        label=_("Emergency justification"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=5000,
    )
    validating_authority = forms.CharField(
        label=_("Validating authority (judge, court, investigating judge or prosecutor)"),
        max_length=300,
        required=False,
        help_text=_("Where the law requires validation of the order (e-Evidence Art. 4)."),
    )
    enforcing_notified = forms.BooleanField(
        label=_("Notified to the enforcing authority (e-Evidence Art. 8(1))"),
        required=False,
        help_text=_(
            "Required for traffic data (other than data requested only to identify the user) "
            "and content data, unless the Art. 8(2) exception applies. The platform sends no "
            "such data before the enforcing authority's window ends."
        ),
    )
    enforcing_authority = forms.ModelChoiceField(
        label=_("Enforcing authority"),
        queryset=Authority.objects.none(),
        required=False,
        empty_label=None,
    )
    art8_2_statement = forms.CharField(
        label=_("If not notified: why the Art. 8(2) exception applies"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=5000,
        help_text=_(
            "Your reasonable grounds to believe that the offence has been, is being or is likely "
            "to be committed in your Member State, and that the person whose data are sought "
            "resides there."
        ),
    )
    language = forms.ChoiceField(label=_("Language of the order"), choices=LANGUAGES)
    documents = MultipleFileField(
        label=_("Signed order document(s)"),
        required=False,
        help_text=_("PDF, PNG or JPEG, up to 20 MB each. Checked by content."),
    )

    def __init__(self, *args, instrument: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.rule = instruments.rule_for(instrument)
        # No maxlength in the page: a browser cuts a pasted reference without a word; the
        # server says it is too long instead.
        self.fields["case_reference"].widget.attrs.pop("maxlength", None)
        self.fields["targets"].help_text = target_help(self.rule.target_kinds)
        shown = {
            "case_reference",
            "legal_basis",
            "statement_of_reasons",
            "language",
            "confidential",
            "confidential_until",
            "documents",
            "targets",
        }
        for requirement, names in FIELDS_BY_REQUIREMENT.items():
            if requirement in self.rule.required:
                shown.update(names)
        if self.rule.evidence_rules:
            shown.add("validating_authority")
        if self.rule.threshold_categories:
            shown.add("threshold_met")
        if self.rule.emergency_allowed:
            shown.update({"is_emergency", "emergency_justification"})
        if self.rule.always_emergency:
            shown.add("emergency_justification")
        if self.rule.categories:
            shown.add("data_categories")
        if self.rule.notified_categories:
            shown.update({"enforcing_notified", "enforcing_authority", "art8_2_statement"})
        if self.rule.optional_fields is not None:
            # The rule's short form: what it requires and the optional fields it names.
            asked = self.rule.required | self.rule.optional_fields
            shown = {name for name in shown if REQUIREMENT_OF_FIELD.get(name, name) in asked}
        for name in list(self.fields):
            if name not in shown:
                del self.fields[name]
        if "data_categories" in self.fields:
            self.fields["data_categories"].choices = [
                (c.value, c.label)
                for c in instruments.DataCategory
                if c.value in self.rule.categories
            ]
        if "enforcing_authority" in self.fields:
            # The registry's authorities of the enforcing State able to act as one (Art. 8).
            self.fields["enforcing_authority"].queryset = enforcing_authorities()
            if not self.is_bound and not self.initial.get("enforcing_authority"):
                self.initial["enforcing_authority"] = enforcing_authorities().first()
        for name in self.fields:
            if name in self.rule.required or (
                name in ("period_start", "period_end") and instruments.PERIOD in self.rule.required
            ):
                self.fields[name].label = gettext("%(label)s (required)") % {
                    "label": self.fields[name].label
                }

    def problems(self) -> list[dict]:
        """Every error of the form, each once, numbered, for the summary at the top of the page
        (the only place its words appear): a field's label links to the field, which is marked
        invalid, points back to its problems, and is described by them (aria-describedby)."""
        found: list[dict] = []
        for name, errors in self.errors.items():
            field = self[name] if name in self.fields else None
            numbers = []
            for message in dict.fromkeys(errors):  # the same words twice are one problem
                number = len(found) + 1
                numbers.append(number)
                found.append(
                    {
                        "number": number,
                        "id": f"problem-{number}",
                        "label": self.base_fields[name].label if field is not None else "",
                        "anchor": field.auto_id if field is not None else "",
                        "message": message,
                    }
                )
            if field is not None:
                field.problem_numbers = numbers
                described = [f"problem-{n}" for n in numbers]
                if field.help_text:
                    described.append(f"{field.auto_id}_helptext")
                field.described_by = " ".join(described)
                field.field.widget.attrs["aria-describedby"] = field.described_by
        return found

    def clean_targets(self):
        return parse_targets(self.cleaned_data.get("targets", ""), self.rule.target_kinds)

    def request_data(self) -> dict:
        """The cleaned officer fields, for services.legal_request_save_draft."""
        data = {k: v for k, v in self.cleaned_data.items() if k not in ("targets", "documents")}
        for text in (
            "case_reference",
            "legal_basis",
            "offence",
            "statement_of_reasons",
            "redress_information",
            "territorial_scope",
            "emergency_justification",
            "validating_authority",
            "art8_2_statement",
        ):
            if text in data:
                data[text] = data[text].strip()
        if "language" not in self.fields:
            # A short form does not ask: the officer's language (the view's initial) or the
            # draft's.
            data["language"] = self.initial.get("language") or "en"
        if "enforcing_notified" in data and not data["enforcing_notified"]:
            data["enforcing_authority"] = None  # named only on a notified order
        return data


def enforcing_authorities():
    return Authority.objects.filter(
        enforcing=True,
        country=settings.PORTAL_ENFORCING_STATE,
        status=AuthorityStatus.ACTIVE,
    ).order_by("name_en")


def initial_from_request(legal_request) -> dict:
    data = {
        name: getattr(legal_request, name)
        for name in LegalRequestForm.base_fields
        if name not in ("targets", "documents")
    }
    data["targets"] = "\n".join(t.value for t in legal_request.targets.all())
    return data


class MessageForm(forms.Form):
    body = forms.CharField(
        label=_("Message"), widget=forms.Textarea(attrs={"rows": 4}), max_length=20000
    )
    amendment = forms.BooleanField(
        label=_("This message amends the request (recorded as an amendment)"), required=False
    )
    files = MultipleFileField(label=_("Documents"), required=False)


class WithdrawForm(forms.Form):
    reason = forms.CharField(label=_("Why do you withdraw the request?"), max_length=500)


class ProductionForm(forms.Form):
    production_reference = forms.CharField(
        label=_("Reference of the production order issued"), max_length=100
    )


class PreservationEndForm(forms.Form):
    reason = forms.CharField(
        label=_("Why is the preservation no longer needed? (e-Evidence Art. 11(3))"),
        required=False,
        max_length=1000,
    )


class ValidationForm(forms.Form):
    """The ex post validation of an emergency order (e-Evidence Art. 4(5))."""

    outcome = forms.ChoiceField(label=_("Decision"), choices=ValidationOutcome.choices)
    validating_authority = forms.CharField(label=_("Validating authority"), max_length=300)
    validated_on = forms.DateField(
        label=_("Date of the decision"), widget=forms.DateInput(attrs={"type": "date"})
    )
    decision = forms.FileField(
        label=_("The decision (PDF or image)"),
        widget=forms.ClearableFileInput(attrs={"accept": ".pdf,.png,.jpg,.jpeg"}),
    )

    def clean_decision(self):
        uploaded = self.cleaned_data["decision"]
        return uploaded, check_upload(uploaded, anchors=trust.anchors_file())
