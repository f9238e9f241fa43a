"""Forms of Settings > Security: the tenant's policies and one trusted-address entry."""

from __future__ import annotations

import ipaddress
from typing import Any

from django import forms

from backstop.security.models import SecurityPolicy

IPV6_REFUSED = "IPv6 addresses are not supported: enter IPv4 addresses, like 192.168.10.5."
MAX_ADDRESSES = 100
MAX_RANGE = 1 << 24  # a /8 at most: a wider "range" is no restriction at all


def parse_ipv4(text: str) -> str:
    value = text.strip()
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise forms.ValidationError(
            f"{value or 'An empty entry'} is not an IPv4 address (like 192.168.10.5)."
        ) from None
    if address.version == 6:
        raise forms.ValidationError(IPV6_REFUSED)
    return str(address)


class PolicyForm(forms.ModelForm):
    expire_passwords = forms.BooleanField(label="Password expiration", required=False)
    password_max_age_days = forms.IntegerField(
        label="Password expires after (days)", min_value=1, max_value=3650, required=False
    )

    class Meta:
        model = SecurityPolicy
        fields = ("require_mfa", "password_max_age_days")
        help_texts = {
            "require_mfa": "Users without two-factor authentication set it up at their next sign-in."
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial["expire_passwords"] = bool(self.instance.password_max_age_days)
            self.initial.setdefault("password_max_age_days", self.instance.password_max_age_days or 90)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("expire_passwords"):
            if not data.get("password_max_age_days"):
                self.add_error("password_max_age_days", "Enter after how many days passwords expire.")
        else:
            data["password_max_age_days"] = None
        return data


class TrustedAddressForm(forms.Form):
    description = forms.CharField(max_length=200, required=False, label="Description (optional)")
    mode = forms.ChoiceField(
        choices=(("list", "Trusted IP address(es)"), ("range", "Trusted IP address range")),
        widget=forms.RadioSelect,
        initial="list",
    )
    addresses = forms.CharField(
        required=False,
        label="IP address(es)",
        help_text="Separate several with commas, e.g. 192.168.10.5, 192.168.10.6",
    )
    first = forms.CharField(required=False, label="From", help_text="e.g. 192.168.10.0")
    last = forms.CharField(required=False, label="To", help_text="e.g. 192.168.10.255")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("mode") == "range":
            data["addresses"] = ""
            bounds = {}
            for name in ("first", "last"):
                if not data.get(name, "").strip():
                    self.add_error(name, "Enter the address.")
                    continue
                try:
                    bounds[name] = parse_ipv4(data[name])
                except forms.ValidationError as error:
                    self.add_error(name, error)
            if len(bounds) == 2:
                first, last = (ipaddress.IPv4Address(bounds[n]) for n in ("first", "last"))
                if first > last:
                    self.add_error("last", "The range must end at or after its first address.")
                elif int(last) - int(first) >= MAX_RANGE:
                    self.add_error("last", "The range is too wide: at most 16,777,216 addresses (a /8).")
                data.update(bounds)
        else:
            data["first"] = data["last"] = None
            items = [item for item in data.get("addresses", "").split(",") if item.strip()]
            if not items:
                self.add_error("addresses", "Enter at least one IP address.")
            elif len(items) > MAX_ADDRESSES:
                self.add_error("addresses", f"At most {MAX_ADDRESSES} addresses in one entry.")
            else:
                parsed, errors = [], []
                for item in items:
                    try:
                        parsed.append(parse_ipv4(item))
                    except forms.ValidationError as error:
                        errors.extend(error.messages)
                if errors:
                    self.add_error("addresses", sorted(set(errors)))
                data["addresses"] = ", ".join(dict.fromkeys(parsed))
        return data
