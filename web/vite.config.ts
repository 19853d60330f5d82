/** Vite build of the browser UI; the dev server proxies the API and WebSocket to a local Tandem. */
import { defineConfig } from "vitest/config";
import preact from "@preact/preset-vite";

const target = process.env.TANDEM_URL ?? "http://127.0.0.1:8765";

export default defineConfig({
  plugins: [preact()],
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false, target: "es2022" },
  server: {
    proxy: {
      "/api": { target, changeOrigin: false },
      "/ws": { target: target.replace(/^http/, "ws"), ws: true },
    },
  },
  test: { environment: "node", include: ["src/**/*.test.ts"] },
});
