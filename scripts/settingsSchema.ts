// `npm run settings:schema`: writes `contributes.configuration` of package.json from the settings
// table (common/settings/table.ts). Nothing else in package.json changes.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { configurationSchema } from "../common/settings/schema";

const manifestPath = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "package.json");
const before = readFileSync(manifestPath, "utf8");
const manifest = JSON.parse(before) as { contributes: { configuration: unknown } };
manifest.contributes.configuration = configurationSchema();
const after = `${JSON.stringify(manifest, null, 2)}\n`;
if (after === before) {
  process.stdout.write("package.json: contributes.configuration is up to date.\n");
} else {
  writeFileSync(manifestPath, after);
  process.stdout.write("package.json: contributes.configuration rewritten from common/settings/table.ts.\n");
}
