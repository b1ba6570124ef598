#!/usr/bin/env node
// npm start — build, package, and open StreamSink in a real local VS Code (code-server, in the
// browser), with a model preset. The logic is in scripts/e2e/startMain.ts; see `npm start -- --help`.
const { tsImport } = await import("tsx/esm/api");
await tsImport("./e2e/startMain.ts", import.meta.url);
