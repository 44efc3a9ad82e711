// Exact decimal strings as scaled BigInts: sums, products and comparisons of credits and rates
// never pass through binary floating point.

type Scaled = { units: bigint; scale: number };

function parse(value: string): Scaled {
  const text = value.trim();
  if (!/^[-+]?\d+(\.\d+)?$/.test(text)) throw new Error(`not a decimal: ${value}`);
  const negative = text.startsWith("-");
  const [whole = "0", frac = ""] = text.replace(/^[-+]/, "").split(".");
  const units = BigInt(whole + frac);
  return { units: negative ? -units : units, scale: frac.length };
}

function rescale(n: Scaled, scale: number): bigint {
  return n.units * 10n ** BigInt(scale - n.scale);
}

function format(units: bigint, scale: number): string {
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(scale + 1, "0");
  const whole = scale ? digits.slice(0, -scale) : digits;
  const frac = scale ? digits.slice(-scale).replace(/0+$/, "") : "";
  return `${negative ? "-" : ""}${whole}${frac ? "." + frac : ""}`;
}

export function isDecimal(value: string): boolean {
  return /^[-+]?\d+(\.\d+)?$/.test(value.trim());
}

export function addDecimals(a: string, b: string): string {
  const x = parse(a);
  const y = parse(b);
  const scale = Math.max(x.scale, y.scale);
  return format(rescale(x, scale) + rescale(y, scale), scale);
}

export function multiplyDecimals(a: string, b: string): string {
  const x = parse(a);
  const y = parse(b);
  return format(x.units * y.units, x.scale + y.scale);
}

/** -1, 0 or 1 as a < b, a = b, a > b. */
export function compareDecimals(a: string, b: string): number {
  const x = parse(a);
  const y = parse(b);
  const scale = Math.max(x.scale, y.scale);
  const d = rescale(x, scale) - rescale(y, scale);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}
