/*
 * stats.c -- the cluster's counters: the totals of stats:* (jobs
 * submitted, worked, failed, retried, reclaimed), which the scripts
 * count, and the histogram of submit-to-worked latency that
 * complete.lua fills.
 */
#include <stdlib.h>
#include <string.h>

#include "wq-int.h"

static const char *stat_names[] = { "submitted", "worked", "failed",
    "retried", "reclaimed" };
#define NSTATS	(sizeof(stat_names) / sizeof(stat_names[0]))

/* The totals of stats:*, for wq_stats() and the API's metrics. */
void
wq_stats_totals_argv(struct wq *wq, struct wq_argv *a)
{
	size_t	i;

	wq_argv_init(a);
	wq_argv_adds(a, "MGET");
	for (i = 0; i < NSTATS; i++)
		wq_argv_key(a, wq, "stats:%s", stat_names[i]);
}

/* Set the totals of the reply to wq_stats_totals_argv() on the object *o. */
int
wq_stats_totals_decode(struct wq *wq, redisReply *r, jv *o)
{
	size_t	i;
	int	rc;

	if ((rc = wq_reply_error(wq, r, "stats")) != WQ_OK)
		return rc;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != NSTATS)
		return wq_seterr(wq, WQ_EREDIS, "stats: unexpected reply");
	for (i = 0; i < NSTATS; i++)
		*o = jv_object_set(*o, jv_string(stat_names[i]),
		    jv_number((double)wq_reply_ll(r->element[i])));
	return WQ_OK;
}

/*
 * The totals of stats:* and the server's time, so that a caller can turn
 * two readings into rates: {"time","submitted","worked","failed",
 * "retried","reclaimed"}.
 */
int
wq_stats(struct wq *wq, jv *out)
{
	struct wq_argv	 a[2];
	redisReply	*rs[2];
	jv		 o;
	int		 rc;

	wq_argv_init(&a[0]);
	wq_argv_adds(&a[0], "TIME");
	wq_stats_totals_argv(wq, &a[1]);
	if ((rc = wq_redis_pipeline(wq, a, 2, rs)) == WQ_OK)
		rc = wq_reply_error(wq, rs[0], "stats");
	if (rc == WQ_OK) {
		o = jv_object();
		o = jv_object_set(o, jv_string("time"),
		    jv_number((double)wq_reply_time_ms(rs[0])));
		if ((rc = wq_stats_totals_decode(wq, rs[1], &o)) == WQ_OK)
			*out = o;
		else
			jv_free(o);
	}
	wq_redis_pipeline_free(a, rs, 2);
	return rc;
}

/* The bounds (ms) of the latency histogram complete.lua fills. */
static const long latency_bounds[] = { WQ_LATENCY_BOUNDS };
#define NBOUNDS	(sizeof(latency_bounds) / sizeof(latency_bounds[0]))

/* The latency hash (stats:latency) as a cumulative histogram. */
jv
wq_stats_latency(redisReply *r)
{
	long		 count[NBOUNDS + 1];
	long long	 sum = 0, total = 0, cum;
	size_t		 i, b;
	const char	*f;
	char		*end;
	long		 le;
	jv		 o, buckets, bk;

	memset(count, 0, sizeof(count));
	for (i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements;
	    i += 2) {
		f = r->element[i]->str;
		if (strcmp(f, "sum") == 0) {
			sum = wq_reply_ll(r->element[i + 1]);
			continue;
		}
		if (strcmp(f, "count") == 0) {
			total = wq_reply_ll(r->element[i + 1]);
			continue;
		}
		b = NBOUNDS;		/* "+Inf", or a bound we do not know */
		le = strtol(f, &end, 10);
		if (*end == '\0')
			for (b = 0; b < NBOUNDS && latency_bounds[b] < le; b++)
				;
		count[b] += (long)wq_reply_ll(r->element[i + 1]);
	}
	buckets = jv_array();
	for (b = 0, cum = 0; b <= NBOUNDS; b++) {
		cum += count[b];
		bk = jv_object();
		bk = jv_object_set(bk, jv_string("le"), b < NBOUNDS ?
		    jv_number((double)latency_bounds[b]) : jv_string("+Inf"));
		bk = jv_object_set(bk, jv_string("count"),
		    jv_number((double)cum));
		buckets = jv_array_append(buckets, bk);
	}
	if (total < cum)	/* a histogram is counted once, whole */
		total = cum;
	o = jv_object();
	o = jv_object_set(o, jv_string("buckets"), buckets);
	o = jv_object_set(o, jv_string("sum_ms"), jv_number((double)sum));
	o = jv_object_set(o, jv_string("count"), jv_number((double)total));
	return o;
}
