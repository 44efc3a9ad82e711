import type { ReactNode } from "react";
import type { ApiError } from "../lib/api";
import { errorSentence } from "../lib/errors";

export function Panel({ id, title, actions, children }: { id: string; title: string; actions?: ReactNode; children: ReactNode }) {
  return (
    <section className="panel" id={id} aria-labelledby={`${id}-title`} data-testid={`panel-${id}`}>
      <header className="panel-head">
        <h2 id={`${id}-title`}>{title}</h2>
        {actions ? <div className="panel-actions">{actions}</div> : null}
      </header>
      {children}
    </section>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="state state-loading" role="status" aria-live="polite">
      Loading {what}…
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="state state-empty">{children}</p>;
}

/** An API refusal as a sentence for people (lib/errors.ts), never a blank panel. The code stays
 * in small print for whoever is asked for help; a 412 offers to reload what moved on. */
export function ErrorNotice({ error, onRetry, onReload }: { error: ApiError; onRetry?: () => void; onReload?: () => void }) {
  return (
    <div className="state state-error" role="alert">
      <p>
        <strong>{errorSentence(error)}</strong>
      </p>
      <p className="muted small">
        Error code <code>{error.code}</code>
      </p>
      {onReload && error.code === "precondition_failed" ? (
        <button type="button" onClick={onReload}>
          Reload
        </button>
      ) : null}
      {onRetry ? (
        <button type="button" onClick={onRetry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}
