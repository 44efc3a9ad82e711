import { defineConfig } from "vitest/config";

// Component tests in jsdom; JSX through esbuild's automatic runtime (no React plugin needed).
export default defineConfig({
  esbuild: { jsx: "automatic" },
  test: {
    environment: "jsdom",
    include: ["tests/**/*.test.{ts,tsx}"],
    restoreMocks: true,
  },
});
