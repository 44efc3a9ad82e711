// Exact formatting: money arrives as integer minor units, credits as decimal strings.
// Neither goes through binary floating point on its way to the screen.

const fractionDigitsCache = new Map<string, number>();

/** Minor-unit digits of an ISO 4217 currency (2 for USD, 0 for JPY, 3 for KWD). */
export function minorDigits(currency: string): number {
  let digits = fractionDigitsCache.get(currency);
  if (digits === undefined) {
    try {
      digits = new Intl.NumberFormat("en-US", { style: "currency", currency }).resolvedOptions()
        .maximumFractionDigits ?? 2;
    } catch {
      digits = 2;
    }
    fractionDigitsCache.set(currency, digits);
  }
  return digits;
}

/** "123456", 2 -> "1234.56" (string arithmetic; works for any length). */
export function shiftDecimal(integer: string, places: number): string {
  const negative = integer.startsWith("-");
  const digits = (negative ? integer.slice(1) : integer).replace(/^0+(?=\d)/, "");
  if (places === 0) return (negative ? "-" : "") + digits;
  const padded = digits.padStart(places + 1, "0");
  const whole = padded.slice(0, padded.length - places);
  const frac = padded.slice(padded.length - places);
  return `${negative ? "-" : ""}${whole}.${frac}`;
}

/** 123456 cents + "USD" -> "$1,234.56". Intl formats the decimal string exactly (no division). */
export function formatMoney(cents: number | string, currency: string): string {
  const text = typeof cents === "number" ? BigInt(cents).toString() : cents;
  const digits = minorDigits(currency);
  const amount = shiftDecimal(text, digits);
  const format = new Intl.NumberFormat("en-US", {
    style: "currency",
    currency,
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
  // The string overload is exact (Intl.NumberFormat v3); typed as number in older lib files.
  return format.format(amount as unknown as number);
}

/** A rate in decimal cents ("0.5" cents per credit) as money with up to 6 more digits: "$0.005". */
export function formatCentsRate(cents: string, currency: string): string {
  const [whole, frac = ""] = cents.replace(/^-/, "").split(".");
  const digits = minorDigits(currency);
  const negative = cents.startsWith("-");
  // Shift the decimal point left by the currency's minor digits, as text.
  const all = (whole ?? "0") + frac;
  const point = (whole ?? "0").length - digits;
  const padded = point <= 0 ? "0".repeat(1 - point) + all : all;
  const at = point <= 0 ? 1 : point;
  const text = `${negative ? "-" : ""}${padded.slice(0, at)}.${padded.slice(at) || "0"}`;
  const fraction = Math.max(digits, Math.min(padded.slice(at).replace(/0+$/, "").length, 20));
  return new Intl.NumberFormat("en-US", {
    style: "currency",
    currency,
    minimumFractionDigits: digits,
    maximumFractionDigits: fraction,
  }).format(text as unknown as number);
}

/** "1234567.5" -> "1,234,567.5": digits grouped, the decimal string otherwise untouched. */
export function formatCredits(value: string | null | undefined): string {
  if (value === null || value === undefined || value === "") return "—";
  const negative = value.startsWith("-");
  const [whole = "0", frac] = (negative || value.startsWith("+") ? value.slice(1) : value).split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${negative ? "−" : ""}${grouped}${frac ? "." + frac : ""}`;
}

/** A signed ledger amount: "+1,000" / "−12.5". */
export function formatSignedCredits(value: string): string {
  if (value.startsWith("-")) return formatCredits(value);
  return value === "0" ? "0" : `+${formatCredits(value)}`;
}

/** Ratio of two decimal strings as a bar fraction in [0, 1]. Only for drawing, never for display. */
export function ratio(part: string, whole: string): number {
  const p = Number(part);
  const w = Number(whole);
  if (!Number.isFinite(p) || !Number.isFinite(w) || w <= 0) return 0;
  return Math.min(1, Math.max(0, p / w));
}

export function formatDate(iso: string | null | undefined): string {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toISOString().slice(0, 10);
}

export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

/** Whole days left in [start, end) seen from `now`, with `now` held inside the period: the
 * billing clock can run ahead of the browser's (the local stack's test clock), never outside it. */
export function daysLeft(start: string, end: string, now: Date = new Date()): number {
  const from = Math.min(Math.max(now.getTime(), new Date(start).getTime()), new Date(end).getTime());
  return Math.max(0, Math.ceil((new Date(end).getTime() - from) / 86_400_000));
}

/** A plan's unit in the plural: only a plain lowercase word is (an abbreviation such as "kWh", or
 * a unit already plural, stays as the plan wrote it). */
export function unitPlural(unit: string): string {
  return /^[a-z]+$/.test(unit) && !unit.endsWith("s") ? `${unit}s` : unit;
}

/** "3 finalizations", "1 run", "2.5 kWh": a quantity with its plan's unit. */
export function formatQuantity(quantity: string, unit: string): string {
  return `${formatCredits(quantity)} ${quantity === "1" ? unit : unitPlural(unit)}`;
}
