/*
 * redis.c -- hiredis's async connections on Kore's event loop.
 *
 * hiredis leaves the event loop to its user: it says, through the ev
 * hooks of a context, when it wants to read or to write, and expects
 * redisAsyncHandleRead/Write when the descriptor is ready.  Each
 * connection here is a struct aconn whose first member is a struct
 * kore_event, so that the descriptor can sit in Kore's epoll set next to
 * the clients' sockets: the loop calls aconn_handle() with it.  The
 * struct lives as long as the worker, while contexts come and go, so an
 * event still queued for a context that was just freed finds ac NULL and
 * is ignored.
 *
 * One connection per worker: API_CMD for commands (on a Redis Cluster at
 * P > 1 partitions, one per primary instead: cluster.c, which borrows
 * struct aconn; the subscriber of the jobs that requests wait for is
 * libwq's waiter, read in wait.c, not an async context).  hiredis 0.14
 * has no timeouts of its own, so a timer (api_redis_tick, every 100 ms)
 * does three things: it connects when a connection is down (with a
 * backoff from 100 ms to 1 s), it gives up on a connect that takes longer
 * than the connect timeout, and it drops the command connection when
 * replies are owed and none came for api.stall_ms (a Redis stuck in a
 * slow script, or a link that died silently).  Freeing a context calls
 * every pending callback with a NULL reply: those requests answer 503, and
 * the next tick connects again.  Commands sent while a connection is
 * still being made wait in hiredis's buffer; while it is down they fail
 * at once, and the caller answers 503.
 *
 * A batch of several commands is sent inside MULTI/EXEC, so that one
 * callback gets all the replies (hiredis frees each reply when its
 * callback returns) and they describe one moment of the database.
 */
#include <sys/epoll.h>

#include <string.h>

#include "api.h"

#define BACKOFF_MIN_MS		100
#define BACKOFF_MAX_MS		1000
#define EVENT_TYPE_REDIS	100	/* ours: Kore's types stop at 6 */

static struct aconn	conns[API_NCONN];
static char		last_error[256];
static int		routed = -1;	/* wq_async_routed(), -1: not yet */
static u_int64_t	routed_next;	/* when to ask again */

static void	aconn_handle(void *, int);

static void
aconn_complain(struct aconn *c, const char *why)
{
	snprintf(last_error, sizeof(last_error), "%s", why);
	if (c->complained)
		return;
	c->complained = 1;
	kore_log(LOG_NOTICE, "wq-api: Redis %s connection: %s", c->name, why);
}

static void
aconn_events(struct aconn *c)
{
	int	ev;

	if (c->ac == NULL)
		return;
	ev = (c->reading ? EPOLLIN : 0) | (c->writing ? EPOLLOUT : 0);
	if (ev == c->registered)
		return;
	kore_platform_event_schedule(c->fd, ev, 0, c);
	c->registered = ev;
}

static void
ev_add_read(void *p)
{
	struct aconn	*c = p;

	c->reading = 1;
	aconn_events(c);
}

static void
ev_del_read(void *p)
{
	struct aconn	*c = p;

	c->reading = 0;
	aconn_events(c);
}

static void
ev_add_write(void *p)
{
	struct aconn	*c = p;

	c->writing = 1;
	aconn_events(c);
}

static void
ev_del_write(void *p)
{
	struct aconn	*c = p;

	c->writing = 0;
	aconn_events(c);
}

/* The context is going away (hiredis closes the descriptor itself). */
static void
aconn_lost(struct aconn *c)
{
	u_int64_t	now;

	if (c->ac == NULL)
		return;
	now = kore_time_ms();
	c->ac = NULL;
	c->fd = -1;
	c->state = CONN_DOWN;
	c->reading = c->writing = 0;
	c->registered = 0;
	c->pending = 0;
	c->retry_at = now + (u_int64_t)wq_backoff(++c->failures,
	    BACKOFF_MIN_MS, BACKOFF_MAX_MS, 100, 100);
	if (c->down != NULL)
		c->down();
}

static void
ev_cleanup(void *p)
{
	aconn_lost(p);
}

/*
 * The answer to the PING sent behind AUTH and SELECT: the link is usable.
 * (A refused AUTH closes it first: see aconn_refused.)
 */
static void
aconn_ready(redisAsyncContext *ac, void *reply, void *priv)
{
	struct aconn	*c = priv;
	redisReply	*r = reply;

	if (r == NULL || c->ac != ac)
		return;
	if (r->type == REDIS_REPLY_ERROR) {
		aconn_complain(c, r->str);
		redisAsyncDisconnect(ac);
		return;
	}
	c->state = CONN_UP;
	c->failures = 0;
	if (c->complained)
		kore_log(LOG_NOTICE, "wq-api: Redis %s connection is back",
		    c->name);
	c->complained = 0;
	if (c->up != NULL)
		c->up();
}

static void
aconn_connected(const redisAsyncContext *ac, int status)
{
	struct aconn	*c = ac->data;

	if (status != REDIS_OK) {
		aconn_complain(c, ac->errstr);
		return;		/* hiredis frees it: ev_cleanup */
	}
	/* Connected; usable once a PING behind AUTH and SELECT answers. */
	if (redisAsyncCommand((redisAsyncContext *)ac, aconn_ready, c,
	    "PING") != REDIS_OK)
		aconn_complain(c, "cannot send PING");
}

static void
aconn_disconnected(const redisAsyncContext *ac, int status)
{
	struct aconn	*c = ac->data;

	if (status != REDIS_OK)
		aconn_complain(c, ac->errstr);
	aconn_lost(c);
}

/* AUTH or SELECT was refused: wq_async_connect() closes the link. */
static void
aconn_refused(void *arg, const char *why)
{
	aconn_complain(arg, why);
}

static void
aconn_connect(struct aconn *c, u_int64_t now)
{
	redisAsyncContext	*ac;

	if (c->host != NULL)
		ac = wq_async_connect_node(api_wq, c->host, c->port,
		    aconn_refused, c);
	else
		ac = wq_async_connect(api_wq, aconn_refused, c);
	if (ac == NULL) {
		aconn_complain(c, wq_error(api_wq));
		c->retry_at = now + (u_int64_t)wq_backoff(++c->failures,
		    BACKOFF_MIN_MS, BACKOFF_MAX_MS, 100, 100);
		return;
	}
	ac->data = c;
	ac->ev.data = c;
	ac->ev.addRead = ev_add_read;
	ac->ev.delRead = ev_del_read;
	ac->ev.addWrite = ev_add_write;
	ac->ev.delWrite = ev_del_write;
	ac->ev.cleanup = ev_cleanup;
	redisAsyncSetConnectCallback(ac, aconn_connected);
	redisAsyncSetDisconnectCallback(ac, aconn_disconnected);
	c->ac = ac;
	c->fd = ac->c.fd;
	c->state = CONN_CONNECTING;
	c->since = now;
	c->pending = 0;
	c->registered = 0;
	/* hiredis completes a connect on the first write event. */
	c->reading = 0;
	c->writing = 1;
	aconn_events(c);
}

static void
aconn_handle(void *arg, int error)
{
	struct aconn	*c = arg;
	int		 flags;

	flags = c->evt.flags;
	c->evt.flags = 0;
	if (c->ac == NULL)
		return;
	if ((flags & KORE_EVENT_READ) || error)
		redisAsyncHandleRead(c->ac);
	if (c->ac != NULL && (flags & KORE_EVENT_WRITE))
		redisAsyncHandleWrite(c->ac);
}

/* A connection not made yet (host NULL: the configured Redis). */
void
aconn_init(struct aconn *c, const char *name, const char *host, int port)
{
	memset(c, 0, sizeof(*c));
	c->name = name;
	c->host = host != NULL ? wq_strdup(host) : NULL;
	c->port = port;
	c->evt.type = EVENT_TYPE_REDIS;
	c->evt.handle = aconn_handle;
	c->fd = -1;
}

/*
 * The command connections: one to one server, or, on a Redis Cluster at
 * P > 1 partitions, one per primary (cluster.c).  Which one is known once
 * P is (read in the parent, or here when Redis was away then).
 */
static void
api_redis_mode(u_int64_t now)
{
	if (routed != -1 || now < routed_next)
		return;
	if ((routed = wq_async_routed(api_wq)) == -1) {
		routed_next = now + BACKOFF_MAX_MS;
		return;
	}
	if (routed)
		cluster_init();
	else
		aconn_connect(&conns[API_CMD], now);
}

/* Per worker: set the connections up and start connecting. */
void
api_redis_init(void)
{
	aconn_init(&conns[API_CMD], "command", NULL, 0);
	api_redis_mode(kore_time_ms());
}

/* The timer's work on one connection (see the head of the file). */
void
aconn_tick(struct aconn *c, u_int64_t now)
{
	long	 limit;
	char	 why[128];

	if (c->ac == NULL) {
		if (now >= c->retry_at)
			aconn_connect(c, now);
		return;
	}
	limit = api.connect_ms;
	if (c->state == CONN_CONNECTING && now - c->since > (u_int64_t)limit) {
		snprintf(why, sizeof(why), "no connection after %ld ms", limit);
		aconn_complain(c, why);
		redisAsyncFree(c->ac);
		aconn_lost(c);
	} else if (c->state == CONN_UP && c->pending > 0 &&
	    now - c->progress > (u_int64_t)api.stall_ms) {
		snprintf(why, sizeof(why), "no reply for %ld ms, reconnecting",
		    api.stall_ms);
		aconn_complain(c, why);
		redisAsyncFree(c->ac);
		aconn_lost(c);
	}
}

void
api_redis_tick(u_int64_t now)
{
	api_redis_mode(now);
	if (routed == 0)
		aconn_tick(&conns[API_CMD], now);
	else if (routed == 1)
		cluster_tick(now);
}

int
api_redis_up(int which)
{
	if (which == API_CMD && routed != 0)
		return routed == 1 && cluster_up();
	return conns[which].state == CONN_UP;
}

/*
 * A batch failed after its MULTI went out: the connection would stay in
 * the transaction and queue the next requests' commands.  Close it (the
 * replies owed before are still read; Redis drops the MULTI with the
 * link) and let the timer reconnect.
 */
static int
batch_broken(struct aconn *c)
{
	kore_log(LOG_NOTICE, "wq-api: Redis %s connection: a batch could "
	    "not be sent, reconnecting", c->name);
	redisAsyncDisconnect(c->ac);
	return -1;
}

/*
 * Send n commands; fn(ac, reply, arg) gets the reply, or NULL when the
 * connection is lost first.  Several commands go in MULTI/EXEC and fn
 * gets EXEC's array.  -1 when the connection is down: fn is not called.
 */
int
api_redis_send(int which, struct wq_argv *cmds, size_t n,
    redisCallbackFn *fn, void *arg)
{
	struct aconn	*c = &conns[which];
	size_t		 i;

	if (which == API_CMD && routed != 0)
		return routed == 1 ? cluster_send(cmds, n, fn, arg, NULL) : -1;
	if (c->ac == NULL || n == 0)
		return -1;
	if (n == 1) {
		if (redisAsyncCommandArgv(c->ac, fn, arg, cmds[0].argc,
		    (const char **)cmds[0].argv, cmds[0].len) != REDIS_OK)
			return -1;
	} else {
		if (redisAsyncCommand(c->ac, NULL, NULL, "MULTI") != REDIS_OK)
			return -1;
		for (i = 0; i < n; i++)
			if (redisAsyncCommandArgv(c->ac, NULL, NULL,
			    cmds[i].argc, (const char **)cmds[i].argv,
			    cmds[i].len) != REDIS_OK)
				return batch_broken(c);
		if (redisAsyncCommand(c->ac, fn, arg, "EXEC") != REDIS_OK)
			return batch_broken(c);
	}
	if (which == API_CMD && c->pending++ == 0)
		c->progress = kore_time_ms();
	return 0;
}

/* One command on c, after an ASKING if asking; -1 when not sent. */
int
aconn_command(struct aconn *c, struct wq_argv *a, int asking,
    redisCallbackFn *fn, void *arg)
{
	if (c->ac == NULL || (asking && redisAsyncCommand(c->ac, NULL, NULL,
	    "ASKING") != REDIS_OK))
		return -1;
	return redisAsyncCommandArgv(c->ac, fn, arg, a->argc,
	    (const char **)a->argv, a->len) == REDIS_OK ? 0 : -1;
}

/*
 * The same on API_CMD for a request: on a Redis Cluster at P > 1, *slot
 * is where a command without a key goes (-1: anywhere; a WAIT goes to
 * the node its request wrote to), and becomes that of the last command
 * with a key (cluster.c).
 */
int
api_redis_send_at(struct wq_argv *cmds, size_t n, redisCallbackFn *fn,
    void *arg, int *slot)
{
	if (routed == 1)
		return cluster_send(cmds, n, fn, arg, slot);
	return api_redis_send(API_CMD, cmds, n, fn, arg);
}

/*
 * A reply owed on API_CMD arrived (or the link went: NULL).  One that
 * says this server cannot serve now (a replica since a failover, a
 * cluster node that no longer holds the namespace's slot) closes the
 * link: the timer reconnects, and a new connection finds the primary.
 */
void
api_redis_replied(void *reply)
{
	struct aconn	*c = &conns[API_CMD];
	redisReply	*r = reply;

	if (routed != 0)	/* cluster.c counts its own */
		return;
	if (c->pending > 0)
		c->pending--;
	c->progress = kore_time_ms();
	if (wq_reply_unavailable(r) && c->ac != NULL &&
	    !(c->ac->c.flags & REDIS_DISCONNECTING)) {
		kore_log(LOG_NOTICE, "wq-api: Redis %s connection: %s, "
		    "reconnecting", c->name, r->str);
		redisAsyncDisconnect(c->ac);
	}
}

void
api_redis_close(void)
{
	int	i;

	if (routed == 1)
		cluster_close();
	for (i = 0; i < API_NCONN; i++)
		aconn_close(&conns[i]);
}

void
aconn_close(struct aconn *c)
{
	c->up = c->down = NULL;
	if (c->ac != NULL) {
		redisAsyncFree(c->ac);
		aconn_lost(c);
	}
}
