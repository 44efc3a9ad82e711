"use client";
import { useEffect, useState } from "react";
import type { ApiError, LedgerEntry } from "../lib/api";
import { useClient } from "../lib/context";
import { formatCredits, formatDateTime, formatSignedCredits } from "../lib/format";
import { asApiError } from "../lib/useResource";
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

type Ledger = { state: "loading" } | { state: "error"; error: ApiError } | { state: "ready"; items: LedgerEntry[]; next: string | null };

/** The ledger oldest to newest (the API's order), a page at a time: later entries load below. */
export function LedgerPanel({ subscriptionId, refreshKey = 0 }: { subscriptionId: string | null; refreshKey?: number }) {
  const client = useClient();
  const [ledger, setLedger] = useState<Ledger>({ state: "loading" });
  const [more, setMore] = useState(false);
  const [generation, setGeneration] = useState(0);

  useEffect(() => {
    if (!subscriptionId) return;
    let current = true;
    setLedger({ state: "loading" });
    client.ledger(subscriptionId).then(
      (page) => current && setLedger({ state: "ready", items: page.items, next: page.next_cursor }),
      (error: unknown) => current && setLedger({ state: "error", error: asApiError(error) }),
    );
    return () => {
      current = false;
    };
  }, [client, subscriptionId, refreshKey, generation]);

  async function loadLater() {
    if (!subscriptionId || ledger.state !== "ready" || !ledger.next) return;
    setMore(true);
    try {
      const page = await client.ledger(subscriptionId, ledger.next);
      setLedger({ state: "ready", items: [...ledger.items, ...page.items], next: page.next_cursor });
    } catch (error) {
      setLedger({ state: "error", error: asApiError(error) });
    } finally {
      setMore(false);
    }
  }

  return (
    <Panel id="ledger" title="Credit ledger">
      {!subscriptionId ? (
        <Empty>No subscription selected.</Empty>
      ) : ledger.state === "loading" ? (
        <Loading what="the ledger" />
      ) : ledger.state === "error" ? (
        <ErrorNotice error={ledger.error} onRetry={() => setGeneration((g) => g + 1)} />
      ) : ledger.items.length === 0 ? (
        <Empty>No ledger entries yet.</Empty>
      ) : (
        <>
          <ol className="timeline" aria-label="Ledger entries, oldest first" data-testid="ledger-timeline">
            {ledger.items.map((entry) => (
              <LedgerItem key={entry.entry_id} entry={entry} />
            ))}
          </ol>
          {ledger.next ? (
            <button type="button" onClick={() => void loadLater()} disabled={more}>
              {more ? "Loading…" : "Load later entries"}
            </button>
          ) : null}
        </>
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
