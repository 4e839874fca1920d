from django import forms
from django.utils.translation import gettext_lazy as _

from authorities.stepup import StepUpField

from ..forms import MultipleFileInput
from ..instruments import DataCategory
from ..models import CallbackVerification, RefusalGround


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(
        queryset=None, required=False, label=_("Assign to"), empty_label=_("Nobody (unassigned)")
    )

    def __init__(self, *args, members, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = members
        # A person's name, not their account's string (their e-mail address).
        self.fields["assignee"].label_from_instance = lambda user: user.full_name or user.email


class ClarificationForm(forms.Form):
    question = forms.CharField(
        label=_("Question to the authority (the clock stops until it answers)"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=10000,
    )


class PlatformMessageForm(forms.Form):
    body = forms.CharField(
        label=_("Message to the authority (the clock keeps running)"),
        help_text=_("To stop the clock until the authority answers, ask for a clarification."),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=10000,
    )


class AnswerForm(forms.Form):
    answer = forms.CharField(
        label=_("Written answer to the authority"),
        help_text=_("Shown on the authority's page; answers the request."),
        widget=forms.Textarea(attrs={"rows": 5}),
        max_length=20000,
    )


class RemovalForm(forms.Form):
    removed_at = forms.DateTimeField(
        label=_("Content removed or access disabled at"),
        help_text=_("In your time zone. The authority is told this time."),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    note = forms.CharField(
        label=_("Note to the authority (optional)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=5000,
    )


class RefuseForm(forms.Form):
    ground = forms.ChoiceField(label=_("Ground"), choices=RefusalGround.choices)
    explanation = forms.CharField(
        label=_("Explanation for the authority"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=10000,
    )


class ProducedFilesField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else ([data] if data else [])
        if not files:
            raise forms.ValidationError(_("Attach the produced data."))
        return files


class RespondForm(forms.Form):
    files = ProducedFilesField(label=_("Produced data (delivered only through the portal)"))
    categories = forms.MultipleChoiceField(
        label=_("Data categories delivered"),
        choices=DataCategory.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Only the categories the enforcing authority did not refuse are listed."),
    )
    partial = forms.BooleanField(label=_("Partial response"), required=False)
    note = forms.CharField(
        label=_("Note to the authority (for a partial response: what is missing and why)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=5000,
    )

    def __init__(self, *args, legal_request=None, **kwargs):
        super().__init__(*args, **kwargs)
        if legal_request is not None:
            # The page lists the categories left (e-Evidence Art. 12); the service refuses the
            # others whatever is posted.
            left = legal_request.categories_left
            if not left:
                del self.fields["categories"]
            else:
                self.fields["categories"].choices = [
                    (c, DataCategory(c).label) for c in left if c in DataCategory.values
                ]


class CallbackForm(forms.Form):
    # No outcome is chosen in advance: the reviewer says what the call gave (a pre-selected
    # "Confirmed" would be recorded by anyone who only meant to add a note).
    outcome = forms.ChoiceField(
        label=_("Outcome of the call"),
        choices=CallbackVerification.Outcome.choices,
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose the outcome of the call.")},
    )
    notes = forms.CharField(
        label=_("Who you spoke to, what they confirmed"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=5000,
    )


class CloseForm(forms.Form):
    note = forms.CharField(label=_("Closing note"), required=False, max_length=500)


class ReportPeriodForm(forms.Form):
    start = forms.DateField(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To (inclusive)"), widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("start") and cleaned.get("end") and cleaned["start"] > cleaned["end"]:
            raise forms.ValidationError(_("The period ends before it starts."))
        return cleaned


class ApproveDisclosureForm(forms.Form):
    otp_token = StepUpField()


class LegalHoldForm(forms.Form):
    reason = forms.CharField(
        label=_("Why the files are held (a court, an authority's request, litigation)"),
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
    )


class DeletionForm(forms.Form):
    note = forms.CharField(
        label=_("What was deleted, and where (the record of the deletion)"),
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
    )
