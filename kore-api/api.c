/*
 * api.c -- the HTTP API of wq, as a Kore module: settings, routing, the
 * handlers and their answers (DESIGN §6).
 *
 * Settings come from the environment (wq-api, the launcher, puts its
 * flags there) and are read once in the parent, which may resolve names,
 * ask for the host name and talk to Redis before the workers start under
 * Kore's seccomp sandbox.  The parent registers this instance as a node of
 * the cluster (role "api", named api-PID@HOST with the parent's PID unless
 * --name), the first worker heartbeats for it every second, and the
 * parent leaves the cluster when Kore stops.
 *
 * One route takes every path, so that every answer, errors included, is
 * JSON: Kore's own 404 and 405 are not.  The handler checks the token,
 * finds the route, checks the method, and either answers at once or
 * starts Redis commands and sleeps (KORE_RESULT_RETRY) until a reply
 * callback has the answer ready in the request's struct rq and wakes it.
 * The handler then runs again and sends what is there.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <kore/seccomp.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "api.h"
#include "body.h"

#define MAX_BODY_DEFAULT	(1024 * 1024)
#define WAIT_MAX_S		30
#define STALL_MS		3000
#define RECENT_DEFAULT		20
#define RECENT_MAX		100

struct route {
	const char	*path;
	int		 prefix;	/* path/<something> */
	int		 methods;
	const char	*allow;
	int		 open;		/* no token needed */
	int		(*fn)(struct http_request *);
};

int		wq_api_http(struct http_request *);

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

#define GET_HEAD	(HTTP_METHOD_GET | HTTP_METHOD_HEAD)

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
};

/*
 * The sandbox of the workers: Kore's list lacks what a Redis client needs
 * (Debian's build only has socket and connect through its pgsql feature),
 * newfstatat, which glibc 2.36 uses for stat and fstat, and mremap, which
 * realloc uses on large blocks (a body of a megabyte, its JSON).
 */
KORE_SECCOMP_FILTER("wq-api",
	KORE_SYSCALL_ALLOW_ARG(socket, 0, AF_INET),
	KORE_SYSCALL_ALLOW_ARG(socket, 0, AF_INET6),
	KORE_SYSCALL_ALLOW_ARG(socket, 0, AF_UNIX),
	KORE_SYSCALL_ALLOW(connect),
	KORE_SYSCALL_ALLOW(getsockopt),
	KORE_SYSCALL_ALLOW(getsockname),
	KORE_SYSCALL_ALLOW(getpeername),
	KORE_SYSCALL_ALLOW(newfstatat),
	KORE_SYSCALL_ALLOW(fstat),
	KORE_SYSCALL_ALLOW(getppid),
	KORE_SYSCALL_ALLOW(mremap)
);

struct wq		*api_wq;
struct api_settings	 api;

static struct wq_worker_opts	node_opts;
static int			beat_failing;
static u_int64_t		beat_resume;

static jv
node_fields(void)
{
	jv	o;

	o = jv_object();
	o = jv_object_set(o, jv_string("role"), jv_string("api"));
	o = jv_object_set(o, jv_string("host"), jv_string(api.host));
	o = jv_object_set(o, jv_string("pid"), jv_number((double)api.pid));
	o = jv_object_set(o, jv_string("listen"), jv_string(api.listen));
	o = jv_object_set(o, jv_string("concurrency"),
	    jv_number((double)api.workers));
	o = jv_object_set(o, jv_string("queues"), jv_array_append(jv_array(),
	    jv_string(wq_setting(api_wq, WQ_OPT_QUEUE))));
	o = jv_object_set(o, jv_string("version"), jv_string(WQ_VERSION));
	return o;
}

static long
env_long(const char *name, long def, long min, long max)
{
	const char	*s;
	long		 v;

	if ((s = getenv(name)) == NULL || *s == '\0')
		return def;
	if (wq_parse_long(s, min, max, &v) == -1)
		fatal("wq-api: bad %s: a whole number from %ld to %ld", name,
		    min, max);
	return v;
}

/* Once, in the parent, before the workers and their sandbox. */
void
kore_parent_configure(int argc, char **argv)
{
	const char		*s;
	char			*url;
	int			 rc;

	(void)argc;
	(void)argv;
	api_wq = wq_new("api");
	if (wq_env_error(api_wq) != WQ_OK)
		fatal("wq-api: %s", wq_error(api_wq));
	s = wq_setting(api_wq, WQ_OPT_TOKEN);
	if (s != NULL && s[0] != '\0') {
		api.token = s;
		api.token_len = strlen(api.token);
	}
	api.max_body = (size_t)env_long("WQ_API_MAX_BODY", MAX_BODY_DEFAULT,
	    1, 1024L * 1024 * 1024);
	api.workers = env_long("WQ_API_WORKERS", 0, 0, 1024);
	s = getenv("WQ_API_LISTEN");
	api.listen = wq_strdup(s != NULL ? s : "");
	api.stall_ms = STALL_MS;
	api.connect_ms = wq_setting_num(api_wq, WQ_SET_CONNECT_MS);
	api.host = wq_hostname();		/* the sandbox forbids uname */
	api.pid = (long)getpid();
	(void)wq_name(api_wq);			/* likewise: computed now */
	if (wq_async_prepare(api_wq) != WQ_OK)
		fatal("wq-api: %s", wq_error(api_wq));
	/* The launcher's conf file has been read: it can go. */
	if ((s = getenv("WQ_API_CONF")) != NULL && *s != '\0')
		(void)unlink(s);

	node_opts.node_timeout_ms = WQ_NODE_TIMEOUT_MS;
	node_opts.heartbeat_ms = WQ_HEARTBEAT_MS;
	rc = wq_node_register(api_wq, &node_opts, node_fields());
	if (rc == WQ_EUSAGE)
		fatal("wq-api: %s", wq_error(api_wq));
	if (rc != WQ_OK)
		kore_log(LOG_NOTICE, "wq-api: %s (serving 503 until Redis "
		    "answers)", wq_error(api_wq));
	/* The workers must not share the parent's connection. */
	wq_disconnect(api_wq);
	url = wq_url_safe(wq_setting(api_wq, WQ_OPT_REDIS));
	kore_log(LOG_NOTICE, "wq-api: node %s, Redis %s, namespace %s, "
	    "queue %s, token %s", wq_name(api_wq), url,
	    wq_setting(api_wq, WQ_OPT_NAMESPACE),
	    wq_setting(api_wq, WQ_OPT_QUEUE),
	    api.token != NULL ? "required" : "not required");
	free(url);
}

void
kore_parent_teardown(void)
{
	if (api_wq == NULL)
		return;
	/* Stopping must not wait on a Redis that is gone. */
	wq_set_timeouts(api_wq, 500, 1000);
	if (wq_node_leave(api_wq) != WQ_OK)
		kore_log(LOG_NOTICE, "wq-api: leaving the cluster: %s",
		    wq_error(api_wq));
	wq_free(api_wq);
	api_wq = NULL;
	/*
	 * Kore would now remove its pidfile and exit(0), whose exit
	 * handlers can hang for good (p11-kit's destructor, which libpq
	 * pulls into kore, waits on a locale lock in sanitizer builds): do
	 * the one thing that matters and leave.
	 */
	if (kore_pidfile != NULL)
		(void)unlink(kore_pidfile);
	kore_log(LOG_NOTICE, "wq-api: stopped");
	fflush(NULL);
	_exit(0);
}

/*
 * The heartbeat, in the first worker only (one node per instance): a
 * blocking call of libwq with short timeouts, once a second, one round
 * trip.  A node that was reaped (it froze, or Redis was away) registers
 * again; it also takes its turn at sweeping the cluster, like every node.
 * Its inbox is read by api_inbox(), more often.
 */
static void
api_beat(void *arg, u_int64_t now)
{
	struct wq_beat	b;
	int		rc;

	(void)arg;
	if (now < beat_resume)
		return;
	memset(&b, 0, sizeof(b));
	rc = wq_node_heartbeat(api_wq, &node_opts, jv_object(), &b);
	if (rc == WQ_OK && !b.member)
		rc = wq_node_register(api_wq, &node_opts, node_fields());
	if (rc == WQ_OK) {
		if (beat_failing)
			kore_log(LOG_NOTICE, "wq-api: heartbeat is back");
		beat_failing = 0;
		wq_backoff_reset(api_wq);
		return;
	}
	if (!beat_failing)
		kore_log(LOG_NOTICE, "wq-api: heartbeat: %s", wq_error(api_wq));
	beat_failing = 1;
	wq_disconnect(api_wq);
	beat_resume = now + (u_int64_t)wq_backoff_ms(api_wq);
}

/* The callbacks of the built-in messages (struct wq_builtin). */
static jv
inbox_info(void *arg)
{
	(void)arg;
	return jv_object_set(node_fields(), jv_string("name"),
	    jv_string(wq_name(api_wq)));
}

/* drain stops the instance as SIGTERM does (Kore finishes what it
 * serves, then the node leaves). */
static void
inbox_drain(void *arg, struct wq_msg *m)
{
	(void)arg;
	kore_log(LOG_NOTICE, "wq-api: drain requested by %s", m->from);
	(void)kill((pid_t)api.pid, SIGTERM);
}

static void
inbox_reply(void *arg, struct wq_msg *m, const char *type, jv body)
{
	(void)arg;
	(void)wq_msg_reply(api_wq, m, type, body);
}

/*
 * Messages to this node (wq-send): read every tick by the first worker,
 * so a ping is answered within about 100 ms.  An API instance answers the
 * built-in types, as every node does, and no other.
 */
static void
api_inbox(void)
{
	static const struct wq_builtin	b = { NULL, inbox_info, NULL,
	    inbox_drain, NULL, inbox_reply };
	struct wq_msg			msgs[16];
	size_t				n, i;

	if (beat_failing || wq_msg_take(api_wq, msgs, 16, &n) != WQ_OK)
		return;
	for (i = 0; i < n; i++) {
		wq_builtin_answer(&b, &msgs[i]);
		wq_msg_clear(&msgs[i]);
	}
}

static void
api_tick(void *arg, u_int64_t now)
{
	(void)arg;
	/*
	 * Kore's parent was killed (SIGKILL: no teardown): its workers
	 * would go on serving, and the first one beating for a node that
	 * is gone.  Stop as Kore stops a worker.
	 */
	if (getppid() != (pid_t)api.pid) {
		kore_log(LOG_NOTICE, "wq-api: the parent process is gone, "
		    "stopping");
		(void)kill(getpid(), SIGTERM);
		return;
	}
	api_redis_tick(now);
	wait_tick(now);
	if (worker != NULL && worker->id == 1)
		api_inbox();
}

void
kore_worker_configure(void)
{
	/*
	 * The heartbeat is blocking: on a sound link it costs one round
	 * trip a second, and when Redis hangs it must not hold this
	 * worker's other requests for long.
	 */
	wq_set_timeouts(api_wq, 250, 250);
	wait_init();
	api_redis_init(wait_sub_up, wait_sub_down);
	kore_timer_add(api_tick, 100, NULL, 0);
	/* Workers are numbered from 1. */
	if (worker != NULL && worker->id == 1) {
		api_beat(NULL, kore_time_ms());
		kore_timer_add(api_beat, (u_int64_t)node_opts.heartbeat_ms,
		    NULL, 0);
	}
}

/*
 * The worker is done.  It ends here, without the exit handlers that Kore's
 * exit(0) would run: a library's destructor (p11-kit's, which libpq pulls
 * into kore) can block for good on a locale lock (seen in sanitizer
 * builds), and the parent then waits for this worker forever.  Kore's own
 * cleanup after this hook only frees memory and tells the parent, which
 * is stopping.
 */
void
kore_worker_teardown(void)
{
	api_redis_close();
	wq_disconnect(api_wq);
	fflush(NULL);
	_exit(0);
}

/* Answers. */

static int
respond(struct http_request *req, int status, const char *ctype,
    const void *body, size_t len)
{
	http_response_header(req, "content-type", ctype);
	http_response_header(req, "cache-control", "no-store");
	http_response(req, status, body, len);
	return KORE_RESULT_OK;
}

static int
respond_json(struct http_request *req, int status, jv v)
{
	char	*s;

	s = wq_dump(v);
	respond(req, status, "application/json", s, strlen(s));
	free(s);
	return KORE_RESULT_OK;
}

static jv
error_json(const char *msg)
{
	return jv_object_set(jv_object(), jv_string("error"), jv_string(msg));
}

static int
respond_error(struct http_request *req, int status, const char *msg)
{
	return respond_json(req, status, error_json(msg));
}

jv
api_not_found(void)
{
	jv	o;

	o = jv_object();
	o = jv_object_set(o, jv_string("status"),
	    jv_string("404. not found!"));
	o = jv_object_set(o, jv_string("error"), jv_string("not found"));
	return o;
}

static int
respond_method(struct http_request *req, const char *allow)
{
	http_response_header(req, "allow", allow);
	return respond_error(req, 405, "method not allowed");
}

/* Requests that wait for Redis. */

static void
rq_free(struct rq *rq)
{
	if (rq->has_spec)
		wq_spec_clear(&rq->spec);
	wq_argv_free(&rq->argv);
	wq_read_free(rq->read);
	free(rq->body);
	free(rq);
}

/* Kore frees the request (answered, or its client left). */
static void
rq_onfree(struct http_request *req)
{
	struct rq	**sp, *rq;

	if ((sp = http_state_get(req)) == NULL || (rq = *sp) == NULL)
		return;
	*sp = NULL;
	rq->req = NULL;
	wait_leave(rq);
	if (rq->refs == 0)
		rq_free(rq);
}

static struct rq *
rq_new(struct http_request *req)
{
	struct rq	**sp, *rq;

	rq = wq_calloc(1, sizeof(*rq));
	rq->req = req;
	sp = http_state_create(req, sizeof(*sp), rq_onfree);
	*sp = rq;
	return rq;
}

static void
rq_ready(struct rq *rq, int status)
{
	rq->status = status;
	rq->answered = 1;
	wait_leave(rq);
	if (rq->req != NULL)
		http_request_wakeup(rq->req);
}

void
rq_answer_json(struct rq *rq, int status, jv v)
{
	if (rq->answered) {
		jv_free(v);
		return;
	}
	rq->body = wq_dump(v);
	rq->len = strlen(rq->body);
	rq->ctype = "application/json";
	rq_ready(rq, status);
}

/* Takes body (malloc'd). */
void
rq_answer_text(struct rq *rq, int status, const char *ctype, char *body,
    size_t len)
{
	if (rq->answered) {
		free(body);
		return;
	}
	rq->body = body;
	rq->len = len;
	rq->ctype = ctype;
	rq_ready(rq, status);
}

void
rq_answer_error(struct rq *rq, int status, const char *msg)
{
	rq_answer_json(rq, status, error_json(msg));
}

void
rq_answer_unavailable(struct rq *rq)
{
	rq->retry_after = 1;
	rq_answer_error(rq, 503, "Redis is unavailable, try again later");
}

/* Send the answer if it is ready, else sleep until a reply wakes us. */
static int
rq_yield(struct http_request *req, struct rq *rq)
{
	if (!rq->answered) {
		http_request_sleep(req);
		return KORE_RESULT_RETRY;
	}
	if (rq->retry_after)
		http_response_header(req, "retry-after", "1");
	return respond(req, rq->status, rq->ctype, rq->body, rq->len);
}

static void
rq_trampoline(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rq	*rq = priv;

	(void)ac;
	api_redis_replied();
	rq->refs--;
	if (rq->req == NULL) {
		if (rq->refs == 0)
			rq_free(rq);
		return;
	}
	rq->on_reply(rq, reply);
}

/* Send commands for rq; fn gets the reply.  -1 when Redis is down. */
int
rq_send(struct rq *rq, struct wq_argv *cmds, size_t n, rq_reply_fn fn)
{
	rq->on_reply = fn;
	rq->nsent = n;
	if (api_redis_send(API_CMD, cmds, n, rq_trampoline, rq) == -1)
		return -1;
	rq->refs++;
	return 0;
}

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
		return respond(req, 401, "text/html; charset=utf-8",
		    login_html, login_html_len);
	return respond_error(req, 401, "missing or wrong bearer token");
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
		return respond_error(req, 400, "ambiguous body length: send "
		    "one Content-Length and no Transfer-Encoding");
	}
	r = route_find(req->path);
	if ((r == NULL || !r->open) && !authorized(req))
		return respond_unauthorized(req, r != NULL &&
		    r->fn == route_console);
	if (r == NULL)
		return respond_error(req, 404, "not found");
	if (!(req->method & r->methods))
		return respond_method(req, r->allow);
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
	return respond(req, 200, "text/html; charset=utf-8", console_html,
	    console_html_len);
}

static int
route_ping(struct http_request *req)
{
	static const char	pong[] = "{\"status\":\"ok\"}";

	return respond(req, 200, "application/json", pong, sizeof(pong) - 1);
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

static void
submit_reply(struct rq *rq, redisReply *r)
{
	jv	ans;

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
	if (wq_submit_decode(api_wq, &rq->spec, 1, r, &ans) != WQ_OK) {
		kore_log(LOG_NOTICE, "wq-api: %s", wq_error(api_wq));
		rq_answer_unavailable(rq);
		return;
	}
	rq_answer_json(rq, 200, ans);
}

static int
route_submit(struct http_request *req)
{
	struct wq_spec	 spec;
	struct rq	*rq;
	char		 err[256];
	int		 status;

	/* The whole body is in memory (no http_body_disk_offload). */
	status = api_submit_body(api_wq, req->http_body != NULL ?
	    req->http_body->data : NULL, req->http_body_length, api.max_body,
	    &spec, err, sizeof(err));
	if (status != 0)
		return respond_error(req, status, err);
	rq = rq_new(req);
	rq->spec = spec;
	rq->has_spec = 1;
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

	id = req->path + strlen("/api/v1/work/");
	if (!wq_id_valid(id))
		return respond_json(req, 404, api_not_found());
	if (query_number(req, "wait", &wait) == -1)
		return respond_error(req, 400, "bad wait: a number of seconds "
		    "from 0 to 30");
	if (wait > WAIT_MAX_S)
		wait = WAIT_MAX_S;
	rq = rq_new(req);
	memcpy(rq->id, id, WQ_ID_LEN + 1);
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
	if (wq_read_feed(rq->read, rs, n) != WQ_OK) {
		kore_log(LOG_NOTICE, "wq-api: %s", wq_error(api_wq));
		rq_answer_unavailable(rq);
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

static int
route_read(struct http_request *req, int kind, long arg, int text)
{
	struct rq	*rq;

	rq = rq_new(req);
	rq->read = wq_read_new(api_wq, kind, arg);
	rq->read_kind = text;
	read_step(rq);
	return rq_yield(req, rq);
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

	if (query_number(req, "limit", &n) == -1 || n < 1 || n > RECENT_MAX ||
	    n != (double)(long)n)
		return respond_error(req, 400, "bad limit: a whole number "
		    "from 1 to 100");
	return route_read(req, WQ_READ_RECENT, (long)n, 0);
}
