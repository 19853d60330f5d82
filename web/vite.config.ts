/** Vite build of the browser UI; the dev server proxies the API and WebSocket to a local Tandem. */
import { defineConfig } from "vitest/config";
import preact from "@preact/preset-vite";
import { readFileSync } from "node:fs";
import type { Plugin } from "vite";

const target = process.env.TANDEM_URL ?? "http://127.0.0.1:8765";

// The app icon (assets/icons, rendered from assets/tandem.svg) is the page's favicon too: copied
// into the build at the path browsers ask for, so the server serves it like any built file.
const favicon: Plugin = {
  name: "tandem-favicon",
  generateBundle() {
    const source = readFileSync(new URL("../assets/icons/tandem.ico", import.meta.url));
    this.emitFile({ type: "asset", fileName: "favicon.ico", source });
  },
};

export default defineConfig({
  plugins: [preact(), favicon],
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false, target: "es2022" },
  server: {
    proxy: {
      "/api": { target, changeOrigin: false },
      "/ws": { target: target.replace(/^http/, "ws"), ws: true },
    },
  },
  test: { environment: "node", include: ["src/**/*.test.ts"] },
});
