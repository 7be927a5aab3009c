/*
 * spec.c -- a submission before it is sent: a JSON job object
 * {"data","key","queue","group","timeout","max_attempts","ttl",
 * "traceparent","in","at","priority","after"} or a line of text turned into a
 * struct wq_spec, every field checked, the data held to --max-data and
 * the callback id computed.  Nothing is sent from here: a spec that is
 * refused leaves no trace.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wq-int.h"

void
wq_spec_clear(struct wq_spec *s)
{
	if (jv_is_valid(s->data) || jv_get_kind(s->data) != JV_KIND_INVALID)
		jv_free(s->data);
	s->data = jv_invalid();
	free(s->queue);
	s->queue = NULL;
	free(s->group);
	s->group = NULL;
	free(s->key);
	s->key = NULL;
	free(s->traceparent);
	s->traceparent = NULL;
	while (s->nafter > 0)
		free(s->after[--s->nafter]);
	free(s->after);
	s->after = NULL;
}

int
wq_spec_add_after(struct wq *wq, struct wq_spec *s, const char *id)
{
	char	*p, *c;

	if (!wq_id_valid(id))
		return wq_seterr(wq, WQ_EUSAGE, "bad \"after\": \"%.64s\" "
		    "is no callback id (32 hex digits)", id);
	if (s->nafter == WQ_AFTER_MAX)
		return wq_seterr(wq, WQ_EUSAGE, "more than %d parents "
		    "(\"after\")", WQ_AFTER_MAX);
	p = wq_strdup(id);
	for (c = p; *c != '\0'; c++)
		*c = (char)toupper((unsigned char)*c);
	s->after = wq_reallocarray(s->after, s->nafter + 1,
	    sizeof(*s->after));
	s->after[s->nafter++] = p;
	return WQ_OK;
}

/* "after" of a job object: an id, or an array of ids. */
static int
spec_after(struct wq *wq, jv v, struct wq_spec *s)
{
	jv	e;
	int	i, n, rc = WQ_OK;

	if (jv_get_kind(v) == JV_KIND_STRING) {
		rc = wq_spec_add_after(wq, s, jv_string_value(v));
		jv_free(v);
		return rc;
	}
	if (jv_get_kind(v) != JV_KIND_ARRAY) {
		jv_free(v);
		return wq_seterr(wq, WQ_EUSAGE, "\"after\" must be an id or "
		    "an array of ids");
	}
	n = jv_array_length(jv_copy(v));
	for (i = 0; i < n && rc == WQ_OK; i++) {
		e = jv_array_get(jv_copy(v), i);
		if (jv_get_kind(e) != JV_KIND_STRING)
			rc = wq_seterr(wq, WQ_EUSAGE, "\"after\" must be an "
			    "id or an array of ids");
		else
			rc = wq_spec_add_after(wq, s, jv_string_value(e));
		jv_free(e);
	}
	jv_free(v);
	return rc;
}

int
wq_spec_set_trace(struct wq *wq, struct wq_spec *s, const char *tp)
{
	if (!wq_trace_valid(tp, strlen(tp)))
		return wq_seterr(wq, WQ_EUSAGE, "bad traceparent: expected "
		    "VERSION-TRACEID-PARENTID-FLAGS in lower-case hex, "
		    "e.g. 00-%s-%s-01 (W3C trace context)",
		    "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
	free(s->traceparent);
	s->traceparent = wq_strdup(tp);
	return WQ_OK;
}

static int	spec_string(struct wq *, jv, const char *, int);

/*
 * Run later: kind WQ_RUN_IN with a delay in ms, WQ_RUN_AT with a time
 * (ms since the epoch), each at most WQ_JOB_DELAY_MAX seconds ahead.  A
 * time past runs at once.  One job has one or the other.
 */
static int
spec_run_ms(struct wq *wq, struct wq_spec *s, int kind, int64_t ms)
{
	if (s->run != WQ_RUN_NOW && s->run != kind)
		return wq_seterr(wq, WQ_EUSAGE, "\"in\" and \"at\" exclude "
		    "each other");
	if ((kind == WQ_RUN_IN && ms > WQ_JOB_DELAY_MAX * 1000LL) ||
	    (kind == WQ_RUN_AT && ms > wq_now_ms() + WQ_JOB_DELAY_MAX *
	    1000LL))
		return wq_seterr(wq, WQ_EUSAGE, "bad \"%s\": more than %d "
		    "days ahead", kind == WQ_RUN_IN ? "in" : "at",
		    WQ_JOB_DELAY_MAX / 86400);
	s->run = kind;
	s->run_ms = ms;
	return WQ_OK;
}

int
wq_spec_set_run(struct wq *wq, struct wq_spec *s, int kind, const char *v)
{
	int64_t	ms = 0;

	if (kind == WQ_RUN_IN && wq_parse_duration_ms(v, &ms) == -1)
		return wq_seterr(wq, WQ_EUSAGE, "bad \"in\": \"%.64s\" is "
		    "no duration (seconds, or a number and ms, s, m, h, d)",
		    v);
	if (kind == WQ_RUN_AT && wq_parse_time_ms(v, &ms) == -1)
		return wq_seterr(wq, WQ_EUSAGE, "bad \"at\": \"%.64s\" is "
		    "no time (RFC 3339, as 2026-12-04T10:30:00Z, or epoch "
		    "seconds)", v);
	return spec_run_ms(wq, s, kind, ms);
}

/* "in" or "at" of a job object: a number of seconds, or a string. */
static int
spec_run(struct wq *wq, jv v, int kind, struct wq_spec *s)
{
	const char	*name = kind == WQ_RUN_IN ? "in" : "at";
	double		 d;
	int		 rc;

	if (jv_get_kind(v) == JV_KIND_STRING) {
		if ((rc = spec_string(wq, v, name, 0)) == WQ_OK)
			rc = wq_spec_set_run(wq, s, kind, jv_string_value(v));
		jv_free(v);
		return rc;
	}
	if (jv_get_kind(v) != JV_KIND_NUMBER) {
		jv_free(v);
		return wq_seterr(wq, WQ_EUSAGE, "\"%s\" must be a number of "
		    "seconds or a string", name);
	}
	d = jv_number_value(v);
	jv_free(v);
	if (!(d >= 0 && d <= 1e11))
		return wq_seterr(wq, WQ_EUSAGE, "bad \"%s\": %s", name,
		    kind == WQ_RUN_IN ? "a delay is not negative" :
		    "a time is seconds since the epoch");
	return spec_run_ms(wq, s, kind, (int64_t)llround(d * 1000));
}

static int
data_size(jv data, size_t *n)
{
	char	*s;

	if (jv_get_kind(data) == JV_KIND_STRING) {
		*n = (size_t)jv_string_length_bytes(jv_copy(data));
		return 0;
	}
	s = wq_dump(jv_copy(data));
	*n = strlen(s);
	free(s);
	return 0;
}

static int
check_size(struct wq *wq, jv data)
{
	size_t	n;

	data_size(data, &n);
	if (n > wq->cfg.max_data) {
		wq->too_big = 1;
		return wq_seterr(wq, WQ_EUSAGE, "data is %zu bytes, over the "
		    "limit of %zu (--max-data)", n, wq->cfg.max_data);
	}
	return WQ_OK;
}

static int
spec_number(struct wq *wq, jv v, const char *name, long min, long max,
    long *out)
{
	double	d;

	if (jv_get_kind(v) != JV_KIND_NUMBER) {
		jv_free(v);
		return wq_seterr(wq, WQ_EUSAGE, "\"%s\" must be a number",
		    name);
	}
	d = jv_number_value(v);
	jv_free(v);
	/* The range first: a double beyond a long's is undefined as one. */
	if (!(d >= (double)min && d <= (double)max) || d != (double)(long)d)
		return wq_seterr(wq, WQ_EUSAGE, "\"%s\" must be a whole number "
		    "from %ld to %ld", name, min, max);
	*out = (long)d;
	return WQ_OK;
}

/*
 * A string with a NUL in it: as a C string (a key's MD5, a queue's Redis
 * key) it would be cut there, and name something else than was given.
 */
static int
has_nul(jv s)
{
	return strlen(jv_string_value(s)) !=
	    (size_t)jv_string_length_bytes(jv_copy(s));
}

/* "key" or "queue": a string, without NUL (and a key not empty). */
static int
spec_string(struct wq *wq, jv v, const char *name, int empty_ok)
{
	int	rc = WQ_OK;

	if (jv_get_kind(v) != JV_KIND_STRING)
		rc = wq_seterr(wq, WQ_EUSAGE, empty_ok ? "\"%s\" must be a "
		    "string" : "\"%s\" must be a non-empty string", name);
	else if (!empty_ok && jv_string_length_bytes(jv_copy(v)) == 0)
		rc = wq_seterr(wq, WQ_EUSAGE, "\"%s\" must be a non-empty "
		    "string", name);
	else if (has_nul(v))
		rc = wq_seterr(wq, WQ_EUSAGE, "\"%s\" must not contain "
		    "\\u0000", name);
	return rc;
}

/* The queue of a job object: a valid queue name. */
static int
spec_queue(struct wq *wq, jv v, struct wq_spec *s)
{
	char	*q;
	int	 rc;

	if ((rc = spec_string(wq, v, "queue", 1)) != WQ_OK) {
		jv_free(v);
		return rc;
	}
	q = wq_strdup(jv_string_value(v));
	jv_free(v);
	free(s->queue);
	s->queue = NULL;
	if ((rc = wq_check_queue(wq, q)) == WQ_OK)
		s->queue = q;
	else
		free(q);
	return rc;
}

/* The group of a job object (docs/DESIGN.md, Limits). */
static int
spec_set_group(struct wq *wq, struct wq_spec *s, const char *g)
{
	int	rc;

	if ((rc = wq_check_group(wq, g)) != WQ_OK)
		return rc;
	free(s->group);
	s->group = wq_strdup(g);
	return WQ_OK;
}

/* One field of a job object, its value v (consumed); the key in *key. */
static int
spec_field(struct wq *wq, const char *name, jv v, struct wq_spec *s,
    jv *key)
{
	int	rc = WQ_OK;

	if (strcmp(name, "data") == 0) {
		jv_free(s->data);
		s->data = v;
	} else if (strcmp(name, "key") == 0) {
		if ((rc = spec_string(wq, v, "key", 0)) != WQ_OK)
			jv_free(v);
		else {
			jv_free(*key);
			*key = v;
		}
	} else if (strcmp(name, "queue") == 0)
		rc = spec_queue(wq, v, s);
	else if (strcmp(name, "group") == 0) {
		if ((rc = spec_string(wq, v, "group", 0)) == WQ_OK)
			rc = spec_set_group(wq, s, jv_string_value(v));
		jv_free(v);
	} else if (strcmp(name, "timeout") == 0)
		rc = spec_number(wq, v, "timeout", 1, WQ_JOB_TIMEOUT_MAX,
		    &s->timeout);
	else if (strcmp(name, "max_attempts") == 0)
		rc = spec_number(wq, v, "max_attempts", 1, WQ_JOB_ATTEMPTS_MAX,
		    &s->max_attempts);
	else if (strcmp(name, "ttl") == 0)
		rc = spec_number(wq, v, "ttl", 1, 100L * 365 * 86400, &s->ttl);
	else if (strcmp(name, "priority") == 0)
		rc = spec_number(wq, v, "priority", 0, WQ_PRIORITY_MAX,
		    &s->priority);
	else if (strcmp(name, "after") == 0)
		rc = spec_after(wq, v, s);
	else if (strcmp(name, "in") == 0)
		rc = spec_run(wq, v, WQ_RUN_IN, s);
	else if (strcmp(name, "at") == 0)
		rc = spec_run(wq, v, WQ_RUN_AT, s);
	else if (strcmp(name, "traceparent") == 0) {
		if ((rc = spec_string(wq, v, "traceparent", 0)) == WQ_OK)
			rc = wq_spec_set_trace(wq, s, jv_string_value(v));
		jv_free(v);
	} else {
		rc = wq_seterr(wq, WQ_EUSAGE, "unknown field \"%.64s\" "
		    "(expected data, key, queue, group, timeout, max_attempts, "
		    "ttl, traceparent, in, at, priority, after)", name);
		jv_free(v);
	}
	return rc;
}

/* Take a job object {"data",...}; consumes obj. */
int
wq_spec_from_json(struct wq *wq, jv obj, struct wq_spec *s)
{
	jv	k, key = jv_null();
	size_t	i;
	int	it, rc = WQ_OK;

	memset(s, 0, sizeof(*s));
	s->data = jv_invalid();
	wq->too_big = 0;
	if (jv_get_kind(obj) != JV_KIND_OBJECT) {
		jv_free(obj);
		return wq_seterr(wq, WQ_EUSAGE, "a job must be a JSON object "
		    "with \"data\"");
	}
	for (it = jv_object_iter(obj); jv_object_iter_valid(obj, it) &&
	    rc == WQ_OK; it = jv_object_iter_next(obj, it)) {
		k = jv_object_iter_key(obj, it);
		rc = spec_field(wq, jv_string_value(k),
		    jv_object_iter_value(obj, it), s, &key);
		jv_free(k);
	}
	jv_free(obj);
	if (rc == WQ_OK && !jv_is_valid(s->data))
		rc = wq_seterr(wq, WQ_EUSAGE, "missing \"data\"");
	if (rc == WQ_OK)
		rc = check_size(wq, s->data);
	if (rc == WQ_OK && jv_get_kind(key) == JV_KIND_STRING)
		s->key = wq_strdup(jv_string_value(key));
	if (rc == WQ_OK)
		wq_id_of(jv_copy(s->data), s->key, s->id);
	for (i = 0; rc == WQ_OK && i < s->nafter; i++)
		if (strcmp(s->after[i], s->id) == 0)
			rc = wq_seterr(wq, WQ_EUSAGE, "\"after\" names the job "
			    "itself");
	jv_free(key);
	if (rc != WQ_OK)
		wq_spec_clear(s);
	return rc;
}

int
wq_spec_from_text(struct wq *wq, const char *text, size_t n, int mode,
    struct wq_spec *s)
{
	char	err[256];
	jv	v;

	if (mode == WQ_TEXT_JSON) {
		v = wq_parse(text, n, err, sizeof(err));
		if (!jv_is_valid(v)) {
			memset(s, 0, sizeof(*s));
			s->data = jv_invalid();
			return wq_seterr(wq, WQ_EUSAGE, "%s", err);
		}
		return wq_spec_from_json(wq, v, s);
	}
	memset(s, 0, sizeof(*s));
	wq->too_big = 0;
	if (n > wq->cfg.max_data) {
		wq->too_big = 1;
		s->data = jv_invalid();
		return wq_seterr(wq, WQ_EUSAGE, "data is %zu bytes, over the "
		    "limit of %zu (--max-data)", n, wq->cfg.max_data);
	}
	/* Bytes that are not UTF-8 become U+FFFD, 3 bytes each: check again. */
	s->data = jv_string_sized(text, (int)n);
	if (check_size(wq, s->data) != WQ_OK) {
		wq_spec_clear(s);
		return WQ_EUSAGE;
	}
	wq_id_of(jv_copy(s->data), NULL, s->id);
	return WQ_OK;
}

int
wq_spec_too_big(struct wq *wq)
{
	return wq->too_big;
}
