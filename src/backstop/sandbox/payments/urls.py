"""/sandbox/payments/: the sandbox payment processor's endpoints (see `views`)."""

from django.urls import path

from backstop.sandbox.payments import views

urlpatterns = [
    path("tokens", views.tokens, name="sandbox_payments_tokens"),
    path("checkout/<str:token>/", views.checkout, name="sandbox_payments_checkout"),
]
