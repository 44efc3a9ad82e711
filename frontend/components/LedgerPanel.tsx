"use client";
import { useCallback, useEffect, useState } from "react";
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
  reversal: "Reversal",
};
// Glyphs that fonts-liberation has (what CI installs): no tofu boxes in the screenshots.
const ICON: Record<string, string> = { grant: "+", usage: "−", top_up: "↑", adjustment: "±", expiry: "×", void: "Ø", reversal: "←" };

/** Pages read in one go: 50 × 200 entries. A longer ledger stops there and offers to go on. */
export const PAGES_AT_ONCE = 50;
/** Entries drawn at first; "Show older entries" draws more of what was read. */
const SHOWN_AT_FIRST = 100;

type Ledger =
  | { state: "loading" }
  | { state: "error"; error: ApiError }
  | { state: "ready"; items: LedgerEntry[]; next: string | null };

/**
 * The ledger newest first. The API lists it oldest first by seq and has no "last page" to ask
 * for, so this pages forward to the end (up to PAGES_AT_ONCE pages, then a button goes on) and
 * shows what it read in reverse: the newest entry is always at the top.
 */
export function LedgerPanel({ subscriptionId, refreshKey = 0 }: { subscriptionId: string | null; refreshKey?: number }) {
  const client = useClient();
  const [ledger, setLedger] = useState<Ledger>({ state: "loading" });
  const [more, setMore] = useState(false);
  const [shown, setShown] = useState(SHOWN_AT_FIRST);
  const [generation, setGeneration] = useState(0);

  const readOn = useCallback(
    async (id: string, cursor: string | undefined, isCurrent: () => boolean = () => true): Promise<{ items: LedgerEntry[]; next: string | null }> => {
      const items: LedgerEntry[] = [];
      let next: string | null = cursor ?? null;
      for (let pages = 0; pages < PAGES_AT_ONCE && isCurrent(); pages += 1) {
        const page = await client.ledger(id, next ?? undefined);
        items.push(...page.items);
        next = page.next_cursor;
        if (!next) break;
      }
      return { items, next };
    },
    [client],
  );

  useEffect(() => {
    if (!subscriptionId) return;
    let current = true;
    setLedger({ state: "loading" });
    readOn(subscriptionId, undefined, () => current).then(
      ({ items, next }) => current && setLedger({ state: "ready", items, next }),
      (error: unknown) => current && setLedger({ state: "error", error: asApiError(error) }),
    );
    return () => {
      current = false;
    };
  }, [readOn, subscriptionId, refreshKey, generation]);

  async function goOn() {
    if (!subscriptionId || ledger.state !== "ready" || !ledger.next) return;
    setMore(true);
    try {
      const { items, next } = await readOn(subscriptionId, ledger.next);
      setLedger({ state: "ready", items: [...ledger.items, ...items], next });
    } catch (error) {
      setLedger({ state: "error", error: asApiError(error) });
    } finally {
      setMore(false);
    }
  }

  const newestFirst = ledger.state === "ready" ? [...ledger.items].reverse() : [];
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
          {ledger.next ? (
            <div className="state state-empty">
              The ledger is longer than {formatCredits(String(ledger.items.length))} entries; the newest are not read yet.{" "}
              <button type="button" onClick={() => void goOn()} disabled={more}>
                {more ? "Reading…" : "Read on to the newest"}
              </button>
            </div>
          ) : null}
          <p className="muted small" data-testid="ledger-count">
            {formatCredits(String(ledger.items.length))} {ledger.items.length === 1 ? "entry" : "entries"}, newest first
            {newestFirst.length > 4 ? " · scroll the list for older ones" : ""}
          </p>
          <div className="timeline-box">
            <ol className="timeline" aria-label="Ledger entries, newest first" data-testid="ledger-timeline" tabIndex={0}>
              {newestFirst.slice(0, shown).map((entry) => (
                <LedgerItem key={entry.entry_id} entry={entry} />
              ))}
            </ol>
          </div>
          {newestFirst.length > shown ? (
            <button type="button" onClick={() => setShown((n) => n + SHOWN_AT_FIRST)}>
              Show older entries ({formatCredits(String(newestFirst.length - shown))} more)
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
