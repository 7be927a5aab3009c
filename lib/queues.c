/*
 * queues.c -- the depths of the queues, read in two rounds: the names of
 * the known queues (wq_queues_argv, then wq_queues_names), then
 * WQ_DEPTH_CMDS counts of each, whether it is paused and its limits
 * (wq_queues_depths_argv), which wq_queues_depths_decode() turns into
 * {"q":{"pending":n,"delayed":n,"dead":n,"paused":false[,"limits":{...}]}}.
 * wq_queues() puts them around two round trips; the API's reads (read.c)
 * around its own.  With P > 1 partitions both rounds fan out: the names
 * are the union of every partition's set, the counts are summed over the
 * partitions, and paused and the limits are partition 0's (pause and
 * limits are written to every partition).  At P = 1 the commands are
 * those of a single keyspace.  And the limits of a queue, set
 * (wq_queue_limit).
 */
#include <ctype.h>
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
	{ "limits",	"HMGET",	"limit" },	/* the last */
};

/* The fields of limit:<q>, in the order claim.lua reads them. */
static const char *const limit_fields[] = { "concurrency", "rate",
    "period", "group_concurrency" };
#define NLIMITS	4

static void
add_limit_fields(struct wq_argv *a)
{
	size_t	i;

	for (i = 0; i < NLIMITS; i++)
		wq_argv_adds(a, limit_fields[i]);
}

/* The names' SMEMBERS, one a partition, into a[0 .. P); returns P. */
size_t
wq_queues_argv(struct wq *wq, struct wq_argv *a)
{
	int	p, np = wq_parts(wq);

	for (p = 0; p < np; p++) {
		wq_argv_init(&a[p]);
		wq_argv_adds(&a[p], "SMEMBERS");
		wq_argv_pkey(&a[p], wq, p, "queues");
	}
	return (size_t)np;
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
	return wq_queues_names_n(&r, 1, names);
}

/* The same of nr sets: their union, each name once. */
size_t
wq_queues_names_n(redisReply **rs, size_t nr, char ***names)
{
	redisReply	*r;
	size_t		 i, k, n = 0, len = 0;

	for (k = 0; k < nr; k++)
		if (rs[k]->type == REDIS_REPLY_ARRAY)
			len += rs[k]->elements;
	*names = wq_calloc(len, sizeof(**names));
	for (k = 0; k < nr; k++)
		for (i = 0, r = rs[k]; r->type == REDIS_REPLY_ARRAY &&
		    i < r->elements; i++)
			if (r->element[i]->type == REDIS_REPLY_STRING)
				(*names)[n++] = wq_strdup(r->element[i]->str);
	qsort(*names, n, sizeof(**names), strcmp_p);
	if (nr > 1 && n > 1) {
		for (i = 1, k = 1; i < n; i++)
			if (strcmp((*names)[i], (*names)[k - 1]) == 0)
				free((*names)[i]);
			else
				(*names)[k++] = (*names)[i];
		n = k;
	}
	return n;
}

/*
 * The commands of round two a queue: partition 0's WQ_DEPTH_CMDS, then
 * the counts (those before "paused") of each other partition.
 */
#define DEPTH_COUNTS	3

size_t
wq_queues_depths_ncmds(struct wq *wq, size_t nqueues)
{
	return nqueues * (WQ_DEPTH_CMDS + (size_t)(wq_parts(wq) - 1) *
	    DEPTH_COUNTS);
}

/* The commands of round two, into a[0 .. wq_queues_depths_ncmds(n)). */
void
wq_queues_depths_argv(struct wq *wq, char *const *queues, size_t n,
    struct wq_argv *a)
{
	size_t	i, s;
	int	p, np = wq_parts(wq);

	for (i = 0; i < n; i++)
		for (p = 0; p < np; p++)
			for (s = 0; s < (p == 0 ? WQ_DEPTH_CMDS :
			    DEPTH_COUNTS); s++, a++) {
				wq_argv_init(a);
				wq_argv_adds(a, depths[s].cmd);
				if (depths[s].key == NULL) {
					wq_argv_pkey(a, wq, p, "paused");
					wq_argv_adds(a, queues[i]);
				} else
					wq_argv_pkey(a, wq, p, "%s:%s",
					    depths[s].key, queues[i]);
				if (s == WQ_DEPTH_CMDS - 1)
					add_limit_fields(a);
			}
}

/* A queue's limits from their HMGET: {"concurrency","rate","period_ms",
 * "group_concurrency"}, or null when it has none. */
static jv
limits_json(redisReply *r)
{
	static const char *const names[] = { "concurrency", "rate",
	    "period_ms", "group_concurrency" };
	size_t	i;
	jv	o = jv_null();

	for (i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements &&
	    i < NLIMITS; i++) {
		if (r->element[i]->type != REDIS_REPLY_STRING)
			continue;
		if (jv_get_kind(o) == JV_KIND_NULL)
			o = jv_object();
		o = jv_object_set(o, jv_string(names[i]),
		    jv_number((double)wq_reply_ll(r->element[i])));
	}
	return o;
}

int
wq_queues_depths_decode(struct wq *wq, char *const *queues, size_t n,
    redisReply **r, jv *out)
{
	size_t		 i, s, nc = wq_queues_depths_ncmds(wq, n);
	long long	 count[DEPTH_COUNTS];
	jv		 o, q, l;
	int		 rc, p, np = wq_parts(wq);
	redisReply	**more;

	for (i = 0; i < nc; i++)
		if ((rc = wq_reply_error(wq, r[i], "queues")) != WQ_OK)
			return rc;
	o = jv_object();
	for (i = 0; i < n; i++) {
		/* the other partitions' counts, after partition 0's */
		memset(count, 0, sizeof(count));
		more = r + WQ_DEPTH_CMDS;
		for (p = 1; p < np; p++)
			for (s = 0; s < DEPTH_COUNTS; s++)
				count[s] += wq_reply_ll(*more++);
		q = jv_object();
		for (s = 0; s < WQ_DEPTH_CMDS - 1; s++, r++)
			q = jv_object_set(q, jv_string(depths[s].state),
			    depths[s].key == NULL ? jv_bool(wq_reply_ll(*r)) :
			    jv_number((double)(wq_reply_ll(*r) + count[s])));
		l = limits_json(*r++);
		if (jv_get_kind(l) == JV_KIND_OBJECT)
			q = jv_object_set(q, jv_string("limits"), l);
		else
			jv_free(l);
		o = jv_object_set(o, jv_string(queues[i]), q);
		r = more;
	}
	*out = o;
	return WQ_OK;
}

int
wq_queues(struct wq *wq, jv *out)
{
	struct wq_argv	 *cmds;
	redisReply	**rs;
	char		**names;
	size_t		  n, nc, np;
	int		  rc;

	if ((rc = wq_connect(wq)) != WQ_OK)
		return rc;
	np = (size_t)wq_parts(wq);
	cmds = wq_calloc(np, sizeof(*cmds));
	rs = wq_calloc(np, sizeof(*rs));
	wq_queues_argv(wq, cmds);
	if ((rc = wq_redis_pipeline(wq, cmds, np, rs)) == WQ_OK)
		for (n = 0; n < np && rc == WQ_OK; n++)
			rc = wq_reply_error(wq, rs[n], "queues");
	n = 0;
	names = NULL;
	if (rc == WQ_OK)
		n = wq_queues_names_n(rs, np, &names);
	wq_redis_pipeline_free(cmds, rs, np);
	free(cmds);
	free(rs);
	if (rc != WQ_OK)
		return rc;
	nc = wq_queues_depths_ncmds(wq, n);
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

/* Whether the limits of l are in range. */
int
wq_queue_limit_check(struct wq *wq, const char *q, const struct wq_limits *l)
{
	int	rc;

	if ((rc = wq_check_queue(wq, q)) != WQ_OK)
		return rc;
	if ((l->concurrency != 0 && (l->concurrency < 1 ||
	    l->concurrency > WQ_LIMIT_MAX)) || (l->group_concurrency != 0 &&
	    (l->group_concurrency < 1 || l->group_concurrency >
	    WQ_LIMIT_MAX)) || (l->rate != 0 && (l->rate < 1 ||
	    l->rate > WQ_LIMIT_MAX || l->period_ms < WQ_LIMIT_PERIOD_MIN_MS ||
	    l->period_ms > WQ_LIMIT_PERIOD_MAX_MS)))
		return wq_seterr(wq, WQ_EUSAGE, "bad limit: 1 to %d, a period "
		    "from %d ms to %d s", WQ_LIMIT_MAX, WQ_LIMIT_PERIOD_MIN_MS,
		    WQ_LIMIT_PERIOD_MAX_MS / 1000);
	return WQ_OK;
}

/*
 * The commands that set the limits l of q, into cmds[0 ..
 * WQ_LIMIT_CMDS), to run in one MULTI (the API's rounds wrap theirs):
 * the last reads the limits after the change (wq_queue_limit_decode).
 * Returns how many.
 */
size_t
wq_queue_limit_argv(struct wq *wq, const char *q, const struct wq_limits *l,
    struct wq_argv *cmds)
{
	size_t	n = 0, i;

	for (i = 0; i < WQ_LIMIT_CMDS; i++)
		wq_argv_init(&cmds[i]);
	if (l->clear) {
		wq_argv_adds(&cmds[n], "DEL");
		wq_argv_key(&cmds[n], wq, "limit:%s", q);
		wq_argv_key(&cmds[n], wq, "running:%s", q);
		wq_argv_key(&cmds[n++], wq, "started:%s", q);
	}
	if (l->concurrency || l->rate || l->group_concurrency) {
		wq_argv_adds(&cmds[n], "HSET");
		wq_argv_key(&cmds[n], wq, "limit:%s", q);
		if (l->concurrency) {
			wq_argv_adds(&cmds[n], "concurrency");
			wq_argv_addl(&cmds[n], l->concurrency);
		}
		if (l->rate) {
			wq_argv_adds(&cmds[n], "rate");
			wq_argv_addl(&cmds[n], l->rate);
			wq_argv_adds(&cmds[n], "period");
			wq_argv_addl(&cmds[n], l->period_ms);
		}
		if (l->group_concurrency) {
			wq_argv_adds(&cmds[n], "group_concurrency");
			wq_argv_addl(&cmds[n], l->group_concurrency);
		}
		n++;
	}
	/* listed with the others, submitted to or not */
	wq_argv_adds(&cmds[n], "SADD");
	wq_argv_key(&cmds[n], wq, "queues");
	wq_argv_adds(&cmds[n++], q);
	wq_argv_adds(&cmds[n], "HMGET");
	wq_argv_key(&cmds[n], wq, "limit:%s", q);
	add_limit_fields(&cmds[n++]);
	return n;
}

/* The replies r[0 .. n) of those commands: *out the limits, or null. */
int
wq_queue_limit_decode(struct wq *wq, redisReply **r, size_t n, jv *out)
{
	size_t	i;
	int	rc;

	*out = jv_null();
	for (i = 0; i < n; i++)
		if ((rc = wq_reply_error(wq, r[i], "limit")) != WQ_OK)
			return rc;
	if (n == 0)
		return wq_seterr(wq, WQ_EREDIS, "limit: unexpected reply");
	*out = limits_json(r[n - 1]);
	return WQ_OK;
}

/*
 * A queue's limits (docs/DESIGN.md, Limits): those of l set, the others
 * kept, or all removed first with l->clear.
 */
int
wq_queue_limit(struct wq *wq, const char *q, const struct wq_limits *l)
{
	struct wq_argv	 cmds[WQ_LIMIT_CMDS + 2];
	redisReply	*r[WQ_LIMIT_CMDS + 2];
	size_t		 n;
	int		 rc;

	if ((rc = wq_queue_limit_check(wq, q, l)) != WQ_OK ||
	    (rc = wq_parts_one(wq, "limits")) != WQ_OK)
		return rc;
	wq_argv_init(&cmds[0]);
	wq_argv_adds(&cmds[0], "MULTI");
	n = 1 + wq_queue_limit_argv(wq, q, l, cmds + 1);
	wq_argv_init(&cmds[n]);
	wq_argv_adds(&cmds[n++], "EXEC");
	rc = wq_redis_pipeline(wq, cmds, n, r);
	if (rc == WQ_OK)
		rc = wq_reply_error(wq, r[n - 1], "limit");
	if (rc == WQ_OK && r[n - 1]->type != REDIS_REPLY_ARRAY)
		rc = wq_seterr(wq, WQ_EREDIS, "limit: the change was not made");
	wq_redis_pipeline_free(cmds, r, n);
	return rc;
}

/* "N/PERIOD": N jobs per PERIOD, a number (1 by default) and a unit. */
int
wq_limit_rate(struct wq *wq, const char *s, long *n, long *period_ms)
{
	static const struct {
		const char	*unit;
		long		 ms;
	} units[] = { { "ms", 1 }, { "s", 1000 }, { "m", 60000 },
	    { "h", 3600000 } };
	const char	*p;
	char		*end;
	long		 k = 1;
	size_t		 i;

	*n = strtol(s, &end, 10);
	p = end;
	if (!isdigit((unsigned char)*s) || *p != '/' || *n < 1 ||
	    *n > WQ_LIMIT_MAX)
		goto bad;
	p++;
	if (isdigit((unsigned char)*p)) {
		k = strtol(p, &end, 10);
		p = end;
		if (k < 1 || k > WQ_LIMIT_PERIOD_MAX_MS)
			goto bad;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(p, units[i].unit) == 0 &&
		    k <= WQ_LIMIT_PERIOD_MAX_MS / units[i].ms) {
			*period_ms = k * units[i].ms;
			if (*period_ms < WQ_LIMIT_PERIOD_MIN_MS ||
			    *period_ms > WQ_LIMIT_PERIOD_MAX_MS)
				goto bad;
			return WQ_OK;
		}
bad:
	return wq_seterr(wq, WQ_EUSAGE, "bad rate \"%.32s\": N/PERIOD, N "
	    "from 1 to %d, PERIOD such as s, 10s, 500ms, m, h (10 ms to 1 "
	    "day)", s, WQ_LIMIT_MAX);
}
