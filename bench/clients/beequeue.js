// beequeue.js -- bee-queue's side of bench/run, with bee-queue's defaults
// (jobs are stored and kept after success, events are sent).
//   node beequeue.js PORT submit N one|bulk   time saving N jobs
//   node beequeue.js PORT prequeue N          save N jobs, untimed
//   node beequeue.js PORT work CONC           a worker process until killed
//   node beequeue.js PORT latency RATE S      paced saves; each job's time
//                                             from save() to its
//                                             "succeeded" event
'use strict';
const Queue = require('bee-queue');
const c = require('./common');

const redis = { host: '127.0.0.1', port: c.port };
const NAME = 'bench';

async function main() {
  if (c.mode === 'work') {
    const done = c.doneCounter();
    const q = new Queue(NAME, { redis });
    q.process(c.args[0], async (job) => { done(); return job.data; });
    process.on('SIGTERM', () => q.close().then(() => process.exit(0)));
    return;
  }
  const q = new Queue(NAME, { redis, isWorker: false,
    getEvents: c.mode === 'latency' });
  await q.ready();
  if (c.mode === 'submit' || c.mode === 'prequeue') {
    const n = c.args[0], bulk = c.mode === 'prequeue' || process.argv[5] === 'bulk';
    const t0 = c.nowMs();
    if (bulk) {
      for (let i = 0; i < n; i += 1000) {
        const jobs = [];
        for (let j = i; j < Math.min(n, i + 1000); j++) jobs.push(q.createJob({ i: j }));
        const errs = await q.saveAll(jobs);
        if (errs.size > 0) throw new Error('saveAll failed');
      }
    } else {
      for (let i = 0; i < n; i++) await q.createJob({ i }).save();
    }
    if (c.mode === 'submit') c.out(c.rate(n, t0));
  } else if (c.mode === 'latency') {
    const [rate, secs] = c.args, n = rate * secs;
    const sent = new Map(), lat = [];
    let finish;
    const all = new Promise((res) => { finish = res; });
    q.on('job succeeded', (id) => {
      const t = sent.get(id);
      if (t === undefined) return;
      lat.push(c.nowMs() - t);
      sent.delete(id);
      if (lat.length === n) finish();
    });
    await c.paced(rate, secs, (i) => {
      const id = 'lat-' + i;
      sent.set(id, c.nowMs());
      q.createJob({ i }).setId(id).save();
    });
    await Promise.race([all, c.sleep(15000)]);
    // A job whose event never came counts as 15 s, and is reported.
    const unseen = n - lat.length;
    for (let i = 0; i < unseen; i++) lat.push(15000);
    c.out({ ...c.percentiles(lat), unseen });
  }
  await q.close();
  process.exit(0);
}
main().catch((e) => { console.error('beequeue.js: ' + e.message); process.exit(1); });
