// bullmq.js -- BullMQ's side of bench/run, with BullMQ's defaults
// (completed jobs are kept).
//   node bullmq.js PORT submit N one|bulk   time adding N jobs
//   node bullmq.js PORT prequeue N          add N jobs, untimed
//   node bullmq.js PORT work CONC           a worker process until killed
//   node bullmq.js PORT latency RATE S      paced adds; each job's time
//                                           from add() to its "completed"
//                                           event (QueueEvents)
//   node bullmq.js PORT pipeline N          wq-submit | wq-status --wait's
//                                           equivalent: addBulk in 1000s,
//                                           each job awaited through its
//                                           "completed" event; jobs/s from
//                                           the first add to the last event
//   node bullmq.js PORT awaitdone N         wq-status --wait on ended jobs:
//                                           Job.fromId + waitUntilFinished
//                                           of jobs 1..N, 1000 at a time
// With BENCH_CLUSTER=host:port,host:port (PORT is then ignored), on that
// Redis Cluster through ioredis's Cluster client, keys under the hash tag
// {bull} as BullMQ requires there (bench/rcluster, case bullmq3): its
// queue is one slot, on one primary.
'use strict';
const { Queue, Worker, QueueEvents, Job } = require('bullmq');
const Redis = require('ioredis');
const c = require('./common');

const cluster = process.env.BENCH_CLUSTER;
const seeds = cluster ? cluster.split(',').map((hp) => {
  const i = hp.lastIndexOf(':');
  return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) };
}) : null;
const connect = () => new Redis.Cluster(seeds,
  { redisOptions: { maxRetriesPerRequest: null } });
const connection = cluster ? connect()
  : { host: '127.0.0.1', port: c.port, maxRetriesPerRequest: null };
const prefix = cluster ? '{bull}' : 'bull';
const NAME = 'bench';

// On a cluster the worker counts into {bull}:bench:done (the queue's
// slot) every 10 ms, as common.js's doneCounter does on one server.
function clusterDone() {
  const r = connect();
  let n = 0;
  setInterval(() => {
    if (n > 0) { r.incrby('{bull}:bench:done', n); n = 0; }
  }, 10).unref();
  return () => { n++; };
}

async function main() {
  if (c.mode === 'work') {
    const done = cluster ? clusterDone() : c.doneCounter();
    const w = new Worker(NAME, async (job) => { done(); return job.data; },
      { connection, prefix, concurrency: c.args[0] });
    process.on('SIGTERM', () => w.close().then(() => process.exit(0)));
    return;
  }
  // The events stream is trimmed to 10,000 entries by default, about
  // 2,000 jobs' worth: a QueueEvents reader that lags behind the latency
  // run's 5,000 jobs, or the pipeline's 100,000, would lose completions.
  // A million entries keep them all.
  const q = new Queue(NAME, { connection, prefix, streams: { events: { maxLen: 1000000 } } });
  await q.waitUntilReady();
  if (c.mode === 'submit' || c.mode === 'prequeue') {
    const n = c.args[0], bulk = c.mode === 'prequeue' || process.argv[5] === 'bulk';
    const t0 = c.nowMs();
    if (bulk) {
      for (let i = 0; i < n; i += 1000) {
        const jobs = [];
        for (let j = i; j < Math.min(n, i + 1000); j++) jobs.push({ name: 'j', data: { i: j } });
        await q.addBulk(jobs);
      }
    } else {
      for (let i = 0; i < n; i++) await q.add('j', { i });
    }
    if (c.mode === 'submit') c.out(c.rate(n, t0));
  } else if (c.mode === 'pipeline') {
    const n = c.args[0];
    const ev = new QueueEvents(NAME, { connection, prefix });
    await ev.waitUntilReady();
    // A job may complete before addBulk() has said its id: those seen
    // early are kept until it does.
    const pending = new Set(), early = new Set();
    let left = n, finish;
    const all = new Promise((res) => { finish = res; });
    ev.on('completed', ({ jobId }) => {
      if (pending.delete(jobId)) {
        if (--left === 0) finish();
      } else early.add(jobId);
    });
    const t0 = c.nowMs();
    for (let i = 0; i < n; i += 1000) {
      const jobs = [];
      for (let j = i; j < Math.min(n, i + 1000); j++) jobs.push({ name: 'j', data: { i: j } });
      for (const job of await q.addBulk(jobs)) {
        if (early.delete(job.id)) {
          if (--left === 0) finish();
        } else pending.add(job.id);
      }
    }
    await Promise.race([all, c.sleep(600000)]);
    if (left > 0) throw new Error(left + ' jobs never seen completed');
    c.out(c.rate(n, t0));
    await ev.close();
  } else if (c.mode === 'awaitdone') {
    const n = c.args[0];
    const ev = new QueueEvents(NAME, { connection, prefix });
    await ev.waitUntilReady();
    const t0 = c.nowMs();
    for (let i = 1; i <= n; i += 1000) {
      const waits = [];
      for (let j = i; j < Math.min(n + 1, i + 1000); j++) {
        waits.push(Job.fromId(q, String(j)).then((job) => job.waitUntilFinished(ev)));
      }
      await Promise.all(waits);
    }
    c.out(c.rate(n, t0));
    await ev.close();
  } else if (c.mode === 'latency') {
    const [rate, secs] = c.args, n = rate * secs;
    const ev = new QueueEvents(NAME, { connection, prefix });
    await ev.waitUntilReady();
    const sent = new Map(), lat = [];
    let finish;
    const all = new Promise((res) => { finish = res; });
    ev.on('completed', ({ jobId }) => {
      const t = sent.get(jobId);
      if (t === undefined) return;
      lat.push(c.nowMs() - t);
      sent.delete(jobId);
      if (lat.length === n) finish();
    });
    await c.paced(rate, secs, (i) => {
      const id = 'lat-' + i;
      sent.set(id, c.nowMs());
      q.add('j', { i }, { jobId: id });
    });
    await Promise.race([all, c.sleep(15000)]);
    // A job whose event never came counts as 15 s, and is reported.
    const unseen = n - lat.length;
    for (let i = 0; i < unseen; i++) lat.push(15000);
    c.out({ ...c.percentiles(lat), unseen });
    await ev.close();
  }
  await q.close();
  process.exit(0);
}
main().catch((e) => { console.error('bullmq.js: ' + e.message); process.exit(1); });
