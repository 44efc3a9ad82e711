"use client";
import { useState } from "react";
import { ROLES, type Role } from "../lib/session";

export const OIDC_CONFIGURED = Boolean(process.env.NEXT_PUBLIC_OIDC_AUTHORITY && process.env.NEXT_PUBLIC_OIDC_CLIENT_ID);
const ORG_ROLES: Role[] = ["org:admin", "org:member"];

/** Local: the sandbox form (POST /_local/token). Deployed: the identity provider's sign-in. */
export function SignIn({
  reason,
  onSandboxToken,
  onOidc,
  fetchToken,
}: {
  reason: string | null;
  onSandboxToken: (token: string) => void;
  onOidc: () => void;
  fetchToken: (request: { roles: Role[]; org?: string; residency: string }) => Promise<string>;
}) {
  const [role, setRole] = useState<Role>("org:admin");
  const [org, setOrg] = useState("org-acme");
  const [residency, setResidency] = useState("us");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const needsOrg = ORG_ROLES.includes(role);

  async function submit() {
    setBusy(true);
    setError(null);
    try {
      onSandboxToken(await fetchToken({ roles: [role], ...(needsOrg ? { org } : {}), residency }));
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="panel sign-in" aria-labelledby="sign-in-title">
      <h2 id="sign-in-title">Sign in</h2>
      {reason ? (
        <p className="state state-error" role="alert" data-testid="sign-in-reason">
          You were signed out: {reason}
        </p>
      ) : null}
      {OIDC_CONFIGURED ? (
        <button type="button" className="primary" onClick={onOidc}>
          Sign in with your organization
        </button>
      ) : (
        <form
          aria-label="Sandbox sign-in"
          onSubmit={(e) => {
            e.preventDefault();
            void submit();
          }}
        >
          <p className="muted">Local sandbox: pick who you are; the local stack signs a token for it.</p>
          <label>
            Role
            <select value={role} onChange={(e) => setRole(e.target.value as Role)} name="role">
              {ROLES.map((r) => (
                <option key={r} value={r}>
                  {r}
                </option>
              ))}
            </select>
          </label>
          {needsOrg ? (
            <label>
              Organization
              <input value={org} onChange={(e) => setOrg(e.target.value.trim())} name="org" required />
            </label>
          ) : null}
          <label>
            Residency
            <select value={residency} onChange={(e) => setResidency(e.target.value)} name="residency">
              <option value="us">us</option>
              <option value="eu">eu</option>
            </select>
          </label>
          {error ? (
            <p className="state state-error" role="alert">
              {error}
            </p>
          ) : null}
          <button type="submit" className="primary" disabled={busy || (needsOrg && !org)}>
            {busy ? "Signing in…" : "Sign in"}
          </button>
        </form>
      )}
    </section>
  );
}
