"use client";
import { useState } from "react";
import type { ApiError, GuardrailGroup, GuardrailQuery } from "../lib/api";
import { useClient } from "../lib/context";
import { formatCredits } from "../lib/format";
import { asApiError, useResource } from "../lib/useResource";
import { saveBlob } from "../lib/download";
import { Empty, ErrorNotice, Loading, Panel } from "./Panel";

const WINDOW_DAYS = 30;

/** A UTC day `days` before today, as the analytics take it (`2026-11-24`). */
function dayBefore(days: number, today = new Date()): string {
  return new Date(today.getTime() - days * 86_400_000).toISOString().slice(0, 10);
}

function percent(rate: string): string {
  return `${(Number(rate) * 100).toFixed(1)}%`;
}

/** Counts of every flag (or escalation code) over the groups, most frequent first. */
function tally(groups: GuardrailGroup[], of: "flags" | "escalation_codes"): [string, number][] {
  const counts = new Map<string, number>();
  for (const group of groups) for (const [name, count] of Object.entries(group[of])) counts.set(name, (counts.get(name) ?? 0) + count);
  return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

/**
 * Guardrail flags and escalation codes over the last 30 days: the flag rate per day, the most
 * frequent flags and codes, and (for finance and staff) every organization of their residency.
 * An organization's users see their own organization only.
 */
export function CompliancePanel({ organizationId, acrossOrganizations, refreshKey = 0 }: { organizationId: string | null; acrossOrganizations: boolean; refreshKey?: number }) {
  const client = useClient();
  const span: GuardrailQuery = { from: dayBefore(WINDOW_DAYS - 1), to: dayBefore(0), ...(organizationId ? { organization_id: organizationId } : {}) };
  const days = useResource(() => client.guardrails({ ...span, group_by: "day" }), [organizationId, refreshKey]);
  const organizations = useResource(acrossOrganizations ? () => client.guardrails({ ...span, group_by: "organization" }) : null, [acrossOrganizations, refreshKey]);
  const [exportError, setExportError] = useState<ApiError | null>(null);

  async function exportCsv() {
    setExportError(null);
    try {
      saveBlob(await client.exportGuardrails({ ...span, group_by: "day,organization,service" }), `guardrails-${span.from}-${span.to}.csv`);
    } catch (error) {
      setExportError(asApiError(error));
    }
  }

  const actions = (
    <button type="button" onClick={() => void exportCsv()}>
      Export CSV
    </button>
  );
  return (
    <Panel id="compliance" title="Compliance" actions={actions}>
      <p className="muted small">
        Guardrail flags and escalation codes on recorded usage, {span.from} to {span.to} (UTC){organizationId ? ` for ${organizationId}` : ""}.
      </p>
      {exportError ? <ErrorNotice error={exportError} /> : null}
      {days.state === "loading" ? <Loading what="compliance analytics" /> : null}
      {days.state === "error" ? <ErrorNotice error={days.error} onRetry={days.reload} /> : null}
      {days.state === "ready" ? <Overview groups={days.data.items} asOf={days.data.as_of ?? null} /> : null}
      {acrossOrganizations && organizations.state === "ready" && organizations.data.items.length ? <ByOrganization groups={organizations.data.items} /> : null}
      {acrossOrganizations && organizations.state === "error" ? <ErrorNotice error={organizations.error} onRetry={organizations.reload} /> : null}
    </Panel>
  );
}

function Overview({ groups, asOf }: { groups: GuardrailGroup[]; asOf: string | null }) {
  if (!groups.length) return <Empty>No usage in these 30 days carried a guardrail annotation or was recorded at all.</Empty>;
  const events = groups.reduce((n, g) => n + g.events, 0);
  const flagged = groups.reduce((n, g) => n + g.flagged_events, 0);
  const flags = tally(groups, "flags").slice(0, 5);
  const codes = tally(groups, "escalation_codes").slice(0, 5);
  return (
    <>
      <p data-testid="compliance-summary">
        <strong>{percent(String(events ? flagged / events : 0))}</strong> of {events.toLocaleString("en-US")} events flagged ({flagged.toLocaleString("en-US")})
        {asOf ? <span className="muted small"> · as of {asOf.replace("T", " ").slice(0, 16)} UTC</span> : null}
      </p>
      <table className="compliance-days" data-testid="compliance-days">
        <caption className="muted small">Flag rate per day</caption>
        <thead>
          <tr>
            <th scope="col">Day</th>
            <th scope="col" className="num">Events</th>
            <th scope="col">Flag rate</th>
          </tr>
        </thead>
        <tbody>
          {groups.map((g) => (
            <tr key={g.day ?? ""}>
              <td>{g.day}</td>
              <td className="num">{g.events}</td>
              <td>
                <span className="rate-bar" style={{ width: `${Math.round(Number(g.flag_rate) * 100)}%` }} aria-hidden="true" /> {percent(g.flag_rate)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="columns">
        <Ranking title="Top flags" rows={flags} testId="top-flags" />
        <Ranking title="Top escalation codes" rows={codes} testId="top-codes" />
      </div>
    </>
  );
}

function Ranking({ title, rows, testId }: { title: string; rows: [string, number][]; testId: string }) {
  return (
    <div data-testid={testId}>
      <h3>{title}</h3>
      {rows.length ? (
        <ol>
          {rows.map(([name, count]) => (
            <li key={name}>
              <code>{name}</code> · {count}
            </li>
          ))}
        </ol>
      ) : (
        <p className="muted small">None.</p>
      )}
    </div>
  );
}

function ByOrganization({ groups }: { groups: GuardrailGroup[] }) {
  return (
    <table data-testid="compliance-organizations">
      <caption className="muted small">By organization</caption>
      <thead>
        <tr>
          <th scope="col">Organization</th>
          <th scope="col" className="num">Events</th>
          <th scope="col" className="num">Flagged</th>
          <th scope="col" className="num">Flag rate</th>
          <th scope="col" className="num">Flagged credits</th>
        </tr>
      </thead>
      <tbody>
        {groups.map((g) => (
          <tr key={g.organization_id ?? ""}>
            <td>{g.organization_id}</td>
            <td className="num">{g.events}</td>
            <td className="num">{g.flagged_events}</td>
            <td className="num">{percent(g.flag_rate)}</td>
            <td className="num">{formatCredits(g.flagged_credits)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
