"""The partner-neutral links of the built-in guides, under /hub/ (what a Learning Hub entry stores)."""

from django.urls import URLPattern, path

from backstop.hub import views

urlpatterns: list[URLPattern] = [
    path("guides/<slug:slug>/", views.guide_link, name="hub_guide"),
]
