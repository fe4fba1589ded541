// Load generator for the coordinator's OpenAI HTTP API (driven by bench/http_load.sh).
// Usage: node http_load.js '<json>' with {"url": "http://HOST:PORT", "clients": 64, "seconds": 120,
//   "max_tokens": 32, "temperature": 0.8, "deadline_s": 60, "backoff_ms": 100, "api_key": "",
//   "pids": {"coordinator": PID, ...}, "out": "report.json"}.
// Each client loops until the time is up: one streamed /v1/completions (a short prompt of its own,
// stream_options.include_usage), timing the first text delta (TTFT) and the finish chunk; TPOT is
// (finish - first delta) / (completion_tokens - 1). After a failed request a client waits
// backoff_ms, so refused clients do not spin. Every request has a deadline (deadline_s): one that
// passes it is a hang. Failures are counted by kind: HTTP 429, a 429 sent as an error event inside
// a 200 stream, other HTTP statuses, other error events, connection errors, streams that ended
// without [DONE], hangs. Every second it reads VmRSS and the open descriptors of each pid from
// /proc. Prints a summary and writes the whole report as JSON to `out`.
'use strict';
const fs = require('fs');
const http = require('http');
const { performance } = require('perf_hooks');

const cfg = JSON.parse(process.argv[2]);
const clients = cfg.clients || 64;
const seconds = cfg.seconds || 120;
const deadlineMs = (cfg.deadline_s || 60) * 1000;
const backoffMs = cfg.backoff_ms === undefined ? 100 : cfg.backoff_ms;
const url = new URL('/v1/completions', cfg.url);
const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
const t0 = performance.now();
const now = () => (performance.now() - t0) / 1000;

function procSample(pid) {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = Number((status.match(/VmRSS:\s+(\d+) kB/) || [])[1]);
    const threads = Number((status.match(/Threads:\s+(\d+)/) || [])[1]);
    return { rss_kib: rss, threads, fds: fs.readdirSync(`/proc/${pid}/fd`).length };
  } catch (e) {
    return { gone: true };
  }
}
function sampleAll(phase) {
  const s = { t: Number(now().toFixed(1)), phase };
  for (const [name, pid] of Object.entries(cfg.pids || {})) s[name] = procSample(pid);
  return s;
}

// One streamed completion; resolves with what happened (never rejects).
function one(client, n) {
  return new Promise((resolve) => {
    const start = performance.now();
    const r = { kind: null, start: now(), ttft_ms: null, e2e_ms: null, tokens: 0, deltas: 0 };
    let settled = false;
    const finish = (kind, extra) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      r.kind = kind;
      r.e2e_ms = performance.now() - start;
      resolve(Object.assign(r, extra || {}));
    };
    const body = JSON.stringify({
      model: 'load', prompt: `Client ${client} asks, for the ${n}th time: once upon a time`,
      max_tokens: cfg.max_tokens || 32, temperature: cfg.temperature === undefined ? 0.8 : cfg.temperature,
      stream: true, stream_options: { include_usage: true },
    });
    const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    if (cfg.api_key) headers.authorization = `Bearer ${cfg.api_key}`;
    const req = http.request(url, { method: 'POST', agent, headers }, (res) => {
      res.setEncoding('utf8');
      let buf = '';
      let done = false, finishAt = null, error = null;
      res.on('data', (chunk) => {
        buf += chunk;
        if (res.statusCode !== 200) return;
        let cut;
        while ((cut = buf.indexOf('\n\n')) >= 0) {
          const event = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          if (!event.startsWith('data: ')) continue;
          const data = event.slice(6);
          if (data === '[DONE]') { done = true; continue; }
          let j;
          try { j = JSON.parse(data); } catch (e) { error = { parse: data.slice(0, 200) }; continue; }
          if (j.error) { error = j.error; continue; }
          if (j.usage) r.tokens = j.usage.completion_tokens;
          const c = j.choices && j.choices[0];
          if (!c) continue;
          if (c.text) {
            if (r.ttft_ms === null) r.ttft_ms = performance.now() - start;
            r.deltas++;
          }
          if (c.finish_reason) { finishAt = performance.now() - start; r.finish_reason = c.finish_reason; }
        }
      });
      res.on('end', () => {
        if (res.statusCode === 429) return finish('http_429');
        if (res.statusCode !== 200) return finish(`http_${res.statusCode}`, { body: buf.slice(0, 300) });
        if (error) return finish(error.code === 429 ? 'stream_429' : 'stream_error', { error });
        if (!done) return finish('no_done');
        if (r.tokens > 1 && finishAt !== null && r.ttft_ms !== null) r.tpot_ms = (finishAt - r.ttft_ms) / (r.tokens - 1);
        finish('ok');
      });
      res.on('error', (e) => finish('connection', { error: e.code || e.message }));
      res.on('close', () => finish('connection', { error: 'closed before the end of the response' }));
    });
    req.on('error', (e) => finish('connection', { error: e.code || e.message }));
    const timer = setTimeout(() => {
      finish('hang', { deadline_s: deadlineMs / 1000 });
      req.destroy(new Error('deadline'));
    }, deadlineMs);
    req.end(body);
  });
}

const results = [];
const endAt = seconds;
async function client(i) {
  for (let n = 1; now() < endAt; n++) {
    const r = await one(i, n);
    results.push(r);
    if (r.kind !== 'ok') await new Promise((resolve) => setTimeout(resolve, backoffMs));
  }
}

function percentile(values, p) {
  if (!values.length) return null;
  const v = [...values].sort((a, b) => a - b);
  return Number(v[Math.min(v.length - 1, Math.max(0, Math.ceil((p / 100) * v.length) - 1))].toFixed(2));
}

async function main() {
  const samples = [sampleAll('before')];
  const sampler = setInterval(() => samples.push(sampleAll('load')), 1000);
  await Promise.all(Array.from({ length: clients }, (_, i) => client(i)));
  clearInterval(sampler);
  const loadEnd = now();
  samples.push(sampleAll('after'));
  agent.destroy();  // the clients hang up: the server must release their connections
  await new Promise((resolve) => setTimeout(resolve, 10000));  // what is kept once idle
  samples.push(sampleAll('after_idle_10s'));

  const ok = results.filter((r) => r.kind === 'ok');
  const counts = {};
  for (const r of results) counts[r.kind] = (counts[r.kind] || 0) + 1;
  const tokens = ok.reduce((s, r) => s + r.tokens, 0);
  const report = {
    config: { clients, seconds, max_tokens: cfg.max_tokens || 32, temperature: cfg.temperature, deadline_s: deadlineMs / 1000, backoff_ms: backoffMs },
    wall_s: Number(loadEnd.toFixed(1)),
    requests: results.length, counts,
    completed_per_s: Number((ok.length / loadEnd).toFixed(2)),
    output_tokens_per_s: Number((tokens / loadEnd).toFixed(1)),
    ttft_ms: { p50: percentile(ok.map((r) => r.ttft_ms), 50), p99: percentile(ok.map((r) => r.ttft_ms), 99),
               max: percentile(ok.map((r) => r.ttft_ms), 100) },
    tpot_ms: { p50: percentile(ok.filter((r) => r.tpot_ms).map((r) => r.tpot_ms), 50),
               p99: percentile(ok.filter((r) => r.tpot_ms).map((r) => r.tpot_ms), 99) },
    e2e_ms: { p50: percentile(ok.map((r) => r.e2e_ms), 50), p99: percentile(ok.map((r) => r.e2e_ms), 99) },
    tokens_per_request: { p50: percentile(ok.map((r) => r.tokens), 50), min: percentile(ok.map((r) => r.tokens), 0) },
    hangs: results.filter((r) => r.kind === 'hang').map((r) => ({ start_s: r.start, deltas: r.deltas })),
    failures_sample: results.filter((r) => r.kind !== 'ok' && r.kind !== 'http_429').slice(0, 5),
    samples,
  };
  if (cfg.out) fs.writeFileSync(cfg.out, JSON.stringify(report, null, 1) + '\n');
  const brief = { ...report };
  delete brief.samples;
  const rss = (s, name) => (s[name] && s[name].rss_kib ? (s[name].rss_kib / 1024).toFixed(1) + ' MiB' : 'gone');
  const during = samples.filter((s) => s.phase === 'load');
  brief.rss = {};
  for (const name of Object.keys(cfg.pids || {})) {
    const peak = Math.max(...during.map((s) => (s[name] && s[name].rss_kib) || 0));
    brief.rss[name] = { before: rss(samples[0], name), peak_during: (peak / 1024).toFixed(1) + ' MiB',
                        after: rss(samples[samples.length - 2], name), after_idle_10s: rss(samples[samples.length - 1], name),
                        fds_before: samples[0][name].fds, fds_after_idle: samples[samples.length - 1][name].fds };
  }
  process.stdout.write(JSON.stringify(brief, null, 1) + '\n');
  process.exit(0);
}

main().catch((e) => {
  console.error(e && e.stack);
  process.exit(1);
});
