/*
 * cluster.c -- the command connections on a Redis Cluster at P > 1
 * partitions (docs/DESIGN.md, section 24, "The API on a cluster").
 *
 * A namespace of several partitions spreads its keys over the primaries,
 * so each Kore worker keeps one async connection (redis.c's struct aconn)
 * per primary, and sends each command to the primary of its key's slot.
 * The slot map is read with libwq's blocking cluster client (rcluster.c,
 * through wq-async.h): when the worker starts, and again after a MOVED, a
 * CLUSTERDOWN or the like, or a lost connection, at most every
 * REFRESH_MS.  A command without a key goes to the primary of the
 * namespace's own slot, but a WAIT (--wait-replicas) that follows a
 * write of the same request: it goes to the node written to, now, or
 * fails (a WAIT on another connection would confirm nothing).
 *
 * A round of several commands (a read fanned out over the partitions, an
 * event stream's XREAD of each) is split per primary, with no MULTI: the
 * commands are sent at once on their primaries' connections, each with
 * its own callback, and the one callback of the round gets an array of
 * their replies in the order of the commands, as it gets EXEC's on one
 * server.  (A MULTI over several slots is refused by a cluster even on
 * one node, and the partitions of one round are on several primaries
 * anyway: no round can be one moment of the database here, as none of
 * the commands' fanned-out reads is.)
 *
 * A reply that says the command did not run is not the command's: MOVED
 * (the slot's new primary kept, the map read again), ASK (the command
 * alone to the node named, after ASKING), NOSCRIPT of an EVALSHA (sent
 * again as EVAL on that node, which loads the script there), TRYAGAIN,
 * CLUSTERDOWN, READONLY, MASTERDOWN and LOADING (the command waits for
 * the next tick, the map read again).  A command for a primary whose
 * connection is not up waits likewise.  Waits end RETRY_MS after the
 * round was sent: the round then fails as on a lost connection (its
 * callback gets NULL: 503).  A command whose connection broke while it
 * was in flight may have run: its round fails at once, as on one server.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"

#define SLOTS		16384
#define RETRY_MS	2000	/* a command waits for its primary so long */
#define REDIRECTS	16	/* MOVED, ASK, NOSCRIPT for one command */
#define REFRESH_MS	200	/* the map read at most so often */
#define REFRESH_FAIL_MS	1000	/* ... and after it could not be */

struct node {
	struct aconn	 c;		/* first: the event loop's */
	char		*label;
	int		 primary;
};

struct batch {
	redisCallbackFn	*fn;
	void		*arg;
	size_t		 n;
	size_t		 owed;
	struct wq_argv	*cmds;		/* copies: sent again */
	int		*slot;
	redisReply	**out;
	int		 failed;
	u_int64_t	 deadline;
};

/* One command of a round, from its sending to its reply. */
struct pend {
	struct batch		*b;
	size_t			 i;
	struct node		*sent;		/* on its way to */
	struct node		*ask;		/* ASK: the next send's node */
	int			 redirects;
	int			 pinned;	/* a WAIT: that node or none */
	TAILQ_ENTRY(pend)	 link;
};

TAILQ_HEAD(pend_list, pend);

static struct wq_rcluster	*map;
static int			 have_map;
static struct node		*slots[SLOTS];
static struct node		**nodes;
static size_t			 nnodes;
static unsigned			 ns_slot;
static int			 want_refresh;
static int			 map_failing;	/* said so */
static u_int64_t		 refresh_next;
static struct pend_list		 deferred =
    TAILQ_HEAD_INITIALIZER(deferred);

static void	pend_send(struct pend *);
static void	cluster_flush(void);

static void
node_down(void)
{
	want_refresh = 1;
}

static struct node *
node_get(const char *host, size_t hlen, int port)
{
	struct node	*n;
	size_t		 i;
	char		*h;

	for (i = 0; i < nnodes; i++)
		if (nodes[i]->c.port == port &&
		    strlen(nodes[i]->c.host) == hlen &&
		    memcmp(nodes[i]->c.host, host, hlen) == 0)
			return nodes[i];
	n = wq_calloc(1, sizeof(*n));
	h = wq_strndup(host, hlen);
	if (asprintf(&n->label, "command (%s:%d)", h, port) == -1)
		n->label = wq_strdup("command");
	aconn_init(&n->c, n->label, h, port);
	free(h);
	nodes = wq_reallocarray(nodes, nnodes + 1, sizeof(*nodes));
	nodes[nnodes++] = n;
	return n;
}

/* Read the map (open the client first); -1 when no node could say. */
static int
map_load(void)
{
	const char	*host, *prev = NULL;
	struct node	*n = NULL;
	size_t		 i;
	int		 port = 0, s;

	if (map == NULL ? wq_async_map_open(api_wq, &map) != WQ_OK :
	    wq_async_map_refresh(map) != WQ_OK) {
		if (!map_failing)
			kore_log(LOG_NOTICE, "wq-api: %s", wq_error(api_wq));
		map_failing = 1;
		return -1;
	}
	if (map_failing)
		kore_log(LOG_NOTICE, "wq-api: the Redis Cluster's slot map "
		    "is read again");
	map_failing = 0;
	for (i = 0; i < nnodes; i++)
		nodes[i]->primary = 0;
	for (s = 0; s < SLOTS; s++) {
		/* (the client's hosts live as long as it: the same
		 * string is the same node) */
		if ((host = wq_async_map_primary(map, (unsigned)s, &port)) ==
		    NULL)
			n = NULL;
		else if (host != prev || n == NULL)
			n = node_get(host, strlen(host), port);
		prev = host;
		slots[s] = n;
		if (n != NULL)
			n->primary = 1;
	}
	have_map = 1;
	return 0;
}

void
cluster_init(void)
{
	ns_slot = wq_async_ns_slot(api_wq);
	want_refresh = 1;
	cluster_tick(kore_time_ms());
}

int
cluster_up(void)
{
	return have_map;
}

/*
 * Take hiredis's reply, which it frees when the callback returns: a
 * shell of type nil is left to it, whose freeing frees nothing else.
 */
static redisReply *
reply_take(redisReply *r)
{
	redisReply	*own;

	own = wq_calloc(1, sizeof(*own));
	*own = *r;
	r->type = REDIS_REPLY_NIL;
	r->str = NULL;
	r->len = 0;
	r->element = NULL;
	r->elements = 0;
	return own;
}

static void
batch_free(struct batch *b)
{
	size_t	i;

	for (i = 0; i < b->n; i++) {
		wq_argv_free(&b->cmds[i]);
		if (b->out[i] != NULL)
			freeReplyObject(b->out[i]);
	}
	free(b->cmds);
	free(b->slot);
	free(b->out);
	free(b);
}

/* Every reply is in: the round's callback, once. */
static void
batch_finish(struct batch *b)
{
	redisReply	*arr;

	if (b->failed)
		b->fn(NULL, NULL, b->arg);
	else if (b->n == 1)
		b->fn(NULL, b->out[0], b->arg);
	else {
		/* as EXEC's array: its elements are the replies */
		arr = wq_calloc(1, sizeof(*arr));
		arr->type = REDIS_REPLY_ARRAY;
		arr->elements = b->n;
		arr->element = b->out;
		b->fn(NULL, arr, b->arg);
		free(arr);
	}
	batch_free(b);
}

/* A command's end: its reply (taken), or NULL: the round fails. */
static void
pend_done(struct pend *p, redisReply *r)
{
	struct batch	*b = p->b;

	if (r == NULL)
		b->failed = 1;
	else
		b->out[p->i] = reply_take(r);
	free(p);
	if (--b->owed == 0)
		batch_finish(b);
}

static void
pend_defer(struct pend *p)
{
	if (p->pinned) {
		pend_done(p, NULL);
		return;
	}
	TAILQ_INSERT_TAIL(&deferred, p, link);
}

/* "CODE ..." or "CODE" */
static int
code_is(const char *s, const char *code)
{
	size_t	n = strlen(code);

	return strncmp(s, code, n) == 0 && (s[n] == ' ' || s[n] == '\0');
}

/* The node of "MOVED slot host:port" (or ASK) from node from. */
static struct node *
redirect(const char *s, struct node *from, int *slot)
{
	const char	*host;
	size_t		 hlen;
	int		 port;

	if (wq_async_redirect(s, slot, &host, &hlen, &port) == -1)
		return NULL;
	if (hlen == 0)		/* no endpoint: the host that answered */
		return node_get(from->c.host, strlen(from->c.host), port);
	if (hlen > 2 && host[0] == '[' && host[hlen - 1] == ']')
		return node_get(host + 1, hlen - 2, port);
	return node_get(host, hlen, port);
}

/*
 * A reply that is not the command's: 1 when the command was sent again
 * or waits, 0 when r is its reply.
 */
static int
reply_redirected(struct pend *p, redisReply *r)
{
	struct wq_argv	*a = &p->b->cmds[p->i];
	struct node	*to;
	int		 slot;

	if (r->type != REDIS_REPLY_ERROR || p->pinned ||
	    p->redirects >= REDIRECTS)
		return 0;
	if (code_is(r->str, "MOVED") &&
	    (to = redirect(r->str, p->sent, &slot)) != NULL) {
		slots[slot] = to;
		to->primary = 1;
		want_refresh = 1;
	} else if (code_is(r->str, "ASK") &&
	    (to = redirect(r->str, p->sent, &slot)) != NULL)
		p->ask = to;
	else if (wq_reply_noscript(r) && a->argc > 1 &&
	    strcasecmp(a->argv[0], "EVALSHA") == 0)
		wq_script_to_eval(a);
	else if (code_is(r->str, "TRYAGAIN")) {
		pend_defer(p);
		return 1;
	} else if (code_is(r->str, "CLUSTERDOWN") ||
	    code_is(r->str, "READONLY") || code_is(r->str, "MASTERDOWN") ||
	    code_is(r->str, "LOADING") ||
	    strstr(r->str, "while the cluster is down") != NULL) {
		want_refresh = 1;
		pend_defer(p);
		return 1;
	} else
		return 0;
	p->redirects++;
	pend_send(p);
	return 1;
}

static void
node_reply(redisAsyncContext *ac, void *reply, void *priv)
{
	struct pend	*p = priv;
	struct node	*n = p->sent;

	(void)ac;
	if (n->c.pending > 0)
		n->c.pending--;
	n->c.progress = kore_time_ms();
	p->sent = NULL;
	if (reply == NULL) {
		/* the link broke: the command may have run */
		want_refresh = 1;
		pend_done(p, NULL);
		return;
	}
	if (!reply_redirected(p, reply))
		pend_done(p, reply);
}

/* Send a command to its node, or let it wait for one. */
static void
pend_send(struct pend *p)
{
	struct batch	*b = p->b;
	struct wq_argv	*a = &b->cmds[p->i];
	struct node	*n;

	n = p->ask != NULL ? p->ask : slots[b->slot[p->i]];
	if (n == NULL || n->c.ac == NULL) {
		want_refresh = 1;
		pend_defer(p);
		return;
	}
	if (n->c.state != CONN_UP) {
		pend_defer(p);
		return;
	}
	if (aconn_command(&n->c, a, p->ask != NULL, node_reply, p) == -1) {
		pend_defer(p);
		return;
	}
	p->ask = NULL;
	p->sent = n;
	if (n->c.pending++ == 0)
		n->c.progress = kore_time_ms();
}

/*
 * Send n commands, each to its primary; fn gets the reply (n = 1), an
 * array of the replies in order (n > 1), or NULL (the round failed).
 * *slot (if slot): in, the node of a command without a key (a WAIT
 * after a write), -1 for none; out, the slot of the last command with
 * a key.  -1 when no map was read yet: fn is not called.
 */
int
cluster_send(struct wq_argv *cmds, size_t n, redisCallbackFn *fn, void *arg,
    int *slot)
{
	struct batch	*b;
	struct pend	*p;
	size_t		 i;
	int		 s, hint;

	if (!have_map || n == 0)
		return -1;
	hint = slot != NULL ? *slot : -1;
	b = wq_calloc(1, sizeof(*b));
	b->fn = fn;
	b->arg = arg;
	b->n = b->owed = n;
	b->cmds = wq_calloc(n, sizeof(*b->cmds));
	b->slot = wq_calloc(n, sizeof(*b->slot));
	b->out = wq_calloc(n, sizeof(*b->out));
	b->deadline = kore_time_ms() + RETRY_MS;
	for (i = 0; i < n; i++) {
		wq_argv_copy(&b->cmds[i], &cmds[i]);
		if ((s = wq_async_slot(&cmds[i])) >= 0 && slot != NULL)
			*slot = s;
		b->slot[i] = s >= 0 ? s : hint >= 0 ? hint : (int)ns_slot;
	}
	/* (a command's reply may end the round: keep b alive till all
	 * are sent, by one count of our own) */
	b->owed++;
	for (i = 0; i < n; i++) {
		p = wq_calloc(1, sizeof(*p));
		p->b = b;
		p->i = i;
		p->pinned = wq_async_slot(&cmds[i]) < 0 && hint >= 0;
		pend_send(p);
	}
	if (--b->owed == 0)
		batch_finish(b);
	return 0;
}

/* The commands that wait: sent now, or failed when their time is up. */
static void
cluster_flush(void)
{
	struct pend_list	 todo;
	struct pend		*p;
	u_int64_t		 now;

	if (TAILQ_EMPTY(&deferred))
		return;
	now = kore_time_ms();
	TAILQ_INIT(&todo);
	TAILQ_CONCAT(&todo, &deferred, link);
	while ((p = TAILQ_FIRST(&todo)) != NULL) {
		TAILQ_REMOVE(&todo, p, link);
		if (now >= p->b->deadline)
			pend_done(p, NULL);
		else
			pend_send(p);
	}
}

void
cluster_tick(u_int64_t now)
{
	struct node	*n;
	size_t		 i;

	if (want_refresh && now >= refresh_next) {
		want_refresh = 0;
		if (map_load() == 0)
			refresh_next = now + REFRESH_MS;
		else {
			want_refresh = 1;
			refresh_next = now + REFRESH_FAIL_MS;
		}
	}
	for (i = 0; i < nnodes; i++) {
		n = nodes[i];
		if (n->primary) {
			/* (aconn_close took them) */
			n->c.up = cluster_flush;
			n->c.down = node_down;
			aconn_tick(&n->c, now);
		} else if (n->c.ac != NULL && n->c.pending == 0)
			aconn_close(&n->c);	/* no longer a primary */
		else if (n->c.ac != NULL)
			aconn_tick(&n->c, now);
	}
	cluster_flush();
}

void
cluster_close(void)
{
	size_t	i;

	for (i = 0; i < nnodes; i++)
		aconn_close(&nodes[i]->c);
	if (map != NULL)
		wq_async_map_free(map);
	map = NULL;
	have_map = 0;
}
