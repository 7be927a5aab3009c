/*
 * routes.c -- the routes of the API (docs/DESIGN.md, "The HTTP API").
 *
 * One Kore route takes every path, so that every answer, errors included,
 * is JSON: Kore's own 404 and 405 are not.  The handler checks the
 * framing and the token, finds the route, checks the method, and either
 * answers at once or starts Redis commands and sleeps until a reply
 * callback has the answer ready (rq.c).
 */
#include <arpa/inet.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "body.h"

#define WAIT_MAX_S		30
#define RECENT_DEFAULT		20

struct route {
	const char	*path;
	int		 prefix;	/* path/<something> */
	int		 methods;
	const char	*allow;
	int		 open;		/* no token needed */
	int		(*fn)(struct http_request *);
};

static int	route_console(struct http_request *);
static int	route_health(struct http_request *);
static int	route_metrics(struct http_request *);
static int	route_submit(struct http_request *);
static int	route_status(struct http_request *);
static int	route_peers(struct http_request *);
static int	route_queues(struct http_request *);
static int	route_stats(struct http_request *);
static int	route_recent(struct http_request *);
static int	route_ping(struct http_request *);
static int	route_openapi(struct http_request *);
static int	route_cron(struct http_request *);
static int	route_cron_name(struct http_request *);
static int	route_job(struct http_request *);
static int	route_queue(struct http_request *);
static int	route_events(struct http_request *);

#define GET_HEAD	(HTTP_METHOD_GET | HTTP_METHOD_HEAD)
/* /api/v1/cron/NAME[/VERB]: the handler answers 405 with its own Allow. */
#define CRON_ONE	(HTTP_METHOD_PUT | HTTP_METHOD_DELETE | \
			 HTTP_METHOD_POST | GET_HEAD)
#define CRON_ALLOW	"PUT, DELETE, POST"
/* /api/v1/queues/Q/VERB: POST, but PUT for /limits: the handler answers
 * 405 with the Allow of the verb. */
#define QUEUE_ONE	(HTTP_METHOD_POST | HTTP_METHOD_PUT | \
			 HTTP_METHOD_DELETE | GET_HEAD)

static const struct route routes[] = {
	{ "/",			0, GET_HEAD, "GET, HEAD", 0, route_console },
	{ "/healthz",		0, GET_HEAD, "GET, HEAD", 1, route_health },
	{ "/metrics",		0, GET_HEAD, "GET, HEAD", 0, route_metrics },
	{ "/api/v1/work",	0, HTTP_METHOD_POST, "POST", 0, route_submit },
	{ "/api/v1/work/",	1, GET_HEAD, "GET, HEAD", 0, route_status },
	{ "/api/v1/peers",	0, GET_HEAD, "GET, HEAD", 0, route_peers },
	{ "/api/v1/queues",	0, GET_HEAD, "GET, HEAD", 0, route_queues },
	{ "/api/v1/stats",	0, GET_HEAD, "GET, HEAD", 0, route_stats },
	{ "/api/v1/recent",	0, GET_HEAD, "GET, HEAD", 0, route_recent },
	{ "/api/v1/ping",	0, GET_HEAD, "GET, HEAD", 0, route_ping },
	{ "/api/v1/openapi.json", 0, GET_HEAD, "GET, HEAD", 0, route_openapi },
	{ "/api/v1/cron",	0, GET_HEAD, "GET, HEAD", 0, route_cron },
	{ "/api/v1/cron/",	1, CRON_ONE, CRON_ALLOW, 0, route_cron_name },
	{ "/api/v1/jobs/",	1, HTTP_METHOD_POST, "POST", 0, route_job },
	{ "/api/v1/queues/",	1, QUEUE_ONE, "POST, PUT", 0, route_queue },
	{ "/api/v1/events",	0, GET_HEAD, "GET, HEAD", 0, route_events },
};

/* The token: a constant-time comparison, whatever the lengths. */
static int
token_equal(const char *given, size_t len)
{
	volatile unsigned char	d = 0;
	size_t			i;

	d |= (unsigned char)(len != api.token_len);
	for (i = 0; i < api.token_len; i++)
		d |= (unsigned char)api.token[i] ^
		    (unsigned char)(i < len ? given[i] : 0);
	return d == 0;
}

static int
authorized(struct http_request *req)
{
	const char	*h;

	if (api.token == NULL)
		return 1;
	if (!http_request_header(req, "authorization", &h))
		return 0;
	if (strncasecmp(h, "Bearer ", 7) != 0)
		return 0;
	for (h += 7; *h == ' '; h++)
		;
	return token_equal(h, strlen(h));
}

static int
wants_html(struct http_request *req)
{
	const char	*h;

	return http_request_header(req, "accept", &h) &&
	    strstr(h, "text/html") != NULL;
}

static int
respond_unauthorized(struct http_request *req, int page)
{
	http_response_header(req, "www-authenticate", "Bearer realm=\"wq\"");
	/* A browser gets a page that asks for the token. */
	if (page && wants_html(req))
		return rq_respond_page(req, 401, login_html, login_html_len,
		    1);
	return rq_respond_error(req, 401, "missing or wrong bearer token");
}

static const struct route *
route_find(const char *path)
{
	size_t	i, n;

	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		n = strlen(routes[i].path);
		if (routes[i].prefix ? strncmp(path, routes[i].path, n) == 0 &&
		    path[n] != '\0' : strcmp(path, routes[i].path) == 0)
			return &routes[i];
	}
	return NULL;
}

/*
 * Kore frames a body by its first Content-Length and knows nothing of
 * Transfer-Encoding (without a length it answers 411 itself).  A request
 * with both, or with two lengths, may have been framed otherwise by a
 * proxy in front (request smuggling): refused, and its connection closed.
 */
static int
framing_ambiguous(struct http_request *req)
{
	struct http_header	*h;
	int			 lengths = 0;

	TAILQ_FOREACH(h, &req->req_headers, list) {
		if (strcasecmp(h->header, "transfer-encoding") == 0)
			return 1;
		if (strcasecmp(h->header, "content-length") == 0)
			lengths++;
	}
	return lengths > 1;
}

/*
 * Host names a name this API answers to: an address (a DNS rebinding
 * attack needs a name), localhost, the listen address, or a name of
 * WQ_API_ALLOW_HOSTS (--allow-host).  A page of another site whose name
 * was made to resolve here is refused.
 */
static int
host_allowed(struct http_request *req)
{
	const char	*h, *p, *end;
	char		 name[256];
	unsigned char	 a[16];
	size_t		 n;

	if (!http_request_header(req, "host", &h))
		return 1;		/* HTTP/1.0: no browser */
	if (h[0] == '[')
		return strchr(h, ']') != NULL;
	n = strcspn(h, ":");
	if (n == 0 || n >= sizeof(name))
		return 0;
	memcpy(name, h, n);
	name[n] = '\0';
	if (inet_pton(AF_INET, name, a) == 1 ||
	    strcasecmp(name, "localhost") == 0 ||
	    strcasecmp(name, api.listen_host) == 0)
		return 1;
	for (p = api.allow_hosts; *p != '\0'; p = *end ? end + 1 : end) {
		end = p + strcspn(p, ",");
		if ((size_t)(end - p) == n && strncasecmp(p, name, n) == 0)
			return 1;
	}
	return 0;
}

/* A POST's (or PUT's) body is JSON, said so: a page can send text/plain
 * freely. */
static int
json_body(struct http_request *req)
{
	const char	*h;
	size_t		 n;

	if (!http_request_header(req, "content-type", &h))
		return 0;
	n = strcspn(h, "; \t");
	return n == strlen("application/json") &&
	    strncasecmp(h, "application/json", n) == 0;
}

/* The handler of every path. */
int
wq_api_http(struct http_request *req)
{
	const struct route	*r;
	struct rq		**sp;

	if ((sp = http_state_get(req)) != NULL && *sp != NULL)
		return rq_yield(req, *sp);
	if (framing_ambiguous(req)) {
		req->owner->flags |= CONN_CLOSE_EMPTY;
		return rq_respond_error(req, 400, "ambiguous body length: send "
		    "one Content-Length and no Transfer-Encoding");
	}
	r = route_find(req->path);
	if ((r == NULL || !r->open) && !host_allowed(req))
		return rq_respond_error(req, 421, "this API does not answer "
		    "to that Host (wq-api --allow-host)");
	if ((r == NULL || !r->open) && !authorized(req))
		return respond_unauthorized(req, r != NULL &&
		    r->fn == route_console);
	if (r == NULL)
		return rq_respond_error(req, 404, "not found");
	if (!(req->method & r->methods))
		return rq_respond_method(req, r->allow);
	if ((req->method == HTTP_METHOD_POST ||
	    req->method == HTTP_METHOD_PUT) && !json_body(req))
		return rq_respond_error(req, 415, "Content-Type must be "
		    "application/json");
	return r->fn(req);
}

/* A query argument's raw value, or NULL; len receives its length. */
static const char *
query_arg(struct http_request *req, const char *name, size_t *len)
{
	const char	*p, *end;
	size_t		 n = strlen(name);

	for (p = req->query_string; p != NULL && *p != '\0'; p = end) {
		end = p + strcspn(p, "&");
		if ((size_t)(end - p) > n && strncmp(p, name, n) == 0 &&
		    p[n] == '=') {
			*len = (size_t)(end - p) - n - 1;
			return p + n + 1;
		}
		if (*end == '&')
			end++;
	}
	return NULL;
}

static int
query_number(struct http_request *req, const char *name, double *out)
{
	const char	*v;
	char		 buf[32];
	size_t		 len;

	if ((v = query_arg(req, name, &len)) == NULL)
		return 0;
	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, v, len);
	buf[len] = '\0';
	return wq_parse_seconds(buf, out) == -1 ? -1 : 1;
}

/* Routes. */

static int
route_console(struct http_request *req)
{
	return rq_respond_page(req, 200, console_html, console_html_len,
	    0);
}

/* kore-api/openapi.json, built in like the console. */
static int
route_openapi(struct http_request *req)
{
	return rq_respond(req, 200, "application/json", openapi_json,
	    openapi_json_len);
}

static int
route_ping(struct http_request *req)
{
	static const char	pong[] = "{\"status\":\"ok\"}";

	return rq_respond(req, 200, "application/json", pong, sizeof(pong) - 1);
}

static void
health_reply(struct rq *rq, redisReply *r)
{
	jv	o;

	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		rq_answer_unavailable(rq);
		return;
	}
	o = jv_object();
	o = jv_object_set(o, jv_string("status"), jv_string("ok"));
	o = jv_object_set(o, jv_string("node"), jv_string(wq_name(api_wq)));
	rq_answer_json(rq, 200, o);
}

static int
route_health(struct http_request *req)
{
	struct wq_argv	 a;
	struct rq	*rq;

	rq = rq_new(req);
	wq_async_ping_argv(&a);
	if (rq_send(rq, &a, 1, health_reply) == -1)
		rq_answer_unavailable(rq);
	wq_argv_free(&a);
	return rq_yield(req, rq);
}

/* --wait-replicas: the job is queued; WAIT said how many replicas have it. */
static void
submit_waited(struct rq *rq, redisReply *r)
{
	jv	ans = rq->answer;
	int	rc;

	rq->answer = jv_invalid();
	if (r == NULL) {
		jv_free(ans);
		rq_answer_unavailable(rq);
		return;
	}
	if ((rc = wq_wait_decode(api_wq, r, "the job is queued")) != WQ_OK) {
		jv_free(ans);
		rq_answer_failed(rq, rc);
		return;
	}
	rq_answer_json(rq, 200, ans);
}

static void
submit_reply(struct rq *rq, redisReply *r)
{
	struct wq_argv	a;

	jv	ans;
	int	rc;

	/* The server does not know the script (yet): send it whole. */
	if (r != NULL && wq_reply_noscript(r) && !rq->evaled) {
		rq->evaled = 1;
		wq_script_to_eval(&rq->argv);
		if (rq_send(rq, &rq->argv, 1, submit_reply) == 0)
			return;
		r = NULL;
	}
	if (r == NULL) {
		rq_answer_unavailable(rq);
		return;
	}
	if ((rc = wq_submit_decode(api_wq, &rq->spec, 1, r, &ans)) !=
	    WQ_OK) {
		kore_log(LOG_NOTICE, "wq-api: %s", wq_error(api_wq));
		rq_answer_failed(rq, rc);
		return;
	}
	if (wq_setting_num(api_wq, WQ_OPT_WAIT_REPLICAS) > 0) {
		/* on the same connection, which made the write */
		rq->answer = ans;
		wq_wait_argv(api_wq, &a);
		if (rq_send(rq, &a, 1, submit_waited) == -1) {
			rq->answer = jv_invalid();
			jv_free(ans);
			rq_answer_unavailable(rq);
		}
		wq_argv_free(&a);
		return;
	}
	rq_answer_json(rq, 200, ans);
}

static int
route_submit(struct http_request *req)
{
	struct wq_spec	 spec;
	struct rq	*rq;
	const char	*tp;
	char		 err[256];
	int		 status;

	/* The whole body is in memory (no http_body_disk_offload). */
	status = api_submit_body(api_wq, req->http_body != NULL ?
	    req->http_body->data : NULL, req->http_body_length, api.max_body,
	    &spec, err, sizeof(err));
	if (status != 0)
		return rq_respond_error(req, status, err);
	if (spec.group != NULL && wq_parts_one(api_wq, "groups") != WQ_OK) {
		wq_spec_clear(&spec);
		return rq_respond_error(req, 400, wq_error(api_wq));
	}
	/* The trace of the request, unless the job object has its own. */
	if (spec.traceparent == NULL &&
	    http_request_header(req, "traceparent", &tp) &&
	    wq_spec_set_trace(api_wq, &spec, tp) != WQ_OK) {
		wq_spec_clear(&spec);
		return rq_respond_error(req, 400, wq_error(api_wq));
	}
	rq = rq_new(req);
	rq->spec = spec;
	rq->has_spec = 1;
	/* its parents (after) are linked by the next sweep: deps.c */
	rq->spec.link_later = 1;
	wq_submit_argv(api_wq, &rq->spec, 1, &rq->argv);
	if (rq_send(rq, &rq->argv, 1, submit_reply) == -1)
		rq_answer_unavailable(rq);
	return rq_yield(req, rq);
}

static int
route_status(struct http_request *req)
{
	struct wq_argv	 a;
	struct rq	*rq;
	const char	*id;
	double		 wait = 0;
	int		 i;

	id = req->path + strlen("/api/v1/work/");
	if (!wq_id_valid(id))
		return rq_respond_json(req, 404, rq_not_found());
	if (query_number(req, "wait", &wait) == -1)
		return rq_respond_error(req, 400, "bad wait: a number of "
		    "seconds from 0 to 30");
	if (wait > WAIT_MAX_S)
		wait = WAIT_MAX_S;
	rq = rq_new(req);
	/* upper case, as the CLI reads ids: the keys' spelling */
	for (i = 0; i <= WQ_ID_LEN; i++)
		rq->id[i] = (char)toupper((unsigned char)id[i]);
	if (wait > 0)
		rq->deadline = kore_time_ms() + (u_int64_t)(wait * 1000);
	wq_status_argv(api_wq, rq->id, &a);
	if (rq_send(rq, &a, 1, wait_status_reply) == -1)
		rq_answer_unavailable(rq);
	wq_argv_free(&a);
	rq->reading = !rq->answered;
	return rq_yield(req, rq);
}

/* Reads in rounds (wq_read): send a round, feed its replies back. */

static void	read_step(struct rq *);

static void
read_reply(struct rq *rq, redisReply *r)
{
	redisReply	**rs;
	size_t		  n;
	int		  rc;

	if (r == NULL || (rq->nsent > 1 && r->type != REDIS_REPLY_ARRAY)) {
		rq_answer_unavailable(rq);
		return;
	}
	if (rq->nsent == 1) {
		rs = &r;
		n = 1;
	} else {
		rs = r->element;
		n = r->elements;
	}
	/*
	 * A schedule's operation: no such schedule, or one refused; job
	 * control: no such job, or one not in a state for it.
	 */
	if ((rc = wq_read_feed(rq->read, rs, n)) == WQ_NO ||
	    rc == WQ_EUSAGE) {
		rq_answer_error(rq, rc == WQ_EUSAGE ? 400 :
		    wq_read_conflict(rq->read) ? 409 : 404, wq_error(api_wq));
		return;
	}
	if (rc != WQ_OK) {
		kore_log(LOG_NOTICE, "wq-api: %s", wq_error(api_wq));
		rq_answer_failed(rq, rc);
		return;
	}
	read_step(rq);
}

static void
read_step(struct rq *rq)
{
	struct wq_argv	*cmds;
	struct kore_buf	*buf;
	size_t		 n;
	char		*text;
	jv		 out;

	if ((n = wq_read_next(rq->read, &cmds)) > 0) {
		if (rq_send(rq, cmds, n, read_reply) == -1)
			rq_answer_unavailable(rq);
		return;
	}
	out = wq_read_result(rq->read);
	if (rq->read_kind != 0) {		/* /metrics */
		buf = kore_buf_alloc(4096);
		metrics_text(out, buf);
		text = wq_calloc(1, buf->offset + 1);
		memcpy(text, buf->data, buf->offset);
		rq_answer_text(rq, 200, "text/plain; version=0.0.4; "
		    "charset=utf-8", text, buf->offset);
		kore_buf_free(buf);
		return;
	}
	rq_answer_json(rq, 200, out);
}

/* A read in rounds, which the request then owns. */
static int
route_read_start(struct http_request *req, struct wq_read *rd, int text)
{
	struct rq	*rq;

	rq = rq_new(req);
	rq->read = rd;
	rq->read_kind = text;
	read_step(rq);
	return rq_yield(req, rq);
}

static int
route_read(struct http_request *req, int kind, long arg, int text)
{
	return route_read_start(req, wq_read_new(api_wq, kind, arg), text);
}

static int
route_metrics(struct http_request *req)
{
	return route_read(req, WQ_READ_METRICS, 0, 1);
}

static int
route_stats(struct http_request *req)
{
	return route_read(req, WQ_READ_METRICS, 0, 0);
}

/* A query argument as a string (malloc'd), or NULL. */
static char *
query_string(struct http_request *req, const char *name)
{
	const char	*v;
	size_t		 len;

	if ((v = query_arg(req, name, &len)) == NULL)
		return NULL;
	return wq_strndup(v, len);
}

/*
 * The event stream, after the Last-Event-ID the client sends back when it
 * reconnects, else after ?since= (an id or a time), else all of it;
 * ?queue= only that queue's events (sse.c).
 */
static int
route_events(struct http_request *req)
{
	const char	*h;
	char		*since = NULL, *queue;
	int		 r;

	if (http_request_header(req, "last-event-id", &h) && *h != '\0')
		since = wq_strdup(h);
	else
		since = query_string(req, "since");
	queue = query_string(req, "queue");
	r = sse_start(req, since, queue);
	free(since);
	free(queue);
	return r;
}

static int
route_queues(struct http_request *req)
{
	return route_read(req, WQ_READ_QUEUES, 0, 0);
}

static int
route_peers(struct http_request *req)
{
	size_t		 len;
	const char	*all;

	all = query_arg(req, "all", &len);
	return route_read(req, WQ_READ_PEERS, all != NULL && len == 1 &&
	    *all == '1', 0);
}

static int
route_recent(struct http_request *req)
{
	double	n = RECENT_DEFAULT;

	if (query_number(req, "limit", &n) == -1 || n < 1 ||
	    n > WQ_RECENT_MAX || n != (double)(long)n)
		return rq_respond_error(req, 400, "bad limit: a whole number "
		    "from 1 to 100");
	return route_read(req, WQ_READ_RECENT, (long)n, 0);
}


/* Schedules: wq-cron's operations (docs/DESIGN.md, Schedules). */

static int
route_cron(struct http_request *req)
{
	struct wq_cronop	*o;

	if (wq_cronop_new(api_wq, WQ_SCHEDULE_LIST, NULL, &o) != WQ_OK)
		return rq_respond_error(req, 400, wq_error(api_wq));
	return route_read_start(req, wq_read_cron(api_wq, o), 0);
}

/*
 * /api/v1/cron/NAME: PUT adds or replaces, DELETE removes;
 * /api/v1/cron/NAME/pause and /resume: POST.
 */
static int
route_cron_name(struct http_request *req)
{
	struct wq_schedule	 s;
	struct wq_cronop	*o;
	const char		*name, *verb;
	char			 buf[WQ_SCHEDULE_NAME_MAX + 2];
	size_t			 n;
	int			 op, rc;

	name = req->path + strlen("/api/v1/cron/");
	n = strcspn(name, "/");
	verb = name[n] == '/' ? name + n + 1 : NULL;
	if (verb != NULL && strcmp(verb, "pause") != 0 && strcmp(verb,
	    "resume") != 0)
		return rq_respond_error(req, 404, "not found");
	if (n > WQ_SCHEDULE_NAME_MAX)
		n = WQ_SCHEDULE_NAME_MAX + 1;	/* refused as too long */
	memcpy(buf, name, n);
	buf[n] = '\0';
	if (verb != NULL && req->method != HTTP_METHOD_POST)
		return rq_respond_method(req, "POST");
	if (verb == NULL && req->method != HTTP_METHOD_PUT &&
	    req->method != HTTP_METHOD_DELETE)
		return rq_respond_method(req, "PUT, DELETE");
	memset(&s, 0, sizeof(s));
	s.name = buf;
	if (req->method == HTTP_METHOD_PUT) {
		if (req->http_body_length > api.max_body)
			return rq_respond_error(req, 413, "body over the "
			    "limit");
		rc = wq_schedule_body(api_wq, buf, req->http_body != NULL ?
		    (const char *)req->http_body->data : "",
		    req->http_body_length, &o);
	} else {
		op = verb == NULL ? WQ_SCHEDULE_RM : strcmp(verb, "pause") ==
		    0 ? WQ_SCHEDULE_PAUSE : WQ_SCHEDULE_RESUME;
		rc = wq_cronop_new(api_wq, op, &s, &o);
	}
	if (rc != WQ_OK)
		return rq_respond_error(req, 400, wq_error(api_wq));
	return route_read_start(req, wq_read_cron(api_wq, o), 0);
}

/* Job control: an operation (WQ_CTL_*) on arg, a read in rounds. */
static int
route_control(struct http_request *req, int op, const char *arg)
{
	struct wq_ctlop	*o;
	int		 rc;

	if ((rc = wq_ctlop_new(api_wq, op, arg, &o)) != WQ_OK)
		return rq_respond_error(req, rc == WQ_NO ? 404 : 400,
		    wq_error(api_wq));
	return route_read_start(req, wq_read_control(api_wq, o), 0);
}

/* POST /api/v1/jobs/ID/cancel, /api/v1/jobs/ID/retry */
static int
route_job(struct http_request *req)
{
	const char	*id, *verb;
	char		 buf[WQ_ID_LEN + 1];

	id = req->path + strlen("/api/v1/jobs/");
	verb = strchr(id, '/');
	if (verb == NULL || verb - id != WQ_ID_LEN)
		return rq_respond_error(req, 404, "not found");
	memcpy(buf, id, WQ_ID_LEN);
	buf[WQ_ID_LEN] = '\0';
	if (strcmp(verb, "/cancel") == 0)
		return route_control(req, WQ_CTL_CANCEL, buf);
	if (strcmp(verb, "/retry") == 0)
		return route_control(req, WQ_CTL_RETRY, buf);
	return rq_respond_error(req, 404, "not found");
}

/*
 * PUT /api/v1/queues/Q/limits {"concurrency","rate","period_ms",
 * "group_concurrency","clear"}
 */
static int
route_queue_limits(struct http_request *req, const char *q)
{
	struct wq_ctlop	*o;

	if (req->method != HTTP_METHOD_PUT)
		return rq_respond_method(req, "PUT");
	if (req->http_body_length > api.max_body)
		return rq_respond_error(req, 413, "body over the limit");
	if (wq_ctlop_limits(api_wq, q, req->http_body != NULL ?
	    (const char *)req->http_body->data : "", req->http_body_length,
	    &o) != WQ_OK)
		return rq_respond_error(req, 400, wq_error(api_wq));
	return route_read_start(req, wq_read_control(api_wq, o), 0);
}

/*
 * POST /api/v1/queues/Q/retry (its dead list; ?max=N: one batch of N,
 * with their records), /pause, /resume, /purge
 */
static int
route_queue(struct http_request *req)
{
	static const struct {
		const char	*verb;
		int		 op;
	} verbs[] = {
		{ "retry",	WQ_CTL_RETRY_DEAD },
		{ "pause",	WQ_CTL_PAUSE },
		{ "resume",	WQ_CTL_RESUME },
		{ "purge",	WQ_CTL_PURGE },
	};
	struct wq_ctlop	*o;
	const char	*q, *verb;
	char		 buf[256];
	size_t		 i, n;
	double		 max = 0;
	int		 rc, has;

	q = req->path + strlen("/api/v1/queues/");
	if ((verb = strrchr(q, '/')) == NULL)
		return rq_respond_error(req, 404, "not found");
	n = (size_t)(verb - q);
	if (n == 0 || n >= sizeof(buf))
		return rq_respond_error(req, 400, "bad queue name");
	memcpy(buf, q, n);
	buf[n] = '\0';
	if (strcmp(verb + 1, "limits") == 0)
		return route_queue_limits(req, buf);
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(verb + 1, verbs[i].verb) == 0)
			break;
	if (i == sizeof(verbs) / sizeof(verbs[0]))
		return rq_respond_error(req, 404, "not found");
	if (req->method != HTTP_METHOD_POST)
		return rq_respond_method(req, "POST");
	if (verbs[i].op == WQ_CTL_RETRY_DEAD && (has = query_number(req,
	    "max", &max)) != 0 && (has == -1 || max < 1 || max > WQ_CTL_MAX ||
	    max != (double)(long)max))
		return rq_respond_error(req, 400, "bad max: a whole number "
		    "from 1 to 500");
	if ((rc = wq_ctlop_new(api_wq, verbs[i].op, buf, &o)) != WQ_OK)
		return rq_respond_error(req, 400, wq_error(api_wq));
	if (max > 0)
		wq_ctlop_max(o, (long)max);
	return route_read_start(req, wq_read_control(api_wq, o), 0);
}
