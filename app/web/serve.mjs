// Builds the dashboard with esbuild and serves it on 127.0.0.1, printing one line
// `DASHBOARD <url>` once it is listening. `--build DIR` only writes the bundle to DIR.
//   node app/web/serve.mjs [--port 8080] [--host 127.0.0.1] [--rpc URL] [--network ADDRESS] [--exit-with-stdin]
import * as esbuild from "esbuild";
import { copyFileSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));
const { values: options } = parseArgs({
  options: {
    port: { type: "string", default: "8080" },
    host: { type: "string", default: "127.0.0.1" },
    rpc: { type: "string" },
    network: { type: "string" },
    build: { type: "string" },
    "exit-with-stdin": { type: "boolean", default: false },
  },
});

const out = options.build ?? mkdtempSync(join(tmpdir(), "gpushare-dashboard-"));
mkdirSync(out, { recursive: true });
copyFileSync(join(here, "index.html"), join(out, "index.html"));
const context = await esbuild.context({
  entryPoints: [join(here, "src", "main.tsx")],
  bundle: true,
  outdir: out,
  format: "esm",
  platform: "browser",
  target: "es2022",
  jsx: "automatic",
  jsxImportSource: "preact",
  minify: true,
  sourcemap: true,
  inject: [join(here, "src", "shim.ts")],
  define: { "process.env.ANCHOR_BROWSER": "true" },
  logLevel: "warning",
});
await context.rebuild();
if (options.build) {
  await context.dispose();
  console.log(`built the dashboard into ${out}`);
} else {
  const { port } = await context.serve({ servedir: out, host: options.host, port: Number(options.port) });
  const query = new URLSearchParams();
  if (options.rpc) query.set("rpc", options.rpc);
  if (options.network) query.set("network", options.network);
  const search = query.size > 0 ? `?${query}` : "";
  console.log(`DASHBOARD http://${options.host}:${port}/${search}`);
  const stop = () => context.dispose().then(() => process.exit(0));
  for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, stop);
  if (options["exit-with-stdin"]) {
    // A parent that dies, even by SIGKILL, closes the pipe: the server does not outlive it.
    process.stdin.on("close", stop);
    process.stdin.resume();
  }
}
