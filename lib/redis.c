/*
 * redis.c -- the one Redis connection type of wq.
 *
 * wq_redis_open() connects to what the settings name: a TCP address, a
 * unix socket, or the master that a set of Sentinels reports; then it
 * authenticates (AUTH [user] password) and selects the database.  Connects
 * and commands have timeouts, so a command never hangs on a dead server:
 * it fails with WQ_EUNAVAIL and the caller decides whether to give up (the
 * one-shot commands exit 3) or to come back after wq_backoff_ms() (the
 * long-running ones: a capped exponential backoff with jitter).
 *
 * A command is sent alone (wq_redis_command) or with others in a
 * pipeline (wq_redis_pipeline); either way it is built as a struct
 * wq_argv (argv.c), and its reply read with the helpers of reply.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "wq-int.h"
#include "rcluster.h"

static struct timeval
ms_tv(int ms)
{
	struct timeval	tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return tv;
}

static redisContext *
connect_tcp(const char *host, int port, int timeout_ms, char *err,
    size_t errlen)
{
	redisContext	*c;

	c = redisConnectWithTimeout(host, port, ms_tv(timeout_ms));
	if (c == NULL || c->err) {
		snprintf(err, errlen, "cannot connect to Redis at %s:%d: %s",
		    host, port, c ? c->errstr : "out of memory");
		if (c)
			redisFree(c);
		return NULL;
	}
	return c;
}

/* AUTH [user] password, when the settings have a password. */
static int
authenticate(redisContext *c, struct wq_url *a, char *err,
    size_t errlen)
{
	redisReply	*r;

	if (a->password == NULL)
		return 0;
	if (a->user != NULL)
		r = redisCommand(c, "AUTH %s %s", a->user, a->password);
	else
		r = redisCommand(c, "AUTH %s", a->password);
	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		/* Redis's message names no password; keep it short. */
		snprintf(err, errlen, "Redis refused the credentials%s%s",
		    r ? ": " : "", r ? r->str : "");
		if (r)
			freeReplyObject(r);
		return -1;
	}
	freeReplyObject(r);
	return 0;
}

/* A TCP port, 1 to 65535, from a string of digits; else -1. */
static int
port_of(const char *s)
{
	char	*end;
	long	 n;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || n < 1 || n > 65535)
		return -1;
	return (int)n;
}

/*
 * The Sentinel's answer to get-master-addr-by-name: two strings, a host
 * and a port.  Anything else (nil: an unknown master; an error; elements
 * of other types from a server that is no Sentinel) is -1.
 */
static int
master_addr(redisReply *r, char *host, size_t hostlen)
{
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_STRING ||
	    r->element[0]->len == 0 || r->element[0]->len >= hostlen)
		return -1;
	memcpy(host, r->element[0]->str, r->element[0]->len + 1);
	return port_of(r->element[1]->str);
}

/* The server says it is a master (ROLE), not a replica. */
int
wq_redis_is_master(redisContext *c)
{
	redisReply	*r;
	int		 yes;

	r = redisCommand(c, "ROLE");
	yes = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
	    r->element[0]->type == REDIS_REPLY_STRING &&
	    strcmp(r->element[0]->str, "master") == 0;
	if (r != NULL)
		freeReplyObject(r);
	return yes;
}

/*
 * Ask the Sentinels, in turn, where the master is.  The master is
 * authenticated before it is asked for its ROLE, which a server with a
 * password refuses to say otherwise.
 */
static redisContext *
connect_sentinel(struct wq *wq, char *err, size_t errlen)
{
	struct wq_url	*a = &wq->cfg.addr;
	redisContext		*s, *c;
	redisReply		*r;
	char			*list, *tok, *save, *colon, host[256];
	int			 port;

	list = wq_strdup(a->sentinels);
	snprintf(err, errlen, "no sentinel answered for master %s", a->master);
	for (tok = strtok_r(list, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		if ((colon = strrchr(tok, ':')) == NULL ||
		    (port = port_of(colon + 1)) == -1) {
			snprintf(err, errlen, "bad sentinel address %s", tok);
			continue;
		}
		*colon = '\0';
		s = connect_tcp(tok, port, wq->cfg.connect_timeout_ms, err,
		    errlen);
		if (s == NULL)
			continue;
		r = NULL;
		if (redisSetTimeout(s, ms_tv(wq->cfg.connect_timeout_ms)) ==
		    REDIS_OK)
			r = redisCommand(s, "SENTINEL get-master-addr-by-name "
			    "%s", a->master);
		port = master_addr(r, host, sizeof(host));
		if (r)
			freeReplyObject(r);
		redisFree(s);
		if (port == -1) {
			snprintf(err, errlen, "sentinel %s does not know "
			    "master %s", tok, a->master);
			continue;
		}
		c = connect_tcp(host, port, wq->cfg.connect_timeout_ms, err,
		    errlen);
		if (c == NULL)
			continue;
		if (redisSetTimeout(c, ms_tv(wq->cfg.command_timeout_ms)) !=
		    REDIS_OK || authenticate(c, a, err, errlen) == -1) {
			redisFree(c);
			continue;
		}
		/* A failover may be under way: insist on a master. */
		if (wq_redis_is_master(c)) {
			free(list);
			return c;
		}
		redisFree(c);
		snprintf(err, errlen, "%s:%d is not a master yet", host, port);
	}
	free(list);
	{
		char last[256];

		snprintf(last, sizeof(last), "%s", err);
		snprintf(err, errlen, "no sentinel could name the master %s "
		    "(last: %s)", a->master, last);
	}
	return NULL;
}

/*
 * The primary that holds the namespace's slot on a Redis Cluster: every
 * key of wq is under the hash tag {ns} (settings.c), so one connection
 * to that primary is all wq needs, as with one server.  The slot map is
 * read from the seeds each time: after a failover or a reshard the next
 * connection finds the new holder.
 */
static redisContext *
connect_cluster(struct wq *wq, struct wq_rcluster **keep, char *err,
    size_t errlen)
{
	struct wq_rcluster	*rc;
	const char		*addr, *colon;
	redisContext		*c;
	char			 host[256];
	unsigned		 slot;
	int			 port;

	if (wq_rcluster_open_settings(wq, &rc) != WQ_OK) {
		snprintf(err, errlen, "%s", wq_error(wq));
		return NULL;
	}
	slot = wq_rcluster_slot(wq->cfg.prefix, strlen(wq->cfg.prefix));
	addr = wq_rcluster_addr(rc, slot);
	if (addr == NULL || (colon = strrchr(addr, ':')) == NULL ||
	    (size_t)(colon - addr) >= sizeof(host) ||
	    (port = port_of(colon + 1)) == -1) {
		snprintf(err, errlen, "no primary of the Redis Cluster %s "
		    "serves slot %u (namespace %s) now", wq->cfg.addr.cluster,
		    slot, wq->cfg.ns);
		wq_rcluster_free(rc);
		return NULL;
	}
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	c = wq_redis_open_tcp(wq, host, port, &wq->cfg.addr, err, errlen);
	/* The map may be older than a failover that demoted it. */
	if (c != NULL && !wq_redis_is_master(c)) {
		snprintf(err, errlen, "%s:%d, which held slot %u of the Redis "
		    "Cluster, is not a primary now", host, port, slot);
		redisFree(c);
		c = NULL;
	}
	if (c != NULL && keep != NULL)
		*keep = rc;
	else
		wq_rcluster_free(rc);
	return c;
}

/* Close-on-exec, the command timeout, TCP keepalive; else frees c. */
static int
setup(redisContext *c, int tcp, int timeout_ms, char *err, size_t errlen)
{
	/* never inherited by what a worker runs */
	if (wq_cloexec(c->fd) == -1) {
		snprintf(err, errlen, "cannot connect to Redis: fcntl: %s",
		    strerror(errno));
		redisFree(c);
		return -1;
	}
	if (redisSetTimeout(c, ms_tv(timeout_ms)) != REDIS_OK ||
	    (tcp && redisEnableKeepAlive(c) != REDIS_OK)) {
		snprintf(err, errlen, "cannot connect to Redis: %s",
		    c->errstr[0] ? c->errstr : "cannot set the socket's "
		    "options");
		redisFree(c);
		return -1;
	}
	return 0;
}

/*
 * A connection to one server at host:port with the settings of wq and
 * the credentials of a (a cluster's nodes, rcluster.c): no SELECT.
 */
redisContext *
wq_redis_open_tcp(struct wq *wq, const char *host, int port,
    struct wq_url *a, char *err, size_t errlen)
{
	redisContext	*c;

	c = connect_tcp(host, port, wq->cfg.connect_timeout_ms, err, errlen);
	if (c == NULL || setup(c, 1, wq->cfg.command_timeout_ms, err,
	    errlen) == -1)
		return NULL;
	if (authenticate(c, a, err, errlen) == -1) {
		redisFree(c);
		return NULL;
	}
	return c;
}

/*
 * Open a new connection with the settings of wq: used for the main
 * connection and for the subscriber connections of waiters and workers.
 */
static redisContext *
redis_open(struct wq *wq, struct wq_rcluster **keep, char *err,
    size_t errlen)
{
	struct wq_url	*a = &wq->cfg.addr;
	redisContext		*c;
	redisReply		*r;

	if (a->cluster != NULL)
		return connect_cluster(wq, keep, err, errlen);
	if (a->sentinels != NULL)
		c = connect_sentinel(wq, err, errlen);
	else if (a->unix_socket) {
		c = redisConnectUnixWithTimeout(a->path,
		    ms_tv(wq->cfg.connect_timeout_ms));
		if (c == NULL || c->err) {
			snprintf(err, errlen, "cannot connect to Redis at "
			    "%s: %s", a->path, c ? c->errstr : "out of memory");
			if (c)
				redisFree(c);
			c = NULL;
		}
	} else
		c = connect_tcp(a->host, a->port, wq->cfg.connect_timeout_ms,
		    err, errlen);
	if (c == NULL || setup(c, a->unix_socket == 0,
	    wq->cfg.command_timeout_ms, err, errlen) == -1)
		return NULL;
	if (a->sentinels == NULL && authenticate(c, a, err, errlen) == -1) {
		redisFree(c);
		return NULL;
	}
	if (a->db != 0) {
		r = redisCommand(c, "SELECT %d", a->db);
		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			snprintf(err, errlen, "cannot select database %d: %s",
			    a->db, r ? r->str : c->errstr);
			if (r)
				freeReplyObject(r);
			redisFree(c);
			return NULL;
		}
		freeReplyObject(r);
	}
	return c;
}

redisContext *
wq_redis_open(struct wq *wq, char *err, size_t errlen)
{
	return redis_open(wq, NULL, err, errlen);
}

/*
 * The connection: to the one server, or on a cluster to the primary of
 * the control partition, which reads the partitions (wq_parts_load), and
 * which the inbox's BLPOP and wq_redis_control_command() use.  On a
 * cluster with more than one partition every other command is routed
 * through the cluster client (wq->rcl, one connection per primary): the
 * client that found the control primary is kept for it.
 */
int
wq_connect(struct wq *wq)
{
	struct wq_rcluster	*rcl = NULL;
	char			 err[256];
	int			 rc;

	if (wq->rc != NULL)
		return WQ_OK;
	if (wq->parts_bad)
		return WQ_EUSAGE;
	if ((wq->rc = redis_open(wq, &rcl, err, sizeof(err))) == NULL)
		return wq_seterr(wq, WQ_EUNAVAIL, "%s", err);
	wq->conn_gen++;
	/* The namespace's partitions, once (part.c): every key of a job or
	 * a queue is built from them. */
	if (wq->nparts == 0 && (rc = wq_parts_load(wq)) != WQ_OK) {
		if (rc == WQ_EUSAGE)
			wq->parts_bad = 1;
		wq_rcluster_free(rcl);
		wq_disconnect(wq);
		return rc;
	}
	if (rcl != NULL && wq->nparts > 1) {
		wq_rcluster_once(rcl);
		wq->rcl = rcl;
	} else
		wq_rcluster_free(rcl);
	return WQ_OK;
}

void
wq_disconnect(struct wq *wq)
{
	if (wq->rc != NULL) {
		redisFree(wq->rc);
		wq->rc = NULL;
	}
	if (wq->rcl != NULL) {
		wq_rcluster_free(wq->rcl);
		wq->rcl = NULL;
	}
}

static int
broken(struct wq *wq)
{
	const char	*why = wq->rc ? wq->rc->errstr : "not connected";

	if (wq->rc && wq->rc->err == REDIS_ERR_IO && errno == EAGAIN)
		why = "timed out";
	wq_seterr(wq, WQ_EUNAVAIL, "Redis connection lost: %s", why);
	wq_disconnect(wq);
	return WQ_EUNAVAIL;
}

/* Append a command to the connection's output buffer, without sending. */
int
wq_redis_append(struct wq *wq, struct wq_argv *a)
{
	char	*buf;
	size_t	 n;
	int	 rc;

	buf = wq_argv_resp(a, &n);
	rc = redisAppendFormattedCommand(wq->rc, buf, n);
	free(buf);
	return rc == REDIS_OK ? WQ_OK : WQ_EUNAVAIL;
}

/* The command on the connection of wq_connect(), never routed. */
redisReply *
wq_redis_control_command(struct wq *wq, struct wq_argv *a)
{
	void	*r = NULL;

	if (wq_connect(wq) != WQ_OK)
		return NULL;
	if (wq_redis_append(wq, a) != WQ_OK ||
	    redisGetReply(wq->rc, &r) != REDIS_OK || r == NULL) {
		broken(wq);
		return NULL;
	}
	return r;
}

/*
 * Routed (a cluster, P > 1): each command to the primary of its key's
 * slot; a lost link ends it as on one server (the commands that were in
 * flight are not sent again: rcluster.c's once), and so does a pipeline
 * that runs out of rounds: the caller connects again, as after any lost
 * link.
 */
static int
routed(struct wq *wq, struct wq_argv *cmds, size_t n, redisReply **out)
{
	if (wq_rcluster_pipeline(wq->rcl, cmds, n, out) == WQ_OK)
		return WQ_OK;
	wq_disconnect(wq);
	return WQ_EUNAVAIL;
}

redisReply *
wq_redis_command(struct wq *wq, struct wq_argv *a)
{
	redisReply	*r;

	if (wq_connect(wq) != WQ_OK)
		return NULL;
	if (wq->rcl == NULL)
		return wq_redis_control_command(wq, a);
	return routed(wq, a, 1, &r) == WQ_OK ? r : NULL;
}

int
wq_redis_pipeline(struct wq *wq, struct wq_argv *cmds, size_t n,
    redisReply **out)
{
	size_t	 i;
	void	*r;
	int	 rc;

	memset(out, 0, sizeof(*out) * n);
	if ((rc = wq_connect(wq)) != WQ_OK)
		return rc;
	if (wq->rcl != NULL)
		return routed(wq, cmds, n, out);
	for (i = 0; i < n; i++)
		if (wq_redis_append(wq, &cmds[i]) != WQ_OK)
			return broken(wq);
	for (i = 0; i < n; i++) {
		if (redisGetReply(wq->rc, &r) != REDIS_OK) {
			while (i > 0)
				freeReplyObject(out[--i]);
			memset(out, 0, sizeof(*out) * n);
			return broken(wq);
		}
		out[i] = r;
	}
	return WQ_OK;
}

/* Free the commands of a pipeline and the replies it read (not the arrays). */
void
wq_redis_pipeline_free(struct wq_argv *cmds, redisReply **replies, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (replies[i] != NULL)
			freeReplyObject(replies[i]);
		replies[i] = NULL;
		wq_argv_free(&cmds[i]);
	}
}

/*
 * Replies made in an arena.  hiredis makes a malloc'd object for every
 * element of a reply and a malloc'd copy of every string, and frees them
 * one by one: a round of 1,024 records of twenty-odd elements each was
 * 40,000 mallocs and as many frees, a third of what wq-status spent on a
 * record.  While a round is read, the reader's functions are these,
 * which cut every object from the arena's blocks; the blocks all go at
 * once.
 */
#define ARENA_BLOCK	65536

struct wq_arena {
	char		 *blocks;	/* each begins with the address of the
					   next */
	char		 *p;
	size_t		  left;
	redisReply	**own;		/* routed: hiredis's, freed with it */
	size_t		  nown;
};

static void *
arena_alloc(struct wq_arena *a, size_t n)
{
	const size_t	 head = 16;	/* the link, keeping the alignment */
	size_t		 size;
	char		*b;

	n = (n + 15) & ~(size_t)15;
	if (n > a->left) {
		size = n + head > ARENA_BLOCK ? n + head : ARENA_BLOCK;
		b = wq_realloc(NULL, size);
		memcpy(b, &a->blocks, sizeof(a->blocks));
		a->blocks = b;
		a->p = b + head;
		a->left = size - head;
	}
	b = a->p;
	a->p += n;
	a->left -= n;
	return b;
}

void
wq_arena_free(struct wq_arena *a)
{
	char	*b, *next;

	if (a == NULL)
		return;
	for (b = a->blocks; b != NULL; b = next) {
		memcpy(&next, b, sizeof(next));
		free(b);
	}
	while (a->nown > 0)
		if (a->own[--a->nown] != NULL)
			freeReplyObject(a->own[a->nown]);
	free(a->own);
	free(a);
}

/* A reply object of the arena, put in its place in its parent. */
static redisReply *
arena_obj(const redisReadTask *task, int type)
{
	redisReply	*r;

	r = arena_alloc(task->privdata, sizeof(*r));
	memset(r, 0, sizeof(*r));
	r->type = type;
	if (task->parent != NULL)
		((redisReply *)task->parent->obj)->element[task->idx] = r;
	return r;
}

static void *
arena_string(const redisReadTask *task, char *str, size_t len)
{
	redisReply	*r;

	r = arena_obj(task, task->type);
	r->str = arena_alloc(task->privdata, len + 1);
	memcpy(r->str, str, len);
	r->str[len] = '\0';
	r->len = len;
	return r;
}

static void *
arena_array(const redisReadTask *task, int elements)
{
	redisReply	*r;

	r = arena_obj(task, REDIS_REPLY_ARRAY);
	if (elements > 0) {
		r->element = arena_alloc(task->privdata,
		    (size_t)elements * sizeof(*r->element));
		memset(r->element, 0, (size_t)elements * sizeof(*r->element));
	}
	r->elements = (size_t)elements;
	return r;
}

static void *
arena_integer(const redisReadTask *task, long long v)
{
	redisReply	*r;

	r = arena_obj(task, REDIS_REPLY_INTEGER);
	r->integer = v;
	return r;
}

static void *
arena_nil(const redisReadTask *task)
{
	return arena_obj(task, REDIS_REPLY_NIL);
}

static void
arena_none(void *obj)
{
	(void)obj;	/* the arena's: freed with it */
}

static redisReplyObjectFunctions arena_fns = {
	arena_string, arena_array, arena_integer, arena_nil, arena_none
};

/*
 * Send the n commands of r (RESP text) and read their replies into
 * out[], made in a new arena (*arena, for wq_arena_free(), also after an
 * error).  A reply half read when the link breaks belongs to the arena:
 * the link is dropped before the reader has its own functions back.
 */
/*
 * Routed (a cluster, P > 1): the n commands of r, made of bulk strings
 * (argv.c wrote them), as argvs for the cluster client; the replies are
 * hiredis's, which the arena frees with it.
 */
static int
arena_routed(struct wq *wq, struct wq_resp *r, size_t n, redisReply **out,
    struct wq_arena *arena)
{
	struct wq_argv	*cmds;
	const char	*p = r->p, *end = r->p + r->n;
	char		*e;
	size_t		 i;
	long		 k, len;
	int		 rc;

	cmds = wq_calloc(n, sizeof(*cmds));
	for (i = 0; i < n && p < end && *p == '*'; i++) {
		wq_argv_init(&cmds[i]);
		for (k = strtol(p + 1, &e, 10), p = e + 2; k > 0 &&
		    p < end && *p == '$'; k--) {
			len = strtol(p + 1, &e, 10);
			wq_argv_addn(&cmds[i], e + 2, (size_t)len);
			p = e + 2 + len + 2;
		}
	}
	rc = routed(wq, cmds, i, out);
	if (rc == WQ_OK) {
		arena->own = wq_calloc(n, sizeof(*arena->own));
		memcpy(arena->own, out, i * sizeof(*out));
		arena->nown = i;
	}
	while (i > 0)
		wq_argv_free(&cmds[--i]);
	free(cmds);
	return rc;
}

int
wq_redis_pipeline_arena(struct wq *wq, struct wq_resp *r, size_t n,
    redisReply **out, struct wq_arena **arena)
{
	redisReplyObjectFunctions	*fn;
	redisReader			*rd;
	void				*priv, *p;
	size_t				 i;
	int				 rc;

	memset(out, 0, sizeof(*out) * n);
	*arena = wq_calloc(1, sizeof(**arena));
	if ((rc = wq_connect(wq)) != WQ_OK)
		return rc;
	if (wq->rcl != NULL)
		return arena_routed(wq, r, n, out, *arena);
	if (redisAppendFormattedCommand(wq->rc, r->p, r->n) != REDIS_OK)
		return broken(wq);
	rd = wq->rc->reader;
	fn = rd->fn;
	priv = rd->privdata;
	rd->fn = &arena_fns;
	rd->privdata = *arena;
	for (i = 0; i < n; i++) {
		if (redisGetReply(wq->rc, &p) != REDIS_OK) {
			memset(out, 0, sizeof(*out) * n);
			return broken(wq);
		}
		out[i] = p;
	}
	rd->fn = fn;
	rd->privdata = priv;
	return WQ_OK;
}

/*
 * --wait-replicas: WAIT numreplicas timeout.  Redis answers how many
 * replicas have acknowledged every write this connection made so far,
 * once there are that many or the timeout has passed.
 */
void
wq_wait_argv(struct wq *wq, struct wq_argv *a)
{
	wq_argv_init(a);
	wq_argv_adds(a, "WAIT");
	wq_argv_addl(a, wq->cfg.wait_replicas);
	wq_argv_addl(a, wq->cfg.wait_timeout_ms);
}

/* WAIT's answer: WQ_OK when enough replicas confirmed what was written. */
int
wq_wait_decode(struct wq *wq, redisReply *r, const char *what)
{
	long long	n;
	int		rc;

	if ((rc = wq_reply_error(wq, r, "WAIT")) != WQ_OK)
		return rc;
	if (r->type != REDIS_REPLY_INTEGER)
		return wq_seterr(wq, WQ_EREDIS, "WAIT: unexpected reply");
	if ((n = r->integer) >= wq->cfg.wait_replicas)
		return WQ_OK;
	return wq_seterr(wq, WQ_EREPLICAS, "%s on the Redis primary, "
	    "but only %lld of %ld replicas confirmed within %ld ms "
	    "(--wait-replicas): not durable against a failover yet", what, n,
	    wq->cfg.wait_replicas, wq->cfg.wait_timeout_ms);
}

/*
 * WAIT on the connection that made the writes.  It is not connected
 * again: a new connection has written nothing, and its WAIT would
 * confirm nothing.  The command timeout is stretched by WAIT's own.
 */
/*
 * Routed: WAIT on every primary written to since the last WAIT, at once;
 * confirmed when each answers at least N (the fewest is decoded).
 */
static int
wait_routed(struct wq *wq, const char *what)
{
	struct wq_argv	 a;
	redisReply	*r;
	int		 rc;

	wq_wait_argv(wq, &a);
	rc = wq_rcluster_wait(wq->rcl, &a, wq->cfg.command_timeout_ms +
	    (int)wq->cfg.wait_timeout_ms, &r);
	wq_argv_free(&a);
	if (rc != WQ_OK) {
		wq_seterr(wq, WQ_EUNAVAIL, "%s written, but %s "
		    "(--wait-replicas)", what, wq_error(wq));
		wq_disconnect(wq);
		return WQ_EUNAVAIL;
	}
	if (r == NULL)
		return WQ_OK;
	rc = wq_wait_decode(wq, r, what);
	freeReplyObject(r);
	return rc;
}

int
wq_wait_replicas(struct wq *wq, const char *what)
{
	struct wq_argv	 a;
	redisReply	*r;
	void		*p = NULL;
	int		 rc;

	if (wq->cfg.wait_replicas == 0)
		return WQ_OK;
	if (wq->rc == NULL)
		return wq_seterr(wq, WQ_EUNAVAIL, "%s written, but the Redis "
		    "connection was lost before WAIT (--wait-replicas)", what);
	if (wq->rcl != NULL)
		return wait_routed(wq, what);
	(void)redisSetTimeout(wq->rc, ms_tv(wq->cfg.command_timeout_ms +
	    (int)wq->cfg.wait_timeout_ms));
	wq_wait_argv(wq, &a);
	if (wq_redis_append(wq, &a) != WQ_OK ||
	    redisGetReply(wq->rc, &p) != REDIS_OK || p == NULL) {
		wq_argv_free(&a);
		return broken(wq);
	}
	wq_argv_free(&a);
	(void)redisSetTimeout(wq->rc, ms_tv(wq->cfg.command_timeout_ms));
	r = p;
	rc = wq_wait_decode(wq, r, what);
	freeReplyObject(r);
	return rc;
}
