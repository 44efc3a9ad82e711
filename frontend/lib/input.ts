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
