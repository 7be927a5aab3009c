/*
 * async.c -- the asynchronous side of libwq, for the Kore API.
 *
 * The API serves many clients from one event loop per process, so it
 * talks to Redis through hiredis's async interface: it sends a command and
 * gets the reply in a callback, never waiting for it.  What it sends is
 * built here, from the same keys as the blocking functions, so that
 * kore-api/ never names a key: the connection itself (AUTH and SELECT
 * queued first), PING, the done:<id> channels a waiter subscribes to, and
 * the reads that take two rounds -- first the names (of queues, nodes,
 * recent jobs), then what each one holds.  Those are a small state
 * machine, struct wq_read, that the caller drives: take the commands of
 * the next round, send them, feed the replies back, until there is no
 * next round; then take the result.
 *
 * The event-loop glue that hiredis leaves to its user (which descriptor
 * to watch for what, timers) belongs to the program that owns the loop.
 *
 * Names are resolved to numeric addresses by wq_async_prepare(), once,
 * before a sandbox that forbids DNS is entered.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>

#include "wq-int.h"

/* The bounds (ms) of the latency histogram complete.lua fills. */
static const long latency_bounds[] = { 1, 2, 5, 10, 25, 50, 100, 250, 500,
    1000, 2500, 5000, 10000, 30000, 60000 };
#define NBOUNDS	(sizeof(latency_bounds) / sizeof(latency_bounds[0]))

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
 * Replace host names by numeric addresses: the Redis host, or each
 * Sentinel.  Call it where DNS works; the connections made later then
 * need no lookup.
 */
int
wq_async_prepare(struct wq *wq)
{
	struct wq_redis_addr	*a = &wq->cfg.addr;
	char			*list, *tok, *save, *colon, *host, *out, err[256];
	size_t			 len;

	if (a->unix_socket)
		return WQ_OK;
	if (a->sentinels == NULL) {
		if (resolve(&a->host, err, sizeof(err)) == -1)
			return wq_seterr(wq, WQ_EUNAVAIL, "%s", err);
		return WQ_OK;
	}
	list = wq_strdup(a->sentinels);
	len = strlen(a->sentinels) * 2 + 64;
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
	free(a->sentinels);
	a->sentinels = out;
	return WQ_OK;
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

/*
 * Start an async connection to the configured Redis.  The connect is not
 * complete on return (hiredis finishes it on the first write event); AUTH
 * and SELECT are queued ahead of anything the caller sends, and when one
 * of them is refused, fail(arg, why) is called and the connection closes.
 * With Sentinels, the master is asked for (blocking, bounded by the
 * connect timeout) each time: after a failover a new connect finds the
 * new master.
 */
struct redisAsyncContext *
wq_async_connect(struct wq *wq, void (*fail)(void *, const char *), void *arg)
{
	struct wq_redis_addr	*a = &wq->cfg.addr;
	redisAsyncContext	*ac;
	redisContext		*c;
	struct wq_argv		 cmd;
	char			 err[256], *host;
	int			 port;

	if (a->sentinels != NULL) {
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
	if (ac == NULL) {
		wq_seterr(wq, WQ_EUNAVAIL, "cannot connect to Redis at %s: out "
		    "of memory", err);
		return NULL;
	}
	if (ac->err) {
		wq_seterr(wq, WQ_EUNAVAIL, "cannot connect to Redis at %s: %s",
		    err, ac->errstr);
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

void
wq_ping_argv(struct wq_argv *a)
{
	wq_argv_init(a);
	wq_argv_adds(a, "PING");
}

/* (UN)SUBSCRIBE to the channel a job's end is published on. */
void
wq_done_argv(struct wq *wq, const char *id, int subscribe, struct wq_argv *a)
{
	wq_argv_init(a);
	wq_argv_adds(a, subscribe ? "SUBSCRIBE" : "UNSUBSCRIBE");
	wq_argv_key(a, wq, "done:%s", id);
}

/* The id of a done:<id> channel name; -1 when it is no such channel. */
int
wq_done_id(struct wq *wq, const char *chan, size_t len,
    char id[WQ_ID_LEN + 1])
{
	size_t	ns;

	ns = strlen(wq->cfg.ns);
	if (len != ns + 6 + WQ_ID_LEN || strncmp(chan, wq->cfg.ns, ns) != 0 ||
	    strncmp(chan + ns, ":done:", 6) != 0)
		return -1;
	memcpy(id, chan + ns + 6, WQ_ID_LEN);
	id[WQ_ID_LEN] = '\0';
	return wq_id_valid(id) ? 0 : -1;
}

/*
 * Reads in two rounds.  Round one asks for names; round two, built from
 * them, for what each one holds.  The names are kept here between the
 * rounds, so that the caller owns no reply for longer than a callback.
 * The queues and the members are read with the commands and decoders of
 * the blocking wq_queues() and wq_peers().
 */
struct wq_read {
	struct wq		*wq;
	int			 kind;
	long			 arg;
	int			 round;		/* whose commands are out */
	struct wq_argv		*cmds;
	size_t			 ncmds;
	char			**queues;	/* sorted */
	size_t			 nqueues;
	struct wq_members	 m;		/* the nodes */
	char			**ids;		/* recent jobs */
	size_t			 nids;
	jv			 partial;	/* what round one gave */
	jv			 out;
	int			 done;
};

struct wq_read *
wq_read_new(struct wq *wq, int kind, long arg)
{
	struct wq_read	*rd;

	rd = wq_calloc(1, sizeof(*rd));
	rd->wq = wq;
	rd->kind = kind;
	rd->arg = arg;
	rd->partial = jv_object();
	rd->out = jv_invalid();
	return rd;
}

static void
read_cmds_free(struct wq_read *rd)
{
	size_t	i;

	for (i = 0; i < rd->ncmds; i++)
		wq_argv_free(&rd->cmds[i]);
	free(rd->cmds);
	rd->cmds = NULL;
	rd->ncmds = 0;
}

void
wq_read_free(struct wq_read *rd)
{
	if (rd == NULL)
		return;
	read_cmds_free(rd);
	wq_strs_free(rd->queues, rd->nqueues);
	wq_members_clear(&rd->m);
	wq_strs_free(rd->ids, rd->nids);
	jv_free(rd->partial);
	jv_free(rd->out);
	free(rd);
}

/* Room for n more commands of this round, initialised. */
static struct wq_argv *
read_slots(struct wq_read *rd, size_t n)
{
	struct wq_argv	*a;
	size_t		 i;

	rd->cmds = wq_realloc(rd->cmds, (rd->ncmds + n) * sizeof(*rd->cmds));
	a = &rd->cmds[rd->ncmds];
	for (i = 0; i < n; i++)
		wq_argv_init(&a[i]);
	rd->ncmds += n;
	return a;
}

static struct wq_argv *
read_cmd(struct wq_read *rd, const char *name)
{
	struct wq_argv	*a;

	a = read_slots(rd, 1);
	wq_argv_adds(a, name);
	return a;
}

/* Round one of each kind. */
static void
read_round1(struct wq_read *rd)
{
	struct wq_argv	*a;

	switch (rd->kind) {
	case WQ_READ_QUEUES:
		wq_queues_argv(rd->wq, read_slots(rd, 1));
		break;
	case WQ_READ_METRICS:
		/* The queues, the clock and the nodes (two commands without
		 * "gone"), the totals, the latency. */
		wq_queues_argv(rd->wq, read_slots(rd, 1));
		wq_peers_argv(rd->wq, 0, read_slots(rd, 2));
		wq_totals_argv(rd->wq, read_slots(rd, 1));
		wq_argv_key(read_cmd(rd, "HGETALL"), rd->wq, "stats:latency");
		break;
	case WQ_READ_PEERS:
		/* Room for the most it builds; keep what it built. */
		a = read_slots(rd, WQ_PEERS_CMDS);
		rd->ncmds -= WQ_PEERS_CMDS - wq_peers_argv(rd->wq, rd->arg, a);
		break;
	case WQ_READ_RECENT:
		a = read_cmd(rd, "LRANGE");
		wq_argv_key(a, rd->wq, "recent");
		wq_argv_adds(a, "0");
		wq_argv_addl(a, rd->arg - 1);
		break;
	}
}

/* The latency hash as a cumulative histogram. */
static jv
latency(redisReply *r)
{
	long		 count[NBOUNDS + 1];
	long long	 sum = 0, total = 0, cum;
	size_t		 i, b;
	const char	*f;
	char		*end;
	long		 le;
	jv		 o, buckets, bk;

	memset(count, 0, sizeof(count));
	for (i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements;
	    i += 2) {
		f = r->element[i]->str;
		if (strcmp(f, "sum") == 0) {
			sum = wq_reply_ll(r->element[i + 1]);
			continue;
		}
		if (strcmp(f, "count") == 0) {
			total = wq_reply_ll(r->element[i + 1]);
			continue;
		}
		b = NBOUNDS;		/* "+Inf", or a bound we do not know */
		le = strtol(f, &end, 10);
		if (*end == '\0')
			for (b = 0; b < NBOUNDS && latency_bounds[b] < le; b++)
				;
		count[b] += (long)wq_reply_ll(r->element[i + 1]);
	}
	buckets = jv_array();
	for (b = 0, cum = 0; b <= NBOUNDS; b++) {
		cum += count[b];
		bk = jv_object();
		bk = jv_object_set(bk, jv_string("le"), b < NBOUNDS ?
		    jv_number((double)latency_bounds[b]) : jv_string("+Inf"));
		bk = jv_object_set(bk, jv_string("count"),
		    jv_number((double)cum));
		buckets = jv_array_append(buckets, bk);
	}
	if (total < cum)	/* a histogram is counted once, whole */
		total = cum;
	o = jv_object();
	o = jv_object_set(o, jv_string("buckets"), buckets);
	o = jv_object_set(o, jv_string("sum_ms"), jv_number((double)sum));
	o = jv_object_set(o, jv_string("count"), jv_number((double)total));
	return o;
}

/* Round two of the queue depths. */
static void
depths_round(struct wq_read *rd, redisReply *names)
{
	rd->nqueues = wq_queues_names(names, &rd->queues);
	wq_depths_argv(rd->wq, rd->queues, rd->nqueues,
	    read_slots(rd, rd->nqueues * WQ_DEPTH_CMDS));
}

static int
read_feed1(struct wq_read *rd, redisReply **r, size_t n)
{
	struct wq_argv	*a;
	jv		 totals;
	size_t		 i, k;
	int		 rc;

	switch (rd->kind) {
	case WQ_READ_QUEUES:
		depths_round(rd, r[0]);
		break;
	case WQ_READ_METRICS:
		if (n != 5)
			return wq_seterr(rd->wq, WQ_EUNAVAIL, "metrics: "
			    "unexpected reply");
		if ((rc = wq_members_decode(rd->wq, r + 1, 2, &rd->m)) != WQ_OK)
			return rc;
		totals = jv_object();
		if ((rc = wq_totals_decode(rd->wq, r[3], &totals)) != WQ_OK) {
			jv_free(totals);
			return rc;
		}
		rd->partial = jv_object_set(rd->partial, jv_string("time"),
		    jv_number((double)rd->m.now));
		rd->partial = jv_object_set(rd->partial, jv_string("totals"),
		    totals);
		rd->partial = jv_object_set(rd->partial, jv_string("latency"),
		    latency(r[4]));
		depths_round(rd, r[0]);
		for (i = 0; i < rd->m.n; i++) {
			a = read_cmd(rd, "HMGET");
			wq_argv_key(a, rd->wq, "node:%s", rd->m.names[i]);
			wq_argv_adds(a, "role");
			wq_argv_adds(a, "timeout_ms");
			wq_argv_key(read_cmd(rd, "LLEN"), rd->wq, "active:%s",
			    rd->m.names[i]);
		}
		break;
	case WQ_READ_PEERS:
		if ((rc = wq_members_decode(rd->wq, r, n, &rd->m)) != WQ_OK)
			return rc;
		wq_members_argv(rd->wq, &rd->m, read_slots(rd, rd->m.n));
		break;
	case WQ_READ_RECENT:
		/* Newest first, each id once. */
		rd->ids = wq_calloc(r[0]->elements + 1, sizeof(*rd->ids));
		for (i = 0; i < r[0]->elements; i++) {
			for (k = 0; k < rd->nids; k++)
				if (strcmp(rd->ids[k], r[0]->element[i]->str)
				    == 0)
					break;
			if (k == rd->nids)
				rd->ids[rd->nids++] =
				    wq_strdup(r[0]->element[i]->str);
		}
		for (i = 0; i < rd->nids; i++)
			wq_status_argv(rd->wq, rd->ids[i], read_slots(rd, 1));
		break;
	}
	return WQ_OK;
}

/*
 * Live nodes by role, and the jobs they hold: two replies a node in the
 * metrics' round two, from r[k].
 */
static void
node_counts(struct wq_read *rd, redisReply **r, size_t k, size_t n, jv *o)
{
	jv		 roles, rec;
	redisReply	*h;
	size_t		 i;
	long long	 working = 0;
	double		 timeout;
	const char	*role;

	roles = jv_object();
	for (i = 0; i < rd->m.n && k + 1 < n; i++, k += 2) {
		h = r[k];
		if (h->type != REDIS_REPLY_ARRAY || h->elements != 2)
			continue;
		timeout = h->element[1]->type == REDIS_REPLY_STRING ?
		    strtod(h->element[1]->str, NULL) : WQ_NODE_TIMEOUT_MS;
		if (rd->m.beats[i] + timeout < (double)rd->m.now)
			continue;	/* its beat lapsed: dead */
		role = h->element[0]->type == REDIS_REPLY_STRING ?
		    h->element[0]->str : "unknown";
		rec = jv_object_get(jv_copy(roles), jv_string(role));
		roles = jv_object_set(roles, jv_string(role),
		    jv_number((jv_get_kind(rec) == JV_KIND_NUMBER ?
		    jv_number_value(rec) : 0) + 1));
		jv_free(rec);
		working += wq_reply_ll(r[k + 1]);
	}
	*o = jv_object_set(*o, jv_string("nodes"), roles);
	*o = jv_object_set(*o, jv_string("working"),
	    jv_number((double)working));
}

static int
read_feed2(struct wq_read *rd, redisReply **r, size_t n)
{
	jv		 o, q, rec;
	size_t		 i;
	int		 rc;

	switch (rd->kind) {
	case WQ_READ_QUEUES:
		return wq_depths_decode(rd->wq, rd->queues, rd->nqueues, r,
		    &rd->out);
	case WQ_READ_METRICS:
		if ((rc = wq_depths_decode(rd->wq, rd->queues, rd->nqueues, r,
		    &q)) != WQ_OK)
			return rc;
		o = rd->partial;
		rd->partial = jv_null();
		o = jv_object_set(o, jv_string("queues"), q);
		node_counts(rd, r, rd->nqueues * WQ_DEPTH_CMDS, n, &o);
		rd->out = o;
		break;
	case WQ_READ_PEERS:
		return wq_peers_decode(rd->wq, &rd->m, rd->arg, r, &rd->out);
	case WQ_READ_RECENT:
		o = jv_array();
		for (i = 0; i < n; i++) {
			if (wq_status_decode(rd->wq, rd->ids[i], r[i],
			    &rec) != WQ_OK)
				continue;
			if (jv_get_kind(rec) == JV_KIND_NULL)
				jv_free(rec);	/* expired */
			else
				o = jv_array_append(o, rec);
		}
		rd->out = o;
		break;
	}
	return WQ_OK;
}

/*
 * The commands of the next round (owned by rd until the next call), or
 * 0 when the read is complete.
 */
size_t
wq_read_next(struct wq_read *rd, struct wq_argv **cmds)
{
	*cmds = NULL;
	if (rd->done)
		return 0;
	if (rd->round == 0) {
		read_round1(rd);
		rd->round = 1;
	} else if (rd->ncmds == 0) {
		/* Round two has nothing to ask (no queues, no nodes). */
		read_feed2(rd, NULL, 0);
		rd->done = 1;
		return 0;
	}
	*cmds = rd->cmds;
	return rd->ncmds;
}

/* The replies to the commands wq_read_next() gave, in order. */
int
wq_read_feed(struct wq_read *rd, redisReply **r, size_t n)
{
	size_t	i;
	int	rc;

	if (n != rd->ncmds)
		return wq_seterr(rd->wq, WQ_EUNAVAIL, "read: %zu replies to "
		    "%zu commands", n, rd->ncmds);
	for (i = 0; i < n; i++)
		if ((rc = wq_reply_error(rd->wq, r[i], "read")) != WQ_OK)
			return rc;
	read_cmds_free(rd);
	if (rd->round == 1) {
		if (n == 0 || r[0]->type != REDIS_REPLY_ARRAY)
			return wq_seterr(rd->wq, WQ_EUNAVAIL, "read: "
			    "unexpected reply");
		if ((rc = read_feed1(rd, r, n)) != WQ_OK)
			return rc;
		rd->round = 2;
		return WQ_OK;
	}
	rc = read_feed2(rd, r, n);
	rd->done = 1;
	return rc;
}

/* The result, once wq_read_next() gave 0; the caller owns it. */
jv
wq_read_result(struct wq_read *rd)
{
	jv	out;

	out = rd->out;
	rd->out = jv_invalid();
	return jv_is_valid(out) ? out : jv_null();
}
