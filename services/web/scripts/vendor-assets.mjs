// Copies the browser builds named under "vendor" in package.json from node_modules
// into the web's static folder, where they are committed and served from our own
// origin (no CDN at run time). Source-map comments are dropped: the maps stay behind.
//
//   node scripts/vendor-assets.mjs          write static/vendor/*
//   node scripts/vendor-assets.mjs --check  exit 1 if a committed copy differs
import { readFileSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const target = join(root, "src/llmsvc/web/static/vendor");
const { vendor } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const check = process.argv.includes("--check");

const strip = (text) => text.replace(/^\/\/# sourceMappingURL=.*$\n?/gm, "").replace(/\/\*# sourceMappingURL=.*?\*\/\n?/g, "");

let stale = 0;
mkdirSync(target, { recursive: true });
for (const [name, source] of Object.entries(vendor)) {
  const wanted = strip(readFileSync(join(root, "node_modules", source), "utf8"));
  const path = join(target, name);
  if (check) {
    if (!existsSync(path) || readFileSync(path, "utf8") !== wanted) {
      console.error(`stale: static/vendor/${name} differs from node_modules/${source}`);
      stale += 1;
    }
  } else {
    writeFileSync(path, wanted);
    console.log(`static/vendor/${name} <- node_modules/${source}`);
  }
}
process.exit(stale ? 1 : 0);
