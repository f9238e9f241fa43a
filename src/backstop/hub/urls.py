"""The Learning Hub of the partner portal, under /p/<partner_id>/hub/."""

from django.urls import URLPattern, path

from backstop.hub import views

urlpatterns: list[URLPattern] = [
    path("", views.hub, name="partner_hub"),
    path("guides/<slug:slug>/", views.guide, name="partner_hub_guide"),
]
