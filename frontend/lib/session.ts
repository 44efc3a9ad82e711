// Who is signed in: the bearer token (session storage only: gone with the tab, never a cookie)
// and the claims the page needs to decide what to offer. The API still checks every request.

export type Role = "marketplace:admin" | "finance" | "service" | "org:admin" | "org:member";
export const ROLES: Role[] = ["marketplace:admin", "finance", "service", "org:admin", "org:member"];

export type Session = { token: string; sub: string; roles: Role[]; org: string | null; residency: string | null; exp: number | null };

const KEY = "billing.session.token";

function decodePart(part: string): unknown {
  const base64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
  const text = new TextDecoder().decode(Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)));
  return JSON.parse(text);
}

/** The claims of a JWT, read (not verified: the API verifies). Null when it is not a JWT. */
export function sessionFromToken(token: string): Session | null {
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  try {
    const claims = decodePart(parts[1] ?? "") as Record<string, unknown>;
    const roles = Array.isArray(claims.roles) ? (claims.roles.filter((r) => ROLES.includes(r as Role)) as Role[]) : [];
    return {
      token,
      sub: typeof claims.sub === "string" ? claims.sub : "unknown",
      roles,
      org: typeof claims.org === "string" ? claims.org : null,
      residency: typeof claims.residency === "string" ? claims.residency : null,
      exp: typeof claims.exp === "number" ? claims.exp : null,
    };
  } catch {
    return null;
  }
}

export function storeToken(token: string | null): void {
  try {
    if (token) sessionStorage.setItem(KEY, token);
    else sessionStorage.removeItem(KEY);
  } catch {
    // Storage refused (private mode): the token stays in memory only.
  }
}

export function storedToken(): string | null {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

/** What the page offers; the API's own checks (403) stay the authority. */
export function can(session: Session, action: Action): boolean {
  const has = (...roles: Role[]) => roles.some((r) => session.roles.includes(r));
  switch (action) {
    case "subscribe":
      return has("org:admin") && session.org !== null;
    case "administer":
      return has("marketplace:admin", "finance");
    case "manage-invoices":
      return has("marketplace:admin", "finance");
    case "change-credits":
    case "manage-plans":
      return has("marketplace:admin");
    case "correct-usage":
      return has("marketplace:admin", "finance");
    case "cancel":
    case "change-plan":
    case "manage-settings":
      return has("marketplace:admin") || (has("org:admin") && session.org !== null);
    case "read-own-billing":
      return has("org:admin", "org:member") && session.org !== null;
  }
}

export type Action = "subscribe" | "administer" | "manage-invoices" | "change-credits" | "manage-plans" | "read-own-billing" | "manage-settings" | "cancel" | "change-plan" | "correct-usage";

const ROLE_TEXT: Record<Role, string> = {
  "marketplace:admin": "Marketplace admin",
  finance: "Finance",
  service: "Service",
  "org:admin": "Organization admin",
  "org:member": "Organization member",
};

/** "Organization admin of org-acme · us data region": who the page acts as, for a person. */
export function describeSession(session: Session): string {
  const roles = session.roles.map((r) => ROLE_TEXT[r]).join(" and ") || "No role";
  const org = session.org ? ` of ${session.org}` : "";
  const region = session.residency ? ` · ${session.residency.toUpperCase()} region` : "";
  return `${roles}${org}${region}`;
}
