"use client";
// One hook for a panel's read: loading, error (the API's message) or data, and a reload.
import { useCallback, useEffect, useState } from "react";
import { ApiError } from "./api";

export type Resource<T> =
  | { state: "loading"; data?: undefined; error?: undefined }
  | { state: "error"; data?: undefined; error: ApiError }
  | { state: "ready"; data: T; error?: undefined };

export function asApiError(error: unknown): ApiError {
  return error instanceof ApiError ? error : new ApiError(0, "client_error", String(error));
}

export function useResource<T>(load: (() => Promise<T>) | null, deps: unknown[]): Resource<T> & { reload: () => void } {
  const [resource, setResource] = useState<Resource<T>>({ state: "loading" });
  const [generation, setGeneration] = useState(0);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  useEffect(() => {
    if (!load) return;
    let current = true;
    setResource({ state: "loading" });
    load().then(
      (data) => current && setResource({ state: "ready", data }),
      (error: unknown) => current && setResource({ state: "error", error: asApiError(error) }),
    );
    return () => {
      current = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, generation]);
  return { ...resource, reload };
}
