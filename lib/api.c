/*
 * api.c -- the HTTP client behind --api (libcurl).
 *
 * wq-submit, wq-status, wq-cancel, wq-retry and wq-queue can talk to the
 * HTTP API instead of Redis; they must then behave exactly as on their
 * Redis paths: same output, same exit codes.  So the API's answers are
 * mapped back here: 2xx is WQ_OK, 404 is WQ_NO (unknown id), other 4xx
 * are the client's mistake (WQ_EUSAGE; a 409 of job control is looked at
 * by its caller), 500 is Redis's error (WQ_EREDIS), 504 a job queued but
 * confirmed by too few replicas (WQ_EREPLICAS), and other 5xx or no
 * answer at all is WQ_EUNAVAIL.  Requests go through a pool (libcurl's
 * multi interface): several in flight, on connections kept
 * alive, so that a stream of them is not one round trip each.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "wq-int.h"

struct buf {
	char	*p;
	size_t	 n;
};

static size_t
buf_write(char *data, size_t sz, size_t nm, void *arg)
{
	struct buf	*b = arg;
	size_t		 n = sz * nm;

	if (b->n + n > 64 * 1024 * 1024)
		return 0;
	b->p = wq_realloc(b->p, b->n + n + 1);
	memcpy(b->p + b->n, data, n);
	b->n += n;
	b->p[b->n] = '\0';
	return n;
}

static void
api_init(void)
{
	static int	inited;

	if (!inited) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		inited = 1;
	}
}

/* What one request needs until it is done. */
struct api_req {
	CURL			*c;
	struct buf		 b;
	struct curl_slist	*h;
	char			*url;
	char			*body;
	char			 err[CURL_ERROR_SIZE];
	size_t			 tag;
	long			 status;	/* HTTP status (0: none) */
	int			 busy;
};

static void
req_clear(struct api_req *r)
{
	free(r->b.p);
	r->b.p = NULL;
	r->b.n = 0;
	curl_slist_free_all(r->h);
	r->h = NULL;
	free(r->url);
	r->url = NULL;
	free(r->body);
	r->body = NULL;
}

/*
 * Set up the request on r->c (a fresh or reset handle): method, path,
 * body (owned by r after this), the token, timeouts; the answer goes to
 * r->b.  wait_ms: how long the API may hold it.
 */
static void
req_setup(struct wq *wq, struct api_req *r, const char *method,
    const char *path, char *body, int wait_ms)
{
	CURL	*c = r->c;
	char	*auth;
	size_t	 ulen, blen;

	ulen = strlen(wq->cfg.api_url) + strlen(path) + 2;
	r->url = wq_calloc(1, ulen);
	blen = strlen(wq->cfg.api_url);
	/* "http://host:port/" + "/api/..." */
	if (blen > 0 && wq->cfg.api_url[blen - 1] == '/')
		blen--;
	snprintf(r->url, ulen, "%.*s%s", (int)blen, wq->cfg.api_url, path);
	r->body = body;
	r->err[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, r->url);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->err);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)wq->cfg.connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
	    (long)wq->cfg.command_timeout_ms + wait_ms);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, buf_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->b);
	r->h = curl_slist_append(r->h, "Accept: application/json");
	if (wq->cfg.token != NULL) {
		if (asprintf(&auth, "Authorization: Bearer %s",
		    wq->cfg.token) < 0)
			abort();
		r->h = curl_slist_append(r->h, auth);
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	if (body != NULL) {
		r->h = curl_slist_append(r->h,
		    "Content-Type: application/json");
		/* No "Expect: 100-continue" (libcurl's above 1 MiB): Kore
		 * never answers it, so each request would wait a second. */
		r->h = curl_slist_append(r->h, "Expect:");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, r->h);
}

/*
 * The outcome of a request that is done: *resp gets the JSON answer (or
 * jv_null()), and the status maps to a return code (see the top).
 */
static int
req_finish(struct wq *wq, struct api_req *r, CURLcode cc, jv *resp)
{
	char	err[CURL_ERROR_SIZE];
	long	code = 0;
	jv	e;
	int	rc;

	*resp = jv_null();
	r->status = 0;
	if (cc != CURLE_OK) {
		rc = wq_seterr(wq, WQ_EUNAVAIL, "API unreachable at %s: %s",
		    wq->cfg.api_url, r->err[0] ? r->err :
		    curl_easy_strerror(cc));
		req_clear(r);
		return rc;
	}
	curl_easy_getinfo(r->c, CURLINFO_RESPONSE_CODE, &code);
	r->status = code;
	if (r->b.p != NULL)
		*resp = wq_parse(r->b.p, r->b.n, err, sizeof(err));
	if (!jv_is_valid(*resp))
		*resp = jv_null();
	req_clear(r);
	if (code >= 200 && code < 300)
		return WQ_OK;
	e = jv_get_kind(*resp) == JV_KIND_OBJECT ?
	    jv_object_get(jv_copy(*resp), jv_string("error")) : jv_null();
	snprintf(err, sizeof(err), "%s", jv_get_kind(e) == JV_KIND_STRING ?
	    jv_string_value(e) : "no message");
	jv_free(e);
	if (code == 404)
		rc = wq_seterr(wq, WQ_NO, "not found");
	else if (code >= 400 && code < 500)
		rc = wq_seterr(wq, WQ_EUSAGE, "API answered %ld: %s", code,
		    err);
	else if (code == 500)
		rc = wq_seterr(wq, WQ_EREDIS, "API answered %ld: %s", code,
		    err);
	else if (code == 504)	/* queued, too few replicas confirmed */
		rc = wq_seterr(wq, WQ_EREPLICAS, "API answered %ld: %s", code,
		    err);
	else
		rc = wq_seterr(wq, WQ_EUNAVAIL, "API answered %ld: %s", code,
		    err);
	if (rc != WQ_NO) {
		jv_free(*resp);
		*resp = jv_null();
	}
	return rc;
}

/* The body of a submission. */
static char *
submit_body(struct wq *wq, struct wq_spec *s)
{
	jv	 o;

	o = jv_object();
	o = jv_object_set(o, jv_string("data"), jv_copy(s->data));
	if (s->key != NULL)
		o = jv_object_set(o, jv_string("key"), jv_string(s->key));
	o = jv_object_set(o, jv_string("queue"),
	    jv_string(s->queue ? s->queue : wq->cfg.queue));
	if (s->group != NULL)
		o = jv_object_set(o, jv_string("group"), jv_string(s->group));
	if (s->timeout > 0)
		o = jv_object_set(o, jv_string("timeout"),
		    jv_number((double)s->timeout));
	if (s->max_attempts > 0)
		o = jv_object_set(o, jv_string("max_attempts"),
		    jv_number((double)s->max_attempts));
	o = jv_object_set(o, jv_string("ttl"),
	    jv_number((double)(s->ttl > 0 ? s->ttl : wq->cfg.ttl)));
	if (s->traceparent != NULL)
		o = jv_object_set(o, jv_string("traceparent"),
		    jv_string(s->traceparent));
	if (s->priority > 0)
		o = jv_object_set(o, jv_string("priority"),
		    jv_number((double)s->priority));
	if (s->run != WQ_RUN_NOW)
		o = jv_object_set(o, jv_string(s->run == WQ_RUN_IN ? "in" :
		    "at"), jv_number((double)s->run_ms / 1000));
	return wq_dump(o);
}

/* The path of a read, held by the API up to wait_s when that is > 0. */
static void
status_path(char *path, size_t len, const char *id, double wait_s)
{
	if (wait_s > 0)
		snprintf(path, len, "/api/v1/work/%s?wait=%.3f", id, wait_s);
	else
		snprintf(path, len, "/api/v1/work/%s", id);
}

/*
 * Several requests in flight, for a stream of submissions or reads:
 * libcurl's multi interface, with up to max connections kept alive to
 * the API, one request on each at a time.  The caller starts requests
 * while wq_api_pool_idle() says there is room, and wq_api_pool_run()
 * hands back each answer as it comes, with the tag it was started with.
 */
struct wq_api_pool {
	struct wq	*wq;
	CURLM		*m;
	struct api_req	*reqs;
	size_t		 max, busy;
};

int
wq_api_pool_open(struct wq *wq, size_t max, struct wq_api_pool **out)
{
	struct wq_api_pool	*p;

	api_init();
	p = wq_calloc(1, sizeof(*p));
	p->wq = wq;
	p->max = max;
	p->reqs = wq_calloc(max, sizeof(*p->reqs));
	if ((p->m = curl_multi_init()) == NULL) {
		free(p->reqs);
		free(p);
		return wq_seterr(wq, WQ_EUNAVAIL, "cannot start libcurl");
	}
	curl_multi_setopt(p->m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)max);
	curl_multi_setopt(p->m, CURLMOPT_MAXCONNECTS, (long)max);
	*out = p;
	return WQ_OK;
}

void
wq_api_pool_close(struct wq_api_pool *p)
{
	size_t	i;

	if (p == NULL)
		return;
	for (i = 0; i < p->max; i++) {
		if (p->reqs[i].c == NULL)
			continue;
		if (p->reqs[i].busy)
			curl_multi_remove_handle(p->m, p->reqs[i].c);
		curl_easy_cleanup(p->reqs[i].c);
		req_clear(&p->reqs[i]);
	}
	curl_multi_cleanup(p->m);
	free(p->reqs);
	free(p);
}

size_t
wq_api_pool_idle(struct wq_api_pool *p)
{
	return p->max - p->busy;
}

static int
pool_start(struct wq_api_pool *p, const char *method, const char *path,
    char *body, int wait_ms, size_t tag)
{
	struct api_req	*r = NULL;
	size_t		 i;

	for (i = 0; i < p->max && r == NULL; i++)
		if (!p->reqs[i].busy)
			r = &p->reqs[i];
	if (r == NULL) {
		free(body);
		return wq_seterr(p->wq, WQ_EUSAGE, "no request free");
	}
	if (r->c == NULL && (r->c = curl_easy_init()) == NULL) {
		free(body);
		return wq_seterr(p->wq, WQ_EUNAVAIL, "cannot start libcurl");
	}
	curl_easy_reset(r->c);
	req_setup(p->wq, r, method, path, body, wait_ms);
	curl_easy_setopt(r->c, CURLOPT_PRIVATE, r);
	r->tag = tag;
	if (curl_multi_add_handle(p->m, r->c) != CURLM_OK) {
		req_clear(r);
		return wq_seterr(p->wq, WQ_EUNAVAIL, "cannot start a request");
	}
	r->busy = 1;
	p->busy++;
	return WQ_OK;
}

int
wq_api_pool_submit(struct wq_api_pool *p, struct wq_spec *s, size_t tag)
{
	return pool_start(p, "POST", "/api/v1/work", submit_body(p->wq, s), 0,
	    tag);
}

int
wq_api_pool_status(struct wq_api_pool *p, const char *id, double wait_s,
    size_t tag)
{
	char	path[128];

	status_path(path, sizeof(path), id, wait_s);
	return pool_start(p, "GET", path, NULL, (int)(wait_s * 1000), tag);
}

/* Hand over the requests that are done; returns how many. */
static int
pool_done(struct wq_api_pool *p, void (*fn)(void *, size_t, int, jv),
    void *arg)
{
	struct api_req	*r;
	CURLMsg		*msg;
	int		 left, rc, n = 0;
	jv		 answer;
	char		*priv;

	while ((msg = curl_multi_info_read(p->m, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		r = (struct api_req *)priv;
		curl_multi_remove_handle(p->m, r->c);
		r->busy = 0;
		p->busy--;
		rc = req_finish(p->wq, r, msg->data.result, &answer);
		if (rc == WQ_NO) {		/* 404: an unknown id */
			jv_free(answer);
			answer = jv_null();
			rc = WQ_OK;
		}
		fn(arg, r->tag, rc, answer);
		n++;
	}
	return n;
}

/*
 * Wait up to ms (-1: until something happens) for requests to end and,
 * when fd >= 0, for fd to be readable (then *ready is 1); fn(arg, tag,
 * rc, answer) for each request that ended, which owns the answer: the
 * API's answer, or jv_null() for an unknown id (rc WQ_OK); with another
 * rc, wq_error() says why.
 */
int
wq_api_pool_run(struct wq_api_pool *p, int fd, int ms, int *ready,
    void (*fn)(void *, size_t, int, jv), void *arg)
{
	struct curl_waitfd	 w;
	int			 running, n;

	*ready = 0;
	if (curl_multi_perform(p->m, &running) != CURLM_OK)
		return wq_seterr(p->wq, WQ_EUNAVAIL, "libcurl failed");
	if (pool_done(p, fn, arg) > 0)
		ms = 0;		/* what came is handed over: only look */
	w.fd = fd;
	w.events = CURL_WAIT_POLLIN;
	w.revents = 0;
	if (curl_multi_poll(p->m, fd >= 0 ? &w : NULL, fd >= 0 ? 1 : 0,
	    ms < 0 ? 60000 : ms, &n) != CURLM_OK)
		return wq_seterr(p->wq, WQ_EUNAVAIL, "libcurl failed");
	*ready = fd >= 0 && w.revents != 0;
	if (curl_multi_perform(p->m, &running) != CURLM_OK)
		return wq_seterr(p->wq, WQ_EUNAVAIL, "libcurl failed");
	pool_done(p, fn, arg);
	return WQ_OK;
}

/*
 * One request at a time, blocking, on the pool's first connection (kept
 * alive for the next): for the job-control commands.  *out the JSON
 * answer (jv_null() when none); *status the HTTP status.
 */
static int
pool_call(struct wq_api_pool *p, const char *method, const char *path,
    char *body, long *status, jv *out)
{
	struct api_req	*r = &p->reqs[0];
	int		 rc;

	*out = jv_null();
	*status = 0;
	if (p->busy > 0 || r->busy) {
		free(body);
		return wq_seterr(p->wq, WQ_EUSAGE, "requests in flight");
	}
	if (r->c == NULL && (r->c = curl_easy_init()) == NULL) {
		free(body);
		return wq_seterr(p->wq, WQ_EUNAVAIL, "cannot start libcurl");
	}
	curl_easy_reset(r->c);
	req_setup(p->wq, r, method, path, body, 0);
	rc = req_finish(p->wq, r, curl_easy_perform(r->c), out);
	*status = r->status;
	return rc;
}

/* "/api/v1/queues/<q, escaped>/<verb>[suffix]", malloc'd. */
static char *
queue_path(const char *q, const char *verb, const char *suffix)
{
	char	*e, *path;

	if ((e = curl_easy_escape(NULL, q, 0)) == NULL)
		abort();
	if (asprintf(&path, "/api/v1/queues/%s/%s%s", e, verb, suffix) < 0)
		abort();
	curl_free(e);
	return path;
}

/* A queue's operation: POST (or PUT) body on its path; *out the answer. */
static int
queue_call(struct wq_api_pool *p, const char *method, const char *q,
    const char *verb, const char *suffix, char *body, jv *out)
{
	char	*path;
	long	 status;
	int	 rc;

	if ((rc = wq_check_queue(p->wq, q)) != WQ_OK) {
		free(body);
		*out = jv_null();
		return rc;
	}
	path = queue_path(q, verb, suffix);
	rc = pool_call(p, method, path, body, &status, out);
	free(path);
	if (rc == WQ_OK && jv_get_kind(*out) != JV_KIND_OBJECT) {
		jv_free(*out);
		*out = jv_null();
		rc = wq_seterr(p->wq, WQ_EUNAVAIL, "API: unexpected answer");
	}
	return rc;
}

/*
 * wq_control() through the API: POST /api/v1/jobs/<id>/<verb> for each
 * id in turn; for a job not in a state for it (409), its record as it is
 * (GET /api/v1/work/<id>).
 */
int
wq_api_control(struct wq_api_pool *p, int op, const char **ids, size_t n,
    void (*fn)(void *, const char *, int, jv), void *arg)
{
	char	path[128];
	long	status;
	size_t	i;
	int	rc;
	jv	out;

	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/api/v1/jobs/%s/%s", ids[i],
		    op == WQ_CONTROL_CANCEL ? "cancel" : "retry");
		rc = pool_call(p, "POST", path, wq_strdup("{}"), &status,
		    &out);
		if (rc == WQ_OK && jv_get_kind(out) == JV_KIND_OBJECT) {
			fn(arg, ids[i], 1, out);
			continue;
		}
		jv_free(out);
		if (rc == WQ_NO) {
			fn(arg, ids[i], -1, jv_null());
			continue;
		}
		if (rc == WQ_OK)
			return wq_seterr(p->wq, WQ_EUNAVAIL, "API: unexpected "
			    "answer");
		if (status != 409)
			return rc;
		status_path(path, sizeof(path), ids[i], 0);
		rc = pool_call(p, "GET", path, NULL, &status, &out);
		if (rc == WQ_NO || (rc == WQ_OK && jv_get_kind(out) !=
		    JV_KIND_OBJECT)) {
			jv_free(out);
			fn(arg, ids[i], -1, jv_null());
		} else if (rc == WQ_OK)
			fn(arg, ids[i], 0, out);
		else
			return rc;
	}
	return WQ_OK;
}

/*
 * wq_retry_dead() through the API: POST /api/v1/queues/<q>/retry?max=N,
 * a batch a call, until a call takes fewer; the records of the jobs put
 * back come in "jobs".
 */
int
wq_api_retry_dead(struct wq_api_pool *p, const char *queue,
    void (*fn)(void *, const char *, int, jv), void *arg)
{
	char	suffix[32];
	double	taken;
	jv	out, jobs, rec, id;
	int	i, n, rc;

	snprintf(suffix, sizeof(suffix), "?max=%d", WQ_CTL_MAX);
	do {
		if ((rc = queue_call(p, "POST", queue, "retry", suffix,
		    wq_strdup("{}"), &out)) != WQ_OK)
			return rc;
		jobs = jv_object_get(jv_copy(out), jv_string("jobs"));
		rec = jv_object_get(out, jv_string("taken"));
		taken = jv_get_kind(rec) == JV_KIND_NUMBER ?
		    jv_number_value(rec) : -1;
		jv_free(rec);
		if (jv_get_kind(jobs) != JV_KIND_ARRAY || taken < 0) {
			jv_free(jobs);
			return wq_seterr(p->wq, WQ_EUNAVAIL, "API: unexpected "
			    "answer (no \"taken\": an older wq-api?)");
		}
		n = jv_array_length(jv_copy(jobs));
		for (i = 0; i < n; i++) {
			rec = jv_array_get(jv_copy(jobs), i);
			id = jv_object_get(jv_copy(rec), jv_string("callback"));
			if (jv_get_kind(id) == JV_KIND_STRING)
				fn(arg, jv_string_value(id), 1, rec);
			else
				jv_free(rec);
			jv_free(id);
		}
		jv_free(jobs);
	} while (taken >= WQ_CTL_MAX);
	return WQ_OK;
}

/* wq_queues() through the API: GET /api/v1/queues. */
int
wq_api_queues(struct wq_api_pool *p, jv *out)
{
	long	status;
	int	rc;

	rc = pool_call(p, "GET", "/api/v1/queues", NULL, &status, out);
	if (rc == WQ_OK && jv_get_kind(*out) != JV_KIND_OBJECT) {
		jv_free(*out);
		*out = jv_null();
		rc = wq_seterr(p->wq, WQ_EUNAVAIL, "API: unexpected answer");
	}
	return rc;
}

/* wq_queue_set() through the API: POST /api/v1/queues/<q>/pause|resume. */
int
wq_api_queue_set(struct wq_api_pool *p, const char *q, int op)
{
	jv	out;
	int	rc;

	rc = queue_call(p, "POST", q, op == WQ_QUEUE_PAUSE ? "pause" :
	    "resume", "", wq_strdup("{}"), &out);
	jv_free(out);
	return rc;
}

/* wq_queue_purge() through the API: POST /api/v1/queues/<q>/purge. */
int
wq_api_queue_purge(struct wq_api_pool *p, const char *q, long *cancelled)
{
	jv	out, n;
	int	rc;

	*cancelled = 0;
	if ((rc = queue_call(p, "POST", q, "purge", "", wq_strdup("{}"),
	    &out)) != WQ_OK)
		return rc;
	n = jv_object_get(out, jv_string("cancelled"));
	if (jv_get_kind(n) == JV_KIND_NUMBER)
		*cancelled = (long)jv_number_value(n);
	else
		rc = wq_seterr(p->wq, WQ_EUNAVAIL, "API: unexpected answer");
	jv_free(n);
	return rc;
}

/* wq_queue_limit() through the API: PUT /api/v1/queues/<q>/limits. */
int
wq_api_queue_limit(struct wq_api_pool *p, const char *q,
    const struct wq_limits *l)
{
	jv	b, out;
	int	rc;

	if ((rc = wq_queue_limit_check(p->wq, q, l)) != WQ_OK)
		return rc;
	b = jv_object();
	if (l->clear)
		b = jv_object_set(b, jv_string("clear"), jv_true());
	if (l->concurrency)
		b = jv_object_set(b, jv_string("concurrency"),
		    jv_number((double)l->concurrency));
	if (l->rate) {
		b = jv_object_set(b, jv_string("rate"),
		    jv_number((double)l->rate));
		b = jv_object_set(b, jv_string("period_ms"),
		    jv_number((double)l->period_ms));
	}
	if (l->group_concurrency)
		b = jv_object_set(b, jv_string("group_concurrency"),
		    jv_number((double)l->group_concurrency));
	rc = queue_call(p, "PUT", q, "limits", "", wq_dump(b), &out);
	jv_free(out);
	return rc;
}
