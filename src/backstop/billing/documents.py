from backstop.billing.models import Invoice


def invoice_pdf(invoice: Invoice) -> bytes:
    raise NotImplementedError


def receipt_pdf(invoice: Invoice) -> bytes:
    raise NotImplementedError


def consolidated_csv(invoice: Invoice) -> bytes:
    raise NotImplementedError


def document_link(invoice: Invoice, kind: str) -> str:
    raise NotImplementedError
