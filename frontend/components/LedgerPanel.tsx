"use client";
import type { LedgerEntry } from "../lib/api";
import { useClient } from "../lib/context";
import { formatCredits, formatDateTime, formatSignedCredits } from "../lib/format";
import { useResource } from "../lib/useResource";
import { Empty, ErrorNotice, Loading, Panel } from "./Panel";

const LABEL: Record<string, string> = {
  grant: "Grant",
  usage: "Usage",
  top_up: "Top-up",
  adjustment: "Adjustment",
  expiry: "Expiry",
  void: "Void",
};
// Glyphs that fonts-liberation has (what CI installs): no tofu boxes in the screenshots.
const ICON: Record<string, string> = { grant: "+", usage: "−", top_up: "↑", adjustment: "±", expiry: "×", void: "Ø" };

export function LedgerPanel({ subscriptionId, refreshKey = 0 }: { subscriptionId: string | null; refreshKey?: number }) {
  const client = useClient();
  const ledger = useResource(subscriptionId ? () => client.ledger(subscriptionId) : null, [client, subscriptionId, refreshKey]);
  return (
    <Panel id="ledger" title="Credit ledger">
      {!subscriptionId ? (
        <Empty>No subscription selected.</Empty>
      ) : ledger.state === "loading" ? (
        <Loading what="the ledger" />
      ) : ledger.state === "error" ? (
        <ErrorNotice error={ledger.error} onRetry={ledger.reload} />
      ) : ledger.data.items.length === 0 ? (
        <Empty>No ledger entries yet.</Empty>
      ) : (
        <ol className="timeline" aria-label="Ledger entries, oldest first" data-testid="ledger-timeline">
          {ledger.data.items.map((entry) => (
            <LedgerItem key={entry.entry_id} entry={entry} />
          ))}
        </ol>
      )}
    </Panel>
  );
}

function LedgerItem({ entry }: { entry: LedgerEntry }) {
  const type = entry.type as string;
  return (
    <li className={`entry entry-${type}`} data-type={type}>
      <span className="entry-icon" aria-hidden="true">
        {ICON[type] ?? "•"}
      </span>
      <div className="entry-body">
        <p>
          <span className={`badge type-${type}`}>{LABEL[type] ?? type}</span>{" "}
          <strong className={`amount ${entry.amount.startsWith("-") ? "negative" : "positive"}`}>{formatSignedCredits(entry.amount)}</strong>{" "}
          <span className="muted">
            {entry.amount.startsWith("-") ? "from" : "to"} {entry.bucket} · balance after {formatCredits(entry.balance_after)}
          </span>
        </p>
        <p className="muted small">
          #{entry.seq} · {formatDateTime(entry.created_at)} · {entry.actor}
          {entry.reason ? ` · ${entry.reason}` : ""}
        </p>
      </div>
    </li>
  );
}
