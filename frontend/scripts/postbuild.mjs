// After `next build`: out/_next -> out/marketplace/_next (the assetPrefix asks for them there),
// so a plain static server, the local stack and S3 all serve out/ as it is.
import { existsSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";

const out = join(import.meta.dirname, "..", "out");
const from = join(out, "_next");
const to = join(out, "marketplace", "_next");
if (!existsSync(join(out, "marketplace", "index.html"))) throw new Error("out/marketplace/index.html is missing: did next build run?");
if (existsSync(from)) {
  rmSync(to, { recursive: true, force: true });
  renameSync(from, to);
}
console.log("storefront: out/marketplace/ ready");
