"""Sign-up forms: the fields of A-SIGNUP, in the order a person fills them in."""

from __future__ import annotations

from typing import Any

from allauth.account.forms import SignupForm as AllauthSignupForm
from allauth.socialaccount.forms import SignupForm as AllauthSocialSignupForm
from django import forms

from backstop.regions import DEFAULT_REGION, REGION_CHOICES


class _ProfileFields(forms.Form):
    first_name = forms.CharField(max_length=150, label="First name")
    last_name = forms.CharField(max_length=150, label="Last name")
    region = forms.ChoiceField(
        choices=REGION_CHOICES,
        initial=DEFAULT_REGION,
        label="Data center location",
        help_text="Where your backups are stored. It cannot be changed later without support.",
    )


class SignupForm(AllauthSignupForm):
    first_name = _ProfileFields.base_fields["first_name"]
    last_name = _ProfileFields.base_fields["last_name"]
    region = _ProfileFields.base_fields["region"]

    field_order = ("first_name", "last_name", "email", "password1", "password2", "region")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.order_fields(self.field_order)
        if "password2" in self.fields:
            self.fields["password2"].label = "Confirm password"


class SocialSignupForm(AllauthSocialSignupForm):
    """Google / Microsoft sign-up: no password and no activation e-mail, but a data center."""

    first_name = _ProfileFields.base_fields["first_name"]
    last_name = _ProfileFields.base_fields["last_name"]
    region = _ProfileFields.base_fields["region"]
