"""A direct customer's billing pages (hidden for accounts billed through a partner)."""

from django.urls import path

from backstop.billing.views import payment, statements

urlpatterns = [
    path("", statements.account_status, name="billing_account_status"),
    path("subscribe/", payment.account_subscribe, name="billing_account_subscribe"),
    path("payment/", payment.account_payment, name="billing_account_payment"),
    path("unpaid/", statements.account_unpaid, name="billing_account_unpaid"),
    path("history/", statements.account_history, name="billing_account_history"),
    path(
        "invoices/<int:number>.pdf",
        statements.account_document,
        {"kind": "invoice"},
        name="billing_account_invoice_pdf",
    ),
    path(
        "invoices/<int:number>/receipt.pdf",
        statements.account_document,
        {"kind": "receipt"},
        name="billing_account_receipt_pdf",
    ),
    path("invoices/<int:number>/pay/", statements.account_pay, name="billing_account_pay"),
    path(
        "invoices/<int:number>/email/", statements.account_email_invoice, name="billing_account_email_invoice"
    ),
]
