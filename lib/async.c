/*
 * async.c -- the asynchronous side of libwq, for the Kore API
 * (wq-async.h).
 *
 * The API serves many clients from one event loop per process, so it
 * talks to Redis through hiredis's async interface: it sends a command and
 * gets the reply in a callback, never waiting for it.  What it sends is
 * built here, from the same keys as the blocking functions, so that
 * kore-api/ never names a key: the connection itself (AUTH and SELECT
 * queued first), PING, the done:<id> channels a waiter subscribes to, and
 * the reads that take two rounds (read.c).
 *
 * The event-loop glue that hiredis leaves to its user (which descriptor
 * to watch for what, timers) belongs to the program that owns the loop.
 *
 * Names are resolved to numeric addresses by wq_async_prepare(), once,
 * before a sandbox that forbids DNS is entered.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>

#include "wq-int.h"
#include "rcluster.h"

static int
resolve(char **host, char *err, size_t errlen)
{
	struct addrinfo	 hints, *res;
	char		 num[NI_MAXHOST];
	int		 e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((e = getaddrinfo(*host, NULL, &hints, &res)) != 0) {
		snprintf(err, errlen, "cannot resolve Redis host %s: %s", *host,
		    gai_strerror(e));
		return -1;
	}
	e = getnameinfo(res->ai_addr, res->ai_addrlen, num, sizeof(num), NULL,
	    0, NI_NUMERICHOST);
	freeaddrinfo(res);
	if (e != 0) {
		snprintf(err, errlen, "cannot resolve Redis host %s: %s", *host,
		    gai_strerror(e));
		return -1;
	}
	free(*host);
	*host = wq_strdup(num);
	return 0;
}

/*
 * Replace host names by numeric addresses: the Redis host, each
 * Sentinel, or each seed of a Redis Cluster.  Call it where DNS works;
 * the connections made later then need no lookup.
 */
int
wq_async_prepare(struct wq *wq)
{
	struct wq_url	*a = &wq->cfg.addr;
	char			*list, *tok, *save, *colon, *host, *out;
	char			**hosts, err[256];
	size_t			 len;

	if (a->unix_socket)
		return WQ_OK;
	if (a->sentinels == NULL && a->cluster == NULL) {
		if (resolve(&a->host, err, sizeof(err)) == -1)
			return wq_seterr(wq, WQ_EUNAVAIL, "%s", err);
		return WQ_OK;
	}
	hosts = a->sentinels != NULL ? &a->sentinels : &a->cluster;
	list = wq_strdup(*hosts);
	len = strlen(*hosts) * 2 + 64;
	out = wq_calloc(1, len);
	for (tok = strtok_r(list, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		if ((colon = strrchr(tok, ':')) == NULL)
			continue;
		*colon = '\0';
		host = wq_strdup(tok);
		if (resolve(&host, err, sizeof(err)) == -1) {
			free(host);
			free(list);
			free(out);
			return wq_seterr(wq, WQ_EUNAVAIL, "%s", err);
		}
		if (strlen(out) + strlen(host) + strlen(colon + 1) + 3 >= len) {
			len *= 2;
			out = wq_realloc(out, len);
		}
		snprintf(out + strlen(out), len - strlen(out), "%s%s:%s",
		    out[0] ? "," : "", host, colon + 1);
		free(host);
	}
	free(list);
	free(*hosts);
	*hosts = out;
	return WQ_OK;
}

/*
 * How the API's command connections go: 0, one connection to one server
 * (a standalone Redis, Sentinels, or a Redis Cluster's namespace of one
 * partition, on the primary of its slot); 1, one connection per primary
 * of a Redis Cluster, each command to the primary of its key's slot (a
 * namespace of P > 1 partitions: kore-api/cluster.c); -1 when P is not
 * known and cannot be read now (Redis away: ask again later).
 */
int
wq_async_routed(struct wq *wq)
{
	if (wq->cfg.addr.cluster == NULL)
		return 0;
	if (wq->nparts == 0 && wq_connect(wq) != WQ_OK)
		return -1;
	return wq->nparts > 1;
}

/* The slot map of the Redis Cluster of wq's settings (rcluster.c). */
int
wq_async_map_open(struct wq *wq, struct wq_rcluster **out)
{
	return wq_rcluster_open_settings(wq, out);
}

int
wq_async_map_refresh(struct wq_rcluster *rc)
{
	return wq_rcluster_refresh(rc);
}

const char *
wq_async_map_primary(struct wq_rcluster *rc, unsigned slot, int *port)
{
	return wq_rcluster_primary(rc, slot, port);
}

void
wq_async_map_free(struct wq_rcluster *rc)
{
	wq_rcluster_free(rc);
}

/* The slot of a command's key, -1 for none; the namespace's own slot. */
int
wq_async_slot(const struct wq_argv *a)
{
	return wq_rcluster_argv_slot(a);
}

int
wq_async_redirect(const char *s, int *slot, const char **host, size_t *hlen,
    int *port)
{
	return wq_rcluster_redirect(s, slot, host, hlen, port);
}

unsigned
wq_async_ns_slot(struct wq *wq)
{
	return wq_rcluster_slot(wq->cfg.prefix, strlen(wq->cfg.prefix));
}

/* The first commands of a connection: their errors close it. */
struct hello {
	void		(*fail)(void *, const char *);
	void		*arg;
	const char	*what;
};

static void
hello_reply(redisAsyncContext *ac, void *reply, void *priv)
{
	struct hello	*h = priv;
	redisReply	*r = reply;
	char		 msg[256];

	if (r != NULL && r->type == REDIS_REPLY_ERROR) {
		snprintf(msg, sizeof(msg), "%s: %s", h->what, r->str);
		if (h->fail != NULL)
			h->fail(h->arg, msg);
		redisAsyncDisconnect(ac);
	}
	free(h);
}

static void
hello(redisAsyncContext *ac, struct wq_argv *a, const char *what,
    void (*fail)(void *, const char *), void *arg)
{
	struct hello	*h;

	h = wq_calloc(1, sizeof(*h));
	h->fail = fail;
	h->arg = arg;
	h->what = what;
	if (redisAsyncCommandArgv(ac, hello_reply, h, a->argc,
	    (const char **)a->argv, a->len) != REDIS_OK)
		free(h);
	wq_argv_free(a);
}

/* A context just made: checked, then AUTH and SELECT queued. */
static struct redisAsyncContext *
async_open(struct wq *wq, redisAsyncContext *ac, const char *where,
    void (*fail)(void *, const char *), void *arg)
{
	struct wq_url		*a = &wq->cfg.addr;
	struct wq_argv		 cmd;

	if (ac == NULL) {
		wq_seterr(wq, WQ_EUNAVAIL, "cannot connect to Redis at %s: out "
		    "of memory", where);
		return NULL;
	}
	if (ac->err || wq_cloexec(ac->c.fd) == -1) {
		wq_seterr(wq, WQ_EUNAVAIL, "cannot connect to Redis at %s: %s",
		    where, ac->err ? ac->errstr : strerror(errno));
		redisAsyncFree(ac);
		return NULL;
	}
	if (a->password != NULL) {
		wq_argv_init(&cmd);
		wq_argv_adds(&cmd, "AUTH");
		if (a->user != NULL)
			wq_argv_adds(&cmd, a->user);
		wq_argv_adds(&cmd, a->password);
		hello(ac, &cmd, "Redis refused the credentials", fail, arg);
	}
	if (a->db != 0) {
		wq_argv_init(&cmd);
		wq_argv_adds(&cmd, "SELECT");
		wq_argv_addl(&cmd, a->db);
		hello(ac, &cmd, "cannot select the database", fail, arg);
	}
	return ac;
}

/*
 * Start an async connection to the configured Redis.  The connect is not
 * complete on return (hiredis finishes it on the first write event); AUTH
 * and SELECT are queued ahead of anything the caller sends, and when one
 * of them is refused, fail(arg, why) is called and the connection closes.
 * With Sentinels, the master is asked for (blocking, bounded by the
 * connect timeout) each time, and on a Redis Cluster the primary of the
 * namespace's slot: after a failover a new connect finds the new one.
 */
struct redisAsyncContext *
wq_async_connect(struct wq *wq, void (*fail)(void *, const char *), void *arg)
{
	struct wq_url	*a = &wq->cfg.addr;
	redisAsyncContext	*ac;
	redisContext		*c;
	char			 err[256], *host;
	int			 port;

	if (a->sentinels != NULL || a->cluster != NULL) {
		if ((c = wq_redis_open(wq, err, sizeof(err))) == NULL) {
			wq_seterr(wq, WQ_EUNAVAIL, "%s", err);
			return NULL;
		}
		host = wq_strdup(c->tcp.host);
		port = c->tcp.port;
		redisFree(c);
		ac = redisAsyncConnect(host, port);
		snprintf(err, sizeof(err), "%s:%d", host, port);
		free(host);
	} else if (a->unix_socket) {
		ac = redisAsyncConnectUnix(a->path);
		snprintf(err, sizeof(err), "%s", a->path);
	} else {
		ac = redisAsyncConnect(a->host, a->port);
		snprintf(err, sizeof(err), "%s:%d", a->host, a->port);
	}
	return async_open(wq, ac, err, fail, arg);
}

/* The same to one node of a Redis Cluster (its map's host and port). */
struct redisAsyncContext *
wq_async_connect_node(struct wq *wq, const char *host, int port,
    void (*fail)(void *, const char *), void *arg)
{
	char	where[300];

	snprintf(where, sizeof(where), strchr(host, ':') != NULL ?
	    "[%s]:%d" : "%s:%d", host, port);
	return async_open(wq, redisAsyncConnect(host, port), where, fail,
	    arg);
}

void
wq_async_ping_argv(struct wq_argv *a)
{
	wq_argv_init(a);
	wq_argv_adds(a, "PING");
}

