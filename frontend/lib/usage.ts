// The usage chart's days come from the events' own `occurred_at`. The API's `GET .../usage/daily`
// aggregates by the day an event was *recorded* (a late event lands on the day it arrived), while
// the table and the contract's usage history go by `occurred_at`; charting the events keeps the
// two on the same day.
import type { DailyUsage, UsageEvent } from "./api";
import { addDecimals } from "./decimal";

export function dailyFromEvents(events: UsageEvent[]): DailyUsage[] {
  const days = new Map<string, DailyUsage>();
  for (const e of events) {
    if (e.status === "voided") continue; // a voided event no longer counts (it stays in the table, struck)
    const day = new Date(e.occurred_at).toISOString().slice(0, 10);
    const entry = days.get(day) ?? { day, services: {} };
    const s = entry.services[e.service] ?? { quantity: "0", credits: "0", overage_credits: "0", events: 0 };
    entry.services[e.service] = {
      quantity: addDecimals(s.quantity, e.quantity),
      credits: addDecimals(s.credits, e.credits),
      overage_credits: addDecimals(s.overage_credits, e.overage_credits),
      events: s.events + 1,
    };
    days.set(day, entry);
  }
  return [...days.values()].sort((a, b) => a.day.localeCompare(b.day));
}

/** The UTC days [from, to) that hold a period [start, end): the chart's default window. */
export function periodDays(start: string, end: string): { from: string; to: string } {
  const lastInstant = new Date(new Date(end).getTime() - 1);
  const to = new Date(Date.UTC(lastInstant.getUTCFullYear(), lastInstant.getUTCMonth(), lastInstant.getUTCDate() + 1));
  return { from: new Date(start).toISOString().slice(0, 10), to: to.toISOString().slice(0, 10) };
}
