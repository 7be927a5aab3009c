/*
 * sub.c -- subscriber connections: hints, never the source of truth.
 *
 * A job that ends publishes on done:<id>; work queued on a queue publishes
 * on wake:<q>; a message for a node publishes on msg:<name>.  Waiters
 * (wq-status --wait) and workers keep a second connection subscribed to
 * what concerns them and poll its descriptor with their other work, so
 * they block without polling Redis.  A hint only says "look again": the
 * truth is re-read from the keys, and since a hint can be lost (the link
 * broke, the publish happened before the subscribe), callers also look
 * again now and then, and always right after subscribing.
 *
 * In a namespace of one partition the channels are NS:<name>, with
 * SUBSCRIBE, on one connection.  In one of several (docs/DESIGN.md,
 * section 25) the hints are sharded: a script publishes with SPUBLISH
 * under its own partition's prefix (NS:N:wake:<q>, {NS:N}:done:<id>) or
 * the control prefix (msg:<name>), and the subscriber SSUBSCRIBEs each
 * channel where it is published: on one server, its one connection; on
 * a Redis Cluster, a connection to the primary of the channel's slot, one
 * per primary that holds a channel wanted, found on the slot map (read
 * again before each new connection).  A slot that moves (the server then
 * sends an sunsubscribe nobody asked for), a redirection or a lost link
 * fails the read with WQ_EUNAVAIL: the caller opens the subscriber again
 * (a fresh map), subscribes again and looks again at the truth.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wq-int.h"
#include "rcluster.h"

struct wq_subconn {
	redisContext	*c;
	char		*addr;		/* "host:port" on a cluster, or NULL */
	size_t		 unsubs;	/* sunsubscribe replies asked for */
};

int
wq_sub_open(struct wq *wq, struct wq_sub *s)
{
	char	err[256];
	int	rc;

	memset(s, 0, sizeof(*s));
	s->wq = wq;
	s->prefix_len = strlen(wq->cfg.prefix) + 1;
	/* the number of partitions, read on connecting (if not yet) */
	if (wq->nparts == 0 && (rc = wq_connect(wq)) != WQ_OK)
		return rc;
	s->sharded = wq_parts(wq) > 1;
	if (s->sharded && wq->cfg.addr.cluster != NULL)
		return wq_rcluster_open_settings(wq, &s->rcl) == WQ_OK ?
		    WQ_OK : WQ_EUNAVAIL;
	s->conns = wq_calloc(1, sizeof(*s->conns));
	if ((s->conns[0].c = wq_redis_open(wq, err, sizeof(err))) == NULL) {
		wq_sub_close(s);
		return wq_seterr(wq, WQ_EUNAVAIL, "%s", err);
	}
	s->nconns = 1;
	return WQ_OK;
}

void
wq_sub_close(struct wq_sub *s)
{
	size_t	i;

	for (i = 0; i < s->nconns; i++) {
		redisFree(s->conns[i].c);
		free(s->conns[i].addr);
	}
	free(s->conns);
	free(s->fds);
	wq_rcluster_free(s->rcl);
	s->conns = NULL;
	s->fds = NULL;
	s->rcl = NULL;
	s->nconns = 0;
}

/* The connection to addr ("host:port") if one is open. */
static struct wq_subconn *
sub_conn_at(struct wq_sub *s, const char *addr)
{
	size_t	i;

	for (i = 0; addr != NULL && i < s->nconns; i++)
		if (strcmp(s->conns[i].addr, addr) == 0)
			return &s->conns[i];
	return NULL;
}

/*
 * The connection for a channel: on a cluster, to its slot's primary.  A
 * new one is opened on a slot map read again (the one of the open may be
 * older than a failover: a subscriber at a replica is not counted by the
 * primary's SHARDNUMSUB, and would never be told), and must say it is a
 * primary.  NULL if it cannot be (s->err).
 */
static struct wq_subconn *
sub_conn(struct wq_sub *s, const char *chan, size_t len)
{
	struct wq_subconn	*k;
	struct wq_rcluster	*rcl;
	const char		*addr, *colon;
	char			 host[256], err[256] = "";
	unsigned		 slot;
	redisContext		*c;

	if (s->rcl == NULL)
		return &s->conns[0];
	slot = wq_rcluster_slot(chan, len);
	if ((k = sub_conn_at(s, wq_rcluster_addr(s->rcl, slot))) != NULL)
		return k;
	if (wq_rcluster_open_settings(s->wq, &rcl) == WQ_OK) {
		wq_rcluster_free(s->rcl);
		s->rcl = rcl;
		if ((k = sub_conn_at(s, wq_rcluster_addr(s->rcl, slot))) !=
		    NULL)
			return k;
	}
	addr = wq_rcluster_addr(s->rcl, slot);
	if (addr == NULL || (colon = strrchr(addr, ':')) == NULL ||
	    (size_t)(colon - addr) >= sizeof(host)) {
		snprintf(s->err, sizeof(s->err), "no primary of the Redis "
		    "Cluster serves the slot of channel %.*s now", (int)len,
		    chan);
		return NULL;
	}
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	c = wq_redis_open_tcp(s->wq, host, atoi(colon + 1), &s->wq->cfg.addr,
	    err, sizeof(err));
	if (c != NULL && !wq_redis_is_master(c)) {
		snprintf(err, sizeof(err), "%s, which held the slot of "
		    "channel %.*s, is not a primary now", addr, (int)len, chan);
		redisFree(c);
		c = NULL;
	}
	if (c == NULL) {
		snprintf(s->err, sizeof(s->err), "%s", err);
		return NULL;
	}
	s->conns = wq_reallocarray(s->conns, s->nconns + 1,
	    sizeof(*s->conns));
	k = &s->conns[s->nconns++];
	memset(k, 0, sizeof(*k));
	k->c = c;
	k->addr = wq_strdup(addr);
	return k;
}

int
wq_sub_flush(struct wq_sub *s)
{
	size_t	i;
	int	done;

	if (s->err[0] != '\0')
		return wq_seterr(s->wq, WQ_EUNAVAIL, "%s", s->err);
	for (i = 0; i < s->nconns; i++)
		for (done = 0; !done;)
			if (redisBufferWrite(s->conns[i].c, &done) !=
			    REDIS_OK)
				return wq_seterr(s->wq, WQ_EUNAVAIL, "Redis "
				    "connection lost: %s",
				    s->conns[i].c->errstr);
	return WQ_OK;
}

/*
 * (Un)subscribe (on) the n channels names[] of partition p (-1: the
 * control partition), in one command: SUBSCRIBE NS:<name>..., or with
 * several partitions SSUBSCRIBE <partition's prefix>:<name>... (one
 * slot).  Redis confirms each channel apart, in order, on the same
 * connection as the messages.  Sent by wq_sub_flush().
 */
void
wq_sub_chans(struct wq_sub *s, int on, int p, const char **names, size_t n)
{
	struct wq_subconn	*k;
	const char		*pre = wq_part_prefix(s->wq, p);
	const char		**argv;
	size_t			 *lens, i;

	if (n == 0)
		return;
	argv = wq_calloc(n + 1, sizeof(*argv));
	lens = wq_calloc(n + 1, sizeof(*lens));
	argv[0] = s->sharded ? (on ? "SSUBSCRIBE" : "SUNSUBSCRIBE") :
	    (on ? "SUBSCRIBE" : "UNSUBSCRIBE");
	lens[0] = strlen(argv[0]);
	for (i = 0; i < n; i++) {
		/* (fails only out of memory: abort, as wq_calloc does) */
		if (asprintf((char **)&argv[i + 1], "%s:%s", pre,
		    names[i]) < 0)
			abort();
		lens[i + 1] = strlen(argv[i + 1]);
	}
	if ((k = sub_conn(s, argv[1], lens[1])) != NULL) {
		if (redisAppendCommandArgv(k->c, (int)n + 1, argv, lens) !=
		    REDIS_OK)
			abort();
		if (s->sharded && !on)
			k->unsubs += n;
	}
	for (i = 0; i < n; i++)
		free((char *)argv[i + 1]);
	free(argv);
	free(lens);
}

/* The same channel name in every partition. */
void
wq_sub_every(struct wq_sub *s, int on, const char *name)
{
	int	p;

	for (p = 0; p < wq_parts(s->wq); p++)
		wq_sub_chans(s, on, p, &name, 1);
}

/*
 * (Un)subscribe done:<id> for each of n ids, each in its job's
 * partition: a command for each partition's ids, up to 256 a command.
 */
void
wq_sub_ids(struct wq_sub *s, int on, const char **ids, size_t n)
{
	const char	**names;
	size_t		 *at, *cnt, i, m;
	int		  np = wq_parts(s->wq), p;

	names = wq_calloc(n + 1, sizeof(*names));
	at = wq_calloc(n + 1, sizeof(*at));
	cnt = wq_calloc((size_t)np + 1, sizeof(*cnt));
	/* the ids ordered by partition (a counting sort) */
	for (i = 0; i < n; i++)
		cnt[(np > 1 ? wq_part_of(s->wq, ids[i]) : 0) + 1]++;
	for (p = 0; p < np; p++)
		cnt[p + 1] += cnt[p];
	for (i = 0; i < n; i++) {
		p = np > 1 ? wq_part_of(s->wq, ids[i]) : 0;
		at[cnt[p]++] = i;
	}
	for (i = 0; i < n; i++) {
		if (asprintf((char **)&names[i], "done:%s", ids[at[i]]) < 0)
			abort();
	}
	for (p = 0, i = 0; p < np; p++)
		for (; i < cnt[p]; i += m) {
			m = cnt[p] - i < 256 ? cnt[p] - i : 256;
			wq_sub_chans(s, on, np > 1 ? p : -1, names + i, m);
		}
	for (i = 0; i < n; i++)
		free((char *)names[i]);
	free(names);
	free(at);
	free(cnt);
}

const int *
wq_sub_fds(struct wq_sub *s, size_t *n)
{
	size_t	i;

	free(s->fds);
	s->fds = wq_calloc(s->nconns + 1, sizeof(*s->fds));
	for (i = 0; i < s->nconns; i++)
		s->fds[i] = s->conns[i].c->fd;
	*n = s->nconns;
	return s->fds;
}

/* A channel's name less its partition's prefix and ':'; NULL if it is
 * none of the namespace's. */
static const char *
sub_name(struct wq_sub *s, const char *chan, size_t len)
{
	const char	*pre;
	size_t		 n;
	int		 p;

	if (!s->sharded)
		return len > s->prefix_len ? chan + s->prefix_len : NULL;
	if ((p = wq_part_by_prefix(s->wq, chan)) < 0)
		p = -1;
	pre = wq_part_prefix(s->wq, p);
	n = strlen(pre);
	if (len <= n + 1 || strncmp(chan, pre, n) != 0 || chan[n] != ':')
		return NULL;
	return chan + n + 1;
}

/* The replies that arrived on connection i (found by its index at each
 * step: fn may subscribe, and so open another connection). */
static int
sub_read_conn(struct wq_sub *s, size_t i,
    void (*fn)(void *, int, const char *, const char *), void *arg)
{
	redisReply	*r;
	const char	*chan, *kind;
	void		*p;
	int		 rc = WQ_OK;

	if (redisBufferRead(s->conns[i].c) != REDIS_OK)
		return wq_seterr(s->wq, WQ_EUNAVAIL, "Redis connection "
		    "lost: %s", s->conns[i].c->errstr[0] ?
		    s->conns[i].c->errstr : "closed");
	while (rc == WQ_OK) {
		if (redisGetReplyFromReader(s->conns[i].c, &p) != REDIS_OK)
			return wq_seterr(s->wq, WQ_EUNAVAIL, "Redis protocol "
			    "error");
		if ((r = p) == NULL)
			break;
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
		    r->element[0]->type == REDIS_REPLY_STRING &&
		    r->element[1]->type == REDIS_REPLY_STRING &&
		    (chan = sub_name(s, r->element[1]->str,
		    r->element[1]->len)) != NULL) {
			kind = r->element[0]->str + (s->sharded &&
			    r->element[0]->str[0] == 's');
			if (strcmp(kind, "message") == 0 &&
			    r->element[2]->type == REDIS_REPLY_STRING)
				fn(arg, 'm', chan, r->element[2]->str);
			else if (strcmp(kind, "subscribe") == 0)
				fn(arg, 's', chan, NULL);
			else if (s->sharded && strcmp(kind, "unsubscribe") ==
			    0 && s->conns[i].unsubs > 0)
				s->conns[i].unsubs--;
			else if (s->sharded && strcmp(kind, "unsubscribe") ==
			    0)
				/* its slot moved away from this node */
				rc = wq_seterr(s->wq, WQ_EUNAVAIL, "the slot "
				    "of channel %s moved", r->element[1]->str);
		} else if (r->type == REDIS_REPLY_ERROR &&
		    (strncmp(r->str, "MOVED ", 6) == 0 ||
		    strncmp(r->str, "ASK ", 4) == 0 ||
		    strncmp(r->str, "TRYAGAIN", 8) == 0 ||
		    strncmp(r->str, "CLUSTERDOWN", 11) == 0))
			rc = wq_seterr(s->wq, WQ_EUNAVAIL, "Redis Cluster "
			    "changed: %s", r->str);
		else if (r->type == REDIS_REPLY_ERROR)
			fn(arg, 'e', "", r->str);
		freeReplyObject(r);
	}
	return rc;
}

/*
 * Read what has arrived on every connection that has something; call fn
 * for each published message ('m', with its text) and each confirmed
 * subscription ('s', text NULL) with the channel name less its prefix
 * ("NS:", "NS:N:"), and for each error ('e', channel "": a
 * (UN)SUBSCRIBE refused, as an ACL refuses a channel).
 * Returns WQ_EUNAVAIL when a link broke or a slot moved.
 */
int
wq_sub_read(struct wq_sub *s,
    void (*fn)(void *, int, const char *, const char *), void *arg)
{
	struct pollfd	*pfd;
	size_t		 i, n = s->nconns;
	int		 rc = WQ_OK;

	pfd = wq_calloc(n + 1, sizeof(*pfd));
	for (i = 0; i < n; i++) {
		pfd[i].fd = s->conns[i].c->fd;
		pfd[i].events = POLLIN;
	}
	if (poll(pfd, n, 0) == -1)
		memset(pfd, 0, (n + 1) * sizeof(*pfd));
	for (i = 0; rc == WQ_OK && i < n; i++)
		if (pfd[i].revents != 0)
			rc = sub_read_conn(s, i, fn, arg);
	free(pfd);
	return rc;
}
