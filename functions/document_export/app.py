"""Exports of invoices and credit notes: CSV and JSON files for financial tooling, and PDF
documents. The only function that ships the PDF renderer (fpdf2, in its own requirements.txt, with
the fonts it embeds): it is imported on the first PDF asked for, never on a cold start."""

import billing.cold_start  # noqa: F401 - first: pauses the garbage collector while the function loads
from billing import deployment
from billing.api.auth import Permission
from billing.api.http import Response, authorize, billing_api, lambda_entry, parse_query
from billing.api.models.document_export import ExportQuery
from billing.services import documents
from billing.services.documents import DocumentFile

app = billing_api()
INVOICE = "/subscriptions/<subscription_id>/invoices/<invoice_id>"


def _invoice_pdf(invoice, notes) -> bytes:
    import document_pdf  # fpdf2 and the fonts: loaded by the first PDF, not by a cold start

    return document_pdf.invoice_pdf(invoice, notes)


def _credit_note_pdf(note, invoice) -> bytes:
    import document_pdf

    return document_pdf.credit_note_pdf(note, invoice)


def _file(file: DocumentFile) -> Response:
    return Response(
        status_code=200,
        content_type=file.content_type,
        body=file.body,
        headers={"Content-Disposition": f'attachment; filename="{file.filename}"'},
    )


@app.get(f"{INVOICE}/export")
def export_invoice(subscription_id: str, invoice_id: str):
    who = authorize(app, Permission.READ_BILLING)
    query = parse_query(app, ExportQuery)
    return _file(
        documents.export_invoice(
            deployment.billing(), who, subscription_id, invoice_id, file_format=query.format, render_pdf=_invoice_pdf
        )
    )


@app.get(f"{INVOICE}/credit-notes/<credit_note_id>/export")
def export_credit_note(subscription_id: str, invoice_id: str, credit_note_id: str):
    who = authorize(app, Permission.READ_BILLING)
    query = parse_query(app, ExportQuery)
    file = documents.export_credit_note(
        deployment.billing(),
        who,
        subscription_id,
        invoice_id,
        credit_note_id,
        file_format=query.format,
        render_pdf=_credit_note_pdf,
    )
    return _file(file)


deployment.connect()  # the client at init, with the collector paused
lambda_handler = lambda_entry(app)
