"use client";
import { useEffect, useState } from "react";
import type { UsageEvent } from "../lib/api";
import { useClient } from "../lib/context";
import { formatCredits, formatDateTime } from "../lib/format";
import { asApiError, useResource } from "../lib/useResource";
import type { ApiError } from "../lib/api";
import { Empty, ErrorNotice, Loading, Panel } from "./Panel";
import { UsageChart } from "./UsageChart";

function isoDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

export function defaultRange(now: Date = new Date()): { from: string; to: string } {
  const to = new Date(now.getTime() + 86_400_000);
  const from = new Date(now.getTime() - 29 * 86_400_000);
  return { from: isoDay(from), to: isoDay(to) };
}

export function UsagePanel({ subscriptionId, refreshKey = 0 }: { subscriptionId: string | null; refreshKey?: number }) {
  const [range, setRange] = useState(defaultRange);
  return (
    <Panel id="usage" title="Usage history">
      {!subscriptionId ? (
        <Empty>No subscription selected.</Empty>
      ) : (
        <>
          <form className="row filters" aria-label="Usage range" onSubmit={(e) => e.preventDefault()}>
            <label>
              From
              <input type="date" value={range.from} max={range.to} onChange={(e) => e.target.value && setRange((r) => ({ ...r, from: e.target.value }))} />
            </label>
            <label>
              To
              <input type="date" value={range.to} min={range.from} onChange={(e) => e.target.value && setRange((r) => ({ ...r, to: e.target.value }))} />
            </label>
          </form>
          <DailyChart subscriptionId={subscriptionId} from={range.from} to={range.to} refreshKey={refreshKey} />
          <EventTable subscriptionId={subscriptionId} refreshKey={refreshKey} />
        </>
      )}
    </Panel>
  );
}

function DailyChart({ subscriptionId, from, to, refreshKey }: { subscriptionId: string; from: string; to: string; refreshKey: number }) {
  const client = useClient();
  const daily = useResource(
    () => client.dailyUsage(subscriptionId, `${from}T00:00:00Z`, `${to}T00:00:00Z`),
    [client, subscriptionId, from, to, refreshKey],
  );
  if (daily.state === "loading") return <Loading what="daily usage" />;
  if (daily.state === "error") return <ErrorNotice error={daily.error} onRetry={daily.reload} />;
  if (daily.data.items.length === 0) return <Empty>No usage between {from} and {to}.</Empty>;
  return <UsageChart days={daily.data.items} from={from} to={to} />;
}

type Events = { state: "loading" } | { state: "error"; error: ApiError } | { state: "ready"; items: UsageEvent[]; next: string | null };

export function EventTable({ subscriptionId, refreshKey = 0 }: { subscriptionId: string; refreshKey?: number }) {
  const client = useClient();
  const [service, setService] = useState("");
  const [flag, setFlag] = useState("");
  const [draft, setDraft] = useState({ service: "", flag: "" });
  const [events, setEvents] = useState<Events>({ state: "loading" });
  const [more, setMore] = useState(false);

  useEffect(() => {
    let current = true;
    setEvents({ state: "loading" });
    client.usageEvents(subscriptionId, { service, guardrail_flag: flag }).then(
      (page) => current && setEvents({ state: "ready", items: page.items, next: page.next_cursor }),
      (error: unknown) => current && setEvents({ state: "error", error: asApiError(error) }),
    );
    return () => {
      current = false;
    };
  }, [client, subscriptionId, service, flag, refreshKey]);

  async function loadMore() {
    if (events.state !== "ready" || !events.next) return;
    setMore(true);
    try {
      const page = await client.usageEvents(subscriptionId, { service, guardrail_flag: flag, cursor: events.next });
      setEvents({ state: "ready", items: [...events.items, ...page.items], next: page.next_cursor });
    } catch (error) {
      setEvents({ state: "error", error: asApiError(error) });
    } finally {
      setMore(false);
    }
  }

  return (
    <div className="events">
      <form
        className="row filters"
        aria-label="Usage filters"
        onSubmit={(e) => {
          e.preventDefault();
          setService(draft.service.trim());
          setFlag(draft.flag.trim());
        }}
      >
        <label>
          Service
          <input value={draft.service} onChange={(e) => setDraft((d) => ({ ...d, service: e.target.value }))} placeholder="all" list="usage-services" />
        </label>
        <datalist id="usage-services">
          <option value="planner" />
          <option value="instrumentation" />
          <option value="analytics" />
        </datalist>
        <label>
          Guardrail flag
          <input value={draft.flag} onChange={(e) => setDraft((d) => ({ ...d, flag: e.target.value }))} placeholder="any" />
        </label>
        <button type="submit">Apply filters</button>
      </form>
      {events.state === "loading" ? <Loading what="usage events" /> : null}
      {events.state === "error" ? <ErrorNotice error={events.error} /> : null}
      {events.state === "ready" && events.items.length === 0 ? <Empty>No usage events{service || flag ? " match these filters" : " yet"}.</Empty> : null}
      {events.state === "ready" && events.items.length > 0 ? (
        <div className="scroll">
          <table className="data stack" data-testid="usage-table">
            <caption className="sr-only">Usage events, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Occurred</th>
                <th scope="col">Service</th>
                <th scope="col" className="num">Quantity</th>
                <th scope="col" className="num">Credits</th>
                <th scope="col" className="num">Overage</th>
                <th scope="col">Guardrail</th>
                <th scope="col" className="num">Balance after</th>
              </tr>
            </thead>
            <tbody>
              {events.items.map((e) => (
                <tr key={e.event_id}>
                  <td data-label="Occurred">{formatDateTime(e.occurred_at)}</td>
                  <td data-label="Service">{e.service}</td>
                  <td className="num" data-label="Quantity">
                    {formatCredits(e.quantity)} {e.unit}
                  </td>
                  <td className="num" data-label="Credits">
                    {formatCredits(e.credits)}
                  </td>
                  <td className={`num${e.overage_credits !== "0" ? " overage" : ""}`} data-label="Overage">{e.overage_credits !== "0" ? formatCredits(e.overage_credits) : "—"}</td>
                  <td data-label="Guardrail">
                    {(e.guardrail.flags ?? []).map((f) => (
                      <span key={f} className="tag tag-flag">
                        {f}
                      </span>
                    ))}
                    {(e.guardrail.escalation_codes ?? []).map((c) => (
                      <span key={c} className="tag tag-escalation" title="escalation code">
                        <span className="sr-only">escalation </span>
                        {c}
                      </span>
                    ))}
                  </td>
                  <td className="num" data-label="Balance after">
                    {formatCredits(e.balance_after)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {events.state === "ready" && events.next ? (
        <button type="button" onClick={() => void loadMore()} disabled={more}>
          {more ? "Loading…" : "Load more events"}
        </button>
      ) : null}
    </div>
  );
}
