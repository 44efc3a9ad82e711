import { describe, expect, it } from "vitest";
import { optionalWholeNumber, wholeNumberOrAsTyped } from "../lib/input";

describe("a whole-number field's value for the API", () => {
  it("sends whole numbers as numbers, signed or not", () => {
    expect(wholeNumberOrAsTyped(" 250 ")).toBe(250);
    expect(wholeNumberOrAsTyped("-5")).toBe(-5);
  });

  it("sends anything else as typed, for the API to name", () => {
    expect(wholeNumberOrAsTyped("2.5")).toBe("2.5");
    expect(wholeNumberOrAsTyped("12abc")).toBe("12abc");
    expect(wholeNumberOrAsTyped(" ")).toBe("");
  });

  it("never rounds digits a double cannot hold", () => {
    expect(wholeNumberOrAsTyped("90071992547409931")).toBe("90071992547409931");
  });

  it("reads a blank optional field as left out", () => {
    expect(optionalWholeNumber("  ")).toBeNull();
    expect(optionalWholeNumber("7")).toBe(7);
  });
});
