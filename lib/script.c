/*
 * script.c -- calling the Lua scripts of lib/lua, which scripts.c holds
 * (generated at build time by lib/lua/embed.sh).  A script is called by
 * EVALSHA; when the server does not know it (after a restart, a SCRIPT
 * FLUSH or a failover) the reply is NOSCRIPT and the same call is sent
 * again as EVAL, which also loads it for next time.
 */
#include <stdlib.h>
#include <string.h>

#include "wq-int.h"

void
wq_script_argv(struct wq_argv *a, enum wq_script_id id)
{
	wq_argv_init(a);
	wq_argv_adds(a, "EVALSHA");
	wq_argv_adds(a, wq_scripts[id].sha);
	wq_argv_adds(a, "0");
}

/*
 * The prefix and, when events are on, the stream's length after it: every
 * script that changes a job writes its event (docs/DESIGN.md, Events) with
 * no argument of its own, and with events off calls no XADD at all.
 */
void
wq_script_prefix(struct wq_argv *a, struct wq *wq)
{
	wq_script_pprefix(a, wq, -1);
}

/*
 * The prefix of partition p (-1: the control partition's), then the
 * event stream's length if events are on, then "s" in a namespace of
 * several partitions, where the scripts' hints are sharded (common.lua).
 */
void
wq_script_pprefix(struct wq_argv *a, struct wq *wq, int p)
{
	wq_argv_prefix(a, wq_part_prefix(wq, p), wq->cfg.events,
	    wq_parts(wq) > 1);
}

void
wq_script_to_eval(struct wq_argv *a)
{
	int	 i;

	for (i = 0; i < WQ_SCRIPT_COUNT; i++)
		if (strcmp(a->argv[1], wq_scripts[i].sha) == 0)
			break;
	if (i == WQ_SCRIPT_COUNT)
		return;
	free(a->argv[0]);
	free(a->argv[1]);
	a->argv[0] = wq_strdup("EVAL");
	a->len[0] = 4;
	a->argv[1] = wq_strdup(wq_scripts[i].body);
	a->len[1] = strlen(wq_scripts[i].body);
}

redisReply *
wq_script_run(struct wq *wq, struct wq_argv *a)
{
	redisReply	*r;

	r = wq_redis_command(wq, a);
	if (wq_reply_noscript(r)) {
		freeReplyObject(r);
		wq_script_to_eval(a);
		r = wq_redis_command(wq, a);
	}
	return r;
}

int
wq_script_pipeline(struct wq *wq, struct wq_argv *cmds, size_t n,
    redisReply **out)
{
	size_t	i;
	int	rc;

	if ((rc = wq_redis_pipeline(wq, cmds, n, out)) != WQ_OK)
		return rc;
	/* (after NOSCRIPT the body itself: this node does not know it) */
	for (i = 0; i < n; i++)
		if (wq_reply_noscript(out[i])) {
			freeReplyObject(out[i]);
			wq_script_to_eval(&cmds[i]);
			if ((out[i] = wq_redis_command(wq, &cmds[i])) == NULL)
				return WQ_EUNAVAIL;
		}
	return WQ_OK;
}
