/*
 * control.c -- what wq-cancel and wq-retry share: the ids of their
 * arguments or stdin (plain, or NDJSON lines with a "callback", so that
 * they read what wq-submit and wq-status print), every one checked
 * before anything is done, then the job-control calls of libwq, and the
 * record after each printed as its call answers.  Exit 1 when an id was
 * unknown or its job not in a state for the verb (its record is printed
 * as it is).  With --api, the same through the HTTP API (api.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

struct control {
	const char	*verb;		/* "cancelled" */
	int		 all;		/* a dead list: skip expired ids */
	int		 rc;
	long		 done;
};

/* The ids of items[0..n), checked; blank lines are skipped. */
static char **
control_ids(char **items, size_t *lens, size_t n, size_t *nids)
{
	char	**ids, buf[256];	/* the id, or why it is none */
	size_t	  i;

	ids = wq_calloc(n + 1, sizeof(*ids));
	*nids = 0;
	for (i = 0; i < n; i++) {
		if (strspn(items[i], " \t") == lens[i])
			continue;
		if (wq_id_from_line(items[i], lens[i], buf, sizeof(buf)) == -1)
			cmd_die(WQ_EUSAGE, "input %zu: %s", i + 1, buf);
		ids[(*nids)++] = wq_strdup(buf);
	}
	return ids;
}

/* The outcome for one id (struct wq_control's callback). */
static void
control_one(void *arg, const char *id, int code, jv rec)
{
	struct control	*c = arg;
	jv		 st;

	if (code < 0) {
		if (!c->all) {
			cmd_warn("%s: not found", id);
			c->rc = WQ_NO;
		}
	} else if (code == 0) {
		st = jv_object_get(jv_copy(rec), jv_string("status"));
		cmd_warn("%s: not %s: the job is %s", id, c->verb,
		    jv_get_kind(st) == JV_KIND_STRING ?
		    jv_string_value(st) : "?");
		jv_free(st);
		c->rc = WQ_NO;
	} else
		c->done++;
	/* (a dead list's entry left behind is no job of the list) */
	if (code >= 0 && jv_get_kind(rec) == JV_KIND_OBJECT)
		cmd_print(rec);
	else
		jv_free(rec);
}

/*
 * op (WQ_CONTROL_*) on the ids of argv[0..argc) or stdin, or with
 * dead_queue (WQ_CONTROL_RETRY), on its dead list; verb names what is
 * done ("cancelled"); returns the exit status.
 */
int
cmd_control(struct wq *wq, int op, const char *verb, const char *dead_queue,
    int argc, char **argv)
{
	struct control		  c = { verb, dead_queue != NULL, WQ_OK, 0 };
	struct wq_api_pool	 *pool = NULL;
	char			**items, **ids;
	size_t			 *lens, n, nids, i;
	int			  rc;

	if (wq_setting(wq, WQ_OPT_API) != NULL &&
	    (rc = wq_api_pool_open(wq, 1, &pool)) != WQ_OK)
		cmd_die(rc, "%s", wq_error(wq));
	if (dead_queue != NULL)
		rc = pool != NULL ? wq_api_retry_dead(pool, dead_queue,
		    control_one, &c) : wq_retry_dead(wq, dead_queue,
		    control_one, &c);
	else {
		items = cmd_inputs(argc, argv, &n, &lens);
		ids = control_ids(items, lens, n, &nids);
		cmd_inputs_free(items);
		free(lens);
		rc = pool != NULL ? wq_api_control(pool, op,
		    (const char **)ids, nids, control_one, &c) :
		    wq_control(wq, op, (const char **)ids, nids, control_one,
		    &c);
		for (i = 0; i < nids; i++)
			free(ids[i]);
		free(ids);
	}
	wq_api_pool_close(pool);
	cmd_flush();
	if (rc != WQ_OK)
		cmd_die(rc, "%s", wq_error(wq));
	return c.rc;
}
