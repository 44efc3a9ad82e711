import type { ReactNode } from "react";

/** What a form control needs to be labelled and to point at its error. */
export type ControlProps = { id: string; "aria-invalid": boolean; "aria-describedby"?: string };

/** The id of a field's control, made from the field's path as the API names it. */
export function controlId(name: string): string {
  return `field-${name.replace(/[^a-z0-9]+/gi, "-")}`;
}

/**
 * The message a 422 gives one field (`name`: its path as the API names it, e.g.
 * `auto_top_up.amount` or `features.0.key`, carried as `data-field`). Nothing when there is none.
 */
export function FieldError({ name, error, id = `${controlId(name)}-error` }: { name: string; error?: string; id?: string }) {
  return error ? (
    <p className="field-error" id={id} data-field={name}>
      {error}
    </p>
  ) : null;
}

/**
 * One labelled form control with its field's 422 message beneath it. The control is rendered by
 * `children`, given its id and its aria-invalid / aria-describedby (the message).
 */
export function Field({ label, name, error, id = controlId(name), className, children }: { label: ReactNode; name: string; error?: string; id?: string; className?: string; children: (props: ControlProps) => ReactNode }) {
  const errorId = `${id}-error`;
  return (
    <div className={["field", error ? "invalid" : "", className ?? ""].filter(Boolean).join(" ")}>
      <label htmlFor={id}>{label}</label>
      {children({ id, "aria-invalid": Boolean(error), "aria-describedby": error ? errorId : undefined })}
      <FieldError name={name} error={error} id={errorId} />
    </div>
  );
}
