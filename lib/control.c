/*
 * control.c -- job control (docs/DESIGN.md, Job control): cancel jobs,
 * and the answers of the scripts that do it.
 *
 * The ids go to the script in calls of CONTROL_BATCH, so that no call
 * holds Redis for long whatever the input; each id gets a code and the
 * record after the call.
 */
#include <stdlib.h>
#include <string.h>

#include "wq-int.h"

#define CONTROL_BATCH	100

static const enum wq_script_id control_scripts[] = {
	WQ_SCRIPT_CANCEL,
};

static void
control_argv(struct wq *wq, int op, const char **ids, size_t n,
    struct wq_argv *a)
{
	size_t	i;

	wq_script_argv(a, control_scripts[op]);
	wq_argv_setnkeys(a, 0);
	wq_argv_addf(a, "%s:", wq->cfg.ns);
	wq_argv_adds(a, wq_name(wq));
	for (i = 0; i < n; i++)
		wq_argv_adds(a, ids[i]);
}

/* The reply of one call for ids[0..n): codes[i] and recs[i]. */
static int
control_decode(struct wq *wq, const char **ids, size_t n, redisReply *r,
    int *codes, jv *recs)
{
	redisReply	*e;
	size_t		 i;
	int		 rc;

	if ((rc = wq_reply_error(wq, r, "control")) != WQ_OK)
		return rc;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != n)
		return wq_seterr(wq, WQ_EUNAVAIL, "control: unexpected reply");
	for (i = 0; i < n; i++) {
		e = r->element[i];
		if (e->type != REDIS_REPLY_ARRAY || e->elements != 2)
			return wq_seterr(wq, WQ_EUNAVAIL,
			    "control: unexpected reply");
		codes[i] = (int)wq_reply_ll(e->element[0]);
		recs[i] = wq_record_from_reply(ids[i], e->element[1]);
	}
	return WQ_OK;
}

/*
 * Cancel (WQ_CONTROL_CANCEL) the jobs of ids: codes[i] 1 done, 0 not in
 * a state for it, -1 unknown; recs[i] the record after it (jv_null() for
 * an unknown id), owned by the caller.
 */
int
wq_control(struct wq *wq, int op, const char **ids, size_t n, int *codes,
    jv *recs)
{
	struct wq_argv	 a;
	redisReply	*r;
	size_t		 i, k;
	int		 rc = WQ_OK;

	for (i = 0; i < n; i++)
		recs[i] = jv_invalid();
	for (i = 0; rc == WQ_OK && i < n; i += k) {
		k = n - i < CONTROL_BATCH ? n - i : CONTROL_BATCH;
		control_argv(wq, op, ids + i, k, &a);
		r = wq_script_run(wq, &a);
		wq_argv_free(&a);
		rc = control_decode(wq, ids + i, k, r, codes + i, recs + i);
		if (r != NULL)
			freeReplyObject(r);
	}
	return rc;
}
