/*
 * api.c -- the HTTP client behind --api (libcurl).
 *
 * wq-submit and wq-status can talk to the HTTP API instead of Redis; they
 * must then behave exactly as on their Redis paths: same output, same exit
 * codes.  So the API's answers are mapped back here: 2xx is WQ_OK, 404 is
 * WQ_NO (unknown id), other 4xx are the client's mistake (WQ_EUSAGE), and
 * 5xx or no answer at all is WQ_EUNAVAIL.  One curl handle is kept per
 * context so that a stream of requests reuses its connection.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "wq-int.h"

static void	api_close(struct wq *);

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

static CURL *
api_handle(struct wq *wq)
{
	static int	inited;

	if (!inited) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		inited = 1;
	}
	if (wq->curl == NULL) {
		wq->curl = curl_easy_init();
		wq->api_close = api_close;
	} else
		curl_easy_reset(wq->curl);
	return wq->curl;
}

/* The full URL of path, on the API's base URL (with or without a /). */
static char *
api_url(struct wq *wq, const char *path)
{
	const char	*base = wq->cfg.api_url;
	char		*url;
	size_t		 n;

	n = strlen(base);
	if (n > 0 && base[n - 1] == '/')
		n--;
	if (asprintf(&url, "%.*s%s", (int)n, base, path) < 0)
		abort();
	return url;
}

/* The handle set for one request; *h receives the headers to free. */
static void
api_setup(struct wq *wq, CURL *c, const char *url, const char *body,
    struct buf *b, char *err, struct curl_slist **h, char **auth)
{
	err[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)wq->cfg.connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
	    (long)wq->cfg.command_timeout_ms + wq->api_wait_ms);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, buf_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	*h = curl_slist_append(NULL, "Accept: application/json");
	*auth = NULL;
	if (wq->cfg.token != NULL) {
		if (asprintf(auth, "Authorization: Bearer %s",
		    wq->cfg.token) < 0)
			abort();
		*h = curl_slist_append(*h, *auth);
	}
	if (body != NULL) {
		*h = curl_slist_append(*h, "Content-Type: application/json");
		/* No "Expect: 100-continue" (libcurl's above 1 MiB): Kore
		 * never answers it, so each request would wait a second. */
		*h = curl_slist_append(*h, "Expect:");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, *h);
}

/*
 * An answer's status as a WQ_* code: 2xx WQ_OK, 404 WQ_NO, other 4xx
 * WQ_EUSAGE, the rest WQ_EUNAVAIL.  *resp (the JSON answer) is kept for
 * WQ_OK and WQ_NO only.
 */
static int
api_status(struct wq *wq, long code, jv *resp)
{
	char	msg[CURL_ERROR_SIZE];
	jv	e;
	int	rc;

	if (code >= 200 && code < 300)
		return WQ_OK;
	e = jv_get_kind(*resp) == JV_KIND_OBJECT ?
	    jv_object_get(jv_copy(*resp), jv_string("error")) : jv_null();
	snprintf(msg, sizeof(msg), "%s", jv_get_kind(e) == JV_KIND_STRING ?
	    jv_string_value(e) : "no message");
	jv_free(e);
	if (code == 404)
		rc = wq_seterr(wq, WQ_NO, "not found");
	else if (code >= 400 && code < 500)
		rc = wq_seterr(wq, WQ_EUSAGE, "API answered %ld: %s", code,
		    msg);
	else
		rc = wq_seterr(wq, WQ_EUNAVAIL, "API answered %ld: %s", code,
		    msg);
	if (rc != WQ_NO) {
		jv_free(*resp);
		*resp = jv_null();
	}
	return rc;
}

/* One request; *resp gets the JSON answer (or jv_null()). */
static int
api_request(struct wq *wq, const char *method, const char *path,
    const char *body, jv *resp)
{
	CURL			*c;
	struct curl_slist	*h;
	struct buf		 b = { NULL, 0 };
	char			*url, *auth, err[CURL_ERROR_SIZE];
	long			 code = 0;
	CURLcode		 cc;

	*resp = jv_null();
	if ((c = api_handle(wq)) == NULL)
		return wq_seterr(wq, WQ_EUNAVAIL, "cannot start libcurl");
	url = api_url(wq, path);
	api_setup(wq, c, url, body, &b, err, &h, &auth);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(h);
	if (auth != NULL) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	free(url);
	if (cc != CURLE_OK) {
		free(b.p);
		return wq_seterr(wq, WQ_EUNAVAIL, "API unreachable at %s: %s",
		    wq->cfg.api_url, err[0] ? err : curl_easy_strerror(cc));
	}
	if (b.p != NULL)
		*resp = wq_parse(b.p, b.n, err, sizeof(err));
	if (!jv_is_valid(*resp))
		*resp = jv_null();
	free(b.p);
	return api_status(wq, code, resp);
}

int
wq_api_submit(struct wq *wq, struct wq_spec *s, jv *answer)
{
	jv	 o;
	char	*body;
	int	 rc;

	o = jv_object();
	o = jv_object_set(o, jv_string("data"), jv_copy(s->data));
	if (s->key != NULL)
		o = jv_object_set(o, jv_string("key"), jv_string(s->key));
	o = jv_object_set(o, jv_string("queue"),
	    jv_string(s->queue ? s->queue : wq->cfg.queue));
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
	body = wq_dump(o);
	rc = api_request(wq, "POST", "/api/v1/work", body, answer);
	free(body);
	return rc;
}

/* wait_s > 0 asks the API to hold the answer until the job ends. */
int
wq_api_status(struct wq *wq, const char *id, double wait_s, jv *rec)
{
	char	path[128];
	int	rc;

	if (wait_s > 0)
		snprintf(path, sizeof(path), "/api/v1/work/%s?wait=%.3f", id,
		    wait_s);
	else
		snprintf(path, sizeof(path), "/api/v1/work/%s", id);
	wq->api_wait_ms = (int)(wait_s * 1000);
	rc = api_request(wq, "GET", path, NULL, rec);
	wq->api_wait_ms = 0;
	if (rc == WQ_NO) {
		jv_free(*rec);
		*rec = jv_null();
		return WQ_OK;
	}
	return rc;
}

static void
api_close(struct wq *wq)
{
	if (wq->curl != NULL)
		curl_easy_cleanup(wq->curl);
	wq->curl = NULL;
}
