// The reference renderer of chat templates, @huggingface/jinja (what Hugging Face's JavaScript
// libraries use), for tests/integration/chat_template_parity_test.cpp.
// Usage: node chat_template_ref.js CASES.json OUT.json
// CASES.json is an array of {"template": TEXT, "context": {...variables}}; OUT.json gets, for each,
// {"ok": true, "output": TEXT} or {"ok": false, "error": MESSAGE}.
// Resolves the package from $PIPESHARD_NODE_MODULES, else the source tree's node_modules.
'use strict';
const fs = require('fs');
const path = require('path');

const [casesPath, outPath] = process.argv.slice(2);
const modules = process.env.PIPESHARD_NODE_MODULES || path.join(__dirname, '..', '..', 'node_modules');
const { Template } = require(path.join(modules, '@huggingface', 'jinja'));
const cases = JSON.parse(fs.readFileSync(casesPath, 'utf8'));
const results = cases.map((c) => {
  try {
    return { ok: true, output: new Template(c.template).render(c.context) };
  } catch (e) {
    return { ok: false, error: String((e && e.message) || e) };
  }
});
fs.writeFileSync(outPath, JSON.stringify(results));
