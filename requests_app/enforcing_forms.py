from django import forms
from django.utils.translation import gettext_lazy as _

from authorities.stepup import StepUpField

from .instruments import DataCategory
from .models import EnforcingGround


class ConfirmNoGroundForm(forms.Form):
    otp_token = StepUpField()


class GroundForm(forms.Form):
    """One ground of Art. 12(1), for the whole order or some of its data categories: the page's
    form without its code, which is what the API binds its JSON to (requests_app.api)."""

    ground = forms.ChoiceField(label=_("Ground for refusal (Art. 12(1))"), choices=())
    categories = forms.MultipleChoiceField(
        label=_("Data categories refused (none ticked: the whole order)"),
        choices=DataCategory.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    reasons = forms.CharField(
        label=_("Reasons"), widget=forms.Textarea(attrs={"rows": 3}), max_length=10000
    )

    def __init__(self, *args, legal_request=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["ground"].choices = EnforcingGround.choices
        if legal_request is not None:
            self.fields["categories"].choices = [
                (c, DataCategory(c).label)
                for c in legal_request.categories_left
                if c in DataCategory.values
            ]

    def grounds(self) -> list[tuple[str, list[str], str]]:
        """What enforcing.enforcing_raise_grounds takes: this one ground, valid."""
        data = self.cleaned_data
        return [(data["ground"], data["categories"], data["reasons"])]


class RaiseGroundForm(GroundForm):
    otp_token = StepUpField()
