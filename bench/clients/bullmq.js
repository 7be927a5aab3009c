// bullmq.js -- BullMQ's side of bench/run, with BullMQ's defaults
// (completed jobs are kept).
//   node bullmq.js PORT submit N one|bulk   time adding N jobs
//   node bullmq.js PORT prequeue N          add N jobs, untimed
//   node bullmq.js PORT work CONC           a worker process until killed
//   node bullmq.js PORT latency RATE S      paced adds; each job's time
//                                           from add() to its "completed"
//                                           event (QueueEvents)
'use strict';
const { Queue, Worker, QueueEvents } = require('bullmq');
const c = require('./common');

const connection = { host: '127.0.0.1', port: c.port, maxRetriesPerRequest: null };
const NAME = 'bench';

async function main() {
  if (c.mode === 'work') {
    const done = c.doneCounter();
    const w = new Worker(NAME, async (job) => { done(); return job.data; },
      { connection, concurrency: c.args[0] });
    process.on('SIGTERM', () => w.close().then(() => process.exit(0)));
    return;
  }
  // The events stream is trimmed to 10,000 entries by default, about
  // 2,000 jobs' worth: a QueueEvents reader that lags behind the latency
  // run's 5,000 jobs would lose completions.
  const q = new Queue(NAME, { connection, streams: { events: { maxLen: 100000 } } });
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
  } else if (c.mode === 'latency') {
    const [rate, secs] = c.args, n = rate * secs;
    const ev = new QueueEvents(NAME, { connection });
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
