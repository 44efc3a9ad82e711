"use client";
// One idempotency key per intent: the same request sent again (a retry after a timeout or a 409
// in progress) carries the same key, so the API answers the first result instead of acting twice;
// a different request (another reason, another quantity, another event) gets a fresh key.
import { useCallback, useRef } from "react";
import { newIdempotencyKey } from "./api";

export function useIntentKey(prefix: string): { keyFor: (intent: unknown) => string; done: () => void } {
  const current = useRef<{ intent: string; key: string } | null>(null);
  const keyFor = useCallback(
    (intent: unknown) => {
      const text = JSON.stringify(intent);
      if (current.current?.intent !== text) current.current = { intent: text, key: newIdempotencyKey(prefix) };
      return current.current.key;
    },
    [prefix],
  );
  /** The intent succeeded: the next one, even if identical, is a new request. */
  const done = useCallback(() => {
    current.current = null;
  }, []);
  return { keyFor, done };
}
