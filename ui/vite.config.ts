import { defineConfig } from "vite";

// `vigil serve` serves dist/ on the web port; in development, `npm run dev` proxies the
// Connect API to a running server (VIGIL_WEB, default http://localhost:4320).
const api = process.env.VIGIL_WEB ?? "http://localhost:4320";

export default defineConfig({
  build: { outDir: "dist", emptyOutDir: true, sourcemap: true },
  server: { proxy: { "/vigil.": api } },
});
