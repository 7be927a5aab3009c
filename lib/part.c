/*
 * part.c -- the partitions of a namespace (docs/DESIGN.md, section 25).
 *
 * A namespace has P partitions, fixed when it is first used and kept in
 * Redis (the string NS:partitions).  Partition p holds its jobs and
 * queues under a prefix of its own: with P = 1 the namespace's prefix
 * itself ("wq", or "{wq}" on a Redis Cluster), so that a namespace of one
 * partition is the keyspace wq always had; with P > 1 "wq:N" (or "{wq:N}",
 * a hash tag), N the first whole number whose hash slot falls in the
 * p-th of P equal ranges of the 16384 slots, so that the partitions
 * spread evenly over the slots and so over the primaries that serve
 * equal shares of them.  Membership, messages, the sweep's gate and the
 * schedules stay under the namespace's prefix: the control partition.
 * A namespace has no ':', so "wq:N" is never another namespace's prefix.
 *
 * A job belongs to partition (its id's first 8 hex digits) mod P: a
 * lookup by callback id needs nothing but the id.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wq-int.h"
#include "rcluster.h"

void
wq_parts_clear(struct wq *wq)
{
	int	i;

	if (wq->part_prefix != NULL) {
		for (i = 0; i < wq->nparts; i++)
			free(wq->part_prefix[i]);
		free(wq->part_prefix);
	}
	free(wq->part_work);
	wq->part_work = NULL;
	wq_evcur_free(wq->evcur);
	wq->evcur = NULL;
	wq->part_prefix = NULL;
	wq->nparts = 0;
}

int
wq_parts(struct wq *wq)
{
	if (wq->nparts > 0)
		return wq->nparts;
	return wq->cfg.partitions > 0 ? (int)wq->cfg.partitions : 1;
}

/* The prefixes of n partitions. */
static void
parts_make(struct wq *wq, int n)
{
	const char	*ns = wq->cfg.ns;
	int		 tag = wq->cfg.addr.cluster != NULL, p;
	unsigned long	 k = 0;
	char		 buf[128];
	size_t		 len;

	wq_parts_clear(wq);
	wq->part_prefix = wq_calloc((size_t)n, sizeof(char *));
	wq->nparts = n;
	wq->part_work = wq_calloc((size_t)n, 1);
	memset(wq->part_work, 1, (size_t)n);
	if (n == 1) {
		wq->part_prefix[0] = wq_strdup(wq->cfg.prefix);
		return;
	}
	for (p = 0; p < n; p++) {
		/* the first k whose slot is in [p*16384/n, (p+1)*16384/n) */
		for (k = 0;; k++) {
			unsigned	 s;

			len = (size_t)snprintf(buf, sizeof(buf), "%s:%lu", ns,
			    k);
			s = wq_rcluster_slot(buf, len);
			if ((long)s * n / 16384 == p)
				break;
		}
		if (tag)
			snprintf(buf, sizeof(buf), "{%s:%lu}", ns, k);
		wq->part_prefix[p] = wq_strdup(buf);
	}
}

/*
 * The default P of a namespace without NS:partitions: 48 on a Redis
 * Cluster, but 1 for one that was used before partitions (its queues,
 * members or events are there: its jobs are under its own prefix).
 */
static long
parts_default(struct wq *wq)
{
	struct wq_argv	 a;
	redisReply	*r;
	long		 p = WQ_PARTITIONS_CLUSTER;

	if (wq->cfg.addr.cluster == NULL)
		return 1;
	wq_argv_init(&a);
	wq_argv_adds(&a, "EXISTS");
	wq_argv_key(&a, wq, "queues");
	wq_argv_key(&a, wq, "nodes");
	wq_argv_key(&a, wq, "events");
	r = wq_redis_command(wq, &a);
	wq_argv_free(&a);
	if (r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer > 0)
		p = 1;
	if (r != NULL)
		freeReplyObject(r);
	return p;
}

/*
 * Read P from Redis, setting it at the namespace's first use: the wanted
 * number is --partitions, else 1 on one server and 48 on a Redis Cluster
 * (so that 3, 4, 6, 8, 12, 16 or 24 primaries hold equal shares), but 1
 * for a namespace used before partitions.  (Two first uses that want
 * different numbers: SET NX GET gives the loser the winner's.)  A
 * namespace that has another P and a --partitions that disagrees is a
 * usage error: P cannot change under jobs that are partitioned by it.
 */
int
wq_parts_load(struct wq *wq)
{
	struct wq_argv	 a;
	redisReply	*r;
	long		 want, have;
	int		 rc;

	if (wq->nparts > 0)
		return WQ_OK;
	want = wq->cfg.partitions > 0 ? wq->cfg.partitions : 1;
	/* GET, and SET NX only at the first use: a user allowed to read
	 * it need not be allowed to write it (deploy/README.md, ACLs) */
	wq_argv_init(&a);
	wq_argv_adds(&a, "GET");
	wq_argv_key(&a, wq, "partitions");
	r = wq_redis_command(wq, &a);
	wq_argv_free(&a);
	if (r != NULL && r->type == REDIS_REPLY_NIL) {
		freeReplyObject(r);
		if (wq->cfg.partitions <= 0)
			want = parts_default(wq);
		wq_argv_init(&a);
		wq_argv_adds(&a, "SET");
		wq_argv_key(&a, wq, "partitions");
		wq_argv_addl(&a, want);
		wq_argv_adds(&a, "NX");
		wq_argv_adds(&a, "GET");
		r = wq_redis_command(wq, &a);
		wq_argv_free(&a);
	}
	if ((rc = wq_reply_error(wq, r, "reading the partitions")) != WQ_OK) {
		if (r)
			freeReplyObject(r);
		return rc;
	}
	have = want;
	if (r->type == REDIS_REPLY_STRING &&
	    wq_parse_long(r->str, 1, WQ_PARTITIONS_MAX, &have) == -1) {
		freeReplyObject(r);
		return wq_seterr(wq, WQ_EUSAGE, "namespace %s: bad partitions "
		    "in Redis", wq->cfg.ns);
	}
	freeReplyObject(r);
	if (wq->cfg.partitions > 0 && have != want)
		return wq_seterr(wq, WQ_EUSAGE, "namespace %s has %ld "
		    "partitions, not %ld: --partitions counts only at a "
		    "namespace's first use", wq->cfg.ns, have, want);
	parts_make(wq, (int)have);
	return WQ_OK;
}

/*
 * A key of a partition is being made before the first connection: make
 * it now, which reads P (a failure shows again when the command is
 * sent).  The API reads P before it serves (wq_async_prepare()).
 */
static void
parts_need(struct wq *wq)
{
	if (wq->nparts == 0 && !wq->parts_bad)
		(void)wq_connect(wq);
}

int
wq_part_of(struct wq *wq, const char *id)
{
	unsigned long	 v = 0;
	int		 i, c;

	parts_need(wq);
	if (wq->nparts <= 1)
		return 0;
	for (i = 0; i < 8 && (c = (unsigned char)id[i]) != '\0'; i++) {
		if (c >= '0' && c <= '9')
			v = v * 16 + (unsigned long)(c - '0');
		else if (c >= 'A' && c <= 'F')
			v = v * 16 + (unsigned long)(c - 'A' + 10);
		else if (c >= 'a' && c <= 'f')
			v = v * 16 + (unsigned long)(c - 'a' + 10);
		else
			break;
	}
	return (int)(v % (unsigned long)wq->nparts);
}

const char *
wq_part_prefix(struct wq *wq, int p)
{
	if (p >= 0)
		parts_need(wq);
	if (p < 0 || wq->nparts <= 1 || p >= wq->nparts)
		return wq->cfg.prefix;
	return wq->part_prefix[p];
}

int
wq_part_by_prefix(struct wq *wq, const char *s)
{
	size_t	n;
	int	p;

	for (p = 0; p < wq->nparts && wq->nparts > 1; p++) {
		n = strlen(wq->part_prefix[p]);
		if (strncmp(s, wq->part_prefix[p], n) == 0 && s[n] == ':')
			return p;
	}
	return -1;
}

/*
 * Limits and groups (docs/DESIGN.md, Limits) count a queue's running and
 * started jobs in keys of one partition: exact in a namespace of one
 * partition only, and refused (WQ_EUSAGE) in one of several rather than
 * held approximately.  what: what needs it, for the error.
 */
int
wq_parts_one(struct wq *wq, const char *what)
{
	parts_need(wq);
	if (wq_parts(wq) > 1)
		return wq_seterr(wq, WQ_EUSAGE, "%s need a namespace of one "
		    "partition; this one has %d", what, wq_parts(wq));
	return WQ_OK;
}

/*
 * One call in each partition, all in one pipeline (a script call that
 * meets NOSCRIPT goes again as EVAL): build(wq, p, argv, arg) makes
 * partition p's call on an empty argv and returns 0 to make none there;
 * decode(wq, p, reply, arg) reads each reply that wq_reply_error() let
 * pass (what: its name in an error).  The first error stops the reading.
 * The calls of recover, promote, progress, the sweep, leave and the
 * dependencies' sweeper.
 */
int
wq_parts_run(struct wq *wq, const char *what,
    int (*build)(struct wq *, int, struct wq_argv *, void *),
    int (*decode)(struct wq *, int, redisReply *, void *), void *arg)
{
	struct wq_argv	 *cmds;
	redisReply	**rs;
	int		 *part, p, np, rc;
	size_t		  i, nc = 0;

	if ((rc = wq_connect(wq)) != WQ_OK)
		return rc;
	np = wq_parts(wq);
	cmds = wq_calloc((size_t)np, sizeof(*cmds));
	rs = wq_calloc((size_t)np, sizeof(*rs));
	part = wq_calloc((size_t)np, sizeof(*part));
	for (p = 0; p < np; p++) {
		wq_argv_init(&cmds[nc]);
		if (build(wq, p, &cmds[nc], arg))
			part[nc++] = p;
		else
			wq_argv_free(&cmds[nc]);
	}
	if (nc > 0)
		rc = wq_script_pipeline(wq, cmds, nc, rs);
	for (i = 0; rc == WQ_OK && i < nc; i++)
		if ((rc = wq_reply_error(wq, rs[i], what)) == WQ_OK &&
		    decode != NULL)
			rc = decode(wq, part[i], rs[i], arg);
	wq_redis_pipeline_free(cmds, rs, nc);
	free(cmds);
	free(rs);
	free(part);
	return rc;
}
