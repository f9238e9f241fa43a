"""Forms of the backup task pages: adding a task (A-TASK), its settings (A-SETTINGS)."""

from __future__ import annotations

from typing import Any

from django import forms

from backstop.backups.models import BackupTask

HOURS = [(hour, f"{hour:02d}:00") for hour in range(24)]


class TaskNameForm(forms.Form):
    name = forms.CharField(
        label="Backup task name",
        max_length=200,
        help_text="Shown in notifications and reports. You can change it later.",
    )


class ImapTaskForm(forms.Form):
    """A mailbox on any IMAP server. The secret is checked against the server, never shown again."""

    SECURITY = [
        ("tls", "TLS (port 993)"),
        ("starttls", "STARTTLS (port 143)"),
        ("none", "None (not encrypted)"),
    ]
    AUTH = [("password", "Password"), ("xoauth2", "OAuth 2 access token (XOAUTH2)")]

    name = forms.CharField(label="Backup task name", max_length=200)
    host = forms.CharField(label="IMAP server", max_length=255, help_text="For example imap.example.com")
    port = forms.IntegerField(label="Port", min_value=1, max_value=65535, initial=993)
    security = forms.ChoiceField(label="Connection security", choices=SECURITY, initial="tls")
    username = forms.CharField(label="User name", max_length=300, help_text="Usually the e-mail address.")
    auth = forms.ChoiceField(label="Sign in with", choices=AUTH, initial="password")
    secret = forms.CharField(
        label="Password or access token",
        widget=forms.PasswordInput(render_value=False),
        max_length=4000,
        strip=False,
    )

    def connector_settings(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "host": data["host"].strip(),
            "port": data["port"],
            "security": data["security"],
            "auth": data["auth"],
            "username": data["username"].strip(),
        }

    def secrets(self) -> dict[str, str]:
        key = "access_token" if self.cleaned_data["auth"] == "xoauth2" else "password"
        return {key: self.cleaned_data["secret"]}


class ImapReconnectForm(forms.Form):
    secret = forms.CharField(
        label="New password or access token",
        widget=forms.PasswordInput(render_value=False),
        max_length=4000,
        strip=False,
    )


class TaskSettingsForm(forms.ModelForm):
    backup_hour = forms.TypedChoiceField(label="Backup hour (UTC)", choices=HOURS, coerce=int)
    archive_days = forms.IntegerField(
        label="Retain auto-archived backups (days)",
        min_value=0,
        max_value=36500,
        help_text="Backups of users or mailboxes removed at the source are kept this many days. "
        "0 keeps them forever.",
    )

    class Meta:
        model = BackupTask
        fields = ("index_for_search", "auto_activate", "archive_days", "frequency", "backup_hour")
        labels = {
            "index_for_search": "Index all data for search",
            "auto_activate": "Automatically activate new users and mailboxes",
            "frequency": "Backup frequency",
        }


class RenameForm(forms.ModelForm):
    class Meta:
        model = BackupTask
        fields = ("name",)
