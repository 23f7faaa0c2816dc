import { defineConfig } from "vitest/config";

export default defineConfig({
  // ../attn_widget/static holds the built bundle, which one test loads
  server: { fs: { allow: [".."] } },
  test: { environment: "jsdom", include: ["test/**/*.test.ts"] },
});
