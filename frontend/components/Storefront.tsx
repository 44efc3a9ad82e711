"use client";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { api, type Subscription } from "../lib/api";
import { ClientContext } from "../lib/context";
import { can, describeSession, sessionFromToken, storedToken, storeToken, type Session } from "../lib/session";
import { useResource } from "../lib/useResource";
import { AdminPanel } from "./AdminPanel";
import { BalanceAlert } from "./BalanceAlert";
import { BillingProfilePanel } from "./BillingProfilePanel";
import { CompliancePanel } from "./CompliancePanel";
import { HealthPanel } from "./HealthPanel";
import { InvoicesPanel } from "./InvoicesPanel";
import { LedgerPanel } from "./LedgerPanel";
import { ErrorNotice, Loading } from "./Panel";
import { PlansPanel } from "./PlansPanel";
import { OIDC_CONFIGURED, SignIn } from "./SignIn";
import { UsagePanel } from "./UsagePanel";

const oidc = () => import("../lib/oidc"); // loaded only when an identity provider is configured

/** The page: sign-in, then one panel per concern, all reading the API through one client. */
export function Storefront() {
  const [session, setSession] = useState<Session | null>(null);
  const [reason, setReason] = useState<string | null>(null);
  const [restored, setRestored] = useState(false);

  const signIn = useCallback((token: string) => {
    const next = sessionFromToken(token);
    if (!next) {
      setReason("the token is not a JWT.");
      return;
    }
    api.setToken(token);
    storeToken(token);
    setReason(null);
    setSession(next);
  }, []);

  const signOut = useCallback((why: string | null) => {
    api.setToken(null);
    storeToken(null);
    setSession(null);
    setReason(why);
    if (OIDC_CONFIGURED && why === null) {
      void oidc().then(async (m) => {
        const settings = m.oidcSettings();
        if (settings) await m.signOut(settings);
      });
    }
  }, []);

  useEffect(() => {
    // A 401 (forged, expired or revoked token) sends the user back to sign-in with the API's reason.
    api.setUnauthorizedHandler((message) => signOut(message));
    const token = storedToken();
    if (token) signIn(token);
    if (OIDC_CONFIGURED && !token) {
      void oidc()
        .then(async (m) => {
          const settings = m.oidcSettings();
          const returned = settings ? await m.completeSignIn(settings) : null;
          if (returned) signIn(returned);
        })
        .catch((error: unknown) => setReason(`the identity provider refused the sign-in (${String(error)}).`));
    }
    setRestored(true);
  }, [signIn, signOut]);

  return (
    <ClientContext.Provider value={api}>
      <header className="top">
        <h1>Marketplace Billing</h1>
        {session ? (
          <div className="who">
            <span data-testid="who" data-roles={session.roles.join(" ")} title={`Signed in as ${session.sub}`}>
              {describeSession(session)}
            </span>
            <button type="button" onClick={() => signOut(null)}>
              Sign out
            </button>
          </div>
        ) : null}
      </header>
      <main>
        {!restored ? null : session ? (
          <Dashboard key={session.token} session={session} />
        ) : (
          <>
          <SignIn
            reason={reason}
            onSandboxToken={signIn}
            fetchToken={(request) => api.sandboxToken(request)}
            onOidc={() =>
              void oidc().then((m) => {
                const settings = m.oidcSettings();
                if (settings) void m.startSignIn(settings);
              })
            }
          />
          {/* The catalog is public: shown before sign-in too. */}
          <PlansPanel session={null} hasSubscription={false} onSubscribed={() => undefined} />
          </>
        )}
      </main>
    </ClientContext.Provider>
  );
}

function Dashboard({ session }: { session: Session }) {
  const [refreshKey, setRefreshKey] = useState(0);
  const refresh = useCallback(() => setRefreshKey((k) => k + 1), []);
  const [chosen, setChosen] = useState<string | null>(null);
  const [catalogSize, setCatalogSize] = useState<number | null>(null);
  const staff = can(session, "administer");
  const orgUser = can(session, "read-own-billing");
  const own = useResource(orgUser && session.org ? () => api.organizationSubscriptions(session.org!) : null, [session.org, orgUser, refreshKey]);
  // While a refresh reloads the organization's subscriptions, the panels stay mounted on the last
  // one (their messages and open forms survive the reload they caused).
  const lastOwn = useRef<Subscription | null>(null);
  const ownSubscription: Subscription | null = useMemo(() => {
    if (own.state === "loading") return lastOwn.current;
    if (own.state !== "ready") return null;
    return own.data.items.find((s) => s.status === "active") ?? own.data.items[0] ?? null;
  }, [own]);
  lastOwn.current = ownSubscription;
  const subscriptionId = staff ? chosen : ownSubscription?.subscription_id ?? null;
  const hasActive = own.state === "ready" && own.data.items.some((s) => s.status === "active");

  return (
    <>
      <nav aria-label="Panels" className="panel-nav">
        <a href="#plans">Plans</a>
        {staff ? <a href="#admin">Administration</a> : null}
        {/* Only panels that are on the page: before an organization subscribes there are none. */}
        {staff || (orgUser && ownSubscription) ? (
          <>
            <a href="#health">Health</a>
            <a href="#usage">Usage</a>
            <a href="#invoices">Invoices</a>
            <a href="#ledger">Ledger</a>
            <a href="#compliance">Compliance</a>
          </>
        ) : null}
      </nav>
      {staff || orgUser ? <BalanceAlert subscriptionId={subscriptionId} session={session} refreshKey={refreshKey} /> : null}
      <PlansPanel
        session={session}
        hasSubscription={own.state !== "ready" || hasActive}
        onSubscribed={refresh}
        refreshKey={refreshKey}
        subscription={ownSubscription}
        onCatalog={setCatalogSize}
        onChanged={refresh}
      />
      {staff ? <AdminPanel session={session} selected={chosen} onSelect={setChosen} refreshKey={refreshKey} onChanged={refresh} /> : null}
      {orgUser && own.state === "loading" && !ownSubscription ? <Loading what="your subscription" /> : null}
      {orgUser && own.state === "error" ? <ErrorNotice error={own.error} onRetry={own.reload} /> : null}
      {orgUser && own.state === "ready" && !ownSubscription ? (
        <p className="state state-empty" data-testid="no-subscription">
          {session.org} has no subscription yet
          {catalogSize === 0
            ? ". No plans are offered at the moment; once one is, an organization admin can subscribe here."
            : can(session, "subscribe")
              ? ": choose a plan above."
              : "; an organization admin can subscribe."}
        </p>
      ) : null}
      {staff || (orgUser && ownSubscription) ? (
        <div className="columns">
          <HealthPanel
            subscriptionId={subscriptionId}
            refreshKey={refreshKey}
            mayVoid={can(session, "change-credits")}
            mayEditSettings={can(session, "manage-settings")}
            mayCancel={can(session, "cancel")}
            onChanged={refresh}
          />
          <LedgerPanel subscriptionId={subscriptionId} refreshKey={refreshKey} />
        </div>
      ) : null}
      {staff || (orgUser && ownSubscription) ? (
        <>
          <UsagePanel subscriptionId={subscriptionId} refreshKey={refreshKey} mayCorrect={can(session, "correct-usage")} onChanged={refresh} />
          <InvoicesPanel subscriptionId={subscriptionId} mayManage={can(session, "manage-invoices")} refreshKey={refreshKey} onChanged={refresh} />
        </>
      ) : null}
      {orgUser && session.org && ownSubscription ? <BillingProfilePanel organizationId={session.org} mayEdit={can(session, "manage-settings")} /> : null}
      {staff || (orgUser && ownSubscription) ? (
        <CompliancePanel organizationId={staff ? null : session.org ?? null} acrossOrganizations={staff} refreshKey={refreshKey} />
      ) : null}
      {!staff && !orgUser ? (
        <p className="state state-empty">Signed in as a service: services record usage through the API; there is nothing more to show here.</p>
      ) : null}
    </>
  );
}
