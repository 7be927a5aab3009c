/*
 * sse.c -- GET /api/v1/events: the event stream (docs/DESIGN.md, Events)
 * as Server-Sent Events, "id: <stream id>" and "data: <the event as
 * JSON>" each, resumed after the Last-Event-ID a client sends back (or
 * ?since=, an id or a time).
 *
 * The answer has no length and ends when the connection does: its head
 * is written to the connection at once, and the request sleeps for good:
 * nothing wakes it (wq_api_http() would take its state for a struct rq),
 * and its handler never answers; events are written to the connection as
 * they are read.  Each stream of this Kore worker reads on from its own
 * last id with a non-blocking XREAD on the command connection, at every
 * tick of the API's timer (100 ms) and again at once when a read was
 * full, and not while the client has not taken what was sent (its send
 * queue is not empty).  A comment line every SSE_KEEPALIVE_MS keeps
 * proxies (HAProxy's timeout server, 40 s) from cutting a quiet stream.
 * While Redis is down the stream stays open and reads on when it is
 * back.  When the client goes, Kore frees the request, and the stream
 * is freed once no read of it is on its way.  With P > 1 partitions a
 * stream keeps its place in each partition's stream (struct wq_evcur):
 * a read is an XREAD of each, in one MULTI, merged in id order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

#define SSE_BATCH		100
#define SSE_KEEPALIVE_MS	15000
/* A since ahead of this host's clock by less is the server's now. */
#define SSE_CLOCK_SLACK_MS	1000

struct sse {
	struct http_request	*req;		/* NULL once the client left */
	char			 last[WQ_EVENT_ID_LEN];
	char			*queue;		/* ?queue=, or NULL: all */
	struct wq_evcur		*cur;		/* at P > 1, or NULL */
	int			 reading;	/* an XREAD on its way */
	int			 again;		/* the last was full */
	u_int64_t		 wrote;		/* when, last */
	TAILQ_ENTRY(sse)	 link;
};

static TAILQ_HEAD(, sse)	streams = TAILQ_HEAD_INITIALIZER(streams);

static void	sse_read(struct sse *);

static void
sse_free(struct sse *s)
{
	TAILQ_REMOVE(&streams, s, link);
	free(s->queue);
	wq_evcur_free(s->cur);
	free(s);
}

static void
sse_onfree(struct http_request *req)
{
	struct sse	**sp, *s;

	if ((sp = http_state_get(req)) == NULL || (s = *sp) == NULL)
		return;
	*sp = NULL;
	s->req = NULL;
	if (!s->reading)
		sse_free(s);
}

/*
 * The client's connection, or NULL once it is going: Kore, removing a
 * connection, sets its requests' owner to NULL before it frees them.
 */
static struct connection *
sse_conn(struct sse *s)
{
	if (s->req == NULL || s->req->owner == NULL ||
	    (s->req->flags & HTTP_REQUEST_DELETE) ||
	    s->req->owner->state != CONN_STATE_ESTABLISHED)
		return NULL;
	return s->req->owner;
}

/* Write to the client; on a broken connection Kore frees the request. */
static void
sse_write(struct sse *s, const void *p, size_t len)
{
	struct connection	*c;

	if ((c = sse_conn(s)) == NULL)
		return;
	net_send_queue(c, p, len);
	s->wrote = kore_time_ms();
	if (net_send_flush(c) == KORE_RESULT_ERROR)
		kore_connection_disconnect(c);
}

/* Whether event ev (an object) is of the stream's queue. */
static int
sse_wanted(struct sse *s, jv ev)
{
	jv	q;
	int	ok;

	if (s->queue == NULL)
		return 1;
	q = jv_object_get(jv_copy(ev), jv_string("queue"));
	ok = jv_get_kind(q) == JV_KIND_STRING &&
	    strcmp(jv_string_value(q), s->queue) == 0;
	jv_free(q);
	return ok;
}

static void
sse_reply(redisAsyncContext *ac, void *reply, void *arg)
{
	struct sse		*s = arg;
	redisReply		*r = reply;
	struct connection	*c;
	struct kore_buf		 buf;
	jv			 evs, ev, id;
	char			*data;
	int			 i, n, rc;

	(void)ac;
	api_redis_replied(reply);
	s->reading = 0;
	if (s->req == NULL) {
		sse_free(s);
		return;
	}
	if (sse_conn(s) == NULL)
		return;
	if (s->cur == NULL)
		rc = wq_events_decode(api_wq, reply, s->last, &evs);
	else if (r != NULL && r->type == REDIS_REPLY_ARRAY)
		rc = wq_evcur_decode(api_wq, s->cur, r->element, r->elements,
		    SSE_BATCH, s->last, &evs);
	else {
		/* (lost, or the MULTI failed: read again from where it was) */
		evs = jv_array();
		rc = WQ_EUNAVAIL;
	}
	if (rc == WQ_EREDIS)
		kore_log(LOG_ERR, "wq-api: %s", wq_error(api_wq));
	n = jv_array_length(jv_copy(evs));
	kore_buf_init(&buf, 4096);
	for (i = 0; i < n; i++) {
		ev = jv_array_get(jv_copy(evs), i);
		if (!sse_wanted(s, ev)) {
			jv_free(ev);
			continue;
		}
		id = jv_object_get(jv_copy(ev), jv_string("id"));
		data = wq_dump(ev);
		kore_buf_appendf(&buf, "id: %s\ndata: %s\n\n",
		    jv_string_value(id), data);
		jv_free(id);
		free(data);
	}
	jv_free(evs);
	/* (an entry may hold many events: at least SSE_BATCH when full) */
	s->again = n >= SSE_BATCH;
	/* (the id moves on past events of other queues too) */
	if (buf.offset > 0)
		sse_write(s, buf.data, buf.offset);
	kore_buf_cleanup(&buf);
	if (s->again && (c = sse_conn(s)) != NULL &&
	    TAILQ_EMPTY(&c->send_queue))
		sse_read(s);
}

static void
sse_read(struct sse *s)
{
	struct wq_argv	a, *cmds;
	size_t		n, i;

	if (s->cur == NULL) {
		wq_events_argv(api_wq, s->last, 0, SSE_BATCH, &a);
		if (api_redis_send(API_CMD, &a, 1, sse_reply, s) == 0)
			s->reading = 1;
		wq_argv_free(&a);
		return;
	}
	n = wq_evcur_argv(api_wq, s->cur, s->last, SSE_BATCH, &cmds);
	if (api_redis_send(API_CMD, cmds, n, sse_reply, s) == 0)
		s->reading = 1;
	for (i = 0; i < n; i++)
		wq_argv_free(&cmds[i]);
	free(cmds);
}

/* The API's tick: read on, keep quiet streams alive. */
void
sse_tick(u_int64_t now)
{
	struct sse		*s, *next;
	struct connection	*c;

	for (s = TAILQ_FIRST(&streams); s != NULL; s = next) {
		next = TAILQ_NEXT(s, link);
		if (s->reading || (c = sse_conn(s)) == NULL ||
		    !TAILQ_EMPTY(&c->send_queue))
			continue;
		if (now - s->wrote >= SSE_KEEPALIVE_MS)
			sse_write(s, ":\n\n", 3);
		if (sse_conn(s) != NULL)
			sse_read(s);
	}
}

/*
 * Start a stream after since (NULL: the whole stream), of queue (NULL:
 * all; both owned by the caller); answers 400 for a since malformed or
 * ahead of now.
 */
int
sse_start(struct http_request *req, const char *since, const char *queue)
{
	static const char head[] =
	    "HTTP/1.1 200 OK\r\n"
	    "content-type: text/event-stream\r\n"
	    "cache-control: no-store\r\n"
	    "x-content-type-options: nosniff\r\n"
	    "connection: close\r\n"
	    "\r\n";
	struct sse	**sp, *s;
	char		 last[WQ_EVENT_ID_LEN];

	if (wq_events_start(api_wq, since, (long long)wq_now_ms() +
	    SSE_CLOCK_SLACK_MS, last) != WQ_OK)
		return rq_respond_error(req, 400, wq_error(api_wq));
	if (!api_redis_up(API_CMD)) {
		http_response_header(req, "retry-after", "1");
		return rq_respond_error(req, 503, "Redis is unavailable, "
		    "try again later");
	}
	if (req->method == HTTP_METHOD_HEAD)
		return rq_respond(req, 200, "text/event-stream", NULL, 0);
	s = wq_calloc(1, sizeof(*s));
	s->req = req;
	memcpy(s->last, last, sizeof(s->last));
	s->queue = queue != NULL ? wq_strdup(queue) : NULL;
	s->cur = wq_evcur_new(api_wq);	/* (P > 1) */
	TAILQ_INSERT_TAIL(&streams, s, link);
	sp = http_state_create(req, sizeof(*sp), sse_onfree);
	*sp = s;
	sse_write(s, head, sizeof(head) - 1);
	if (sse_conn(s) != NULL)
		sse_read(s);
	http_request_sleep(req);
	return KORE_RESULT_RETRY;
}
