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
 * A call on ids[0..n), all of partition p (ids NULL: the next max ids of
 * the dead list of queue in partition p, for WQ_CONTROL_RETRY).
 */
static void
control_argv(struct wq *wq, int op, int p, const char **ids, size_t n,
    const char *queue, long max, struct wq_argv *a)
{
	size_t	i;

	/* KEYS[1], a key of the partition: a cluster routes by it */
	wq_script_argv(a, control_scripts[op]);
	if (ids != NULL)
		wq_argv_pkey(a, wq, p, "job:%s", ids[0]);
	else
		wq_argv_pkey(a, wq, p, "dead:%s", queue);
	wq_argv_setnkeys(a, 1);
	wq_script_pprefix(a, wq, p);
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
 * The nodes to tell of jobs cancelled while working, in a namespace of
 * several partitions: cancel.lua names them, the caller sends.
 */
struct control_tells {
	struct wq_argv	*cmds;
	size_t		 n, cap;
};

/* The word to the node that runs job id (its attempt): send.lua's call. */
static void
control_tell_argv(struct wq *wq, const char *node, const char *id,
    long long attempt, struct wq_argv *a)
{
	char	mid[WQ_ID_LEN + 64];
	jv	body;

	snprintf(mid, sizeof(mid), "cancel:%s:%lld", id, attempt);
	body = jv_object_set(jv_object_set(jv_object(), jv_string("id"),
	    jv_string(id)), jv_string("attempt"), jv_number((double)attempt));
	wq_msg_argv(wq, node, "cancel", body, 0, 0, mid, a);
}

/* Send them (one pipeline); a node dead or gone has nothing to kill. */
static int
control_tell(struct wq *wq, struct control_tells *t)
{
	redisReply	**r;
	size_t		  i;
	int		  rc;

	if (t->n == 0)
		return WQ_OK;
	r = wq_calloc(t->n, sizeof(*r));
	rc = wq_script_pipeline(wq, t->cmds, t->n, r);
	for (i = 0; rc == WQ_OK && i < t->n; i++)
		rc = wq_reply_error(wq, r[i], "cancel");
	wq_redis_pipeline_free(t->cmds, r, t->n);
	free(r);
	free(t->cmds);
	memset(t, 0, sizeof(*t));
	return rc;
}

/* Whether r is a reply of a control script: n entries {code, id, ...}. */
static int
control_valid(struct wq *wq, redisReply *r)
{
	redisReply	*e;
	size_t		 i;
	int		 rc;

	if ((rc = wq_reply_error(wq, r, "control")) != WQ_OK)
		return rc;
	if (r->type != REDIS_REPLY_ARRAY)
		return wq_seterr(wq, WQ_EREDIS, "control: unexpected reply");
	for (i = 0; i < r->elements; i++) {
		e = r->element[i];
		if (e->type != REDIS_REPLY_ARRAY || (e->elements != 3 &&
		    e->elements != 5) ||
		    e->element[1]->type != REDIS_REPLY_STRING ||
		    !wq_id_valid(e->element[1]->str) || (e->elements == 5 &&
		    e->element[3]->type != REDIS_REPLY_STRING))
			return wq_seterr(wq, WQ_EREDIS,
			    "control: unexpected reply");
	}
	return WQ_OK;
}

/* One entry: fn(arg, id, code, record); a node to tell goes on t. */
static void
control_entry(struct wq *wq, redisReply *e, struct control_tells *t,
    void (*fn)(void *, const char *, int, jv), void *arg)
{
	if (e->elements == 5 && t != NULL) {
		if (t->n == t->cap) {
			t->cap = t->cap ? t->cap * 2 : 8;
			t->cmds = wq_reallocarray(t->cmds, t->cap,
			    sizeof(*t->cmds));
		}
		control_tell_argv(wq, e->element[3]->str, e->element[1]->str,
		    wq_reply_ll(e->element[4]), &t->cmds[t->n++]);
	}
	fn(arg, e->element[1]->str, (int)wq_reply_ll(e->element[0]),
	    wq_record_from_reply(e->element[1]->str, e->element[2]));
}

/*
 * The reply of one call: for each id, fn(arg, id, code, record), the
 * record consumed (jv_null() for an unknown id).  *n: how many ids.
 */
static int
control_decode(struct wq *wq, redisReply *r, size_t *n,
    struct control_tells *t, void (*fn)(void *, const char *, int, jv),
    void *arg)
{
	size_t	i;
	int	rc;

	*n = 0;
	if ((rc = control_valid(wq, r)) != WQ_OK)
		return rc;
	for (i = 0; i < r->elements; i++)
		control_entry(wq, r->element[i], t, fn, arg);
	*n = r->elements;
	return WQ_OK;
}

/*
 * ids[0..n) (at most CONTROL_BATCH) in one pipeline: a call for each
 * partition they are of, in one, or many with several partitions; fn in
 * the order of ids; then the nodes to tell of working jobs cancelled.
 */
static int
control_chunk(struct wq *wq, int op, const char **ids, size_t n,
    void (*fn)(void *, const char *, int, jv), void *arg)
{
	struct control_tells	  t = { NULL, 0, 0 };
	struct wq_argv		 *cmds;
	redisReply		**r;
	const char		**v;
	size_t			 *cur, i, j, nc = 0, np = (size_t)wq_parts(wq);
	int			 *part, *slot, rc = WQ_OK;

	part = wq_calloc(n, sizeof(*part));
	slot = wq_calloc(np, sizeof(*slot));
	cur = wq_calloc(n, sizeof(*cur));
	v = wq_calloc(n, sizeof(*v));
	cmds = wq_calloc(n, sizeof(*cmds));
	r = wq_calloc(n, sizeof(*r));
	for (i = 0; i < np; i++)
		slot[i] = -1;
	for (i = 0; i < n; i++) {
		part[i] = wq_part_of(wq, ids[i]);
		if (slot[part[i]] == -1)
			slot[part[i]] = (int)nc++;
	}
	for (j = 0; j < nc; j++) {
		size_t	k = 0;
		int	p = -1;

		for (i = 0; i < n; i++)
			if (slot[part[i]] == (int)j) {
				p = part[i];
				v[k++] = ids[i];
			}
		control_argv(wq, op, p, v, k, NULL, 0, &cmds[j]);
		cur[j] = k;	/* the entries its reply must have */
	}
	/* (one call, as at P = 1: by wq_script_run(), EVAL at once after
	 * a NOSCRIPT) */
	if (nc == 1)
		rc = (r[0] = wq_script_run(wq, &cmds[0])) != NULL ? WQ_OK :
		    wq_reply_error(wq, NULL, "control");
	else
		rc = wq_script_pipeline(wq, cmds, nc, r);
	for (j = 0; rc == WQ_OK && j < nc; j++)
		if ((rc = control_valid(wq, r[j])) == WQ_OK &&
		    r[j]->elements != cur[j])
			rc = wq_seterr(wq, WQ_EREDIS, "control: unexpected "
			    "reply");
	memset(cur, 0, n * sizeof(*cur));
	for (i = 0; rc == WQ_OK && i < n; i++) {
		j = (size_t)slot[part[i]];
		control_entry(wq, r[j]->element[cur[j]++], &t, fn, arg);
	}
	wq_redis_pipeline_free(cmds, r, nc);
	if (rc == WQ_OK)
		rc = control_tell(wq, &t);
	else {
		for (i = 0; i < t.n; i++)
			wq_argv_free(&t.cmds[i]);
		free(t.cmds);
	}
	free(part);
	free(slot);
	free(cur);
	free(v);
	free(cmds);
	free(r);
	return rc;
}

/*
 * op (WQ_CONTROL_*) on the jobs of ids, in calls of CONTROL_BATCH ids
 * (with several partitions, a call for each partition of a batch, in one
 * pipeline): fn(arg, id, code, record) for each, in order, as each batch
 * answers.
 */
int
wq_control(struct wq *wq, int op, const char **ids, size_t n,
    void (*fn)(void *, const char *, int, jv), void *arg)
{
	size_t	i, k;
	int	rc;

	if ((rc = wq_connect(wq)) != WQ_OK)
		return rc;
	for (i = 0; rc == WQ_OK && i < n; i += k) {
		k = n - i < CONTROL_BATCH ? n - i : CONTROL_BATCH;
		rc = control_chunk(wq, op, ids + i, k, fn, arg);
	}
	return rc;
}

/*
 * The same operations for the API's event loop, as a read in rounds
 * (wq_read_control(), read.c), and for the blocking calls below
 * (ctlop_run()): a round a script call (the MULTI of a limit's commands
 * for WQ_CTL_LIMIT; a pause or resume one call for each partition),
 * until the operation is done.  A job's operation answers its record
 * (WQ_NO: the id unknown, or with wq_ctlop_conflict() the job not in a
 * state for it); a cancel of a working job in a namespace of several
 * partitions has a second round, the word to its node (send.lua).  A
 * dead list's retry {"queue","retried"} after as many rounds as it
 * takes, the partitions in turn, from 0 (with wq_ctlop_max(), up to max
 * jobs over as many partitions as it takes to find them, and also
 * "taken" and the records in "jobs"); a pause or resume
 * {"name","paused"}; a purge {"name","cancelled"}, the partitions in
 * turn; a limit {"name","limits"}.
 */
struct wq_ctlop {
	struct wq		*wq;
	int			 op;		/* WQ_CTL_* */
	char			 id[WQ_ID_LEN + 1];
	char			*queue;
	struct wq_limits	 lim;
	long			 max;
	int			 part;		/* of the dead list, purge */
	int			 evaled;	/* this round by EVAL */
	int			 done;
	int			 telling;	/* the round of the word */
	int			 conflict;
	long			 count;
	long			 taken;
	struct wq_argv		*cmds;
	size_t			 ncmds;
	void			(*fn)(void *, const char *, int, jv);
	void			*arg;		/* fn: each of a dead list */
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
	if (rc == WQ_OK)
		rc = wq_parts_one(wq, "limits");
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
	free(o->cmds);
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

/* A call of queue.lua on queue in partition p: op, then args. */
static void
queue_argv(struct wq *wq, int p, const char *op, const char *queue,
    struct wq_argv *a)
{
	wq_script_argv(a, WQ_SCRIPT_QUEUE);
	wq_argv_pkey(a, wq, p, "queue:%s", queue);	/* routes it */
	wq_argv_setnkeys(a, 1);
	wq_script_pprefix(a, wq, p);
	wq_argv_adds(a, op);
	wq_argv_adds(a, queue);
}

/* A call of a queue's purge in partition p: the next DEAD_BATCH ids. */
static void
purge_argv(struct wq *wq, int p, const char *queue, struct wq_argv *a)
{
	queue_argv(wq, p, "purge", queue, a);
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

/* The commands of the round, into o->cmds. */
static void
ctlop_build(struct wq_ctlop *o)
{
	struct wq	*wq = o->wq;
	const char	*ids[1] = { o->id };
	size_t		 i, np = (size_t)wq_parts(wq);

	if (o->cmds == NULL)
		o->cmds = wq_calloc(np > WQ_LIMIT_CMDS ? np : WQ_LIMIT_CMDS,
		    sizeof(*o->cmds));
	o->ncmds = 1;
	switch (o->op) {
	case WQ_CTL_CANCEL:
	case WQ_CTL_RETRY:
		control_argv(wq, o->op == WQ_CTL_CANCEL ? WQ_CONTROL_CANCEL :
		    WQ_CONTROL_RETRY, wq_part_of(wq, o->id), ids, 1, NULL, 0,
		    o->cmds);
		break;
	case WQ_CTL_RETRY_DEAD:
		control_argv(wq, WQ_CONTROL_RETRY, o->part, NULL, 0, o->queue,
		    o->max > 0 ? o->max - o->taken : DEAD_BATCH, o->cmds);
		break;
	case WQ_CTL_PURGE:
		purge_argv(wq, o->part, o->queue, o->cmds);
		break;
	case WQ_CTL_LIMIT:
		o->ncmds = wq_queue_limit_argv(wq, o->queue, &o->lim,
		    o->cmds);
		break;
	default:
		/* every partition's "paused", in one round */
		for (i = 0; i < np; i++)
			queue_argv(wq, (int)i, o->op == WQ_CTL_PAUSE ?
			    "pause" : "resume", o->queue, &o->cmds[i]);
		o->ncmds = np;
	}
}

/* The commands of the next round, or 0 when done. */
size_t
wq_ctlop_next(struct wq_ctlop *o, struct wq_argv **cmds)
{
	*cmds = NULL;
	if (o->done)
		return 0;
	if (o->ncmds == 0)
		ctlop_build(o);
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
	if (o->fn != NULL) {
		o->count += code == 1;
		o->fn(o->arg, id, code, rec);
		return;
	}
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
	size_t	got = 0, i;
	long	took, k, want;
	int	rc, np = wq_parts(o->wq);
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
		o->part += took < DEAD_BATCH;
		o->done = rc != WQ_OK || o->part >= np;
		if (o->done && rc == WQ_OK)
			o->out = ctlop_answer(o, "name", "cancelled",
			    jv_number((double)o->count));
		return rc;
	case WQ_CTL_RETRY_DEAD:
		want = o->max > 0 ? o->max - o->taken : DEAD_BATCH;
		rc = control_decode(o->wq, r[0], &got, NULL, ctlop_count, o);
		o->part += (long)got < want;
		o->done = rc != WQ_OK || o->part >= np || (o->max > 0 &&
		    o->taken >= o->max);
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
		for (i = 0; i < n; i++) {
			if ((rc = wq_reply_error(o->wq, r[i], "queue")) !=
			    WQ_OK)
				return rc;
			o->count += wq_reply_ll(r[i]) == 1;
		}
		o->out = ctlop_answer(o, "name", "paused",
		    jv_bool(o->op == WQ_CTL_PAUSE));
		return WQ_OK;
	}
}

/*
 * The commands of the round done: the next round builds its own, by
 * EVALSHA again (an EVAL of this round loaded its script).
 */
static void
ctlop_round_done(struct wq_ctlop *o)
{
	size_t	i;

	for (i = 0; i < o->ncmds; i++)
		wq_argv_free(&o->cmds[i]);
	o->ncmds = 0;
	o->evaled = 0;
}

/*
 * A job's operation: its record; a cancel that has a node to tell (with
 * several partitions) goes on to the round of the word.
 */
static int
ctlop_feed_job(struct wq_ctlop *o, redisReply *r)
{
	struct control_tells	t = { NULL, 0, 0 };
	size_t			got = 0;
	int			rc;

	if (o->telling) {
		o->done = 1;
		return wq_reply_error(o->wq, r, "cancel");
	}
	o->done = 1;
	rc = control_decode(o->wq, r, &got, &t, ctlop_one, o);
	if (rc == WQ_OK && t.n == 1 && got == 1) {
		ctlop_round_done(o);
		o->cmds[0] = t.cmds[0];
		o->ncmds = 1;
		o->telling = 1;
		o->done = 0;
		t.n = 0;
	}
	while (t.n > 0)
		wq_argv_free(&t.cmds[--t.n]);
	free(t.cmds);
	if (rc != WQ_OK)
		return rc;
	if (got != 1 || !jv_is_valid(o->out) || o->conflict)
		return WQ_NO;
	return WQ_OK;
}

int
wq_ctlop_feed(struct wq_ctlop *o, redisReply **r, size_t n)
{
	size_t	i;
	int	rc, noscript = 0;

	if (o->done || n != o->ncmds)
		return wq_seterr(o->wq, WQ_EUNAVAIL, "control: %zu replies",
		    n);
	for (i = 0; o->op != WQ_CTL_LIMIT && !o->evaled && i < n; i++)
		noscript |= wq_reply_noscript(r[i]);
	if (noscript) {
		/* the same round again, by EVAL, and the next ones too */
		o->evaled = 1;
		for (i = 0; i < n; i++)
			wq_script_to_eval(&o->cmds[i]);
		return WQ_OK;
	}
	if (o->op != WQ_CTL_CANCEL && o->op != WQ_CTL_RETRY)
		rc = ctlop_feed_queue(o, r, n);
	else
		rc = ctlop_feed_job(o, r[0]);
	if (!o->done && !o->telling)
		ctlop_round_done(o);
	return rc;
}

/* An operation's rounds, blocking. */
static int
ctlop_run(struct wq_ctlop *o)
{
	struct wq_argv	 *cmds;
	redisReply	**r;
	size_t		  i, n;
	int		  rc;

	if ((rc = wq_connect(o->wq)) != WQ_OK)
		return rc;
	while (rc == WQ_OK && (n = wq_ctlop_next(o, &cmds)) > 0) {
		r = wq_calloc(n, sizeof(*r));
		if ((rc = wq_redis_pipeline(o->wq, cmds, n, r)) == WQ_OK)
			rc = wq_ctlop_feed(o, r, n);
		for (i = 0; i < n; i++)
			if (r[i] != NULL)
				freeReplyObject(r[i]);
		free(r);
	}
	return rc;
}

/*
 * Retry every job of the dead list of queue, DEAD_BATCH a call, oldest
 * first, until a call finds fewer, the partitions in turn from 0: fn as
 * for wq_control().
 */
int
wq_retry_dead(struct wq *wq, const char *queue,
    void (*fn)(void *, const char *, int, jv), void *arg)
{
	struct wq_ctlop	*o;
	int		 rc;

	if ((rc = wq_ctlop_new(wq, WQ_CTL_RETRY_DEAD, queue, &o)) != WQ_OK)
		return rc;
	o->fn = fn;
	o->arg = arg;
	rc = ctlop_run(o);
	wq_ctlop_free(o);
	return rc;
}

/*
 * Pause or resume a queue (WQ_QUEUE_PAUSE, WQ_QUEUE_RESUME) in every
 * partition: *changed, whether it was not so already (in one at least).
 */
int
wq_queue_set(struct wq *wq, const char *queue, int op, int *changed)
{
	struct wq_ctlop	*o;
	int		 rc;

	*changed = 0;
	if ((rc = wq_ctlop_new(wq, op == WQ_QUEUE_PAUSE ? WQ_CTL_PAUSE :
	    WQ_CTL_RESUME, queue, &o)) != WQ_OK)
		return rc;
	if ((rc = ctlop_run(o)) == WQ_OK)
		*changed = o->count > 0;
	wq_ctlop_free(o);
	return rc;
}

/*
 * Cancel the pending jobs of a queue (those waiting for a retry too),
 * DEAD_BATCH ids a call, oldest first, until a call takes fewer, the
 * partitions in turn: *cancelled, how many.
 */
int
wq_queue_purge(struct wq *wq, const char *queue, long *cancelled)
{
	struct wq_ctlop	*o;
	int		 rc;

	*cancelled = 0;
	if ((rc = wq_ctlop_new(wq, WQ_CTL_PURGE, queue, &o)) != WQ_OK)
		return rc;
	rc = ctlop_run(o);
	*cancelled = o->count;
	wq_ctlop_free(o);
	return rc;
}

jv
wq_ctlop_result(struct wq_ctlop *o)
{
	jv	out = o->out;

	o->out = jv_invalid();
	return jv_is_valid(out) ? out : jv_null();
}
