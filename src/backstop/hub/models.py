"""The Learning Hub (P-HUB): links to instructional videos and guides for partner users.

Operators manage the list in the Django admin; Backstop hosts no video, it only links out (or to
a path of this site's documentation). Only published entries are shown, by kind and order.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models


def validate_link(value: str) -> None:
    """An http(s) address, or a path on this site ("/docs/...")."""
    if value.startswith("/") and not value.startswith("//"):
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
        help_text="Where it opens, in a new tab: an http(s) address, or a path of this site like /docs/...",
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.GUIDE)
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
