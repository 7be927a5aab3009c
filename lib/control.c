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
#define DEAD_BATCH	500

static const enum wq_script_id control_scripts[] = {
	WQ_SCRIPT_CANCEL,
	WQ_SCRIPT_RETRY,
};

/*
 * A call on ids[0..n) (ids NULL: the next DEAD_BATCH ids of the dead
 * list of queue, for WQ_CONTROL_RETRY).
 */
static void
control_argv(struct wq *wq, int op, const char **ids, size_t n,
    const char *queue, struct wq_argv *a)
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
		wq_argv_addl(a, DEAD_BATCH);
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

	control_argv(wq, op, ids, n, queue, &a);
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
	long long	 took;
	int		 rc;

	*cancelled = 0;
	if ((rc = wq_check_queue(wq, queue)) != WQ_OK)
		return rc;
	do {
		wq_script_argv(&a, WQ_SCRIPT_QUEUE);
		wq_argv_setnkeys(&a, 0);
		wq_script_prefix(&a, wq);
		wq_argv_adds(&a, "purge");
		wq_argv_adds(&a, queue);
		wq_argv_adds(&a, wq_name(wq));
		wq_argv_addl(&a, DEAD_BATCH);
		r = wq_script_run(wq, &a);
		wq_argv_free(&a);
		took = 0;
		if ((rc = wq_reply_error(wq, r, "purge")) == WQ_OK) {
			if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
				rc = wq_seterr(wq, WQ_EREDIS,
				    "purge: unexpected reply");
			else {
				took = wq_reply_ll(r->element[0]);
				*cancelled += (long)wq_reply_ll(r->element[1]);
			}
		}
		if (r != NULL)
			freeReplyObject(r);
	} while (rc == WQ_OK && took == DEAD_BATCH);
	return rc;
}

/*
 * The same operations for the API's event loop, as a read in rounds
 * (wq_read_control(), read.c): one script call a round, until the
 * operation is done.  A job's operation answers its record (WQ_NO: the
 * id unknown, or with wq_ctlop_conflict() the job not in a state for
 * it); a dead list's retry {"queue","retried"} after as many rounds as it
 * takes; a pause or resume {"name","paused"}.
 */
struct wq_ctlop {
	struct wq	*wq;
	int		 op;		/* WQ_CTL_* */
	char		 id[WQ_ID_LEN + 1];
	char		*queue;
	int		 evaled;
	int		 done;
	int		 conflict;
	long		 count;
	struct wq_argv	 cmd;
	int		 has_cmd;
	jv		 out;
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
	o->out = jv_invalid();
	*out = o;
	return WQ_OK;
}

void
wq_ctlop_free(struct wq_ctlop *o)
{
	if (o == NULL)
		return;
	if (o->has_cmd)
		wq_argv_free(&o->cmd);
	free(o->queue);
	jv_free(o->out);
	free(o);
}

int
wq_ctlop_conflict(struct wq_ctlop *o)
{
	return o->conflict;
}

/* The command of the next round, or 0 when done. */
size_t
wq_ctlop_next(struct wq_ctlop *o, struct wq_argv **cmds)
{
	const char	*ids[1];

	*cmds = NULL;
	if (o->done)
		return 0;
	if (!o->has_cmd) {
		ids[0] = o->id;
		if (o->op == WQ_CTL_CANCEL || o->op == WQ_CTL_RETRY)
			control_argv(o->wq, o->op == WQ_CTL_CANCEL ?
			    WQ_CONTROL_CANCEL : WQ_CONTROL_RETRY, ids, 1, NULL,
			    &o->cmd);
		else if (o->op == WQ_CTL_RETRY_DEAD)
			control_argv(o->wq, WQ_CONTROL_RETRY, NULL, 0,
			    o->queue, &o->cmd);
		else {
			wq_script_argv(&o->cmd, WQ_SCRIPT_QUEUE);
			wq_argv_setnkeys(&o->cmd, 0);
			wq_script_prefix(&o->cmd, o->wq);
			wq_argv_adds(&o->cmd, o->op == WQ_CTL_PAUSE ? "pause" :
			    "resume");
			wq_argv_adds(&o->cmd, o->queue);
		}
		if (o->evaled)
			wq_script_to_eval(&o->cmd);
		o->has_cmd = 1;
	}
	*cmds = &o->cmd;
	return 1;
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

/* For a dead list's retry: count what was put back. */
static void
ctlop_count(void *arg, const char *id, int code, jv rec)
{
	struct wq_ctlop	*o = arg;

	(void)id;
	if (code == 1)
		o->count++;
	jv_free(rec);
}

int
wq_ctlop_feed(struct wq_ctlop *o, redisReply **r, size_t n)
{
	size_t	got = 0;
	int	rc;

	if (o->done || n != 1)
		return wq_seterr(o->wq, WQ_EUNAVAIL, "control: %zu replies",
		    n);
	if (!o->evaled && wq_reply_noscript(r[0])) {
		o->evaled = 1;
		wq_script_to_eval(&o->cmd);
		return WQ_OK;
	}
	if (o->op == WQ_CTL_PAUSE || o->op == WQ_CTL_RESUME) {
		o->done = 1;
		if ((rc = wq_reply_error(o->wq, r[0], "queue")) != WQ_OK)
			return rc;
		o->out = jv_object_set(jv_object_set(jv_object(),
		    jv_string("name"), jv_string(o->queue)),
		    jv_string("paused"), jv_bool(o->op == WQ_CTL_PAUSE));
		return WQ_OK;
	}
	if (o->op == WQ_CTL_RETRY_DEAD) {
		rc = control_decode(o->wq, r[0], &got, ctlop_count, o);
		o->done = rc != WQ_OK || got < DEAD_BATCH;
		if (o->done && rc == WQ_OK)
			o->out = jv_object_set(jv_object_set(jv_object(),
			    jv_string("queue"), jv_string(o->queue)),
			    jv_string("retried"), jv_number((double)o->count));
		return rc;
	}
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
