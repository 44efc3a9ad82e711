// Deployed sign-in: OpenID Connect, authorization code + PKCE, through oidc-client-ts.
// Only imported (dynamically) when NEXT_PUBLIC_OIDC_AUTHORITY is set at build time, so the local
// sandbox page never downloads it.
import { UserManager, WebStorageStateStore } from "oidc-client-ts";

export type OidcSettings = { authority: string; clientId: string; scope: string; tokenKind: "id_token" | "access_token" };

export function oidcSettings(): OidcSettings | null {
  const authority = process.env.NEXT_PUBLIC_OIDC_AUTHORITY;
  const clientId = process.env.NEXT_PUBLIC_OIDC_CLIENT_ID;
  if (!authority || !clientId) return null;
  return {
    authority,
    clientId,
    scope: process.env.NEXT_PUBLIC_OIDC_SCOPE || "openid profile email",
    // Cognito's access tokens carry no `aud`; the authorizer checks JwtAudience, so the ID token is the default.
    tokenKind: process.env.NEXT_PUBLIC_OIDC_TOKEN === "access_token" ? "access_token" : "id_token",
  };
}

function manager(settings: OidcSettings): UserManager {
  const redirect = `${window.location.origin}/marketplace`;
  return new UserManager({
    authority: settings.authority,
    client_id: settings.clientId,
    redirect_uri: redirect,
    post_logout_redirect_uri: redirect,
    response_type: "code",
    scope: settings.scope,
    userStore: new WebStorageStateStore({ store: window.sessionStorage }),
    stateStore: new WebStorageStateStore({ store: window.sessionStorage }),
  });
}

export async function startSignIn(settings: OidcSettings): Promise<void> {
  await manager(settings).signinRedirect();
}

/** On the way back from the provider (?code&state): the token, with the URL cleaned. */
export async function completeSignIn(settings: OidcSettings): Promise<string | null> {
  const params = new URLSearchParams(window.location.search);
  if (!params.has("code") || !params.has("state")) return null;
  const user = await manager(settings).signinRedirectCallback();
  window.history.replaceState(null, "", window.location.pathname);
  return (settings.tokenKind === "access_token" ? user.access_token : user.id_token) ?? null;
}

export async function signOut(settings: OidcSettings): Promise<void> {
  const users = manager(settings);
  await users.removeUser();
  await users.signoutRedirect().catch(() => undefined);
}
