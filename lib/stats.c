/*
 * stats.c -- the cluster's counters: the totals of stats:* (jobs
 * submitted, worked, failed, retried, reclaimed), which the scripts
 * count, and the histogram of submit-to-worked latency that
 * complete.lua fills.  With P > 1 partitions each partition counts its
 * own: the readers sum them (one command a partition, in one round).
 */
#include <stdlib.h>
#include <string.h>

#include "wq-int.h"

static const char *stat_names[] = { "submitted", "worked", "failed",
    "retried", "reclaimed" };
#define NSTATS	(sizeof(stat_names) / sizeof(stat_names[0]))

/*
 * The totals of stats:*, for wq_stats() and the API's metrics: an MGET a
 * partition, into a[0 .. P); returns P.
 */
size_t
wq_stats_totals_argv(struct wq *wq, struct wq_argv *a)
{
	size_t	i;
	int	p, np = wq_parts(wq);

	for (p = 0; p < np; p++) {
		wq_argv_init(&a[p]);
		wq_argv_adds(&a[p], "MGET");
		for (i = 0; i < NSTATS; i++)
			wq_argv_pkey(&a[p], wq, p, "stats:%s", stat_names[i]);
	}
	return (size_t)np;
}

/* Set the totals of the n replies to wq_stats_totals_argv() on *o. */
int
wq_stats_totals_decode(struct wq *wq, redisReply **r, size_t n, jv *o)
{
	long long	 sum[NSTATS];
	size_t		 i, k;
	int		 rc;

	memset(sum, 0, sizeof(sum));
	for (k = 0; k < n; k++) {
		if ((rc = wq_reply_error(wq, r[k], "stats")) != WQ_OK)
			return rc;
		if (r[k]->type != REDIS_REPLY_ARRAY ||
		    r[k]->elements != NSTATS)
			return wq_seterr(wq, WQ_EREDIS, "stats: unexpected "
			    "reply");
		for (i = 0; i < NSTATS; i++)
			sum[i] += wq_reply_ll(r[k]->element[i]);
	}
	for (i = 0; i < NSTATS; i++)
		*o = jv_object_set(*o, jv_string(stat_names[i]),
		    jv_number((double)sum[i]));
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
	struct wq_argv	 *a;
	redisReply	**rs;
	size_t		  n;
	jv		  o;
	int		  rc;

	if ((rc = wq_connect(wq)) != WQ_OK)
		return rc;
	n = 1 + (size_t)wq_parts(wq);
	a = wq_calloc(n, sizeof(*a));
	rs = wq_calloc(n, sizeof(*rs));
	wq_argv_init(&a[0]);
	wq_argv_adds(&a[0], "TIME");
	wq_stats_totals_argv(wq, &a[1]);
	if ((rc = wq_redis_pipeline(wq, a, n, rs)) == WQ_OK)
		rc = wq_reply_error(wq, rs[0], "stats");
	if (rc == WQ_OK) {
		o = jv_object();
		o = jv_object_set(o, jv_string("time"),
		    jv_number((double)wq_reply_time_ms(rs[0])));
		if ((rc = wq_stats_totals_decode(wq, rs + 1, n - 1, &o)) ==
		    WQ_OK)
			*out = o;
		else
			jv_free(o);
	}
	wq_redis_pipeline_free(a, rs, n);
	free(a);
	free(rs);
	return rc;
}

/* The bounds (ms) of the latency histogram complete.lua fills. */
static const long latency_bounds[] = { WQ_LATENCY_BOUNDS };
#define NBOUNDS	(sizeof(latency_bounds) / sizeof(latency_bounds[0]))

/*
 * The latency hashes (stats:latency) of n partitions, each one's HGETALL
 * in r[0 .. n), as one cumulative histogram: their sum.
 */
jv
wq_stats_latency(redisReply **rs, size_t n)
{
	long		 count[NBOUNDS + 1];
	long long	 sum = 0, total = 0, cum, v;
	size_t		 i, b, k;
	const char	*f;
	char		*end;
	long		 le;
	jv		 o, buckets, bk;
	redisReply	*r;

	memset(count, 0, sizeof(count));
	for (k = 0; k < n; k++) {
		r = rs[k];
		for (i = 0; r->type == REDIS_REPLY_ARRAY &&
		    i + 1 < r->elements; i += 2) {
			f = r->element[i]->str;
			v = wq_reply_ll(r->element[i + 1]);
			if (strcmp(f, "sum") == 0) {
				sum += v;
				continue;
			}
			if (strcmp(f, "count") == 0) {
				total += v;
				continue;
			}
			/* "+Inf", or a bound we do not know */
			b = NBOUNDS;
			le = strtol(f, &end, 10);
			if (*end == '\0')
				for (b = 0; b < NBOUNDS &&
				    latency_bounds[b] < le; b++)
					;
			count[b] += (long)v;
		}
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
