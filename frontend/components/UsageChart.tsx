import type { DailyUsage } from "../lib/api";
import { formatCredits } from "../lib/format";

// Inline SVG, written here: a stacked bar per day, one colour per service. No chart library
// (the page's first-load JavaScript budget is 200 KB gzipped).
const PALETTE = ["#1f6feb", "#bf3989", "#1a7f37", "#9a6700", "#8250df", "#cf222e"];

export function serviceColors(services: string[]): Record<string, string> {
  return Object.fromEntries(services.map((s, i) => [s, PALETTE[i % PALETTE.length] as string]));
}

export function UsageChart({ days }: { days: DailyUsage[] }) {
  const services = [...new Set(days.flatMap((d) => Object.keys(d.services)))].sort();
  const colors = serviceColors(services);
  // Heights only: Number() is fine for drawing; every figure shown is the API's exact string.
  const totals = days.map((d) => Object.values(d.services).reduce((sum, s) => sum + Number(s.credits), 0));
  const max = Math.max(1, ...totals);
  const width = 640;
  const height = 200;
  const pad = { left: 48, bottom: 28, top: 8 };
  const plotHeight = height - pad.bottom - pad.top;
  const slot = (width - pad.left) / Math.max(days.length, 1);
  const bar = Math.max(4, Math.min(32, slot * 0.7));
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-labelledby="usage-chart-title" data-testid="usage-chart">
        <title id="usage-chart-title">Credits per day and service, {days.length} days with usage</title>
        <line x1={pad.left} x2={width} y1={pad.top + plotHeight} y2={pad.top + plotHeight} stroke="#57606a" />
        <text x={pad.left - 6} y={pad.top + 10} textAnchor="end" className="axis">
          {formatCredits(String(Math.round(max)))}
        </text>
        <text x={pad.left - 6} y={pad.top + plotHeight} textAnchor="end" className="axis">
          0
        </text>
        {days.map((day, i) => {
          let y = pad.top + plotHeight;
          const x = pad.left + i * slot + (slot - bar) / 2;
          return (
            <g key={day.day} data-day={day.day}>
              {services
                .filter((s) => day.services[s])
                .map((s) => {
                  const usage = day.services[s]!;
                  const h = (Number(usage.credits) / max) * plotHeight;
                  y -= h;
                  return (
                    <rect key={s} x={x} y={y} width={bar} height={Math.max(h, 1)} fill={colors[s]}>
                      <title>{`${day.day} ${s}: ${formatCredits(usage.credits)} credits, ${usage.events} events`}</title>
                    </rect>
                  );
                })}
              {days.length <= 16 || i % Math.ceil(days.length / 8) === 0 ? (
                <text x={x + bar / 2} y={height - 8} textAnchor="middle" className="axis">
                  {day.day.slice(5)}
                </text>
              ) : null}
            </g>
          );
        })}
      </svg>
      <figcaption className="legend">
        {services.map((s) => (
          <span key={s}>
            <span className="swatch" style={{ background: colors[s] }} /> {s}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
