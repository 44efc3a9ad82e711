// Reading what a person typed into a number field, for the API. The form never judges a value
// itself: what is not plainly a whole number is sent as typed, so the API's 422 names the field
// with the contract's own message.

/**
 * A whole-number field's value: a (signed) whole number that a double holds exactly becomes a
 * number; anything else (a fraction, "12abc", blank, digits beyond 2^53) stays the text as typed.
 */
export function wholeNumberOrAsTyped(value: string): number {
  const text = value.trim();
  const whole = /^-?\d+$/.test(text) ? Number(text) : NaN;
  return Number.isSafeInteger(whole) ? whole : (text as unknown as number);
}

/** An optional whole-number field: blank is null (left out, the API's default applies). */
export function optionalWholeNumber(value: string): number | null {
  return value.trim() === "" ? null : wholeNumberOrAsTyped(value);
}

/**
 * An amount of money typed in major units ("12.34" dollars) as whole minor units (1234 cents),
 * exactly (no binary floating point), for a currency with `digits` minor digits. Anything else
 * (more digits, a sign, letters) stays the text as typed, for the API's 422.
 */
export function minorUnitsOrAsTyped(value: string, digits: number): number {
  const text = value.trim();
  const match = new RegExp(`^(\\d+)(?:\\.(\\d{1,${Math.max(digits, 1)}}))?$`).exec(text);
  if (!match || (digits === 0 && match[2] !== undefined)) return text as unknown as number;
  const cents = Number(BigInt(match[1] ?? "0") * BigInt(10) ** BigInt(digits) + BigInt((match[2] ?? "").padEnd(digits, "0") || "0"));
  return Number.isSafeInteger(cents) ? cents : (text as unknown as number);
}
