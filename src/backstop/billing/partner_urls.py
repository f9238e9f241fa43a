"""A partner's billing pages (P-BILLING, P-ONBOARD)."""

from django.urls import path

from backstop.billing.views import payment, statements

urlpatterns = [
    path("", statements.partner_status, name="billing_partner_status"),
    path("start/", payment.partner_onboarding, name="billing_partner_onboarding"),
    path("payment/", payment.partner_payment, name="billing_partner_payment"),
    path("accounts/<int:account_id>/", statements.partner_account, name="billing_partner_account"),
    path("history/", statements.partner_history, name="billing_partner_history"),
    path("unpaid/", statements.partner_unpaid, name="billing_partner_unpaid"),
    path(
        "invoices/<int:number>.pdf",
        statements.partner_document,
        {"kind": "invoice"},
        name="billing_partner_invoice_pdf",
    ),
    path(
        "invoices/<int:number>/receipt.pdf",
        statements.partner_document,
        {"kind": "receipt"},
        name="billing_partner_receipt_pdf",
    ),
    path(
        "invoices/<int:number>.csv",
        statements.partner_document,
        {"kind": "csv"},
        name="billing_partner_invoice_csv",
    ),
    path("invoices/<int:number>/pay/", statements.partner_pay, name="billing_partner_pay"),
    path(
        "invoices/<int:number>/email/", statements.partner_email_invoice, name="billing_partner_email_invoice"
    ),
]
