import { describe, expect, it } from "vitest";
import { addDecimals, compareDecimals, multiplyDecimals } from "../lib/decimal";
import { periodDays } from "../lib/usage";

describe("exact decimals", () => {
  it("adds, multiplies and compares without floating point", () => {
    expect(addDecimals("0.1", "0.2")).toBe("0.3");
    expect(addDecimals("999999999999.999999", "0.000001")).toBe("1000000000000");
    expect(multiplyDecimals("3", "0.333333")).toBe("0.999999");
    expect(multiplyDecimals("1000000", "2.5")).toBe("2500000");
    expect(compareDecimals("10.000001", "10")).toBe(1);
    expect(compareDecimals("-1", "0")).toBe(-1);
    expect(compareDecimals("2.50", "2.5")).toBe(0);
  });
});

describe("the chart's default window", () => {
  it("covers every UTC day of the period, the last one included", () => {
    expect(periodDays("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z")).toEqual({ from: "2026-11-01", to: "2026-12-01" });
    expect(periodDays("2026-11-04T10:15:00Z", "2026-12-04T10:15:00Z")).toEqual({ from: "2026-11-04", to: "2026-12-05" });
  });
});
