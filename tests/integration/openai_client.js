// The coordinator's OpenAI HTTP API through the official `openai` npm package, a client pipeshard
// did not write. Usage: node openai_client.js '<json config>' (or a path to a JSON file).
// Config: {"base_url": "http://HOST:PORT", "api_key": KEY or "" (no keys on the server),
//          "prompt": P, "max_tokens": N,
//          "greedy": `pipeshard run --temp 0 --json` for P and N,
//          "seeded": {"temperature": T, "seed": S, "run": `run --temp T --seed S --json`} (optional),
//          "penalized": {"temperature", "seed", "presence_penalty", "frequency_penalty", "run": `run` with
//                        the same flags} (optional),
//          "chat": {"messages": [...], "max_tokens": N, "run": `run --json` of the rendered prompt or null},
//          "oversized_bytes": B (optional: a prompt of B bytes must be refused with 413),
//          "busy": true (optional: --queue 0 --max-seqs 1; a second request beside a long stream must get 429),
//          "timeout_s": per-request deadline (default 60), "deadline_s": whole-run deadline (default 240)}
// Prints one JSON object {"ok", "openai_version", "checks": [{"name", "ok", "skipped", "detail"}]} and
// exits 0 when every check that ran passed, 1 otherwise. Chat checks are skipped (not failed) while the
// server answers 400 naming --chat-template. Resolves the package from $PIPESHARD_NODE_MODULES, else
// the source tree's node_modules.
'use strict';
const fs = require('fs');
const path = require('path');

const modules = process.env.PIPESHARD_NODE_MODULES || path.join(__dirname, '..', '..', 'node_modules');
const openai = require(path.join(modules, 'openai'));
const OpenAI = openai.OpenAI;

const arg = process.argv[2] || '';
const config = JSON.parse(arg.trim().startsWith('{') ? arg : fs.readFileSync(arg, 'utf8'));
const timeoutMs = (config.timeout_s || 60) * 1000;
const report = { ok: true, openai_version: packageVersion(), checks: [] };

function packageVersion() {
  try {
    return JSON.parse(fs.readFileSync(path.join(modules, 'openai', 'package.json'), 'utf8')).version;
  } catch (e) {
    return null;
  }
}

function finish(code) {
  report.ok = report.checks.every((c) => c.ok);
  process.stdout.write(JSON.stringify(report, null, 1) + '\n');
  process.exit(code === undefined ? (report.ok ? 0 : 1) : code);
}

// Every request already has a deadline (timeoutMs); this catches anything else that could hang.
setTimeout(() => {
  report.checks.push({ name: 'deadline', ok: false, detail: `the checks did not finish within ${config.deadline_s || 240} s` });
  finish(1);
}, (config.deadline_s || 240) * 1000);

// maxRetries 0: the server's own answers are under test, not the client's retries.
function client(apiKey) {
  return new OpenAI({ baseURL: config.base_url + '/v1', apiKey: apiKey || 'no-key', maxRetries: 0, timeout: timeoutMs });
}
const api = client(config.api_key);

function check(name, ok, detail) {
  report.checks.push({ name, ok: !!ok, detail });
}
function skip(name, why) {
  report.checks.push({ name, ok: true, skipped: true, detail: why });
}
function show(s) {
  return JSON.stringify(s);
}
function errorOf(e) {
  // The causes down to the socket's (a connection error wraps fetch's, which wraps EPIPE...).
  const causes = [];
  for (let c = e && e.cause; c && causes.length < 4; c = c.cause) causes.push(String(c.code || c.message || c));
  return { class: e && e.constructor ? e.constructor.name : typeof e, status: e && e.status, param: e && e.param,
           type: e && e.type, code: e && e.code, message: e && e.message, causes: causes.length ? causes : undefined };
}

// Runs one check; an exception fails it with what the client threw.
async function run(name, body) {
  try {
    await body();
  } catch (e) {
    check(name, false, { threw: errorOf(e) });
  }
}

// Concatenates a streamed completion's or chat's deltas.
async function collect(stream, chat) {
  const out = { text: '', chunks: 0, finish_reason: null, usage: null, role: null };
  for await (const chunk of stream) {
    out.chunks++;
    if (chunk.usage) out.usage = chunk.usage;
    const choice = chunk.choices && chunk.choices[0];
    if (!choice) continue;
    if (chat) {
      if (choice.delta && choice.delta.role && out.role === null) out.role = choice.delta.role;
      out.text += (choice.delta && choice.delta.content) || '';
    } else {
      out.text += choice.text || '';
    }
    if (choice.finish_reason) out.finish_reason = choice.finish_reason;
  }
  return out;
}

function isChatTemplateRefusal(e) {
  return e instanceof openai.APIError && e.status === 400 && /--chat-template/.test(e.message || '');
}

// A stop string taken from the greedy text: a word after the first two, so the answer is cut there.
function stopFrom(text) {
  const words = text.split(' ');
  for (let i = 2; i < words.length; i++) {
    const stop = ' ' + words[i];
    if (/^ [A-Za-z]{3,}$/.test(stop) && text.indexOf(stop) > 0) return stop;
  }
  return null;
}

async function main() {
  const model = 'pipeshard-test';  // echoed back; one model is served
  const greedy = config.greedy;
  const base = { model, prompt: config.prompt, max_tokens: config.max_tokens, temperature: 0 };

  await run('models.list', async () => {
    const list = await api.models.list();
    const ids = list.data.map((m) => m.id);
    check('models.list', ids.length === 1 && typeof ids[0] === 'string' && ids[0].length > 0, { ids });
  });

  await run('completion greedy', async () => {
    const r = await api.completions.create(base);
    const c = r.choices[0];
    check('completion greedy', c.text === greedy.text && c.finish_reason === 'length' && r.object === 'text_completion' &&
          r.usage.prompt_tokens === greedy.prompt_tokens && r.usage.completion_tokens === greedy.tokens.length,
          { got: c.text, want: greedy.text, finish_reason: c.finish_reason, usage: r.usage, model: r.model });
  });

  await run('completion greedy streamed', async () => {
    const s = await api.completions.create({ ...base, stream: true, stream_options: { include_usage: true } });
    const got = await collect(s, false);
    check('completion greedy streamed', got.text === greedy.text && got.finish_reason === 'length' && got.usage &&
          got.usage.completion_tokens === greedy.tokens.length && got.usage.prompt_tokens === greedy.prompt_tokens,
          { got: got.text, want: greedy.text, chunks: got.chunks, finish_reason: got.finish_reason, usage: got.usage });
  });

  if (config.seeded) {
    await run('completion seeded', async () => {
      const r = await api.completions.create({ ...base, temperature: config.seeded.temperature, seed: config.seeded.seed });
      check('completion seeded', r.choices[0].text === config.seeded.run.text,
            { got: r.choices[0].text, want: config.seeded.run.text, temperature: config.seeded.temperature, seed: config.seeded.seed });
    });
  }

  if (config.penalized) {
    const p = config.penalized;
    await run('completion penalties', async () => {
      const r = await api.completions.create({ ...base, temperature: p.temperature, seed: p.seed,
                                               presence_penalty: p.presence_penalty, frequency_penalty: p.frequency_penalty });
      check('completion penalties', r.choices[0].text === p.run.text, { got: r.choices[0].text, want: p.run.text });
    });
  }

  // Greedy (no penalties): each chosen token is the most likely one, so its log-probability is the
  // first alternative's; asking for them changes nothing in the text.
  const near = (a, b) => typeof a === 'number' && typeof b === 'number' && Math.abs(a - b) < 1e-4;
  await run('completion logprobs', async () => {
    const r = await api.completions.create({ ...base, logprobs: 3 });
    const c = r.choices[0];
    const lp = c.logprobs || {};
    const n = (lp.tokens || []).length;
    const ok = c.text === greedy.text && n === greedy.tokens.length && lp.token_logprobs.length === n &&
               lp.top_logprobs.length === n && lp.text_offset.length === n &&
               lp.token_logprobs.every((v, i) => v <= 0 && Object.keys(lp.top_logprobs[i]).length >= 1 &&
                                                Object.keys(lp.top_logprobs[i]).length <= 3 &&
                                                near(v, Math.max(...Object.values(lp.top_logprobs[i]))));
    check('completion logprobs', ok, { got: c.text, want: greedy.text, logprobs: lp });
  });

  const stop = stopFrom(greedy.text);
  if (stop === null) {
    skip('completion stop', `no word to stop at in ${show(greedy.text)}`);
  } else {
    const want = greedy.text.slice(0, greedy.text.indexOf(stop));
    await run('completion stop', async () => {
      const r = await api.completions.create({ ...base, stop: [stop] });
      const c = r.choices[0];
      check('completion stop', c.text === want && c.finish_reason === 'stop', { stop, got: c.text, want, finish_reason: c.finish_reason });
    });
    await run('completion stop streamed', async () => {
      const got = await collect(await api.completions.create({ ...base, stop, stream: true }), false);
      check('completion stop streamed', got.text === want && got.finish_reason === 'stop',
            { stop, got: got.text, want, finish_reason: got.finish_reason });
    });
  }

  if (config.chat) {
    const chat = { model, messages: config.chat.messages, max_tokens: config.chat.max_tokens, temperature: 0 };
    const want = config.chat.run ? config.chat.run.text : null;
    let refused = null;
    await run('chat greedy', async () => {
      try {
        const r = await api.chat.completions.create(chat);
        const m = r.choices[0].message;
        check('chat greedy', m.role === 'assistant' && typeof m.content === 'string' && r.object === 'chat.completion' &&
              (want === null || m.content === want),
              { got: m.content, want, finish_reason: r.choices[0].finish_reason, usage: r.usage });
      } catch (e) {
        if (!isChatTemplateRefusal(e)) throw e;
        refused = e.message;
      }
    });
    if (refused !== null) {
      skip('chat greedy', `the server has no chat template yet (400: ${refused})`);
      skip('chat greedy streamed', 'the server has no chat template yet');
    } else {
      await run('chat greedy streamed', async () => {
        const got = await collect(await api.chat.completions.create({ ...chat, stream: true }), true);
        check('chat greedy streamed', got.role === 'assistant' && (want === null ? got.text.length > 0 : got.text === want),
              { got: got.text, want, role: got.role, chunks: got.chunks, finish_reason: got.finish_reason });
      });
      await run('chat logprobs streamed', async () => {
        const stream = await api.chat.completions.create({ ...chat, stream: true, logprobs: true, top_logprobs: 2,
                                                           stream_options: { include_usage: true } });
        const entries = [];
        let text = '', usage = null;
        for await (const chunk of stream) {
          if (chunk.usage) usage = chunk.usage;
          const choice = chunk.choices && chunk.choices[0];
          if (!choice) continue;
          text += (choice.delta && choice.delta.content) || '';
          if (choice.logprobs && choice.logprobs.content) entries.push(...choice.logprobs.content);
        }
        const ok = usage && entries.length === usage.completion_tokens && (want === null || text === want) &&
                   entries.every((e) => typeof e.token === 'string' && Array.isArray(e.bytes) && e.logprob <= 0 &&
                                        e.top_logprobs.length === 2 && near(e.logprob, e.top_logprobs[0].logprob) &&
                                        e.top_logprobs[0].logprob >= e.top_logprobs[1].logprob);
        check('chat logprobs streamed', ok, { text, want, usage, entries: entries.slice(0, 4), count: entries.length });
      });
    }
  }

  await run('bad request: top_p 3', async () => {
    try {
      await api.completions.create({ ...base, top_p: 3 });
      check('bad request: top_p 3', false, 'accepted');
    } catch (e) {
      check('bad request: top_p 3', e instanceof openai.BadRequestError && e.status === 400 && e.param === 'top_p' &&
            e.type === 'invalid_request_error', errorOf(e));
    }
  });

  await run('bad request: n 2', async () => {
    try {
      await api.completions.create({ ...base, n: 2 });
      check('bad request: n 2', false, 'accepted');
    } catch (e) {
      check('bad request: n 2', e.status === 400 && e.param === 'n', errorOf(e));
    }
  });

  if (config.api_key) {
    await run('wrong key', async () => {
      try {
        await client('wrong-key-' + 'x'.repeat(24)).completions.create(base);
        check('wrong key', false, 'accepted');
      } catch (e) {
        check('wrong key', e instanceof openai.AuthenticationError && e.status === 401, errorOf(e));
      }
    });
  } else {
    skip('wrong key', 'the server has no API keys');
  }

  if (config.oversized_bytes) {
    // What the client sends: the whole body at once, without `Expect: 100-continue`.
    await run('oversized body: 413', async () => {
      try {
        await api.completions.create({ ...base, prompt: 'a'.repeat(config.oversized_bytes) });
        check('oversized body: 413', false, 'accepted');
      } catch (e) {
        check('oversized body: 413', e.status === 413, errorOf(e));
      }
    });
  }

  if (config.busy) await busy(base);

  finish();
}

// --queue 0 --max-seqs 1: one long stream holds the only slot; a second request, streamed or not,
// must be refused with 429 (RateLimitError, which clients retry with backoff).
async function busy(base) {
  const long = { ...base, max_tokens: 100000, ignore_eos: true, stream: true };
  const first = await api.completions.create(long);
  const iterator = first[Symbol.asyncIterator]();
  await iterator.next();  // the first chunk: the slot is taken
  for (const streamed of [true, false]) {
    const name = `busy: second request${streamed ? ' streamed' : ''} gets 429`;
    await run(name, async () => {
      try {
        const r = await api.completions.create({ ...base, stream: streamed });
        const got = streamed ? await collect(r, false) : { text: r.choices[0].text };
        check(name, false, { accepted: got.text });
      } catch (e) {
        check(name, e instanceof openai.RateLimitError && e.status === 429, errorOf(e));
      }
    });
  }
  // Hanging up frees the slot: the next request must be served (429s retried for up to 10 s,
  // counted: the cancel travels to the pipeline asynchronously).
  first.controller.abort();
  await iterator.return().catch(() => {});
  await run('busy: served after the long stream is aborted', async () => {
    let refused = 0;
    const until = Date.now() + 10000;
    for (;;) {
      try {
        const r = await api.completions.create(base);
        check('busy: served after the long stream is aborted', r.choices[0].text === config.greedy.text,
              { got: r.choices[0].text, want: config.greedy.text, refused_429_before: refused });
        return;
      } catch (e) {
        if (!(e.status === 429 && Date.now() < until)) throw e;
        refused++;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  });
}

main().catch((e) => {
  check('script', false, { threw: errorOf(e), stack: e && e.stack });
  finish(1);
});
