// common.js -- what the Node.js peer clients share: the done counter a
// worker process flushes to Redis (bench/poll.c times the drain
// from it), pacing, percentiles, one JSON line of output.
'use strict';
const Redis = require('ioredis');

const port = Number(process.argv[2]);
const mode = process.argv[3];
const args = process.argv.slice(4).map(Number);

// A worker counts its jobs in memory and adds them to bench:done every
// 10 ms: one INCRBY per 10 ms, not one per job.
function doneCounter() {
  const r = new Redis({ port, host: '127.0.0.1' });
  let n = 0;
  const t = setInterval(() => {
    if (n > 0) { r.incrby('bench:done', n); n = 0; }
  }, 10);
  t.unref();
  return () => { n++; };
}

const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

// Call submit(i) RATE times a second for S seconds, without waiting for
// the jobs; resolves when the last one is sent.
async function paced(rate, secs, submit) {
  const n = rate * secs, t0 = nowMs();
  for (let i = 0; i < n; i++) {
    const due = t0 + (i * 1000) / rate;
    const d = due - nowMs();
    if (d > 1) await sleep(d - 0.5);
    else if (d > 0) await new Promise(setImmediate);
    submit(i);
  }
}

function percentiles(lat) {
  lat.sort((a, b) => a - b);
  const n = lat.length;
  const r3 = (x) => Math.round(x * 1000) / 1000;
  return { p50: r3(lat[Math.floor(n / 2)]), p99: r3(lat[Math.floor((n * 99) / 100)]),
    max: r3(lat[n - 1]), unit: 'ms', jobs: n };
}

function out(o) { process.stdout.write(JSON.stringify(o) + '\n'); }

function rate(n, t0) {
  return { value: Math.round((n * 1000) / (nowMs() - t0)), unit: 'jobs/s', jobs: n };
}

module.exports = { port, mode, args, doneCounter, sleep, nowMs, paced,
  percentiles, out, rate };
