/*
 * control.c -- job control (docs/DESIGN.md, Job control): cancel jobs,
 * retry them, one by one or a queue's whole dead list; pause, resume
 * and purge queues.
 *
 * The ids go to the scripts in calls of a bounded size, so that no call
 * holds Redis for long whatever the input: CONTROL_BATCH ids (each may
 * cost an LREM on a list), or DEAD_BATCH ids of a dead list or a queue
 * (taken off its end).  Each id gets a code and the record after the call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wq-int.h"

#define CONTROL_BATCH	100
#define DEAD_BATCH	WQ_CTL_MAX

static const enum wq_script_id control_scripts[] = {
	WQ_SCRIPT_CANCEL,
	WQ_SCRIPT_RETRY,
};

/*
 * A call on ids[0..n) (ids NULL: the next max ids of the dead list of
 * queue, for WQ_CONTROL_RETRY).
 */
static void
control_argv(struct wq *wq, int op, const char **ids, size_t n,
    const char *queue, long max, struct wq_argv *a)
{
	size_t	i;

	wq_script_argv(a, control_scripts[op]);
	wq_argv_setnkeys(a, 0);
	wq_script_prefix(a, wq);
	if (op == WQ_CONTROL_CANCEL)
		wq_argv_adds(a, wq_name(wq));
	else if (ids == NULL) {
		wq_argv_adds(a, "dead");
		wq_argv_adds(a, queue);
		wq_argv_addl(a, max);
		return;
	} else
		wq_argv_adds(a, "ids");
	for (i = 0; i < n; i++)
		wq_argv_adds(a, ids[i]);
}

/*
 * The reply of one call: for each id, fn(arg, id, code, record), the
 * record consumed (jv_null() for an unknown id).  *n: how many ids.
 */
static int
control_decode(struct wq *wq, redisReply *r, size_t *n,
    void (*fn)(void *, const char *, int, jv), void *arg)
{
	redisReply	*e;
	size_t		 i;
	int		 rc;

	*n = 0;
	if ((rc = wq_reply_error(wq, r, "control")) != WQ_OK)
		return rc;
	if (r->type != REDIS_REPLY_ARRAY)
		return wq_seterr(wq, WQ_EREDIS, "control: unexpected reply");
	for (i = 0; i < r->elements; i++) {
		e = r->element[i];
		if (e->type != REDIS_REPLY_ARRAY || e->elements != 3 ||
		    e->element[1]->type != REDIS_REPLY_STRING ||
		    !wq_id_valid(e->element[1]->str))
			return wq_seterr(wq, WQ_EREDIS,
			    "control: unexpected reply");
	}
	for (i = 0; i < r->elements; i++) {
		e = r->element[i];
		fn(arg, e->element[1]->str, (int)wq_reply_ll(e->element[0]),
		    wq_record_from_reply(e->element[1]->str, e->element[2]));
	}
	*n = r->elements;
	return WQ_OK;
}

/* One call, blocking. */
static int
control_call(struct wq *wq, int op, const char **ids, size_t n,
    const char *queue, size_t *got, void (*fn)(void *, const char *, int, jv),
    void *arg)
{
	struct wq_argv	 a;
	redisReply	*r;
	int		 rc;

	control_argv(wq, op, ids, n, queue, DEAD_BATCH, &a);
	r = wq_script_run(wq, &a);
	wq_argv_free(&a);
	rc = control_decode(wq, r, got, fn, arg);
	if (r != NULL)
		freeReplyObject(r);
	return rc;
}

/*
 * op (WQ_CONTROL_*) on the jobs of ids, in calls of CONTROL_BATCH ids:
 * fn(arg, id, code, record) for each, in order, as each call answers.
 */
int
wq_control(struct wq *wq, int op, const char **ids, size_t n,
    void (*fn)(void *, const char *, int, jv), void *arg)
{
	size_t	i, k, got;
	int	rc = WQ_OK;

	for (i = 0; rc == WQ_OK && i < n; i += k) {
		k = n - i < CONTROL_BATCH ? n - i : CONTROL_BATCH;
		rc = control_call(wq, op, ids + i, k, NULL, &got, fn, arg);
	}
	return rc;
}

/*
 * Retry every job of the dead list of queue, DEAD_BATCH a call, oldest
 * first, until a call finds fewer: fn as for wq_control().
 */
int
wq_retry_dead(struct wq *wq, const char *queue,
    void (*fn)(void *, const char *, int, jv), void *arg)
{
	size_t	got;
	int	rc;

	if ((rc = wq_check_queue(wq, queue)) != WQ_OK)
		return rc;
	do
		rc = control_call(wq, WQ_CONTROL_RETRY, NULL, 0, queue, &got,
		    fn, arg);
	while (rc == WQ_OK && got == DEAD_BATCH);
	return rc;
}

/*
 * Pause or resume a queue (WQ_QUEUE_PAUSE, WQ_QUEUE_RESUME): *changed,
 * whether it was not so already.
 */
int
wq_queue_set(struct wq *wq, const char *queue, int op, int *changed)
{
	struct wq_argv	 a;
	redisReply	*r;
	int		 rc;

	if ((rc = wq_check_queue(wq, queue)) != WQ_OK)
		return rc;
	wq_script_argv(&a, WQ_SCRIPT_QUEUE);
	wq_argv_setnkeys(&a, 0);
	wq_script_prefix(&a, wq);
	wq_argv_adds(&a, op == WQ_QUEUE_PAUSE ? "pause" : "resume");
	wq_argv_adds(&a, queue);
	r = wq_script_run(wq, &a);
	wq_argv_free(&a);
	if ((rc = wq_reply_error(wq, r, "queue")) == WQ_OK)
		*changed = wq_reply_ll(r) == 1;
	if (r != NULL)
		freeReplyObject(r);
	return rc;
}

/* A call of a queue's purge: the next DEAD_BATCH ids. */
static void
purge_argv(struct wq *wq, const char *queue, struct wq_argv *a)
{
	wq_script_argv(a, WQ_SCRIPT_QUEUE);
	wq_argv_setnkeys(a, 0);
	wq_script_prefix(a, wq);
	wq_argv_adds(a, "purge");
	wq_argv_adds(a, queue);
	wq_argv_adds(a, wq_name(wq));
	wq_argv_addl(a, DEAD_BATCH);
}

/* Its reply: *took ids taken off, *cancelled jobs cancelled. */
static int
purge_decode(struct wq *wq, redisReply *r, long *took, long *cancelled)
{
	int	rc;

	*took = *cancelled = 0;
	if ((rc = wq_reply_error(wq, r, "purge")) != WQ_OK)
		return rc;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
		return wq_seterr(wq, WQ_EREDIS, "purge: unexpected reply");
	*took = (long)wq_reply_ll(r->element[0]);
	*cancelled = (long)wq_reply_ll(r->element[1]);
	return WQ_OK;
}

/*
 * Cancel the pending jobs of a queue (those waiting for a retry too),
 * DEAD_BATCH ids a call, oldest first, until a call takes fewer:
 * *cancelled, how many.
 */
int
wq_queue_purge(struct wq *wq, const char *queue, long *cancelled)
{
	struct wq_argv	 a;
	redisReply	*r;
	long		 took, n;
	int		 rc;

	*cancelled = 0;
	if ((rc = wq_check_queue(wq, queue)) != WQ_OK)
		return rc;
	do {
		purge_argv(wq, queue, &a);
		r = wq_script_run(wq, &a);
		wq_argv_free(&a);
		rc = purge_decode(wq, r, &took, &n);
		*cancelled += n;
		if (r != NULL)
			freeReplyObject(r);
	} while (rc == WQ_OK && took == DEAD_BATCH);
	return rc;
}

/*
 * The same operations for the API's event loop, as a read in rounds
 * (wq_read_control(), read.c): a round a script call (the MULTI of a
 * limit's commands for WQ_CTL_LIMIT), until the operation is done.  A
 * job's operation answers its record (WQ_NO: the id unknown, or with
 * wq_ctlop_conflict() the job not in a state for it); a dead list's
 * retry {"queue","retried"} after as many rounds as it takes (with
 * wq_ctlop_max(), one round and also "taken" and the records in
 * "jobs"); a pause or resume {"name","paused"}; a purge
 * {"name","cancelled"}; a limit {"name","limits"}.
 */
struct wq_ctlop {
	struct wq		*wq;
	int			 op;		/* WQ_CTL_* */
	char			 id[WQ_ID_LEN + 1];
	char			*queue;
	struct wq_limits	 lim;
	long			 max;
	int			 evaled;
	int			 done;
	int			 conflict;
	long			 count;
	long			 taken;
	struct wq_argv		 cmds[WQ_LIMIT_CMDS];
	size_t			 ncmds;
	jv			 jobs;
	jv			 out;
};

int
wq_ctlop_new(struct wq *wq, int op, const char *arg, struct wq_ctlop **out)
{
	struct wq_ctlop	*o;
	int		 rc;

	*out = NULL;
	if (op == WQ_CTL_CANCEL || op == WQ_CTL_RETRY) {
		if (!wq_id_valid(arg))
			return wq_seterr(wq, WQ_NO, "not found");
	} else if ((rc = wq_check_queue(wq, arg)) != WQ_OK)
		return rc;
	o = wq_calloc(1, sizeof(*o));
	o->wq = wq;
	o->op = op;
	if (op == WQ_CTL_CANCEL || op == WQ_CTL_RETRY)
		snprintf(o->id, sizeof(o->id), "%s", arg);
	else
		o->queue = wq_strdup(arg);
	o->jobs = jv_array();
	o->out = jv_invalid();
	*out = o;
	return WQ_OK;
}

/* A limit's field of the body: a whole number, 0 when absent. */
static int
limit_field(struct wq *wq, jv body, const char *name, long *v)
{
	jv	f;
	double	d;

	f = jv_object_get(jv_copy(body), jv_string(name));
	*v = 0;
	if (jv_get_kind(f) == JV_KIND_NULL || !jv_is_valid(f)) {
		jv_free(f);
		return WQ_OK;
	}
	d = jv_get_kind(f) == JV_KIND_NUMBER ? jv_number_value(f) : -1;
	jv_free(f);
	if (d < 1 || d > WQ_LIMIT_PERIOD_MAX_MS || d != (double)(long)d)
		return wq_seterr(wq, WQ_EUSAGE, "bad %s: a whole number "
		    "from 1", name);
	*v = (long)d;
	return WQ_OK;
}

/* Whether every field of the body is one of a limit's. */
static int
limit_fields_known(struct wq *wq, jv body)
{
	static const char *const known[] = { "concurrency", "rate",
	    "period_ms", "group_concurrency", "clear" };
	jv	keys, k;
	int	i, j, n, ok = 1;

	keys = jv_keys(jv_copy(body));
	n = jv_array_length(jv_copy(keys));
	for (i = 0; ok && i < n; i++) {
		k = jv_array_get(jv_copy(keys), i);
		for (j = 0, ok = 0; !ok && j < 5; j++)
			ok = strcmp(jv_string_value(k), known[j]) == 0;
		if (!ok)
			wq_seterr(wq, WQ_EUSAGE, "unknown field \"%.32s\"",
			    jv_string_value(k));
		jv_free(k);
	}
	jv_free(keys);
	return ok ? WQ_OK : WQ_EUSAGE;
}

/*
 * WQ_CTL_LIMIT on queue q, from a JSON body {"concurrency","rate",
 * "period_ms","group_concurrency","clear"} (as wq-queue limit's flags):
 * WQ_EUSAGE for a bad one, with why.
 */
int
wq_ctlop_limits(struct wq *wq, const char *q, const char *body, size_t len,
    struct wq_ctlop **out)
{
	struct wq_limits	 l;
	char			 err[128];
	jv			 b, c;
	int			 rc;

	*out = NULL;
	memset(&l, 0, sizeof(l));
	b = wq_parse(body, len, err, sizeof(err));
	if (jv_get_kind(b) != JV_KIND_OBJECT) {
		jv_free(b);
		return wq_seterr(wq, WQ_EUSAGE, "the body must be a JSON "
		    "object");
	}
	c = jv_object_get(jv_copy(b), jv_string("clear"));
	l.clear = jv_get_kind(c) == JV_KIND_TRUE;
	rc = jv_get_kind(c) == JV_KIND_TRUE || jv_get_kind(c) ==
	    JV_KIND_FALSE || jv_get_kind(c) == JV_KIND_NULL ||
	    !jv_is_valid(c) ? WQ_OK : wq_seterr(wq, WQ_EUSAGE, "bad clear: "
	    "true or false");
	jv_free(c);
	if (rc == WQ_OK)
		rc = limit_fields_known(wq, b);
	if (rc == WQ_OK)
		rc = limit_field(wq, b, "concurrency", &l.concurrency);
	if (rc == WQ_OK)
		rc = limit_field(wq, b, "rate", &l.rate);
	if (rc == WQ_OK)
		rc = limit_field(wq, b, "period_ms", &l.period_ms);
	if (rc == WQ_OK)
		rc = limit_field(wq, b, "group_concurrency",
		    &l.group_concurrency);
	jv_free(b);
	if (rc == WQ_OK && (l.rate != 0) != (l.period_ms != 0))
		rc = wq_seterr(wq, WQ_EUSAGE, "rate and period_ms go "
		    "together");
	if (rc == WQ_OK && !l.concurrency && !l.rate &&
	    !l.group_concurrency && !l.clear)
		rc = wq_seterr(wq, WQ_EUSAGE, "say concurrency, rate and "
		    "period_ms, group_concurrency, or clear");
	if (rc == WQ_OK)
		rc = wq_queue_limit_check(wq, q, &l);
	if (rc != WQ_OK)
		return rc;
	if ((rc = wq_ctlop_new(wq, WQ_CTL_LIMIT, q, out)) == WQ_OK)
		(*out)->lim = l;
	return rc;
}

/* A dead list's retry in one round of max ids, with their records. */
void
wq_ctlop_max(struct wq_ctlop *o, long max)
{
	o->max = max;
}

void
wq_ctlop_free(struct wq_ctlop *o)
{
	size_t	i;

	if (o == NULL)
		return;
	for (i = 0; i < o->ncmds; i++)
		wq_argv_free(&o->cmds[i]);
	free(o->queue);
	jv_free(o->jobs);
	jv_free(o->out);
	free(o);
}

int
wq_ctlop_conflict(struct wq_ctlop *o)
{
	return o->conflict;
}

/* The commands of the next round, or 0 when done. */
size_t
wq_ctlop_next(struct wq_ctlop *o, struct wq_argv **cmds)
{
	const char	*ids[1];
	struct wq_argv	*a = &o->cmds[0];

	*cmds = NULL;
	if (o->done)
		return 0;
	if (o->ncmds == 0) {
		ids[0] = o->id;
		o->ncmds = 1;
		if (o->op == WQ_CTL_CANCEL || o->op == WQ_CTL_RETRY)
			control_argv(o->wq, o->op == WQ_CTL_CANCEL ?
			    WQ_CONTROL_CANCEL : WQ_CONTROL_RETRY, ids, 1, NULL,
			    0, a);
		else if (o->op == WQ_CTL_RETRY_DEAD)
			control_argv(o->wq, WQ_CONTROL_RETRY, NULL, 0,
			    o->queue, o->max > 0 ? o->max : DEAD_BATCH, a);
		else if (o->op == WQ_CTL_PURGE)
			purge_argv(o->wq, o->queue, a);
		else if (o->op == WQ_CTL_LIMIT)
			o->ncmds = wq_queue_limit_argv(o->wq, o->queue,
			    &o->lim, o->cmds);
		else {
			wq_script_argv(a, WQ_SCRIPT_QUEUE);
			wq_argv_setnkeys(a, 0);
			wq_script_prefix(a, o->wq);
			wq_argv_adds(a, o->op == WQ_CTL_PAUSE ? "pause" :
			    "resume");
			wq_argv_adds(a, o->queue);
		}
		if (o->evaled)
			wq_script_to_eval(a);
	}
	*cmds = o->cmds;
	return o->ncmds;
}

/* One id's outcome, for a job's operation. */
static void
ctlop_one(void *arg, const char *id, int code, jv rec)
{
	struct wq_ctlop	*o = arg;
	jv		 st;

	(void)id;
	if (code < 0) {
		jv_free(rec);
		wq_seterr(o->wq, WQ_NO, "not found");
		return;
	}
	if (code == 0) {
		o->conflict = 1;
		st = jv_object_get(jv_copy(rec), jv_string("status"));
		wq_seterr(o->wq, WQ_NO, "the job is %s: not %s",
		    jv_get_kind(st) == JV_KIND_STRING ? jv_string_value(st) :
		    "?", o->op == WQ_CTL_CANCEL ? "cancelled" : "retried");
		jv_free(st);
	}
	jv_free(o->out);
	o->out = rec;
}

/* For a dead list's retry: count what was put back (and keep it). */
static void
ctlop_count(void *arg, const char *id, int code, jv rec)
{
	struct wq_ctlop	*o = arg;

	(void)id;
	o->taken++;
	if (code == 1) {
		o->count++;
		if (o->max > 0) {
			o->jobs = jv_array_append(o->jobs, rec);
			return;
		}
	}
	jv_free(rec);
}

/* The answer of a queue's operation: {"name"|"queue": q, field: v}. */
static jv
ctlop_answer(struct wq_ctlop *o, const char *name, const char *field, jv v)
{
	return jv_object_set(jv_object_set(jv_object(), jv_string(name),
	    jv_string(o->queue)), jv_string(field), v);
}

/* The replies of a queue's operation (not a job's). */
static int
ctlop_feed_queue(struct wq_ctlop *o, redisReply **r, size_t n)
{
	size_t	got = 0;
	long	took, k;
	int	rc;
	jv	l;

	switch (o->op) {
	case WQ_CTL_LIMIT:
		o->done = 1;
		if ((rc = wq_queue_limit_decode(o->wq, r, n, &l)) == WQ_OK)
			o->out = ctlop_answer(o, "name", "limits", l);
		else
			jv_free(l);
		return rc;
	case WQ_CTL_PURGE:
		rc = purge_decode(o->wq, r[0], &took, &k);
		o->count += k;
		o->done = rc != WQ_OK || took < DEAD_BATCH;
		if (o->done && rc == WQ_OK)
			o->out = ctlop_answer(o, "name", "cancelled",
			    jv_number((double)o->count));
		return rc;
	case WQ_CTL_RETRY_DEAD:
		rc = control_decode(o->wq, r[0], &got, ctlop_count, o);
		o->done = rc != WQ_OK || o->max > 0 || got < DEAD_BATCH;
		if (!o->done || rc != WQ_OK)
			return rc;
		o->out = ctlop_answer(o, "queue", "retried",
		    jv_number((double)o->count));
		if (o->max > 0) {
			o->out = jv_object_set(o->out, jv_string("taken"),
			    jv_number((double)o->taken));
			o->out = jv_object_set(o->out, jv_string("jobs"),
			    o->jobs);
			o->jobs = jv_array();
		}
		return rc;
	default:
		o->done = 1;
		if ((rc = wq_reply_error(o->wq, r[0], "queue")) != WQ_OK)
			return rc;
		o->out = ctlop_answer(o, "name", "paused",
		    jv_bool(o->op == WQ_CTL_PAUSE));
		return WQ_OK;
	}
}

int
wq_ctlop_feed(struct wq_ctlop *o, redisReply **r, size_t n)
{
	size_t	got = 0;
	int	rc;

	if (o->done || n != o->ncmds)
		return wq_seterr(o->wq, WQ_EUNAVAIL, "control: %zu replies",
		    n);
	if (o->op != WQ_CTL_LIMIT && !o->evaled &&
	    wq_reply_noscript(r[0])) {
		o->evaled = 1;
		wq_script_to_eval(&o->cmds[0]);
		return WQ_OK;
	}
	if (o->op != WQ_CTL_CANCEL && o->op != WQ_CTL_RETRY)
		return ctlop_feed_queue(o, r, n);
	o->done = 1;
	if ((rc = control_decode(o->wq, r[0], &got, ctlop_one, o)) != WQ_OK)
		return rc;
	if (got != 1 || !jv_is_valid(o->out) || o->conflict)
		return WQ_NO;
	return WQ_OK;
}

jv
wq_ctlop_result(struct wq_ctlop *o)
{
	jv	out = o->out;

	o->out = jv_invalid();
	return jv_is_valid(out) ? out : jv_null();
}
