"use client";
import { useEffect, useRef, useState } from "react";
import type { DailyUsage } from "../lib/api";
import { addDecimals } from "../lib/decimal";
import { formatCredits } from "../lib/format";

// Inline SVG, written here: a stacked bar per day of the range, one colour per service. No chart
// library (the page's first-load JavaScript budget is 200 KB gzipped).
const PALETTE = ["#1f6feb", "#bf3989", "#1a7f37", "#9a6700", "#8250df", "#cf222e"];

export function serviceColors(services: string[]): Record<string, string> {
  return Object.fromEntries(services.map((s, i) => [s, PALETTE[i % PALETTE.length] as string]));
}

/** Every UTC day in [from, to) as YYYY-MM-DD (at most 366: the API's own bound). */
export function daysOf(from: string, to: string): string[] {
  const days: string[] = [];
  const end = Date.parse(`${to}T00:00:00Z`);
  for (let t = Date.parse(`${from}T00:00:00Z`); t < end && days.length < 366; t += 86_400_000) {
    days.push(new Date(t).toISOString().slice(0, 10));
  }
  return days;
}

/** Exact sum of decimal strings, for the legend's totals. */
export function sumDecimals(values: string[]): string {
  return values.reduce((sum, v) => addDecimals(sum, v), "0");
}

/** The drawing's width follows its box (1 SVG unit = 1 CSS pixel), so the axis labels keep their
 * 11 px on a phone instead of shrinking with a scaled 720-unit drawing. */
function useBoxWidth(initial: number): [React.RefObject<HTMLElement | null>, number] {
  const ref = useRef<HTMLElement | null>(null);
  const [width, setWidth] = useState(initial);
  useEffect(() => {
    const box = ref.current;
    if (!box || typeof ResizeObserver === "undefined") return;
    const observer = new ResizeObserver(([entry]) => {
      const measured = Math.round(entry?.contentRect.width ?? 0);
      if (measured > 0) setWidth(Math.max(260, measured));
    });
    observer.observe(box);
    return () => observer.disconnect();
  }, []);
  return [ref, width];
}

export function UsageChart({ days, from, to }: { days: DailyUsage[]; from: string; to: string }) {
  const [box, width] = useBoxWidth(720);
  const byDay = new Map(days.map((d) => [d.day, d]));
  const range = daysOf(from, to);
  const services = [...new Set(days.flatMap((d) => Object.keys(d.services)))].sort();
  const colors = serviceColors(services);
  // Heights only: Number() is fine for drawing; every figure shown is the API's exact string.
  const totals = days.map((d) => Object.values(d.services).reduce((sum, s) => sum + Number(s.credits), 0));
  const max = Math.max(1, ...totals);
  const height = 200;
  const pad = { left: 56, bottom: 24, top: 10 };
  const plotHeight = height - pad.bottom - pad.top;
  const slot = (width - pad.left) / Math.max(range.length, 1);
  const bar = Math.max(2, Math.min(28, slot * 0.7));
  // A "MM-DD" label needs about 44 px: as many as fit, evenly spaced.
  const labelEvery = Math.max(1, Math.ceil(range.length / Math.max(1, Math.floor((width - pad.left) / 44))));
  return (
    <figure className="chart" ref={box as React.RefObject<HTMLElement>}>
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-labelledby="usage-chart-title" data-testid="usage-chart">
        <title id="usage-chart-title">{`Credits per day and service from ${from} to ${to}`}</title>
        <line x1={pad.left} x2={width} y1={pad.top + plotHeight} y2={pad.top + plotHeight} stroke="#57606a" />
        <line x1={pad.left} x2={width} y1={pad.top} y2={pad.top} stroke="#d0d7de" strokeDasharray="3 3" />
        <text x={pad.left - 6} y={pad.top + 4} textAnchor="end" className="axis">
          {formatCredits(String(Math.ceil(max)))}
        </text>
        <text x={pad.left - 6} y={pad.top + plotHeight} textAnchor="end" className="axis">
          0
        </text>
        {range.map((day, i) => {
          const usage = byDay.get(day);
          let y = pad.top + plotHeight;
          const x = pad.left + i * slot + (slot - bar) / 2;
          return (
            <g key={day} data-day={day}>
              {usage
                ? services
                    .filter((s) => usage.services[s])
                    .map((s) => {
                      const item = usage.services[s]!;
                      const h = Math.max((Number(item.credits) / max) * plotHeight, 1.5);
                      y -= h;
                      return (
                        <rect key={s} x={x} y={y} width={bar} height={h} fill={colors[s]}>
                          <title>{`${day} ${s}: ${formatCredits(item.credits)} credits, ${item.events} events`}</title>
                        </rect>
                      );
                    })
                : null}
              {i % labelEvery === 0 ? (
                <text x={x + bar / 2} y={height - 6} textAnchor="middle" className="axis">
                  {day.slice(5)}
                </text>
              ) : null}
            </g>
          );
        })}
      </svg>
      <figcaption className="legend">
        {services.map((s) => (
          <span key={s}>
            <span className="swatch" style={{ background: colors[s] }} /> {s}:{" "}
            <strong>{formatCredits(sumDecimals(days.map((d) => d.services[s]?.credits ?? "0")))}</strong> credits
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
