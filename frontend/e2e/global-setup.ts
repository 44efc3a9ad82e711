import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(__dirname, "..", "..");

/** Starts `python -m local_stack` on a free port (BILLING_PORT=0), waits for its `ready` line and
 * hands its URL to the tests (STOREFRONT_ORIGIN). Returns the teardown that stops it. */
export default async function globalSetup(): Promise<() => Promise<void>> {
  if (!existsSync(join(ROOT, "frontend", "out", "marketplace", "index.html"))) {
    throw new Error("frontend/out is not built: run `npm run build` in frontend/ (make test does).");
  }
  if (process.env.STOREFRONT_ORIGIN) return async () => {};
  const python = process.env.BILLING_PYTHON || join(ROOT, ".venv", "bin", "python");
  const child = spawn(python, ["-m", "local_stack"], {
    cwd: ROOT,
    env: { ...process.env, BILLING_PORT: "0", BILLING_ACCESS_LOG: "false", PYTHONUNBUFFERED: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const origin = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`local stack not ready in 60 s:\n${output}`)), 60_000);
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      const found = /ready on (http:\/\/\S+)\/api\/billing/.exec(output);
      if (found?.[1]) {
        clearTimeout(timer);
        resolve(found[1]);
      }
    };
    child.stdout.on("data", read);
    child.stderr.on("data", read);
    child.on("exit", (code) => reject(new Error(`local stack exited (${code}):\n${output}`)));
  });
  process.env.STOREFRONT_ORIGIN = origin;
  process.env.STOREFRONT_ROOT = ROOT;
  return async () => {
    child.kill("SIGTERM");
  };
}
