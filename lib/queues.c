/*
 * queues.c -- the depths of the queues, read in two rounds: the names of
 * the known queues (wq_queues_argv, then wq_queues_names), then
 * WQ_DEPTH_CMDS counts of each and whether it is paused
 * (wq_queues_depths_argv), which wq_queues_depths_decode() turns into
 * {"q":{"pending":n,"delayed":n,"dead":n,"paused":false}}.  wq_queues()
 * puts them around two round trips; the API's reads (read.c) around its
 * own.
 */
#include <stdlib.h>
#include <string.h>

#include "wq-int.h"

static const struct {
	const char	*state;
	const char	*cmd;
	const char	*key;
} depths[WQ_DEPTH_CMDS] = {
	{ "pending",	"LLEN",		"queue" },
	{ "delayed",	"ZCARD",	"delayed" },
	{ "dead",	"LLEN",		"dead" },
	{ "paused",	"SISMEMBER",	NULL },		/* paused <q> */
};

void
wq_queues_argv(struct wq *wq, struct wq_argv *a)
{
	wq_argv_init(a);
	wq_argv_adds(a, "SMEMBERS");
	wq_argv_key(a, wq, "queues");
}

static int
strcmp_p(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of the queues, sorted (a set has no order of its own). */
size_t
wq_queues_names(redisReply *r, char ***names)
{
	size_t	i, n = 0;

	*names = wq_calloc(r->type == REDIS_REPLY_ARRAY ? r->elements : 0,
	    sizeof(**names));
	for (i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
		if (r->element[i]->type == REDIS_REPLY_STRING)
			(*names)[n++] = wq_strdup(r->element[i]->str);
	qsort(*names, n, sizeof(**names), strcmp_p);
	return n;
}

/* The commands of round two, into a[0 .. n * WQ_DEPTH_CMDS). */
void
wq_queues_depths_argv(struct wq *wq, char *const *queues, size_t n,
    struct wq_argv *a)
{
	size_t	i, s;

	for (i = 0; i < n; i++)
		for (s = 0; s < WQ_DEPTH_CMDS; s++, a++) {
			wq_argv_init(a);
			wq_argv_adds(a, depths[s].cmd);
			if (depths[s].key == NULL) {
				wq_argv_key(a, wq, "paused");
				wq_argv_adds(a, queues[i]);
			} else
				wq_argv_key(a, wq, "%s:%s", depths[s].key,
				    queues[i]);
		}
}

int
wq_queues_depths_decode(struct wq *wq, char *const *queues, size_t n,
    redisReply **r, jv *out)
{
	size_t	i, s;
	jv	o, q;
	int	rc;

	for (i = 0; i < n * WQ_DEPTH_CMDS; i++)
		if ((rc = wq_reply_error(wq, r[i], "queues")) != WQ_OK)
			return rc;
	o = jv_object();
	for (i = 0; i < n; i++) {
		q = jv_object();
		for (s = 0; s < WQ_DEPTH_CMDS; s++, r++)
			q = jv_object_set(q, jv_string(depths[s].state),
			    depths[s].key == NULL ? jv_bool(wq_reply_ll(*r)) :
			    jv_number((double)wq_reply_ll(*r)));
		o = jv_object_set(o, jv_string(queues[i]), q);
	}
	*out = o;
	return WQ_OK;
}

int
wq_queues(struct wq *wq, jv *out)
{
	struct wq_argv	 a, *cmds;
	redisReply	*r, **rs;
	char		**names;
	size_t		 n, nc;
	int		 rc;

	wq_queues_argv(wq, &a);
	r = wq_redis_command(wq, &a);
	wq_argv_free(&a);
	if ((rc = wq_reply_error(wq, r, "queues")) != WQ_OK) {
		if (r)
			freeReplyObject(r);
		return rc;
	}
	n = wq_queues_names(r, &names);
	freeReplyObject(r);
	nc = n * WQ_DEPTH_CMDS;
	cmds = wq_calloc(nc, sizeof(*cmds));
	rs = wq_calloc(nc, sizeof(*rs));
	wq_queues_depths_argv(wq, names, n, cmds);
	rc = nc ? wq_redis_pipeline(wq, cmds, nc, rs) : WQ_OK;
	if (rc == WQ_OK)
		rc = wq_queues_depths_decode(wq, names, n, rs, out);
	wq_redis_pipeline_free(cmds, rs, nc);
	free(cmds);
	free(rs);
	wq_strs_free(names, n);
	return rc;
}
