"""Forms of the payment pages: subscribing, billing details, a card token, partner onboarding.

Card numbers never reach Backstop: the card form's script hands them to the gateway in the
browser and posts only the gateway's token and the holder's name (`CardTokenForm`)."""

from __future__ import annotations

import re
from typing import Any, cast

from django import forms
from django_countries import countries

from backstop.billing.models import BillingProfile, Plan
from backstop.billing.money import CURRENCY_CHOICES

Profile = BillingProfile

# The fields of the billing details form, in the order the page shows them.
DETAIL_FIELDS = (
    *("currency", "title", "first_name", "last_name", "email", "company", "tax_id"),
    *("address1", "address2", "address3", "country", "state", "city", "postal_code", "phone"),
    *("purchase_order", "payment_day", "delivery"),
)
REQUIRED_FIELDS = (
    *("first_name", "last_name", "email", "company", "address1", "country", "city", "postal_code"),
    "phone",
)
TAX_ID_COUNTRIES = {"IL": "Israel"}  # VAT: invoices to companies there must name their tax id
CARD_NUMBER = re.compile(r"(?:\d[ -]?){12,18}\d")


def looks_like_card_number(text: str) -> bool:
    """A run of 13 to 19 digits (spaces and dashes allowed) that passes the Luhn check."""
    for match in CARD_NUMBER.finditer(text):
        digits = [int(c) for c in match.group(0) if c.isdigit()]
        odd = digits[-1::-2]
        even = [sum(divmod(2 * d, 10)) for d in digits[-2::-2]]
        if (sum(odd) + sum(even)) % 10 == 0:
            return True
    return False


class PlanForm(forms.Form):
    plan = forms.ChoiceField(
        choices=Plan.choices,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choose Monthly or Annual.",
            "invalid_choice": "Choose Monthly or Annual.",
        },
    )


class BillingDetailsForm(forms.ModelForm):
    """The payer's billing details. The currency is fixed once an invoice exists (`currency_locked`:
    support changes it then)."""

    country = forms.ChoiceField(label="Country")
    payment_day = forms.IntegerField(
        label="Payment day",
        required=False,
        min_value=1,
        max_value=28,
        error_messages={"min_value": "Choose a day from 1 to 28.", "max_value": "Choose a day from 1 to 28."},
    )

    class Meta:
        model = BillingProfile
        fields = DETAIL_FIELDS
        labels = {
            "first_name": "First name",
            "last_name": "Last name",
            "email": "Billing e-mail",
            "company": "Company name",
            "tax_id": "Company tax id",
            "address1": "Address line 1",
            "address2": "Address line 2",
            "address3": "Address line 3",
            "postal_code": "Zip / postal code",
            "phone": "Phone number",
            "purchase_order": "Purchase order number",
            "delivery": "E-mail invoices and receipts as",
        }
        help_texts = {
            "tax_id": "Mandatory for companies in Israel (VAT).",
            "purchase_order": "Optional; printed on your invoices.",
            "delivery": "",
        }
        widgets = {"delivery": forms.RadioSelect}

    def __init__(
        self, *args: Any, currency_locked: bool = False, partner: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.currency_locked = currency_locked
        cast(forms.ChoiceField, self.fields["currency"]).choices = CURRENCY_CHOICES
        cast(forms.ChoiceField, self.fields["country"]).choices = [("", "Choose a country…"), *countries]
        for name in REQUIRED_FIELDS:
            self.fields[name].required = True
            self.fields[name].error_messages["required"] = f"Enter the {self._noun(name)}."
        self.fields["country"].error_messages["required"] = "Choose the country."
        self.fields["payment_day"].help_text = (
            "Day of the month (1 to 28) of your consolidated bill. Empty: the 1st."
            if partner
            else "Day of the month (1 to 28) your monthly bill is issued. Empty: the day paying began."
        )
        if currency_locked:
            self.fields["currency"].disabled = True
            self.fields["currency"].help_text = "Support changes the currency once an invoice exists."

    def _noun(self, name: str) -> str:
        label = str(self.fields[name].label or name)
        return label[0].lower() + label[1:]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        country = data.get("country", "")
        if country in TAX_ID_COUNTRIES and not (data.get("tax_id") or "").strip():
            self.add_error(
                "tax_id",
                f"Companies in {TAX_ID_COUNTRIES[country]} must give their tax id: it is printed on every "
                "invoice (VAT).",
            )
        return data

    def changed_labels(self) -> list[str]:
        """Names of the fields this save changes, for the audit (the values may be personal)."""
        return [str(self.fields[name].label) for name in self.changed_data if name in self.fields]


class CardTokenForm(forms.Form):
    """What the browser posts after the gateway tokenised the card: the token and the holder's name.

    Anything else is ignored, and a posted field that looks like a card number refuses the whole
    form: a card number must never be sent here (the page's script was bypassed)."""

    holder = forms.CharField(label="Card holder's name", max_length=200)
    token = forms.CharField(
        max_length=200,
        widget=forms.HiddenInput,
        error_messages={
            "required": "The card was not confirmed by the payment processor. Check the card details and "
            "try again.",
        },
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["holder"].error_messages["required"] = "Enter the card holder's name."

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        raw = self.data if self.is_bound else {}
        if any(looks_like_card_number(str(value)) for key in raw for value in raw.getlist(key)):  # type: ignore[attr-defined]
            for name in list(data):
                data.pop(name, None)
            raise forms.ValidationError(
                "Card numbers are never sent to us: please use the card form of this page, which "
                "hands them to our payment processor.",
                code="card_number_posted",
            )
        return data


class PreferencesForm(forms.ModelForm):
    """A partner's payment and annual billing preferences (chosen once, at onboarding)."""

    class Meta:
        model = BillingProfile
        fields = ("method", "annual_billing")
        widgets = {"method": forms.RadioSelect, "annual_billing": forms.RadioSelect}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["method"]).choices = [
            (Profile.Method.CARD, "Pay with credit card"),
            (Profile.Method.INVOICE, "Send me an invoice"),
        ]
        cast(forms.ChoiceField, self.fields["annual_billing"]).choices = Profile.AnnualBilling.choices


class BannerSwitchForm(forms.Form):
    show_billing_banners = forms.BooleanField(label="Show billing notification banners", required=False)
