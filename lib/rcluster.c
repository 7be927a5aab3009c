/*
 * rcluster.c -- a Redis Cluster client inside libwq (docs/DESIGN.md, "The
 * cluster client").
 *
 * A cluster splits its keys into 16384 slots, each served by one primary.
 * The client reads which primary serves which slot (CLUSTER SLOTS) from
 * any node it can reach, starting from the seed nodes of a
 * redis-cluster:// URL, keeps one connection per primary (made as
 * redis.c makes every connection: timeouts, close-on-exec, AUTH), and
 * sends each command to the primary of its key's slot.  A pipeline is
 * split per primary: every primary gets its share at once, then the
 * replies are read and put back in the order of the commands.
 *
 * A pipeline runs in rounds.  A command whose reply says the map was
 * wrong or the cluster is busy is sent again in the next round:
 *   MOVED slot addr   the slot has a new owner: the map is read again
 *                     (and the owner the reply named kept for the slot)
 *   ASK slot addr     the slot is migrating and this key has gone: the
 *                     command alone goes to addr, after ASKING
 *   TRYAGAIN          a multi-key command during a migration: wait
 *   CLUSTERDOWN, READONLY, MASTERDOWN, LOADING, a lost connection:
 *                     a failover or a restart: wait, read the map again
 *   NOSCRIPT          an EVALSHA of a script this node does not know:
 *                     SCRIPT LOAD on that node, then the same EVALSHA
 * The waits grow (50 ms doubling to 1 s, with jitter) and the rounds are
 * bounded (RC_ROUNDS, some 13 to 25 s of waiting): then the pipeline fails
 * with WQ_EUNAVAIL, as one whose connection broke.  A command whose
 * connection broke may have run: it is sent again all the same.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "rcluster.h"

#define RC_ROUNDS	30
#define RC_WAIT_MS	50
#define RC_WAIT_CAP_MS	1000

struct rc_node {
	char		*host;
	int		 port;
	char		*addr;		/* host:port, for messages */
	redisContext	*c;
	int		 primary;	/* serves a slot in the map */
	size_t		*idx;		/* the round's commands for it */
	size_t		 nidx;
	size_t		 capidx;
	int		 written;	/* sent to since the last WAIT */
};

struct rc_script {
	char		 sha[41];
	char		*body;
};

struct wq_rcluster {
	struct wq		*wq;
	struct wq_url		 url;		/* seeds and credentials */
	struct rc_node		**nodes;	/* every node ever named */
	size_t			 nnodes;
	struct rc_node		*slots[WQ_RCLUSTER_SLOTS];
	struct rc_script	*scripts;
	size_t			 nscripts;
	struct wq_rcluster_stats st;
	int			 once;		/* no command sent twice */
	int			 unwaited;	/* a connection sent to was
						   closed before WAIT */
	char			 why[256];	/* the last thing that failed */
};

/* One round of a pipeline: what is sent now, what goes in the next. */
struct rc_round {
	struct wq_argv	*cmds;
	redisReply	**out;
	int		*slot;		/* of each command, -1: keyless */
	struct rc_node	**ask;		/* an ASK target, or NULL */
	size_t		*next;		/* commands for the next round */
	size_t		 nnext;
	int		*mslot;		/* MOVED this round: slot, node */
	struct rc_node	**mnode;
	size_t		 nmoved;
	struct rc_node	**lnode;	/* NOSCRIPT: load sha on node */
	const char	**lsha;
	size_t		 nload;
	int		 refresh;
	int		 wait;
	int		 unsure;	/* once: a command may have run */
};

/* CRC16 with the XMODEM polynomial 0x1021, initial value 0. */
static unsigned
crc16(const unsigned char *p, size_t n)
{
	unsigned	crc = 0;
	int		i;

	while (n-- > 0) {
		crc ^= (unsigned)*p++ << 8;
		for (i = 0; i < 8; i++)
			crc = (crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1;
		crc &= 0xffff;
	}
	return crc;
}

/*
 * Redis's rule: when the key has a '{' and a '}' after the first '{',
 * with at least one byte between them, only those bytes are hashed.
 */
unsigned
wq_rcluster_slot(const char *key, size_t n)
{
	const char	*open, *close;

	open = memchr(key, '{', n);
	if (open != NULL) {
		close = memchr(open + 1, '}', n - (size_t)(open + 1 - key));
		if (close != NULL && close > open + 1) {
			key = open + 1;
			n = (size_t)(close - key);
		}
	}
	return crc16((const unsigned char *)key, n) % WQ_RCLUSTER_SLOTS;
}

/* Commands whose second word is no key: they go to any primary. */
static const char *const keyless[] = {
	"PING", "ECHO", "TIME", "INFO", "CLUSTER", "SCRIPT", "DBSIZE",
	"CONFIG", "COMMAND", "ROLE", "FUNCTION", "WAIT", NULL
};

/*
 * The key of a command is its second word, but for the scripts (EVAL*,
 * FCALL*: the first of their keys, if any).  A command of several keys
 * must keep them in one slot (a hash tag); Redis refuses it (CROSSSLOT)
 * otherwise.  XREAD's key follows STREAMS (the first stream's), XINFO's
 * and OBJECT's follows their subcommand.
 */
int
wq_rcluster_argv_slot(const struct wq_argv *a)
{
	size_t	i;

	if (a->argc < 2)
		return -1;
	if (strncasecmp(a->argv[0], "XREAD", 5) == 0) {
		for (i = 1; i + 1 < (size_t)a->argc; i++)
			if (strcasecmp(a->argv[i], "STREAMS") == 0)
				return (int)wq_rcluster_slot(a->argv[i + 1],
				    a->len[i + 1]);
		return -1;
	}
	if (strcasecmp(a->argv[0], "XINFO") == 0 ||
	    strcasecmp(a->argv[0], "OBJECT") == 0)
		return a->argc < 3 ? -1 :
		    (int)wq_rcluster_slot(a->argv[2], a->len[2]);
	if (strncasecmp(a->argv[0], "EVAL", 4) == 0 ||
	    strncasecmp(a->argv[0], "FCALL", 5) == 0) {
		if (a->argc < 4 || strtol(a->argv[2], NULL, 10) < 1)
			return -1;
		return (int)wq_rcluster_slot(a->argv[3], a->len[3]);
	}
	for (i = 0; keyless[i] != NULL; i++)
		if (strcasecmp(a->argv[0], keyless[i]) == 0)
			return -1;
	return (int)wq_rcluster_slot(a->argv[1], a->len[1]);
}

/* The node at host:port (brackets of an IPv6 address dropped), made once. */
static struct rc_node *
node_get(struct wq_rcluster *rc, const char *host, size_t hlen, int port)
{
	struct rc_node	*n;
	size_t		 i, alen;

	if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
		host++;
		hlen -= 2;
	}
	for (i = 0; i < rc->nnodes; i++) {
		n = rc->nodes[i];
		if (n->port == port && strlen(n->host) == hlen &&
		    memcmp(n->host, host, hlen) == 0)
			return n;
	}
	n = wq_calloc(1, sizeof(*n));
	n->host = wq_strndup(host, hlen);
	n->port = port;
	alen = hlen + 16;
	n->addr = wq_calloc(1, alen);
	snprintf(n->addr, alen, memchr(host, ':', hlen) ? "[%s]:%d" :
	    "%s:%d", n->host, port);
	rc->nodes = wq_reallocarray(rc->nodes, rc->nnodes + 1,
	    sizeof(*rc->nodes));
	rc->nodes[rc->nnodes++] = n;
	return n;
}

static redisContext *
node_conn(struct wq_rcluster *rc, struct rc_node *n)
{
	char	err[256];

	if (n->c != NULL)
		return n->c;
	n->c = wq_redis_open_tcp(rc->wq, n->host, n->port, &rc->url, err,
	    sizeof(err));
	if (n->c == NULL) {
		snprintf(rc->why, sizeof(rc->why), "%s", err);
		return NULL;
	}
	rc->st.connects++;
	return n->c;
}

/* Close a node's connection; lost: it failed (why in rc->why). */
static void
node_close(struct wq_rcluster *rc, struct rc_node *n, int lost)
{
	if (n->c == NULL)
		return;
	if (n->written)
		rc->unwaited = 1;
	n->written = 0;
	if (lost) {
		snprintf(rc->why, sizeof(rc->why), "connection to %s lost: %s",
		    n->addr, n->c->errstr[0] ? n->c->errstr : "timed out");
		rc->st.lost++;
	}
	redisFree(n->c);
	n->c = NULL;
}

/*
 * One entry of CLUSTER SLOTS: [first, last, [host, port, id...],
 * replicas...] into map.  A primary with no known endpoint ("" or "?")
 * is taken to be on the host that answered.
 */
static int
map_entry(struct wq_rcluster *rc, redisReply *e, struct rc_node *from,
    struct rc_node **map)
{
	redisReply	*m;
	struct rc_node	*n;
	long long	 s, t;
	const char	*host;
	size_t		 hlen;

	if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
	    e->element[0]->type != REDIS_REPLY_INTEGER ||
	    e->element[1]->type != REDIS_REPLY_INTEGER)
		return -1;
	s = e->element[0]->integer;
	t = e->element[1]->integer;
	m = e->element[2];
	if (s < 0 || t < s || t >= WQ_RCLUSTER_SLOTS ||
	    m->type != REDIS_REPLY_ARRAY || m->elements < 2 ||
	    m->element[0]->type != REDIS_REPLY_STRING ||
	    m->element[1]->type != REDIS_REPLY_INTEGER ||
	    m->element[1]->integer < 1 || m->element[1]->integer > 65535)
		return -1;
	host = m->element[0]->str;
	hlen = m->element[0]->len;
	if (hlen == 0 || (hlen == 1 && host[0] == '?')) {
		host = from->host;
		hlen = strlen(host);
	}
	n = node_get(rc, host, hlen, (int)m->element[1]->integer);
	while (s <= t)
		map[s++] = n;
	return 0;
}

/* The map as one node sees it; -1 (why in rc->why) if it cannot say. */
static int
map_read(struct wq_rcluster *rc, struct rc_node *from)
{
	struct rc_node	**map = NULL;
	redisContext	*c;
	redisReply	*r;
	size_t		 i;
	int		 rv = -1;

	if ((c = node_conn(rc, from)) == NULL)
		return -1;
	if ((r = redisCommand(c, "CLUSTER SLOTS")) == NULL) {
		node_close(rc, from, 1);
		return -1;
	}
	if (r->type == REDIS_REPLY_ERROR)
		snprintf(rc->why, sizeof(rc->why), "%s: %s", from->addr,
		    r->str);
	else if (r->type != REDIS_REPLY_ARRAY || r->elements == 0)
		snprintf(rc->why, sizeof(rc->why), "%s: no slot is served",
		    from->addr);
	else {
		map = wq_calloc(WQ_RCLUSTER_SLOTS, sizeof(*map));
		for (i = 0; i < r->elements; i++)
			if (map_entry(rc, r->element[i], from, map) == -1)
				break;
		if (i < r->elements)
			snprintf(rc->why, sizeof(rc->why), "%s: a reply to "
			    "CLUSTER SLOTS that is not one", from->addr);
		else
			rv = 0;
	}
	freeReplyObject(r);
	if (rv == 0) {
		memcpy(rc->slots, map, sizeof(rc->slots));
		for (i = 0; i < rc->nnodes; i++)
			rc->nodes[i]->primary = 0;
		for (i = 0; i < WQ_RCLUSTER_SLOTS; i++)
			if (rc->slots[i] != NULL)
				rc->slots[i]->primary = 1;
		/* one connection per primary, none to the others */
		for (i = 0; i < rc->nnodes; i++)
			if (!rc->nodes[i]->primary)
				node_close(rc, rc->nodes[i], 0);
		rc->st.refreshes++;
	}
	free(map);
	return rv;
}

/*
 * Read the map again: from a primary already connected, else any
 * primary, else any node ever named (the seeds among them).
 */
static int
map_refresh(struct wq_rcluster *rc)
{
	size_t	i;
	int	pass;

	for (pass = 0; pass < 3; pass++)
		for (i = 0; i < rc->nnodes; i++) {
			if ((pass == 0 && (rc->nodes[i]->c == NULL ||
			    !rc->nodes[i]->primary)) ||
			    (pass == 1 && !rc->nodes[i]->primary) ||
			    (pass == 2 && rc->nodes[i]->primary))
				continue;
			if (map_read(rc, rc->nodes[i]) == 0)
				return 0;
		}
	return -1;
}

/* The node for a keyless command: a connected primary, else any. */
static struct rc_node *
any_primary(struct wq_rcluster *rc)
{
	struct rc_node	*n = NULL;
	size_t		 i;

	for (i = 0; i < rc->nnodes; i++)
		if (rc->nodes[i]->primary) {
			if (rc->nodes[i]->c != NULL)
				return rc->nodes[i];
			if (n == NULL)
				n = rc->nodes[i];
		}
	return n;
}

/* Seeds: the nodes to ask first; host:port each (url.c checked). */
static void
add_seeds(struct wq_rcluster *rc)
{
	const char	*p, *end, *colon;

	for (p = rc->url.cluster; *p != '\0'; p = end + (*end == ',')) {
		end = p + strcspn(p, ",");
		colon = end;
		while (colon > p && colon[-1] != ':')
			colon--;
		(void)node_get(rc, p, (size_t)(colon - 1 - p),
		    atoi(colon));
	}
}

/* Read the map from the seeds of rc->url; rc is freed on failure. */
static int
open_seeds(struct wq_rcluster *rc, struct wq_rcluster **out)
{
	add_seeds(rc);
	if (map_refresh(rc) == -1) {
		wq_seterr(rc->wq, WQ_EUNAVAIL, "no seed node of the Redis "
		    "Cluster %s could give the slot map (last: %s)",
		    rc->url.cluster, rc->why);
		wq_rcluster_free(rc);
		return WQ_EUNAVAIL;
	}
	*out = rc;
	return WQ_OK;
}

int
wq_rcluster_open(struct wq *wq, const char *url, struct wq_rcluster **out)
{
	struct wq_rcluster	*rc;
	char			 err[256] = "";

	*out = NULL;
	rc = wq_calloc(1, sizeof(*rc));
	rc->wq = wq;
	if (wq_url_parse(url, &rc->url, err, sizeof(err)) == -1 ||
	    rc->url.cluster == NULL) {
		if (rc->url.cluster == NULL && err[0] == '\0')
			snprintf(err, sizeof(err), "bad Redis URL: a cluster's "
			    "is redis-cluster://host:port[,host:port...]");
		wq_rcluster_free(rc);
		return wq_seterr(wq, WQ_EUSAGE, "%s", err);
	}
	return open_seeds(rc, out);
}

/*
 * The same on the cluster of wq's settings (the Redis URL as parsed, its
 * seeds maybe made addresses by wq_async_prepare()).
 */
int
wq_rcluster_open_settings(struct wq *wq, struct wq_rcluster **out)
{
	struct wq_rcluster	*rc;
	const struct wq_url	*a = &wq->cfg.addr;

	*out = NULL;
	if (a->cluster == NULL)
		return wq_seterr(wq, WQ_EUSAGE, "the Redis URL is not a "
		    "redis-cluster:// one");
	rc = wq_calloc(1, sizeof(*rc));
	rc->wq = wq;
	rc->url.cluster = wq_strdup(a->cluster);
	if (a->user != NULL)
		rc->url.user = wq_strdup(a->user);
	if (a->password != NULL)
		rc->url.password = wq_strdup(a->password);
	return open_seeds(rc, out);
}

void
wq_rcluster_free(struct wq_rcluster *rc)
{
	size_t	i;

	if (rc == NULL)
		return;
	for (i = 0; i < rc->nnodes; i++) {
		node_close(rc, rc->nodes[i], 0);
		free(rc->nodes[i]->host);
		free(rc->nodes[i]->addr);
		free(rc->nodes[i]->idx);
		free(rc->nodes[i]);
	}
	for (i = 0; i < rc->nscripts; i++)
		free(rc->scripts[i].body);
	free(rc->scripts);
	free(rc->nodes);
	wq_url_clear(&rc->url);
	free(rc);
}

int
wq_rcluster_refresh(struct wq_rcluster *rc)
{
	if (map_refresh(rc) == -1)
		return wq_seterr(rc->wq, WQ_EUNAVAIL, "no node of the Redis "
		    "Cluster %s could give the slot map (last: %s)",
		    rc->url.cluster, rc->why);
	return WQ_OK;
}

const char *
wq_rcluster_primary(struct wq_rcluster *rc, unsigned slot, int *port)
{
	if (slot >= WQ_RCLUSTER_SLOTS || rc->slots[slot] == NULL)
		return NULL;
	*port = rc->slots[slot]->port;
	return rc->slots[slot]->host;
}

const char *
wq_rcluster_addr(struct wq_rcluster *rc, unsigned slot)
{
	if (slot >= WQ_RCLUSTER_SLOTS || rc->slots[slot] == NULL)
		return NULL;
	return rc->slots[slot]->addr;
}

struct wq_rcluster_stats *
wq_rcluster_stats(struct wq_rcluster *rc)
{
	return &rc->st;
}

/* The body of a script by its SHA1: ours, or libwq's. */
static const char *
script_body(struct wq_rcluster *rc, const char *sha)
{
	size_t	i;

	for (i = 0; i < rc->nscripts; i++)
		if (strcasecmp(rc->scripts[i].sha, sha) == 0)
			return rc->scripts[i].body;
	for (i = 0; i < WQ_SCRIPT_COUNT; i++)
		if (strcasecmp(wq_scripts[i].sha, sha) == 0)
			return wq_scripts[i].body;
	return NULL;
}

/* "CODE ..." or "CODE" */
static int
code_is(const char *s, const char *code)
{
	size_t	n = strlen(code);

	return strncmp(s, code, n) == 0 && (s[n] == ' ' || s[n] == '\0');
}

/*
 * "MOVED slot host:port" (or ASK): the slot, the host (*hlen 0: none
 * said, the node that answered) and the port; -1 when it is not one.
 */
int
wq_rcluster_redirect(const char *s, int *slot, const char **host,
    size_t *hlen, int *port)
{
	const char	*p, *colon;
	char		*end;
	long		 v, pt;

	if ((p = strchr(s, ' ')) == NULL)
		return -1;
	errno = 0;
	v = strtol(p + 1, &end, 10);
	if (errno != 0 || end == p + 1 || *end != ' ' || v < 0 ||
	    v >= WQ_RCLUSTER_SLOTS)
		return -1;
	p = end + 1;
	if ((colon = strrchr(p, ':')) == NULL)
		return -1;
	pt = strtol(colon + 1, &end, 10);
	if (end == colon + 1 || *end != '\0' || pt < 1 || pt > 65535)
		return -1;
	*slot = (int)v;
	*port = (int)pt;
	*host = p;
	*hlen = (size_t)(colon - p);
	return 0;
}

/* The node of "MOVED slot host:port" (or ASK), its slot in *slot. */
static struct rc_node *
redirect_node(struct wq_rcluster *rc, struct rc_node *from, const char *s,
    int *slot)
{
	const char	*host;
	size_t		 hlen;
	int		 port;

	if (wq_rcluster_redirect(s, slot, &host, &hlen, &port) == -1)
		return NULL;
	if (hlen == 0)		/* no endpoint: the host that answered */
		return node_get(rc, from->host, strlen(from->host), port);
	return node_get(rc, host, hlen, port);
}

/* A SCRIPT LOAD of sha for node n, once a round. */
static void
load_add(struct rc_round *rd, struct rc_node *n, const char *sha)
{
	size_t	i;

	for (i = 0; i < rd->nload; i++)
		if (rd->lnode[i] == n && strcmp(rd->lsha[i], sha) == 0)
			return;
	rd->lnode = wq_reallocarray(rd->lnode, rd->nload + 1,
	    sizeof(*rd->lnode));
	rd->lsha = wq_reallocarray(rd->lsha, rd->nload + 1,
	    sizeof(*rd->lsha));
	rd->lnode[rd->nload] = n;
	rd->lsha[rd->nload++] = sha;
}

static void
moved_add(struct rc_round *rd, int slot, struct rc_node *n)
{
	rd->mslot = wq_reallocarray(rd->mslot, rd->nmoved + 1,
	    sizeof(*rd->mslot));
	rd->mnode = wq_reallocarray(rd->mnode, rd->nmoved + 1,
	    sizeof(*rd->mnode));
	rd->mslot[rd->nmoved] = slot;
	rd->mnode[rd->nmoved++] = n;
}

/*
 * The reply r of command i, from node n: 1 when it is the command's
 * reply, 0 when the command goes again in the next round (r freed).
 */
static int
reply_take(struct wq_rcluster *rc, struct rc_round *rd, struct rc_node *n,
    size_t i, redisReply *r)
{
	struct rc_node	*to;
	struct wq_argv	*a = &rd->cmds[i];
	int		 slot;

	if (r->type != REDIS_REPLY_ERROR)
		return 1;
	if (code_is(r->str, "MOVED") &&
	    (to = redirect_node(rc, n, r->str, &slot)) != NULL) {
		rc->slots[slot] = to;
		to->primary = 1;
		moved_add(rd, slot, to);
		rd->ask[i] = NULL;
		rd->refresh = 1;
		rc->st.moved++;
	} else if (code_is(r->str, "ASK") &&
	    (to = redirect_node(rc, n, r->str, &slot)) != NULL) {
		rd->ask[i] = to;
		rc->st.ask++;
	} else if (code_is(r->str, "TRYAGAIN")) {
		rd->wait = 1;
		rc->st.tryagain++;
	} else if (code_is(r->str, "CLUSTERDOWN") ||
	    code_is(r->str, "READONLY") || code_is(r->str, "MASTERDOWN") ||
	    code_is(r->str, "LOADING")) {
		rd->wait = rd->refresh = 1;
		rc->st.clusterdown++;
	} else if (wq_reply_noscript(r) && a->argc > 1 &&
	    strcasecmp(a->argv[0], "EVALSHA") == 0 &&
	    script_body(rc, a->argv[1]) != NULL)
		load_add(rd, n, a->argv[1]);
	else
		return 1;
	snprintf(rc->why, sizeof(rc->why), "%s: %s", n->addr, r->str);
	freeReplyObject(r);
	return 0;
}

static int
append(redisContext *c, struct wq_argv *a)
{
	char	*buf;
	size_t	 n;
	int	 rc;

	buf = wq_argv_resp(a, &n);
	rc = redisAppendFormattedCommand(c, buf, n);
	free(buf);
	return rc;
}

static char	*asking_argv[] = { "ASKING" };
static size_t	 asking_len[] = { 6 };
static struct wq_argv asking = { 1, 1, asking_argv, asking_len };

/* Append node n's commands of the round and send them all. */
static int
round_send(struct wq_rcluster *rc, struct rc_round *rd, struct rc_node *n)
{
	size_t	k;
	int	done = 0;

	if (node_conn(rc, n) == NULL)
		return -1;
	for (k = 0; k < n->nidx; k++)
		if ((rd->ask[n->idx[k]] != NULL &&
		    append(n->c, &asking) != REDIS_OK) ||
		    append(n->c, &rd->cmds[n->idx[k]]) != REDIS_OK)
			break;
	while (k == n->nidx && !done) {
		n->written = 1;
		if (redisBufferWrite(n->c, &done) != REDIS_OK)
			break;
	}
	if (!done) {
		/* a part may have gone: those commands may run */
		if (k == n->nidx && rc->once)
			rd->unsure = 1;
		node_close(rc, n, 1);
		return -1;
	}
	return 0;
}

/* Read node n's replies of the round. */
static void
round_read(struct wq_rcluster *rc, struct rc_round *rd, struct rc_node *n)
{
	void	*r;
	size_t	 k, i;

	for (k = 0; k < n->nidx; k++) {
		i = n->idx[k];
		r = NULL;
		if (rd->ask[i] != NULL) {
			if (redisGetReply(n->c, &r) != REDIS_OK)
				break;
			freeReplyObject(r);
		}
		if (redisGetReply(n->c, &r) != REDIS_OK)
			break;
		if (reply_take(rc, rd, n, i, r))
			rd->out[i] = r;
		else
			rd->next[rd->nnext++] = i;
	}
	if (k < n->nidx) {
		node_close(rc, n, 1);
		rd->refresh = rd->wait = 1;
		if (rc->once)
			rd->unsure = 1;
		while (k < n->nidx)
			rd->next[rd->nnext++] = n->idx[k++];
	}
}

static void
node_push(struct rc_node *n, size_t i)
{
	if (n->nidx == n->capidx) {
		n->capidx = n->capidx ? n->capidx * 2 : 64;
		n->idx = wq_reallocarray(n->idx, n->capidx, sizeof(*n->idx));
	}
	n->idx[n->nidx++] = i;
}

/* One round: the todo commands to their nodes, their replies read. */
static void
round_run(struct wq_rcluster *rc, struct rc_round *rd, const size_t *todo,
    size_t ntodo)
{
	struct rc_node	*n;
	size_t		 k, j;

	for (j = 0; j < rc->nnodes; j++)
		rc->nodes[j]->nidx = 0;
	for (k = 0; k < ntodo; k++) {
		n = rd->ask[todo[k]];
		if (n == NULL)
			n = rd->slot[todo[k]] >= 0 ?
			    rc->slots[rd->slot[todo[k]]] : any_primary(rc);
		if (n == NULL) {
			snprintf(rc->why, sizeof(rc->why), "slot %d has no "
			    "primary", rd->slot[todo[k]]);
			rd->next[rd->nnext++] = todo[k];
			rd->refresh = rd->wait = 1;
		} else
			node_push(n, todo[k]);
	}
	for (j = 0; j < rc->nnodes; j++) {
		n = rc->nodes[j];
		if (n->nidx > 0 && round_send(rc, rd, n) == -1) {
			for (k = 0; k < n->nidx; k++)
				rd->next[rd->nnext++] = n->idx[k];
			n->nidx = 0;
			rd->refresh = rd->wait = 1;
		}
	}
	for (j = 0; j < rc->nnodes; j++)
		if (rc->nodes[j]->nidx > 0)
			round_read(rc, rd, rc->nodes[j]);
}

/* The SCRIPT LOADs a round asked for, each on its node. */
static void
round_loads(struct wq_rcluster *rc, struct rc_round *rd)
{
	redisReply	*r;
	size_t		 k;

	for (k = 0; k < rd->nload; k++) {
		if (node_conn(rc, rd->lnode[k]) == NULL)
			continue;
		r = redisCommand(rd->lnode[k]->c, "SCRIPT LOAD %s",
		    script_body(rc, rd->lsha[k]));
		if (r == NULL)
			node_close(rc, rd->lnode[k], 1);
		else
			freeReplyObject(r);
		rc->st.noscript++;
	}
	rd->nload = 0;
}

/* Between rounds: wait, read the map, keep what MOVED said. */
static void
round_after(struct wq_rcluster *rc, struct rc_round *rd, int round)
{
	struct timespec	ts;
	long		ms;
	size_t		k;

	round_loads(rc, rd);
	if (rd->wait) {
		ms = wq_backoff(round, RC_WAIT_MS, RC_WAIT_CAP_MS, 50, 100);
		ts.tv_sec = ms / 1000;
		ts.tv_nsec = (ms % 1000) * 1000000;
		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			;
	}
	/* A node that has not heard of the move yet may answer: what
	 * the old owner said stands. */
	if (rd->refresh && map_refresh(rc) == 0)
		for (k = 0; k < rd->nmoved; k++) {
			rc->slots[rd->mslot[k]] = rd->mnode[k];
			rd->mnode[k]->primary = 1;
		}
	rd->nmoved = 0;
	rd->refresh = rd->wait = 0;
	rc->st.rounds++;
}

static void
round_free(struct rc_round *rd)
{
	free(rd->slot);
	free(rd->ask);
	free(rd->next);
	free(rd->mslot);
	free(rd->mnode);
	free(rd->lnode);
	free(rd->lsha);
}

/* MULTI or EXEC/DISCARD */
static int
is_word(const struct wq_argv *a, const char *w)
{
	return a->argc >= 1 && strcasecmp(a->argv[0], w) == 0;
}

/*
 * A transaction (MULTI ... EXEC) goes whole to the primary of its first
 * key, its keyless commands with it.  A redirection of a command inside
 * one is not followed into it: the command goes again alone, and EXEC
 * answers EXECABORT, a reply as any.
 */
static void
tx_slots(const struct wq_argv *cmds, int *slot, size_t n)
{
	size_t	i, j, end;
	int	tx;

	for (i = 0; i < n; i++) {
		if (!is_word(&cmds[i], "MULTI"))
			continue;
		for (end = i + 1; end < n && !is_word(&cmds[end], "EXEC") &&
		    !is_word(&cmds[end], "DISCARD"); end++)
			;
		for (tx = -1, j = i + 1; j < end && tx == -1; j++)
			tx = slot[j];
		for (j = i; j <= end && j < n; j++)
			if (slot[j] == -1)
				slot[j] = tx;
		i = end;
	}
}

int
wq_rcluster_pipeline(struct wq_rcluster *rc, struct wq_argv *cmds,
    size_t n, redisReply **out)
{
	struct rc_round	 rd;
	size_t		*todo, ntodo, i;
	int		 round;

	memset(out, 0, sizeof(*out) * n);
	memset(&rd, 0, sizeof(rd));
	rd.cmds = cmds;
	rd.out = out;
	rd.slot = wq_reallocarray(NULL, n + 1, sizeof(*rd.slot));
	rd.ask = wq_calloc(n + 1, sizeof(*rd.ask));
	rd.next = wq_reallocarray(NULL, n + 1, sizeof(*rd.next));
	todo = wq_reallocarray(NULL, n + 1, sizeof(*todo));
	for (i = 0; i < n; i++) {
		rd.slot[i] = wq_rcluster_argv_slot(&cmds[i]);
		todo[i] = i;
	}
	tx_slots(cmds, rd.slot, n);
	ntodo = n;
	for (round = 1; ntodo > 0; round++) {
		rd.nnext = 0;
		round_run(rc, &rd, todo, ntodo);
		memcpy(todo, rd.next, rd.nnext * sizeof(*todo));
		ntodo = rd.nnext;
		if (ntodo == 0 || round == RC_ROUNDS || rd.unsure)
			break;
		round_after(rc, &rd, round);
	}
	round_free(&rd);
	free(todo);
	if (ntodo == 0)
		return WQ_OK;
	for (i = 0; i < n; i++)
		if (out[i] != NULL)
			freeReplyObject(out[i]);
	memset(out, 0, sizeof(*out) * n);
	if (rd.unsure)
		return wq_seterr(rc->wq, WQ_EUNAVAIL, "Redis connection "
		    "lost: %s", rc->why);
	return wq_seterr(rc->wq, WQ_EUNAVAIL, "Redis Cluster: %zu of %zu "
	    "commands not served after %d rounds (last: %s)", ntodo, n,
	    RC_ROUNDS, rc->why);
}

void
wq_rcluster_once(struct wq_rcluster *rc)
{
	rc->once = 1;
}

/*
 * WAIT (the command a) on every primary sent to since the last one, all
 * at once, each connection's timeout stretched by WAIT's own (tmo_ms).
 * *out: the answer with the fewest replicas (or an error answer); NULL
 * when nothing was sent.  WQ_EUNAVAIL when a connection sent to was
 * closed before its WAIT: a new one would confirm nothing.
 */
int
wq_rcluster_wait(struct wq_rcluster *rc, struct wq_argv *a, int tmo_ms,
    redisReply **out)
{
	struct timeval	 tv, back;
	struct rc_node	*n;
	void		*r;
	size_t		 i;
	int		 code = WQ_OK;

	*out = NULL;
	if (rc->unwaited) {
		rc->unwaited = 0;
		return wq_seterr(rc->wq, WQ_EUNAVAIL, "a Redis connection "
		    "written to was closed before WAIT (%s)", rc->why);
	}
	tv.tv_sec = tmo_ms / 1000;
	tv.tv_usec = (tmo_ms % 1000) * 1000;
	back.tv_sec = rc->wq->cfg.command_timeout_ms / 1000;
	back.tv_usec = (rc->wq->cfg.command_timeout_ms % 1000) * 1000;
	for (i = 0; i < rc->nnodes; i++) {
		n = rc->nodes[i];
		n->nidx = 0;
		if (!n->written || n->c == NULL)
			continue;
		if (redisSetTimeout(n->c, tv) != REDIS_OK ||
		    append(n->c, a) != REDIS_OK) {
			node_close(rc, n, 1);
			code = WQ_EUNAVAIL;
			break;
		}
		n->nidx = 1;
	}
	for (i = 0; i < rc->nnodes; i++) {
		n = rc->nodes[i];
		if (n->nidx == 0)
			continue;
		n->nidx = 0;
		r = NULL;
		/* after a failure, the WAITs not read go with their link */
		if (code != WQ_OK || redisGetReply(n->c, &r) != REDIS_OK ||
		    r == NULL) {
			node_close(rc, n, code == WQ_OK);
			code = WQ_EUNAVAIL;
			continue;
		}
		n->written = 0;
		(void)redisSetTimeout(n->c, back);
		if (*out == NULL || ((redisReply *)r)->type ==
		    REDIS_REPLY_ERROR || ((*out)->type == REDIS_REPLY_INTEGER &&
		    ((redisReply *)r)->type == REDIS_REPLY_INTEGER &&
		    ((redisReply *)r)->integer < (*out)->integer)) {
			if (*out != NULL)
				freeReplyObject(*out);
			*out = r;
		} else
			freeReplyObject(r);
	}
	rc->unwaited = 0;
	if (code != WQ_OK) {
		if (*out != NULL)
			freeReplyObject(*out);
		*out = NULL;
		return wq_seterr(rc->wq, WQ_EUNAVAIL, "WAIT: %s", rc->why);
	}
	return WQ_OK;
}

redisReply *
wq_rcluster_command(struct wq_rcluster *rc, struct wq_argv *a)
{
	redisReply	*r;

	if (wq_rcluster_pipeline(rc, a, 1, &r) != WQ_OK)
		return NULL;
	return r;
}

int
wq_rcluster_script(struct wq_rcluster *rc, const char *body, char sha[41])
{
	struct wq_argv	 a;
	redisReply	*r;
	int		 code = WQ_OK;

	wq_argv_init(&a);
	wq_argv_adds(&a, "SCRIPT");
	wq_argv_adds(&a, "LOAD");
	wq_argv_adds(&a, body);
	r = wq_rcluster_command(rc, &a);
	wq_argv_free(&a);
	if (r == NULL)
		return WQ_EUNAVAIL;
	if (r->type != REDIS_REPLY_STRING || r->len != 40)
		code = wq_seterr(rc->wq, WQ_EREDIS, "SCRIPT LOAD: %s",
		    r->type == REDIS_REPLY_ERROR ? r->str : "not a SHA1");
	else {
		memcpy(sha, r->str, 41);
		rc->scripts = wq_reallocarray(rc->scripts, rc->nscripts + 1,
		    sizeof(*rc->scripts));
		memcpy(rc->scripts[rc->nscripts].sha, sha, 41);
		rc->scripts[rc->nscripts++].body = wq_strdup(body);
	}
	freeReplyObject(r);
	return code;
}
