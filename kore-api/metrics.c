/*
 * metrics.c -- GET /metrics: what WQ_READ_METRICS read, in Prometheus's
 * text exposition format (version 0.0.4).
 *
 * Counters are the totals of stats:* (they start over only if the Redis
 * data is lost); gauges are read at the moment of the request, so several
 * API instances behind a load balancer report the same cluster and any
 * one of them can be scraped.  The submit-to-worked latency comes from
 * complete.lua's histogram in milliseconds and is shown in seconds, the
 * unit Prometheus expects, with cumulative buckets.
 */
#include <string.h>

#include "api.h"

static void
help(struct kore_buf *b, const char *name, const char *type,
    const char *text)
{
	kore_buf_appendf(b, "# HELP %s %s\n# TYPE %s %s\n", name, text, name,
	    type);
}

/* A label value: backslash, double quote and newline are escaped. */
static void
label(struct kore_buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			kore_buf_append(b, "\\\\", 2);
		else if (*s == '"')
			kore_buf_append(b, "\\\"", 2);
		else if (*s == '\n')
			kore_buf_append(b, "\\n", 2);
		else
			kore_buf_append(b, s, 1);
	}
}

static double
num(jv o, const char *k)
{
	jv	v;
	double	d = 0;

	if (jv_get_kind(o) != JV_KIND_OBJECT)
		return 0;
	v = jv_object_get(jv_copy(o), jv_string(k));
	if (jv_get_kind(v) == JV_KIND_NUMBER)
		d = jv_number_value(v);
	jv_free(v);
	return d;
}

static void
counters(struct kore_buf *b, jv totals)
{
	static const struct {
		const char	*field;
		const char	*name;
		const char	*help;
	} c[] = {
		{ "submitted", "wq_jobs_submitted_total",
		    "Jobs accepted (duplicates not counted)." },
		{ "worked", "wq_jobs_worked_total", "Jobs that ended worked." },
		{ "failed", "wq_jobs_failed_total",
		    "Jobs that failed for good." },
		{ "retried", "wq_jobs_retried_total",
		    "Failed attempts that were retried." },
		{ "reclaimed", "wq_jobs_reclaimed_total",
		    "Jobs taken back from nodes that died." },
	};
	size_t	i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		help(b, c[i].name, "counter", c[i].help);
		kore_buf_appendf(b, "%s %.0f\n", c[i].name,
		    num(totals, c[i].field));
	}
}

/* The limits of the queues that have some (docs/DESIGN.md, Limits). */
static void
limits(struct kore_buf *b, jv qs)
{
	static const char	*kinds[] = { "concurrency", "rate",
				    "period_ms", "group_concurrency" };
	int			 it;
	size_t			 s;
	jv			 k, v, l;

	help(b, "wq_queue_limit", "gauge", "The limits of each queue that "
	    "has: jobs working at once, jobs started per period, the period "
	    "in ms, jobs of one group working at once.");
	for (it = jv_object_iter(qs); jv_object_iter_valid(qs, it);
	    it = jv_object_iter_next(qs, it)) {
		k = jv_object_iter_key(qs, it);
		v = jv_object_iter_value(qs, it);
		l = jv_object_get(v, jv_string("limits"));
		for (s = 0; jv_get_kind(l) == JV_KIND_OBJECT && s < 4; s++) {
			if (!jv_object_has(jv_copy(l), jv_string(kinds[s])))
				continue;
			kore_buf_appendf(b, "wq_queue_limit{queue=\"");
			label(b, jv_string_value(k));
			kore_buf_appendf(b, "\",kind=\"%s\"} %.0f\n",
			    kinds[s], num(l, kinds[s]));
		}
		jv_free(l);
		jv_free(k);
	}
}

static void
queues(struct kore_buf *b, jv qs, double working)
{
	static const char	*states[] = { "pending", "delayed", "dead" };
	int			 it;
	size_t			 s;
	jv			 k, v;

	help(b, "wq_queue_jobs", "gauge", "Jobs in each queue by state.");
	for (it = jv_object_iter(qs); jv_object_iter_valid(qs, it);
	    it = jv_object_iter_next(qs, it)) {
		k = jv_object_iter_key(qs, it);
		v = jv_object_iter_value(qs, it);
		for (s = 0; s < 3; s++) {
			kore_buf_appendf(b, "wq_queue_jobs{queue=\"");
			label(b, jv_string_value(k));
			kore_buf_appendf(b, "\",state=\"%s\"} %.0f\n",
			    states[s], num(v, states[s]));
		}
		jv_free(k);
		jv_free(v);
	}
	help(b, "wq_jobs_working", "gauge", "Jobs held by live nodes.");
	kore_buf_appendf(b, "wq_jobs_working %.0f\n", working);
	limits(b, qs);
}

static void
nodes(struct kore_buf *b, jv roles)
{
	jv	k, v;
	double	total = 0;
	int	it;

	help(b, "wq_nodes", "gauge", "Live nodes by role.");
	for (it = jv_object_iter(roles); jv_object_iter_valid(roles, it);
	    it = jv_object_iter_next(roles, it)) {
		k = jv_object_iter_key(roles, it);
		v = jv_object_iter_value(roles, it);
		kore_buf_appendf(b, "wq_nodes{role=\"");
		label(b, jv_string_value(k));
		kore_buf_appendf(b, "\"} %.0f\n", jv_number_value(v));
		total += jv_number_value(v);
		jv_free(k);
		jv_free(v);
	}
	help(b, "wq_nodes_live", "gauge", "Live nodes.");
	kore_buf_appendf(b, "wq_nodes_live %.0f\n", total);
}

static void
latency(struct kore_buf *b, jv lat)
{
	jv	buckets, bk, le;
	int	i, n;

	help(b, "wq_job_latency_seconds", "histogram",
	    "Time from submission to worked.");
	buckets = jv_object_get(jv_copy(lat), jv_string("buckets"));
	n = jv_get_kind(buckets) == JV_KIND_ARRAY ?
	    jv_array_length(jv_copy(buckets)) : 0;
	for (i = 0; i < n; i++) {
		bk = jv_array_get(jv_copy(buckets), i);
		le = jv_object_get(jv_copy(bk), jv_string("le"));
		if (jv_get_kind(le) == JV_KIND_NUMBER)
			kore_buf_appendf(b, "wq_job_latency_seconds_bucket"
			    "{le=\"%g\"} %.0f\n", jv_number_value(le) / 1000,
			    num(bk, "count"));
		else
			kore_buf_appendf(b, "wq_job_latency_seconds_bucket"
			    "{le=\"+Inf\"} %.0f\n", num(bk, "count"));
		jv_free(le);
		jv_free(bk);
	}
	jv_free(buckets);
	kore_buf_appendf(b, "wq_job_latency_seconds_sum %.3f\n",
	    num(lat, "sum_ms") / 1000);
	kore_buf_appendf(b, "wq_job_latency_seconds_count %.0f\n",
	    num(lat, "count"));
}

/* Consumes m. */
void
metrics_text(jv m, struct kore_buf *b)
{
	jv	part;

	if (jv_get_kind(m) != JV_KIND_OBJECT) {
		jv_free(m);
		return;
	}
	part = jv_object_get(jv_copy(m), jv_string("totals"));
	counters(b, part);
	jv_free(part);
	part = jv_object_get(jv_copy(m), jv_string("queues"));
	if (jv_get_kind(part) == JV_KIND_OBJECT)
		queues(b, part, num(m, "working"));
	jv_free(part);
	part = jv_object_get(jv_copy(m), jv_string("nodes"));
	if (jv_get_kind(part) == JV_KIND_OBJECT)
		nodes(b, part);
	jv_free(part);
	part = jv_object_get(jv_copy(m), jv_string("latency"));
	if (jv_get_kind(part) == JV_KIND_OBJECT)
		latency(b, part);
	jv_free(part);
	jv_free(m);
}
