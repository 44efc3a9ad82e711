import type { Invoice, UpcomingInvoice } from "../lib/api";
import { formatCentsRate, formatCredits, formatMoney } from "../lib/format";

/** An invoice's lines and total. On a narrow screen each line stacks (labels beside values,
 * globals.css `table.stack`), so the amounts and the total stay on screen without scrolling. */
export function InvoiceLines({ invoice, caption = "Invoice lines" }: { invoice: Invoice | UpcomingInvoice; caption?: string }) {
  return (
    <div className="scroll">
    <table className="data stack invoice-lines" data-testid="invoice-lines">
      <caption className="sr-only">{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Line</th>
          <th scope="col" className="num">
            Quantity
          </th>
          <th scope="col" className="num">
            Unit price
          </th>
          <th scope="col" className="num">
            Amount
          </th>
        </tr>
      </thead>
      <tbody>
        {(invoice.line_items ?? []).map((line, i) => (
          <tr key={i} data-kind={line.kind}>
            <td data-label="Line">{line.description}</td>
            <td className="num" data-label="Quantity">
              {formatCredits(line.quantity)}
            </td>
            <td className="num" data-label="Unit price">
              {formatCentsRate(line.unit_amount_cents, invoice.currency)}
            </td>
            <td className="num" data-label="Amount">
              {formatMoney(line.amount_cents, invoice.currency)}
            </td>
          </tr>
        ))}
      </tbody>
      <tfoot>
        <tr className="total">
          <th scope="row" colSpan={3}>
            Total
          </th>
          <td className="num" data-label="Total" data-testid="invoice-total">
            <strong>{formatMoney(invoice.total_cents, invoice.currency)}</strong>
          </td>
        </tr>
      </tfoot>
    </table>
    </div>
  );
}
