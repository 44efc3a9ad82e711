import { cleanup, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { can, describeSession, sessionFromToken } from "../lib/session";
import { sessionFor } from "./support";

afterEach(() => {
  cleanup();
  vi.unstubAllEnvs();
  vi.resetModules();
});

describe("session", () => {
  it("reads roles, organization and residency from the token (the API verifies it)", () => {
    const session = sessionFor("org:admin", "org-lab");
    expect(session).toMatchObject({ roles: ["org:admin"], org: "org-lab", residency: "us", sub: "test|org:admin" });
    expect(sessionFromToken("not-a-jwt")).toBeNull();
    expect(sessionFromToken("a.%%%.c")).toBeNull();
  });

  it("offers each role only what it may do", () => {
    const offered = (role: Parameters<typeof sessionFor>[0], org?: string) =>
      (["subscribe", "administer", "manage-invoices", "change-credits", "manage-plans", "read-own-billing"] as const).filter((a) => can(sessionFor(role, org), a));
    expect(offered("marketplace:admin")).toEqual(["administer", "manage-invoices", "change-credits", "manage-plans"]);
    expect(offered("finance")).toEqual(["administer", "manage-invoices"]);
    expect(offered("service")).toEqual([]);
    expect(offered("org:admin", "org-lab")).toEqual(["subscribe", "read-own-billing"]);
    expect(offered("org:member", "org-lab")).toEqual(["read-own-billing"]);
  });
});

describe("sign-in", () => {
  const props = { reason: "The bearer token has expired.", onSandboxToken: () => {}, onOidc: () => {}, fetchToken: async () => "t" };

  it("is the sandbox form locally, with the reason the user was signed out", async () => {
    const { SignIn } = await import("../components/SignIn");
    render(<SignIn {...props} />);
    expect(screen.getByRole("form", { name: "Sandbox sign-in" })).toBeTruthy();
    expect(screen.getByTestId("sign-in-reason").textContent).toContain("The bearer token has expired.");
  });

  it("is the identity provider's sign-in when OIDC is configured at build time", async () => {
    vi.stubEnv("NEXT_PUBLIC_OIDC_AUTHORITY", "https://idp.example/pool");
    vi.stubEnv("NEXT_PUBLIC_OIDC_CLIENT_ID", "storefront");
    const { SignIn } = await import("../components/SignIn");
    render(<SignIn {...props} />);
    expect(screen.queryByRole("form", { name: "Sandbox sign-in" })).toBeNull();
    expect(screen.getByRole("button", { name: "Sign in with your organization" })).toBeTruthy();
    const { oidcSettings } = await import("../lib/oidc");
    expect(oidcSettings()).toEqual({ authority: "https://idp.example/pool", clientId: "storefront", scope: "openid profile email", tokenKind: "id_token" });
  });

  it("has no OIDC settings unless both the authority and the client are set", async () => {
    vi.stubEnv("NEXT_PUBLIC_OIDC_AUTHORITY", "https://idp.example/pool");
    const { oidcSettings } = await import("../lib/oidc");
    expect(oidcSettings()).toBeNull();
  });
});

describe("the API client", () => {
  it("calls back with the API's reason on a 401, once signed in", async () => {
    const { BillingClient, ApiError } = await import("../lib/api");
    const fetcher = (async () =>
      new Response(JSON.stringify({ error: { code: "unauthenticated", message: "The bearer token has expired.", details: {} } }), { status: 401 })) as typeof fetch;
    const client = new BillingClient("/api/billing", fetcher);
    const reasons: string[] = [];
    client.setUnauthorizedHandler((r) => reasons.push(r));
    client.setToken("t");
    const refused = await client.listPlans().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ApiError);
    expect(refused).toMatchObject({ status: 401, code: "unauthenticated" });
    expect(reasons).toEqual(["The bearer token has expired."]);
  });

  it("turns a network failure into an error with a message, never a blank", async () => {
    const { BillingClient } = await import("../lib/api");
    const client = new BillingClient("/api/billing", (async () => {
      throw new TypeError("Failed to fetch");
    }) as typeof fetch);
    await expect(client.listPlans()).rejects.toMatchObject({ status: 0, code: "network_error" });
  });
});

describe("who is signed in, for a person", () => {
  it("names the role, the organization and the region, not the token's subject", () => {
    expect(describeSession(sessionFor("org:admin", "org-acme"))).toBe("Organization admin of org-acme · US region");
    expect(describeSession(sessionFor("finance"))).toBe("Finance · US region");
  });
});
