# mypy: disable-error-code="type-arg"
"""Operators manage the Learning Hub's entries (links and titles only)."""

from __future__ import annotations

from django.contrib import admin

from backstop.hub.models import Resource


@admin.register(Resource)
class ResourceAdmin(admin.ModelAdmin):
    list_display = ("title", "kind", "order", "published", "link", "updated_at")
    list_editable = ("order", "published")
    list_filter = ("kind", "published")
    search_fields = ("title", "description", "link")
    ordering = ("kind", "order", "title")
