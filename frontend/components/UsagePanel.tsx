"use client";
import { useEffect, useState } from "react";
import type { UsageEvent } from "../lib/api";
import { useClient } from "../lib/context";
import { formatCredits, formatDateTime, formatQuantity } from "../lib/format";
import { dailyFromEvents, periodDays } from "../lib/usage";
import { asApiError, useResource } from "../lib/useResource";
import type { ApiError } from "../lib/api";
import { Empty, ErrorNotice, Loading, Panel } from "./Panel";
import { UsageChart } from "./UsageChart";
import { CorrectionForm, CorrectionNote, describeEvent, type Correction } from "./UsageCorrection";

/** Events read for the chart: 25 pages of 200. A busier window says the chart is partial. */
export const CHART_PAGES = 25;

/** Usage history. The chart and the table both go by `occurred_at`; the window defaults to the
 * subscription's current period (and follows it when the period moves on) until one is chosen. */
export function UsagePanel({
  subscriptionId,
  refreshKey = 0,
  mayCorrect = false,
  onChanged,
}: {
  subscriptionId: string | null;
  refreshKey?: number;
  /** Finance and marketplace admins: Void and Amend on a row. */
  mayCorrect?: boolean;
  onChanged?: () => void;
}) {
  const client = useClient();
  const subscription = useResource(subscriptionId ? () => client.getSubscription(subscriptionId) : null, [client, subscriptionId, refreshKey]);
  const [chosen, setChosen] = useState<{ from: string; to: string } | null>(null);
  const period = subscription.state === "ready" ? periodDays(subscription.data.current_period_start, subscription.data.current_period_end) : null;
  const range = chosen ?? period;
  return (
    <Panel id="usage" title="Usage history">
      {!subscriptionId ? (
        <Empty>No subscription selected.</Empty>
      ) : (
        <>
          {subscription.state === "error" ? <ErrorNotice error={subscription.error} onRetry={subscription.reload} /> : null}
          {!range ? (
            subscription.state === "loading" ? <Loading what="the current period" /> : null
          ) : (
            <>
              <form className="row filters" aria-label="Usage range" onSubmit={(e) => e.preventDefault()}>
                <label>
                  From
                  <input type="date" value={range.from} max={range.to} onChange={(e) => e.target.value && setChosen({ ...range, from: e.target.value })} />
                </label>
                <label>
                  To (not included)
                  <input type="date" value={range.to} min={range.from} onChange={(e) => e.target.value && setChosen({ ...range, to: e.target.value })} />
                </label>
                {chosen && period ? (
                  <button type="button" onClick={() => setChosen(null)}>
                    Current period
                  </button>
                ) : (
                  <span className="muted small">the current period</span>
                )}
              </form>
              <EventsChart subscriptionId={subscriptionId} from={range.from} to={range.to} refreshKey={refreshKey} />
            </>
          )}
          <EventTable subscriptionId={subscriptionId} refreshKey={refreshKey} mayCorrect={mayCorrect} onChanged={onChanged} />
        </>
      )}
    </Panel>
  );
}

/** Credits per day of `occurred_at`, summed from the events themselves (see lib/usage.ts). */
function EventsChart({ subscriptionId, from, to, refreshKey }: { subscriptionId: string; from: string; to: string; refreshKey: number }) {
  const client = useClient();
  const events = useResource(async () => {
    const items: UsageEvent[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < CHART_PAGES; pages += 1) {
      // A voided event is no usage: the chart reads the recorded ones (the table shows both).
      const page = await client.usageEvents(subscriptionId, { from: `${from}T00:00:00Z`, to: `${to}T00:00:00Z`, status: "recorded", limit: "200", cursor });
      items.push(...page.items);
      cursor = page.next_cursor ?? undefined;
      if (!cursor) break;
    }
    return { items, partial: cursor !== undefined };
  }, [client, subscriptionId, from, to, refreshKey]);
  if (events.state === "loading") return <Loading what="daily usage" />;
  if (events.state === "error") return <ErrorNotice error={events.error} onRetry={events.reload} />;
  if (events.data.items.length === 0) return <Empty>No usage between {from} and {to}.</Empty>;
  return (
    <>
      {events.data.partial ? (
        <p className="muted small">The chart shows the newest {formatCredits(String(events.data.items.length))} events of this window; narrow the window to see all of it.</p>
      ) : null}
      <UsageChart days={dailyFromEvents(events.data.items)} from={from} to={to} />
    </>
  );
}

type Events = { state: "loading" } | { state: "error"; error: ApiError } | { state: "ready"; items: UsageEvent[]; next: string | null };

/** The events, newest first, with guardrail filters; a voided one stays, struck, with its reason.
 * `mayCorrect`: Void and Amend on a recorded event, each after a confirmation with a reason. */
export function EventTable({ subscriptionId, refreshKey = 0, mayCorrect = false, onChanged }: { subscriptionId: string; refreshKey?: number; mayCorrect?: boolean; onChanged?: () => void }) {
  const client = useClient();
  const [correcting, setCorrecting] = useState<Correction | null>(null);
  const [corrected, setCorrected] = useState<string | null>(null);
  const [generation, setGeneration] = useState(0);
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
  }, [client, subscriptionId, service, flag, refreshKey, generation]);

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
      {corrected ? (
        <p className="state state-ok" role="status" data-testid="usage-corrected">
          {corrected}
        </p>
      ) : null}
      {correcting ? (
        <CorrectionForm
          key={`${correcting.action}-${correcting.event.event_id}`}
          correction={correcting}
          onCancel={() => setCorrecting(null)}
          onDone={(message) => {
            setCorrecting(null);
            setCorrected(message);
            setGeneration((g) => g + 1);
            onChanged?.();
          }}
        />
      ) : null}
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
                {mayCorrect ? (
                  <th scope="col">
                    <span className="sr-only">Corrections</span>
                  </th>
                ) : null}
              </tr>
            </thead>
            <tbody>
              {events.items.map((e) => {
                const voided = e.status === "voided";
                // A voided event's figures stay readable, struck: it no longer counts.
                const struck = (value: string) => (voided ? <del>{value}</del> : value);
                return (
                  <tr
                    key={e.event_id}
                    className={[voided ? "usage-voided" : "", correcting?.event.event_id === e.event_id ? "selected" : ""].filter(Boolean).join(" ") || undefined} data-status={e.status ?? "recorded"} data-testid={`usage-${e.event_id}`}>
                    <td data-label="Occurred">
                      {formatDateTime(e.occurred_at)}
                      <CorrectionNote event={e} />
                    </td>
                    <td data-label="Service">{struck(e.service)}</td>
                    <td className="num" data-label="Quantity">
                      {struck(formatQuantity(e.quantity, e.unit))}
                    </td>
                    <td className="num" data-label="Credits">
                      {struck(formatCredits(e.credits))}
                    </td>
                    <td className={`num${e.overage_credits !== "0" && !voided ? " overage" : ""}`} data-label="Overage">
                      {e.overage_credits !== "0" ? struck(formatCredits(e.overage_credits)) : "—"}
                    </td>
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
                    {mayCorrect ? (
                      <td className="actions">
                        {!voided ? (
                          <span className="row">
                            {(["void", "amend"] as const).map((action) => (
                              <button
                                key={action}
                                type="button"
                                className={action === "void" ? "danger small" : "small"}
                                aria-label={`${action === "void" ? "Void" : "Amend"} ${describeEvent(e)}`}
                                onClick={() => {
                                  setCorrecting({ action, event: e });
                                  setCorrected(null);
                                }}
                              >
                                {action === "void" ? "Void" : "Amend"}
                              </button>
                            ))}
                          </span>
                        ) : null}
                      </td>
                    ) : null}
                  </tr>
                );
              })}
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
