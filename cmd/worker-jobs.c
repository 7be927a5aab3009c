/*
 * worker-jobs.c -- a worker's jobs: claiming them (as many as it has
 * free slots, or --batch at a time for work that runs in the loop), the
 * outcomes of those that ended, recorded in one script call with the
 * next claim, and the jobs claimed before a broken link, handed back.
 *
 * Outcomes wait in w->outs while Redis is away: the jobs that ran go on,
 * and what they gave is recorded once the worker is back.  If it was
 * declared dead meanwhile, its claims were given to others and those
 * outcomes are refused by the fencing of complete.lua.
 */
#include <stdlib.h>
#include <string.h>

#include "worker.h"

/* A job ended (kind WQ_DONE_*): note its outcome, to be recorded. */
void
worker_outcome_add(struct worker *w, struct wq_claim *c, int kind,
    jv result, const char *error)
{
	struct wq_outcome	*o;

	if (w->nouts == w->outcap) {
		w->outcap = w->outcap ? w->outcap * 2 : 256;
		w->outs = wq_reallocarray(w->outs, w->outcap,
		    sizeof(*w->outs));
	}
	o = &w->outs[w->nouts++];
	memset(o, 0, sizeof(*o));
	memcpy(o->id, c->id, sizeof(o->id));
	o->token = c->token;
	o->kind = kind;
	o->result = result;
	o->error = error ? wq_strdup(error) : NULL;
	o->retry_ms = kind == WQ_DONE_FAIL ?
	    wq_backoff_retry_ms(c->token, w->backoff_ms) : 0;
	o->traceparent = c->traceparent ? wq_strdup(c->traceparent) : NULL;
	/* A slot is free: claim with the outcome (one round trip), since
	 * the last claim found work (a queue's limit may have held back
	 * more: docs/DESIGN.md, Limits). */
	if (w->claim_on_end)
		w->claim_now = 1;
}

/* The fields of a job's log line in JSON: id, state, traceparent. */
static jv
job_fields(struct wq_outcome *o, const char *st)
{
	jv	f;

	f = jv_object_set(jv_object(), jv_string("id"), jv_string(o->id));
	f = jv_object_set(f, jv_string("state"), jv_string(st));
	if (o->traceparent != NULL)
		f = jv_object_set(f, jv_string("traceparent"),
		    jv_string(o->traceparent));
	return f;
}

/* How an outcome was recorded, in the log. */
static void
log_outcome(struct worker *w, struct wq_outcome *o, const char *st)
{
	if (strcmp(st, "stale") == 0)
		worker_log(w, "fenced", jv_object_set(jv_object(),
		    jv_string("id"), jv_string(o->id)),
		    "job %s: result dropped, the claim (attempt %ld) "
		    "was taken away", o->id, o->token);
	else if (!w->quiet)
		worker_log(w, "job", job_fields(o, st),
		    "job %s %s (attempt %ld)%s%s%s%s", o->id, st, o->token,
		    o->traceparent ? " trace " : "",
		    o->traceparent ? o->traceparent : "",
		    o->error ? ": " : "", o->error ? o->error : "");
}

static void
count_outcome(struct worker *w, struct wq_outcome *o)
{
	const char	*st = o->state ? o->state : "?";

	if (strcmp(st, "worked") == 0)
		w->processed++;
	else if (strcmp(st, "failed") == 0 || strcmp(st, "pending") == 0) {
		if (o->kind == WQ_DONE_FAIL)
			w->failed++;
		if (strcmp(st, "failed") == 0)
			w->processed++;
	}
}

/*
 * --wait-replicas: the outcomes are recorded on the primary; WAIT before
 * they are logged as done.  Fewer replicas in time is logged and the
 * worker goes on: the jobs have ended on the primary, and running them
 * again would not make them more durable.
 */
static void
outcomes_wait(struct worker *w, size_t n)
{
	char	what[64];

	snprintf(what, sizeof(what), "%zu outcome%s recorded", n,
	    n == 1 ? "" : "s");
	if (n > 0 && wq_wait_replicas(w->wq, what) != WQ_OK)
		worker_log(w, "replicas", jv_null(), "%s", wq_error(w->wq));
}

/* The outcomes were recorded: log them, count them, forget them. */
static void
outcomes_recorded(struct worker *w)
{
	struct wq_outcome	*o;
	size_t			 i;

	outcomes_wait(w, w->nouts);
	for (i = 0; i < w->nouts; i++) {
		o = &w->outs[i];
		log_outcome(w, o, o->state ? o->state : "?");
		count_outcome(w, o);
		/* its children, told now (if this fails, by the sweep) */
		if (o->children && wq_deps_release(w->wq, o->id) != WQ_OK)
			worker_log(w, "deps", jv_null(), "job %s: its "
			    "children: %s", o->id, wq_error(w->wq));
		wq_outcome_clear(o);
	}
	w->nouts = 0;
}

/*
 * Redis answered an error to a call that recorded several outcomes (a
 * record overwritten with another type, say): record them one at a time,
 * so that one bad record does not hold the others.  One that fails so is
 * logged and dropped (a retry would fail the same way); an outcome the
 * failed call had recorded already answers "worked" again (complete.lua).
 */
static void
outcomes_singly(struct worker *w)
{
	struct wq_outcome	*o;
	size_t			 i, k;
	int			 rc = WQ_OK;

	for (i = 0, k = 0; i < w->nouts; i++) {
		o = &w->outs[i];
		if (rc == WQ_OK || rc == WQ_EREDIS)
			rc = wq_complete(w->wq, o, 1);
		if (rc == WQ_EREDIS) {
			worker_log(w, "redis-error", jv_object_set(jv_object(),
			    jv_string("id"), jv_string(o->id)), "job %s: its "
			    "outcome was not recorded: %s", o->id,
			    wq_error(w->wq));
			wq_outcome_clear(o);
		} else if (rc == WQ_OK) {
			outcomes_wait(w, 1);
			log_outcome(w, o, o->state ? o->state : "?");
			count_outcome(w, o);
			wq_outcome_clear(o);
		} else
			w->outs[k++] = *o;	/* kept for the next link */
	}
	w->nouts = k;
	if (rc != WQ_OK && rc != WQ_EREDIS)
		worker_failed(w, rc);
}

/* Record the outcomes waiting; keep them if Redis is away. */
void
worker_flush_outcomes(struct worker *w)
{
	int	rc;

	if (w->nouts == 0 || !w->up)
		return;
	if ((rc = wq_complete(w->wq, w->outs, w->nouts)) == WQ_EREDIS)
		outcomes_singly(w);
	else if (rc != WQ_OK)
		worker_failed(w, rc);
	else
		outcomes_recorded(w);
}

/* --sleep 0 work runs in the loop, --jq in a child: a batch at a time. */
static int
worker_inline(struct worker *w)
{
	return w->work == WORK_JQ || (w->work == WORK_SLEEP &&
	    w->sleep_s == 0);
}

/* How many jobs the worker can take now. */
size_t
worker_claimable(struct worker *w)
{
	if (w->work == WORK_JQ)
		return worker_jq_running(w) < (size_t)w->batch ?
		    (size_t)w->batch : 0;
	if (worker_inline(w))
		return (size_t)w->batch;
	return (size_t)(w->o.concurrency - worker_nrunning(w, PROC_JOB));
}

/*
 * A claim (with the outcomes sent along) failed.  Outcomes the call
 * recorded are done with (a state came back for them); the others are
 * recorded apart when Redis answered an error.  After an error answered,
 * claims wait for a hint or a heartbeat's word that there is work (a
 * queue key of another type would fail every claim): no loop of failed
 * claims.
 */
static void
claim_failed(struct worker *w, int rc)
{
	if (w->nouts > 0 && w->outs[0].state != NULL)
		outcomes_recorded(w);
	worker_failed(w, rc);
	if (rc != WQ_EREDIS)
		return;
	w->claim_now = 0;
	if (w->nouts > 0)
		outcomes_singly(w);
}

/*
 * Claim what the free slots can take (--batch for --jq and --sleep 0),
 * recording what ended in the same round trip, and start it.  --sleep 0
 * work is claimed again while a batch comes back full, for up to 20 ms:
 * a backlog must not starve heartbeats and messages.
 */
void
worker_claim(struct worker *w)
{
	struct wq_claim	*cs;
	size_t		 max, n, i;
	int		 rc, inline_work;
	int64_t		 t0 = wq_now_ms();

	inline_work = worker_inline(w);
	for (;;) {
		max = worker_claimable(w);
		if (max == 0 || !w->up || w->draining) {
			w->claim_now = !w->draining && max == 0 ?
			    w->claim_now : 0;
			return;
		}
		cs = wq_calloc(max, sizeof(*cs));
		rc = wq_complete_claim(w->wq, w->outs, w->nouts, &w->o, max,
		    cs, &n);
		if (rc != WQ_OK) {
			free(cs);
			claim_failed(w, rc);
			return;
		}
		if (w->nouts > 0 && w->outs[0].state == NULL)
			outcomes_singly(w);	/* Redis refused them */
		else
			outcomes_recorded(w);
		w->claim_now = n == max;
		w->claim_on_end = n > 0;
		if (w->work == WORK_JQ && n > 0) {
			worker_jq_start(w, cs, n);
			return;
		}
		for (i = 0; i < n; i++) {
			if (inline_work) {
				worker_outcome_add(w, &cs[i], WQ_DONE_OK,
				    jv_null(), NULL);
				wq_claim_clear(&cs[i]);
			} else
				worker_start_job(w, worker_free_slot(w),
				    &cs[i]);
		}
		free(cs);
		if (!inline_work || n < max || wq_now_ms() - t0 >= 20)
			return;
	}
}

/*
 * Back after a broken link: a claim sent before the break may have taken
 * jobs whose reply never came.  Hand back what this node holds but is
 * neither running nor about to record.
 */
int
worker_recover(struct worker *w)
{
	const char	**known;
	size_t		  n = 0, i;
	long		  handed = 0;
	int		  rc;

	known = wq_calloc(w->nslots + worker_jq_running(w) + w->nouts,
	    sizeof(*known));
	for (i = 0; i < w->nslots; i++)
		if (w->slots[i].used && w->slots[i].kind == PROC_JOB)
			known[n++] = w->slots[i].claim.id;
	for (i = w->jq_run.h; i < w->jq_run.qn; i++)
		known[n++] = w->jq_run.q[i].c.id;
	for (i = 0; i < w->nouts; i++)
		known[n++] = w->outs[i].id;
	rc = wq_recover(w->wq, known, n, &handed);
	free(known);
	if (rc == WQ_OK && handed > 0)
		worker_log(w, "recover", jv_null(), "%ld job(s) claimed "
		    "before the link broke were handed back", handed);
	return rc;
}

/*
 * Write the progress the running jobs said since it was last written,
 * in one call: of each job at most every PROGRESS_MS, the latest value
 * (one that came meanwhile replaces it).  s: that job's at once (it
 * ended).  A failure is logged; the value is dropped.
 */
void
worker_flush_progress(struct worker *w, struct slot *s)
{
	const char	**ids, **vals;
	long		 *toks;
	size_t		  i, n = 0;
	int64_t		  now = wq_now_ms();

	ids = wq_calloc(w->nslots, sizeof(*ids));
	vals = wq_calloc(w->nslots, sizeof(*vals));
	toks = wq_calloc(w->nslots, sizeof(*toks));
	for (i = 0; i < w->nslots; i++) {
		struct slot *t = &w->slots[i];

		if (!t->used || t->prog == NULL || (s != NULL && t != s) ||
		    (s == NULL && now < t->prog_at + PROGRESS_MS))
			continue;
		ids[n] = t->claim.id;
		toks[n] = t->claim.token;
		vals[n++] = t->prog;
	}
	if (n > 0 && w->up && wq_progress(w->wq, ids, toks, vals, n) != WQ_OK)
		worker_log(w, "progress", jv_null(), "progress: %s",
		    wq_error(w->wq));
	for (i = 0; i < w->nslots; i++) {
		struct slot *t = &w->slots[i];

		if (n > 0 && t->used && t->prog != NULL && (s == NULL ||
		    t == s) && (s != NULL || now >= t->prog_at + PROGRESS_MS)) {
			free(t->prog);
			t->prog = NULL;
			t->prog_at = now;
		}
	}
	free(ids);
	free(vals);
	free(toks);
}

/* When the next progress is to be written (0: none waits). */
int64_t
worker_progress_due(struct worker *w)
{
	int64_t	t = 0;
	size_t	i;

	for (i = 0; i < w->nslots; i++)
		if (w->slots[i].used && w->slots[i].prog != NULL &&
		    (t == 0 || w->slots[i].prog_at + PROGRESS_MS < t))
			t = w->slots[i].prog_at + PROGRESS_MS;
	return t;
}

/*
 * Queue the jobs of its queues whose time has come, and learn when the
 * next one is due: the timer of the loop, so that a job to run later
 * starts on time while the worker sleeps without polling Redis.
 */
void
worker_promote(struct worker *w)
{
	long	moved;
	int64_t	next;

	w->promote_now = 0;
	if (wq_promote(w->wq, &w->o, &moved, &next) != WQ_OK) {
		worker_went_down(w);
		return;
	}
	if (moved > 0)
		w->claim_now = 1;
	w->next_promote = next >= 0 ? wq_now_ms() + next : 0;
}
