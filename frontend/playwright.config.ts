import { defineConfig } from "@playwright/test";

// Browser tests: the real storefront build against the real local stack (`python -m local_stack`,
// what `make run` starts, on a free port: e2e/global-setup.ts), in Debian's Chromium.
// Playwright's own browser download cannot work here; PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 for npm ci.
export default defineConfig({
  testDir: "e2e",
  outputDir: "test-results/artifacts",
  globalSetup: "./e2e/global-setup.ts",
  fullyParallel: false,
  workers: 1, // one stack, one test clock that only moves forward: the specs run in order
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: [["list"]],
  use: {
    browserName: "chromium",
    viewport: { width: 1280, height: 900 },
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
    acceptDownloads: true,
  },
});
