"""The Learning Hub (P-HUB): links to instructional videos and guides for partner users.

Operators manage the list in the Django admin. Backstop hosts no video: a video entry links to
where it is hosted. A guide entry links out too, or to one of the built-in guides of this site
(`guides.py`, `/hub/guides/<slug>/`). Only published entries are shown, by kind and order.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models

from backstop.hub import guides


def validate_link(value: str) -> None:
    """An http(s) address, or a path on this site; a built-in guide's path must name one."""
    if value.startswith(guides.PREFIX) and guides.of_link(value) is None:
        known = ", ".join(guide.path for guide in guides.GUIDES)
        raise ValidationError(f"No built-in guide has this address. The guides are: {known}")
    # "//host" and "/\\host" leave the site in a browser: only a plain path stays on it.
    if value.startswith("/") and not value.startswith(("//", "/\\")):
        return
    URLValidator(schemes=["http", "https"])(value)
    if not value.lower().startswith(("http://", "https://")):
        raise ValidationError("Give an http(s) address or a path starting with /.")


class Resource(models.Model):
    class Kind(models.TextChoices):
        VIDEO = "video", "Video"
        GUIDE = "guide", "Guide"

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    link = models.CharField(
        max_length=500,
        validators=[validate_link],
        help_text="An http(s) address, which opens in a new tab (a video is a link to where it is "
        "hosted: Backstop hosts none), or a built-in guide of this site, which opens in the portal: "
        "/hub/guides/add-account/, dashboard, activate-backups, restore, users or notifications.",
    )
    kind = models.CharField(
        max_length=10,
        choices=Kind.choices,
        default=Kind.GUIDE,
        help_text="The group it is listed in, and the filter partner users may pick.",
    )
    order = models.PositiveIntegerField(default=100, help_text="Smaller numbers come first.")
    published = models.BooleanField(default=True, help_text="Only published entries are shown.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("kind", "order", "title", "pk")
        verbose_name = "learning hub entry"
        verbose_name_plural = "learning hub entries"

    def __str__(self) -> str:
        return self.title
