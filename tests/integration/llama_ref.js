// llama.cpp as a reference, through the npm package @fugood/llama.node (a CPU build).
// Usage: node llama_ref.js '<json request>'; prints one JSON object.
// Request: {"model": path, "mode": "tokenize"|"complete", "text": s, "n_predict": n,
//           "n_ctx": n, "cache_type": "f16"|"f32", "flash_attn": "auto"|"on"|"off", "n_probs": k}
// Resolves the package from $PIPESHARD_NODE_MODULES so the tests can point at any install.
'use strict';
const path = require('path');

async function main() {
  const req = JSON.parse(process.argv[2]);
  const modules = process.env.PIPESHARD_NODE_MODULES || path.join(__dirname, '..', '..', 'node_modules');
  const llama = require(path.join(modules, '@fugood', 'llama.node'));
  const ctx = await llama.loadModel({
    model: req.model,
    n_ctx: req.n_ctx || 512,
    n_threads: req.n_threads || 2,
    n_gpu_layers: 0,
    cache_type_k: req.cache_type || 'f16',
    cache_type_v: req.cache_type || 'f16',
    flash_attn_type: req.flash_attn || 'auto',
    use_mmap: true,
  });
  let out;
  if (req.mode === 'tokenize') {
    const r = await ctx.tokenize(req.text);
    out = { tokens: Array.from(r.tokens) };
  } else if (req.mode === 'complete') {
    const pieces = [];
    const r = await ctx.completion({
      prompt: req.text,
      n_predict: req.n_predict,
      temperature: 0,
      // llama.node's defaults add XTC (random), DRY and a penalty window; plain greedy needs them off.
      xtc_probability: 0,
      dry_multiplier: 0,
      penalty_last_n: 0,
      seed: 1,
      n_probs: req.n_probs || 0,
      ignore_eos: !!req.ignore_eos,
    }, (t) => pieces.push(t.token));
    out = { text: r.text, pieces, tokens_predicted: r.tokens_predicted, probs: r.completion_probabilities || [] };
  } else {
    throw new Error('unknown mode ' + req.mode);
  }
  await ctx.release();
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack || e) + '\n');
  process.exit(1);
});
