import AxeBuilder from "@axe-core/playwright";
import { expect, type Locator, type Page } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

export const origin = () => process.env.STOREFRONT_ORIGIN as string;
export const page_url = () => `${origin()}/marketplace`;
export const SCREENS = join(__dirname, "..", "test-results", "screens");
mkdirSync(SCREENS, { recursive: true });

export type Role = "marketplace:admin" | "finance" | "service" | "org:admin" | "org:member";

/** Fails the test on any console error or page error, except the HTTP refusals a test expects
 * (Chromium logs "Failed to load resource: ... status of 401" for every refused fetch). */
export function watchConsole(page: Page, expectedStatuses: number[] = []): () => void {
  const problems: string[] = [];
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    const text = message.text();
    const status = /status of (\d{3})/.exec(text)?.[1];
    if (status && expectedStatuses.includes(Number(status))) return;
    // An organization without a billing profile is a 404 by contract: the page asks, then says so.
    if (status === "404" && message.location().url.endsWith("/billing-profile")) return;
    problems.push(`${text} (${message.location().url})`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  return () => expect(problems, "console errors").toEqual([]);
}

export async function signIn(page: Page, role: Role, org?: string, residency = "us"): Promise<void> {
  await page.goto(page_url());
  const form = page.getByRole("form", { name: "Sandbox sign-in" });
  await form.getByLabel("Role").selectOption(role);
  if (org) await form.getByLabel("Organization").fill(org);
  await form.getByLabel("Residency").selectOption(residency);
  await form.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("who")).toHaveAttribute("data-roles", role);
}

export async function token(page: Page, roles: Role[], org?: string, residency = "us"): Promise<string> {
  const response = await page.request.post(`${origin()}/_local/token`, { data: { roles, org, residency } });
  expect(response.ok()).toBeTruthy();
  return ((await response.json()) as { token: string }).token;
}

/** An expired token, signed with the local secret by the service's own minting code. */
export function expiredToken(): string {
  const root = process.env.STOREFRONT_ROOT as string;
  return execFileSync(
    join(root, ".venv", "bin", "python"),
    [
      "-c",
      "import sys,time; sys.path.insert(0,'layers/billing'); from billing.api.tokens import mint_token; " +
        "print(mint_token(sub='e2e|late', roles=['finance'], residency='us', now=time.time()-7200, ttl_seconds=60))",
    ],
    { cwd: root },
  )
    .toString()
    .trim();
}

/** No serious or critical accessibility violations inside `selector`. */
export async function scan(page: Page, selector: string): Promise<void> {
  const results = await new AxeBuilder({ page }).include(selector).analyze();
  const bad = results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  expect(bad, `accessibility of ${selector}`).toEqual([]);
}

export async function shot(locator: Locator, name: string): Promise<void> {
  await locator.screenshot({ path: join(SCREENS, `${name}.png`) });
}
