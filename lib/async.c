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

static const char *stat_names[] = { "submitted", "worked", "failed",
    "retried", "reclaimed" };
#define NSTATS	(sizeof(stat_names) / sizeof(stat_names[0]))

#define NODE_TIMEOUT_MS	5000	/* when a node's hash names none */

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
 */
struct wq_read {
	struct wq	*wq;
	int		 kind;
	long		 arg;
	int		 round;		/* the round whose commands are out */
	struct wq_argv	*cmds;
	size_t		 ncmds;
	char		**queues;	/* sorted */
	size_t		 nqueues;
	char		**names;	/* nodes, or job ids */
	double		*scores;	/* of nodes: the last beat */
	int		*member;	/* of nodes: in "nodes", not "gone" */
	size_t		 nnames;
	long long	 now;		/* the server's clock, ms */
	jv		 partial;	/* what round one gave */
	jv		 out;
	int		 done;
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

static void
strs_free(char **v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
wq_read_free(struct wq_read *rd)
{
	if (rd == NULL)
		return;
	read_cmds_free(rd);
	strs_free(rd->queues, rd->nqueues);
	strs_free(rd->names, rd->nnames);
	free(rd->scores);
	free(rd->member);
	jv_free(rd->partial);
	jv_free(rd->out);
	free(rd);
}

static struct wq_argv *
read_slot(struct wq_read *rd)
{
	struct wq_argv	*a;

	rd->cmds = wq_realloc(rd->cmds, (rd->ncmds + 1) * sizeof(*rd->cmds));
	a = &rd->cmds[rd->ncmds++];
	wq_argv_init(a);
	return a;
}

static struct wq_argv *
read_cmd(struct wq_read *rd, const char *name)
{
	struct wq_argv	*a;

	a = read_slot(rd);
	wq_argv_adds(a, name);
	return a;
}

static int
strcmp_p(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Keep the strings of an array reply, sorted. */
static void
keep_sorted(redisReply *r, char ***out, size_t *n)
{
	size_t	i;

	*n = 0;
	*out = wq_calloc(r->elements, sizeof(**out));
	for (i = 0; i < r->elements; i++)
		if (r->element[i]->type == REDIS_REPLY_STRING)
			(*out)[(*n)++] = wq_strdup(r->element[i]->str);
	qsort(*out, *n, sizeof(**out), strcmp_p);
}

/* Keep the members and scores of a WITHSCORES reply of nodes or gone. */
static void
keep_scored(struct wq_read *rd, redisReply *r, int member)
{
	size_t	i, n;

	if (r->type != REDIS_REPLY_ARRAY)
		return;
	n = rd->nnames + r->elements / 2 + 1;
	rd->names = wq_realloc(rd->names, n * sizeof(*rd->names));
	rd->scores = wq_realloc(rd->scores, n * sizeof(*rd->scores));
	rd->member = wq_realloc(rd->member, n * sizeof(*rd->member));
	for (i = 0; i + 1 < r->elements; i += 2) {
		rd->names[rd->nnames] = wq_strdup(r->element[i]->str);
		rd->scores[rd->nnames] = strtod(r->element[i + 1]->str, NULL);
		rd->member[rd->nnames++] = member;
	}
}

static void
zrange_scored(struct wq_read *rd, const char *key)
{
	struct wq_argv	*a;

	a = read_cmd(rd, "ZRANGE");
	wq_argv_key(a, rd->wq, "%s", key);
	wq_argv_adds(a, "0");
	wq_argv_adds(a, "-1");
	wq_argv_adds(a, "WITHSCORES");
}

static long long
time_ms(redisReply *r)
{
	if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2)
		return wq_reply_ll(r->element[0]) * 1000 +
		    wq_reply_ll(r->element[1]) / 1000;
	return (long long)wq_now_ms();
}

static void
queue_cmds(struct wq_read *rd)
{
	size_t	i;

	for (i = 0; i < rd->nqueues; i++) {
		wq_argv_key(read_cmd(rd, "LLEN"), rd->wq, "queue:%s",
		    rd->queues[i]);
		wq_argv_key(read_cmd(rd, "ZCARD"), rd->wq, "delayed:%s",
		    rd->queues[i]);
		wq_argv_key(read_cmd(rd, "LLEN"), rd->wq, "dead:%s",
		    rd->queues[i]);
	}
}

/* {"q":{"pending":n,"delayed":n,"dead":n}}, as wq_queues() answers. */
static jv
queue_depths(struct wq_read *rd, redisReply **r)
{
	static const char *states[] = { "pending", "delayed", "dead" };
	size_t	 i, s;
	jv	 o, q;

	o = jv_object();
	for (i = 0; i < rd->nqueues; i++) {
		q = jv_object();
		for (s = 0; s < 3; s++)
			q = jv_object_set(q, jv_string(states[s]), jv_number(
			    (double)wq_reply_ll(r[i * 3 + s])));
		o = jv_object_set(o, jv_string(rd->queues[i]), q);
	}
	return o;
}

/* Round one of each kind. */
static void
read_round1(struct wq_read *rd)
{
	struct wq_argv	*a;
	size_t		 i;

	switch (rd->kind) {
	case WQ_READ_QUEUES:
		wq_argv_key(read_cmd(rd, "SMEMBERS"), rd->wq, "queues");
		break;
	case WQ_READ_METRICS:
		wq_argv_key(read_cmd(rd, "SMEMBERS"), rd->wq, "queues");
		read_cmd(rd, "TIME");
		a = read_cmd(rd, "MGET");
		for (i = 0; i < NSTATS; i++)
			wq_argv_key(a, rd->wq, "stats:%s", stat_names[i]);
		wq_argv_key(read_cmd(rd, "HGETALL"), rd->wq, "stats:latency");
		zrange_scored(rd, "nodes");
		break;
	case WQ_READ_PEERS:
		read_cmd(rd, "TIME");
		zrange_scored(rd, "nodes");
		if (rd->arg)
			zrange_scored(rd, "gone");
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

static int
read_feed1(struct wq_read *rd, redisReply **r, size_t n)
{
	struct wq_argv	*a;
	jv		 totals;
	size_t		 i, k;

	switch (rd->kind) {
	case WQ_READ_QUEUES:
		keep_sorted(r[0], &rd->queues, &rd->nqueues);
		queue_cmds(rd);
		break;
	case WQ_READ_METRICS:
		if (n != 5 || r[2]->type != REDIS_REPLY_ARRAY ||
		    r[2]->elements != NSTATS || r[4]->type !=
		    REDIS_REPLY_ARRAY)
			return wq_seterr(rd->wq, WQ_EUNAVAIL, "metrics: "
			    "unexpected reply");
		keep_sorted(r[0], &rd->queues, &rd->nqueues);
		rd->now = time_ms(r[1]);
		totals = jv_object();
		for (i = 0; i < NSTATS; i++)
			totals = jv_object_set(totals, jv_string(stat_names[i]),
			    jv_number((double)wq_reply_ll(r[2]->element[i])));
		rd->partial = jv_object_set(rd->partial, jv_string("time"),
		    jv_number((double)rd->now));
		rd->partial = jv_object_set(rd->partial, jv_string("totals"),
		    totals);
		rd->partial = jv_object_set(rd->partial, jv_string("latency"),
		    latency(r[3]));
		keep_scored(rd, r[4], 1);
		queue_cmds(rd);
		for (i = 0; i < rd->nnames; i++) {
			a = read_cmd(rd, "HMGET");
			wq_argv_key(a, rd->wq, "node:%s", rd->names[i]);
			wq_argv_adds(a, "role");
			wq_argv_adds(a, "timeout_ms");
			wq_argv_key(read_cmd(rd, "LLEN"), rd->wq, "active:%s",
			    rd->names[i]);
		}
		break;
	case WQ_READ_PEERS:
		rd->now = time_ms(r[0]);
		for (i = 1; i < n; i++)
			keep_scored(rd, r[i], i == 1);
		for (i = 0; i < rd->nnames; i++)
			wq_argv_key(read_cmd(rd, "HGETALL"), rd->wq, "node:%s",
			    rd->names[i]);
		break;
	case WQ_READ_RECENT:
		/* Newest first, each id once. */
		rd->names = wq_calloc(r[0]->elements + 1, sizeof(*rd->names));
		for (i = 0; i < r[0]->elements; i++) {
			for (k = 0; k < rd->nnames; k++)
				if (strcmp(rd->names[k], r[0]->element[i]->str)
				    == 0)
					break;
			if (k == rd->nnames)
				rd->names[rd->nnames++] =
				    wq_strdup(r[0]->element[i]->str);
		}
		for (i = 0; i < rd->nnames; i++)
			wq_status_argv(rd->wq, rd->names[i], read_slot(rd));
		break;
	}
	return WQ_OK;
}

static int
read_feed2(struct wq_read *rd, redisReply **r, size_t n)
{
	jv		 o, roles, rec, names;
	redisReply	*h;
	size_t		 i, k;
	long long	 working = 0;
	int		 alive;
	double		 timeout;
	const char	*role;

	switch (rd->kind) {
	case WQ_READ_QUEUES:
		rd->out = queue_depths(rd, r);
		break;
	case WQ_READ_METRICS:
		o = rd->partial;
		rd->partial = jv_null();
		o = jv_object_set(o, jv_string("queues"), queue_depths(rd, r));
		roles = jv_object();
		for (i = 0, k = rd->nqueues * 3; i < rd->nnames && k + 1 < n;
		    i++, k += 2) {
			h = r[k];
			if (h->type != REDIS_REPLY_ARRAY || h->elements != 2)
				continue;
			timeout = h->element[1]->type == REDIS_REPLY_STRING ?
			    strtod(h->element[1]->str, NULL) : NODE_TIMEOUT_MS;
			if (rd->scores[i] + timeout < (double)rd->now)
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
		o = jv_object_set(o, jv_string("nodes"), roles);
		o = jv_object_set(o, jv_string("working"),
		    jv_number((double)working));
		rd->out = o;
		break;
	case WQ_READ_PEERS:
		o = jv_array();
		names = jv_array();
		for (i = 0; i < rd->nnames && i < n; i++) {
			rec = wq_node_from_reply(rd->names[i], r[i],
			    rd->member[i], rd->scores[i], rd->now, &alive);
			if (!rd->arg && !alive) {
				jv_free(rec);
				continue;
			}
			o = jv_array_append(o, rec);
			names = jv_array_append(names,
			    jv_string(rd->names[i]));
		}
		rd->out = jv_sort(o, names);
		break;
	case WQ_READ_RECENT:
		o = jv_array();
		for (i = 0; i < n; i++) {
			if (wq_status_decode(rd->wq, rd->names[i], r[i],
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
