// llama.cpp's tokenizer as a reference, through the npm package @fugood/llama.node.
// Usage: node tokenize_ref.js MODEL.gguf TEXTS.json OUT.json
// Loads only the vocabulary, tokenizes every string of the JSON array TEXTS.json the way
// llama.node's tokenize() does (no BOS/EOS added, special-token text parsed) and writes the
// token lists as one JSON array to OUT.json (llama.node logs to stdout, so results go to a file).
// Resolves the package from $PIPESHARD_NODE_MODULES, else the source tree's node_modules.
'use strict';
const fs = require('fs');
const path = require('path');

async function main() {
  const [model, textsPath, outPath] = process.argv.slice(2);
  const modules = process.env.PIPESHARD_NODE_MODULES || path.join(__dirname, '..', '..', 'node_modules');
  const llama = require(path.join(modules, '@fugood', 'llama.node'));
  const ctx = await llama.loadModel({ model, vocab_only: true, n_ctx: 64, n_threads: 1, use_mmap: true });
  const texts = JSON.parse(fs.readFileSync(textsPath, 'utf8'));
  const out = [];
  for (const text of texts) {
    const r = await ctx.tokenize(text);
    out.push(Array.from(r.tokens));
  }
  await ctx.release();
  fs.writeFileSync(outPath, JSON.stringify(out));
}

main().catch((e) => {
  process.stderr.write(String((e && e.stack) || e) + '\n');
  process.exit(1);
});
