/*
 * read.c -- the API's reads, in rounds, for its event loop (wq-async.h).
 *
 * Round one asks for names (of queues, nodes, recent jobs); round two,
 * built from them, for what each one holds.  A struct wq_read is the
 * small state machine the caller drives: take the commands of the next
 * round (wq_read_next), send them, feed the replies back (wq_read_feed),
 * until there is no next round; then take the result.  The names are
 * kept here between the rounds, so that the caller owns no reply for
 * longer than a callback.  The queues, the members and the totals are
 * read with the commands and decoders of the blocking wq_queues(),
 * wq_peers() and wq_stats().  A schedule's operation (wq_read_cron) is
 * driven the same way, its rounds schedule.c's, and so is job control
 * (wq_read_control), its rounds control.c's.  With P > 1 partitions each
 * round asks every partition in the same round (queues, totals, latency,
 * recent jobs, the nodes' active lists) and the results are merged.
 */
#include <stdlib.h>
#include <string.h>

#include "wq-int.h"

struct wq_read {
	struct wq		*wq;
	int			 kind;
	long			 arg;
	int			 round;		/* whose commands are out */
	size_t			 np;		/* partitions */
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
	struct wq_cronop	*cron;		/* a schedule's operation */
	struct wq_ctlop		*ctl;		/* job control (control.c) */
};

struct wq_read *
wq_read_new(struct wq *wq, int kind, long arg)
{
	struct wq_read	*rd;

	rd = wq_calloc(1, sizeof(*rd));
	rd->wq = wq;
	rd->kind = kind;
	rd->arg = arg;
	rd->np = (size_t)wq_parts(wq);
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

/* A schedule's operation (schedule.c does its rounds), as a read. */
struct wq_read *
wq_read_cron(struct wq *wq, struct wq_cronop *o)
{
	struct wq_read	*rd;

	rd = wq_read_new(wq, 0, 0);
	rd->cron = o;
	return rd;
}

struct wq_read *
wq_read_control(struct wq *wq, struct wq_ctlop *o)
{
	struct wq_read	*rd;

	rd = wq_read_new(wq, 0, 0);
	rd->ctl = o;
	return rd;
}

/* After WQ_NO: the job is known, but not in a state for the operation. */
int
wq_read_conflict(struct wq_read *rd)
{
	return rd->ctl != NULL && wq_ctlop_conflict(rd->ctl);
}

void
wq_read_free(struct wq_read *rd)
{
	if (rd == NULL)
		return;
	wq_cronop_free(rd->cron);
	wq_ctlop_free(rd->ctl);
	read_cmds_free(rd);
	wq_strs_free(rd->queues, rd->nqueues);
	wq_peers_members_clear(&rd->m);
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

	rd->cmds = wq_reallocarray(rd->cmds, rd->ncmds + n,
	    sizeof(*rd->cmds));
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
	int		 p;

	switch (rd->kind) {
	case WQ_READ_QUEUES:
		wq_queues_argv(rd->wq, read_slots(rd, rd->np));
		break;
	case WQ_READ_METRICS:
		/* The queues, the clock and the nodes (two commands without
		 * "gone"), the totals, the latency: P + 2 + P + P. */
		wq_queues_argv(rd->wq, read_slots(rd, rd->np));
		wq_peers_argv(rd->wq, 0, read_slots(rd, 2));
		wq_stats_totals_argv(rd->wq, read_slots(rd, rd->np));
		for (p = 0; p < (int)rd->np; p++)
			wq_argv_pkey(read_cmd(rd, "HGETALL"), rd->wq, p,
			    "stats:latency");
		break;
	case WQ_READ_PEERS:
		/* Room for the most it builds; keep what it built. */
		a = read_slots(rd, WQ_PEERS_CMDS);
		rd->ncmds -= WQ_PEERS_CMDS - wq_peers_argv(rd->wq, rd->arg, a);
		break;
	case WQ_READ_RECENT:
		for (p = 0; p < (int)rd->np; p++) {
			a = read_cmd(rd, "LRANGE");
			wq_argv_pkey(a, rd->wq, p, "recent");
			wq_argv_adds(a, "0");
			wq_argv_addl(a, rd->arg - 1);
		}
		break;
	}
}

/* Round two of the queue depths, from the P replies of the names. */
static void
depths_round(struct wq_read *rd, redisReply **names)
{
	rd->nqueues = wq_queues_names_n(names, rd->np, &rd->queues);
	wq_queues_depths_argv(rd->wq, rd->queues, rd->nqueues,
	    read_slots(rd, wq_queues_depths_ncmds(rd->wq, rd->nqueues)));
}

static int
read_feed1(struct wq_read *rd, redisReply **r, size_t n)
{
	struct wq_argv	*a;
	jv		 totals;
	size_t		 i, k, np = rd->np;
	int		 rc, p;
	redisReply	*e;

	switch (rd->kind) {
	case WQ_READ_QUEUES:
		depths_round(rd, r);
		break;
	case WQ_READ_METRICS:
		if (n != 2 + 3 * np)
			return wq_seterr(rd->wq, WQ_EREDIS, "metrics: "
			    "unexpected reply");
		if ((rc = wq_peers_members(rd->wq, r + np, 2, &rd->m)) !=
		    WQ_OK)
			return rc;
		totals = jv_object();
		if ((rc = wq_stats_totals_decode(rd->wq, r + np + 2, np,
		    &totals)) != WQ_OK) {
			jv_free(totals);
			return rc;
		}
		rd->partial = jv_object_set(rd->partial, jv_string("time"),
		    jv_number((double)rd->m.now));
		rd->partial = jv_object_set(rd->partial, jv_string("totals"),
		    totals);
		rd->partial = jv_object_set(rd->partial, jv_string("latency"),
		    wq_stats_latency(r + 2 * np + 2, np));
		depths_round(rd, r);
		/* a node's hash, then its active list in each partition */
		for (i = 0; i < rd->m.n; i++) {
			a = read_cmd(rd, "HMGET");
			wq_argv_key(a, rd->wq, "node:%s", rd->m.names[i]);
			wq_argv_adds(a, "role");
			wq_argv_adds(a, "timeout_ms");
			for (p = 0; p < (int)np; p++)
				wq_argv_pkey(read_cmd(rd, "LLEN"), rd->wq, p,
				    "active:%s", rd->m.names[i]);
		}
		break;
	case WQ_READ_PEERS:
		if ((rc = wq_peers_members(rd->wq, r, n, &rd->m)) != WQ_OK)
			return rc;
		wq_peers_hashes_argv(rd->wq, &rd->m, read_slots(rd, rd->m.n));
		break;
	case WQ_READ_RECENT:
		/* Newest first, each id once (each partition's; read_feed2
		 * puts them in order). */
		for (p = 0, k = 1; p < (int)n; p++)
			k += r[p]->type == REDIS_REPLY_ARRAY ?
			    r[p]->elements : 0;
		rd->ids = wq_calloc(k, sizeof(*rd->ids));
		for (p = 0; p < (int)n; p++)
			for (i = 0; r[p]->type == REDIS_REPLY_ARRAY &&
			    i < r[p]->elements; i++) {
				e = r[p]->element[i];
				for (k = 0; k < rd->nids; k++)
					if (strcmp(rd->ids[k], e->str) == 0)
						break;
				if (k == rd->nids)
					rd->ids[rd->nids++] =
					    wq_strdup(e->str);
			}
		for (i = 0; i < rd->nids; i++)
			wq_status_argv(rd->wq, rd->ids[i], read_slots(rd, 1));
		break;
	}
	return WQ_OK;
}

/*
 * Live nodes by role, and the jobs they hold: 1 + P replies a node in the
 * metrics' round two (its hash, its active list in each partition), from
 * r[k].
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
	size_t		 p;

	roles = jv_object();
	for (i = 0; i < rd->m.n && k + rd->np < n; i++, k += 1 + rd->np) {
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
		for (p = 1; p <= rd->np; p++)
			working += wq_reply_ll(r[k + p]);
	}
	*o = jv_object_set(*o, jv_string("nodes"), roles);
	*o = jv_object_set(*o, jv_string("working"),
	    jv_number((double)working));
}

/*
 * The recent jobs of P partitions, newest first: by created_at
 * (descending; ties in partition order), the first max of them.
 */
struct recent {
	double	created;
	int	i;
};

static int
recent_cmp(const void *a, const void *b)
{
	const struct recent	*x = a, *y = b;

	if (x->created != y->created)
		return x->created > y->created ? -1 : 1;
	return x->i - y->i;
}

static jv
recent_merge(jv recs, long max)
{
	struct recent	*o;
	jv		 out, c;
	int		 i, n;

	n = jv_array_length(jv_copy(recs));
	o = wq_calloc((size_t)n + 1, sizeof(*o));
	for (i = 0; i < n; i++) {
		c = jv_object_get(jv_array_get(jv_copy(recs), i),
		    jv_string("created_at"));
		o[i].created = jv_get_kind(c) == JV_KIND_NUMBER ?
		    jv_number_value(c) : 0;
		o[i].i = i;
		jv_free(c);
	}
	qsort(o, (size_t)n, sizeof(*o), recent_cmp);
	out = jv_array();
	for (i = 0; i < n && i < max; i++)
		out = jv_array_append(out, jv_array_get(jv_copy(recs), o[i].i));
	free(o);
	jv_free(recs);
	return out;
}

static int
read_feed2(struct wq_read *rd, redisReply **r, size_t n)
{
	jv		 o, q, rec;
	size_t		 i;
	int		 rc;

	switch (rd->kind) {
	case WQ_READ_QUEUES:
		return wq_queues_depths_decode(rd->wq, rd->queues,
		    rd->nqueues, r, &rd->out);
	case WQ_READ_METRICS:
		if ((rc = wq_queues_depths_decode(rd->wq, rd->queues,
		    rd->nqueues, r, &q)) != WQ_OK)
			return rc;
		o = rd->partial;
		rd->partial = jv_null();
		o = jv_object_set(o, jv_string("queues"), q);
		node_counts(rd, r, wq_queues_depths_ncmds(rd->wq,
		    rd->nqueues), n, &o);
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
		if (rd->np > 1)
			o = recent_merge(o, rd->arg);
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
	if (rd->cron != NULL)
		return wq_cronop_next(rd->cron, cmds);
	if (rd->ctl != NULL)
		return wq_ctlop_next(rd->ctl, cmds);
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

	if (rd->cron != NULL)
		return wq_cronop_feed(rd->cron, r, n);
	if (rd->ctl != NULL)
		return wq_ctlop_feed(rd->ctl, r, n);
	if (n != rd->ncmds)
		return wq_seterr(rd->wq, WQ_EUNAVAIL, "read: %zu replies to "
		    "%zu commands", n, rd->ncmds);
	for (i = 0; i < n; i++)
		if ((rc = wq_reply_error(rd->wq, r[i], "read")) != WQ_OK)
			return rc;
	read_cmds_free(rd);
	if (rd->round == 1) {
		if (n == 0 || r[0]->type != REDIS_REPLY_ARRAY)
			return wq_seterr(rd->wq, WQ_EREDIS, "read: "
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

	if (rd->cron != NULL)
		return wq_cronop_result(rd->cron);
	if (rd->ctl != NULL)
		return wq_ctlop_result(rd->ctl);
	out = rd->out;
	rd->out = jv_invalid();
	return jv_is_valid(out) ? out : jv_null();
}
