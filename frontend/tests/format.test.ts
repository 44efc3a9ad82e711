import { describe, expect, it } from "vitest";
import { daysLeft, formatCentsRate, formatCredits, formatMoney, formatQuantity, formatSignedCredits, shiftDecimal } from "../lib/format";
import { daysOf, sumDecimals } from "../components/UsageChart";

describe("money from integer minor units", () => {
  it("formats cents with the currency, exactly", () => {
    expect(formatMoney(49_900, "USD")).toBe("$499.00");
    expect(formatMoney(5, "USD")).toBe("$0.05");
    expect(formatMoney(-1_999, "USD")).toBe("-$19.99");
    expect(formatMoney(129_900, "EUR")).toBe("€1,299.00");
  });

  it("keeps every cent of amounts beyond float precision", () => {
    // 999,999,999,999 cents: 0.01 steps are not exact in binary floating point at this size.
    expect(formatMoney(999_999_999_999, "USD")).toBe("$9,999,999,999.99");
    expect(formatMoney("900719925474099123", "USD")).toBe("$9,007,199,254,740,991.23");
  });

  it("uses the currency's own minor units (JPY has none, KWD three)", () => {
    expect(formatMoney(1_234, "JPY")).toBe("¥1,234");
    expect(formatMoney(1_234, "KWD").replace(/\s/g, " ")).toBe("KWD 1.234"); // Intl puts a no-break space
  });

  it("shifts the decimal point as text", () => {
    expect(shiftDecimal("7", 2)).toBe("0.07");
    expect(shiftDecimal("-123456", 2)).toBe("-1234.56");
    expect(shiftDecimal("0012", 0)).toBe("12");
  });

  it("formats a rate in decimal cents as money with its extra digits", () => {
    expect(formatCentsRate("12.5", "USD")).toBe("$0.125");
    expect(formatCentsRate("49900", "USD")).toBe("$499.00");
    expect(formatCentsRate("0.000001", "USD")).toBe("$0.00000001");
  });
});

describe("credits as exact decimal strings", () => {
  it("groups digits and keeps every decimal", () => {
    expect(formatCredits("1234567.123456")).toBe("1,234,567.123456");
    expect(formatCredits("999999999999.999999")).toBe("999,999,999,999.999999");
    expect(formatCredits("0")).toBe("0");
    expect(formatCredits("-2.5")).toBe("−2.5");
    expect(formatCredits(null)).toBe("—");
  });

  it("signs ledger amounts", () => {
    expect(formatSignedCredits("500")).toBe("+500");
    expect(formatSignedCredits("-991.375")).toBe("−991.375");
  });

  it("adds decimal strings exactly", () => {
    expect(sumDecimals(["0.1", "0.2"])).toBe("0.3");
    expect(sumDecimals(["999999999999.999999", "0.000001"])).toBe("1000000000000");
    expect(sumDecimals(["1", "-2.5"])).toBe("-1.5");
  });
});

describe("dates", () => {
  it("lists every day of a range", () => {
    expect(daysOf("2026-02-27", "2026-03-02")).toEqual(["2026-02-27", "2026-02-28", "2026-03-01"]);
  });

  it("counts days left within the period even when the billing clock is ahead of the browser", () => {
    const start = "2026-12-25T00:00:00Z";
    const end = "2027-01-25T00:00:00Z";
    expect(daysLeft(start, end, new Date("2027-01-20T00:00:00Z"))).toBe(5);
    expect(daysLeft(start, end, new Date("2026-11-25T00:00:00Z"))).toBe(31);
    expect(daysLeft(start, end, new Date("2027-02-01T00:00:00Z"))).toBe(0);
  });
});

describe("quantities with their unit", () => {
  it("makes a plain unit plural except for one, and leaves abbreviations and plurals alone", () => {
    expect(formatQuantity("3", "finalization")).toBe("3 finalizations");
    expect(formatQuantity("1", "run")).toBe("1 run");
    expect(formatQuantity("1250.5", "sample")).toBe("1,250.5 samples");
    expect(formatQuantity("2.5", "kWh")).toBe("2.5 kWh");
    expect(formatQuantity("4", "hours")).toBe("4 hours");
  });
});
