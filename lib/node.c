/*
 * node.c -- membership without a coordinator: this process as a node of
 * the cluster (register, heartbeat, leave).  peers.c reads the members.
 *
 * A node (a worker, an API instance) registers in the zset "nodes" (name
 * -> last heartbeat, server time) and describes itself in the hash
 * node:<name>, which keeps its own timeout and a random instance token of
 * the process.  It heartbeats every second or so, in one round trip
 * (heartbeat.lua): the beat; the sweep, which one node does for the
 * cluster a few times a second: a member whose last beat is older than
 * its timeout is dead, its claimed jobs are put back and it leaves the
 * list, and due retries go back to their queues; for a worker, its inbox
 * and whether its queues hold work.  An idle node costs Redis one script
 * call a second.  Nobody scans keys: discovery is a read of one zset and
 * one hash per member, bounded by the number of nodes, whatever else the
 * database holds.  Nodes that died or left stay in the zset "gone" for
 * WQ_GONE_KEEP_MS, for wq-peers --all.
 *
 * A beat writes its fields in the node's hash only when they differ from
 * those it sent last on this connection (a server that restarted from an
 * older snapshot is told again), and renews the hash's TTL only every
 * BEAT_FULL_MS: the last beat itself is the zset's score.
 *
 * Register and beat answer the server's time; the node keeps the offset
 * of its own clock, so that it can judge the age of a message without
 * asking (msg.c).
 *
 * The instance token tells two processes with one name apart: a process
 * that was cut off long enough to be reaped, and whose name was taken
 * meanwhile, finds its beats refused (it must register, and is told the
 * name is taken) and its leave ignored, so it can never act as the new
 * holder.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wq-int.h"

/*
 * A node's hash lives WQ_NODE_KEEP_MS past its node timeout (register.lua
 * sets that TTL); beats renew it, with all the fields, every BEAT_FULL_MS,
 * well within.  The sweep's gate is a quarter of the heartbeat, at most
 * SWEEP_GATE_MS (heartbeat.lua says why).
 */
#define BEAT_FULL_MS	20000
#define SWEEP_GATE_MS	250

static const char *
node_instance(struct wq *wq)
{
	char	*id;

	if (wq->instance[0] == '\0') {
		id = wq_random_id();
		snprintf(wq->instance, sizeof(wq->instance), "%s", id);
		free(id);
	}
	return wq->instance;
}

/* Append the fields of a JSON object as field/value pairs of strings. */
static void
add_fields(struct wq_argv *a, jv fields)
{
	int	 it;
	jv	 k, v;
	char	*s;

	if (jv_get_kind(fields) != JV_KIND_OBJECT) {
		jv_free(fields);
		return;
	}
	for (it = jv_object_iter(fields); jv_object_iter_valid(fields, it);
	    it = jv_object_iter_next(fields, it)) {
		k = jv_object_iter_key(fields, it);
		v = jv_object_iter_value(fields, it);
		wq_argv_adds(a, jv_string_value(k));
		if (jv_get_kind(v) == JV_KIND_STRING)
			wq_argv_adds(a, jv_string_value(v));
		else {
			s = wq_dump(jv_copy(v));
			wq_argv_adds(a, s);
			free(s);
		}
		jv_free(k);
		jv_free(v);
	}
	jv_free(fields);
}

/* A script on this node's keys, up to its first arguments, NS: and name. */
static void
node_argv(struct wq *wq, enum wq_script_id id, struct wq_argv *a)
{
	wq_script_argv(a, id);
	wq_argv_key(a, wq, "nodes");
	wq_argv_key(a, wq, "node:%s", wq_name(wq));
	wq_argv_setnkeys(a, 2);
	wq_script_prefix(a, wq);
	wq_argv_adds(a, wq_name(wq));
}

/* Scripts answer the server's time: keep our clock's offset. */
static void
node_skew(struct wq *wq, long long server_ms)
{
	if (server_ms > 1) {
		wq->skew_ms = (int64_t)server_ms - wq_now_ms();
		wq->skew_known = 1;
	}
}

static int
node_script(struct wq *wq, enum wq_script_id id, struct wq_worker_opts *o,
    jv fields, long long *res)
{
	struct wq_argv	 a;
	redisReply	*r;
	int		 rc;

	node_argv(wq, id, &a);
	wq_argv_addl(&a, o->node_timeout_ms);
	wq_argv_adds(&a, node_instance(wq));
	add_fields(&a, fields);
	r = wq_script_run(wq, &a);
	wq_argv_free(&a);
	if (r != NULL && r->type == REDIS_REPLY_ERROR &&
	    strncmp(r->str, "NAMETAKEN", 9) == 0) {
		rc = wq_seterr(wq, WQ_EUSAGE, "node name %s is taken by a live "
		    "node", wq_name(wq));
		freeReplyObject(r);
		return rc;
	}
	if ((rc = wq_reply_error(wq, r, "node")) != WQ_OK) {
		if (r)
			freeReplyObject(r);
		return rc;
	}
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
		/* several partitions: {time, generation} (register.lua) */
		*res = wq_reply_ll(r->element[0]);
		wq->gen = wq_reply_ll(r->element[1]);
	} else
		*res = wq_reply_ll(r);
	freeReplyObject(r);
	node_skew(wq, *res);
	return WQ_OK;
}

int
wq_node_register(struct wq *wq, struct wq_worker_opts *o, jv fields)
{
	long long	res;

	/* A new hash: the next beat tells it everything. */
	free(wq->beat_fields);
	wq->beat_fields = NULL;
	return node_script(wq, WQ_SCRIPT_REGISTER, o, fields, &res);
}

/* The call of heartbeat.lua; full: the fields and the TTL, changed or not. */
static void
beat_argv(struct wq *wq, struct wq_worker_opts *o, jv fields,
    const char *sent, int full, struct wq_beat *b, struct wq_argv *a)
{
	size_t	i, nq;
	long	gate;

	wq_script_argv(a, WQ_SCRIPT_HEARTBEAT);
	wq_argv_key(a, wq, "nodes");
	wq_argv_key(a, wq, "node:%s", wq_name(wq));
	wq_argv_key(a, wq, "inbox:%s", wq_name(wq));
	wq_argv_key(a, wq, "sweep");
	wq_argv_key(a, wq, "cron");
	/* (several partitions: the queues are looked at apart, beat_work()) */
	nq = b->want_work && wq->nparts <= 1 ? o->nqueues : 0;
	for (i = 0; i < nq; i++)
		wq_argv_key(a, wq, "queue:%s", o->queues[i]);
	wq_argv_setnkeys(a, 5 + (int)nq);
	wq_script_prefix(a, wq);
	wq_argv_adds(a, wq_name(wq));
	wq_argv_adds(a, node_instance(wq));
	if (full)
		wq_argv_addl(a, o->node_timeout_ms + WQ_NODE_KEEP_MS);
	else
		wq_argv_adds(a, "");
	wq_argv_addl(a, (long long)b->max_msgs);
	gate = (o->heartbeat_ms > 0 ? o->heartbeat_ms : 1000) / 4;
	wq_argv_addl(a, gate < 1 ? 1 : gate > SWEEP_GATE_MS ? SWEEP_GATE_MS :
	    gate);
	wq_argv_addl(a, o->node_timeout_ms);
	wq_argv_addl(a, wq_parts(wq));
	if (full || wq->beat_fields == NULL || strcmp(sent, wq->beat_fields))
		add_fields(a, fields);
	else
		jv_free(fields);
}

/* The reply of heartbeat.lua into *b; *member 0 leaves the rest. */
static int
beat_decode(struct wq *wq, redisReply *r, struct wq_beat *b, int *parts)
{
	size_t		i;
	long long	now;
	int		rc;

	if ((rc = wq_reply_error(wq, r, "heartbeat")) != WQ_OK)
		return rc;
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 1)
		return wq_seterr(wq, WQ_EREDIS, "heartbeat: unexpected "
		    "reply");
	if ((now = wq_reply_ll(r->element[0])) == 0)
		return WQ_OK;
	if (r->elements < 6)
		return wq_seterr(wq, WQ_EREDIS, "heartbeat: unexpected "
		    "reply");
	b->member = 1;
	node_skew(wq, now);
	b->work = wq_reply_ll(r->element[1]) != 0;
	b->reaped = (long)wq_reply_ll(r->element[2]);
	b->reclaimed = (long)wq_reply_ll(r->element[3]);
	b->promoted = (long)wq_reply_ll(r->element[4]);
	b->cron = (wq_reply_ll(r->element[5]) & 1) != 0;
	b->deps = (wq_reply_ll(r->element[5]) & 2) != 0;
	*parts = (wq_reply_ll(r->element[5]) & 4) != 0;
	for (i = 6; i < r->elements && b->nmsgs < b->max_msgs; i++)
		if (r->element[i]->type == REDIS_REPLY_STRING &&
		    wq_msg_decode(r->element[i]->str, r->element[i]->len, now,
		    &b->msgs[b->nmsgs]) == 0)
			b->nmsgs++;
	b->more = b->max_msgs > 0 && r->elements - 6 >= b->max_msgs;
	return WQ_OK;
}

/*
 * After the partitions' sweep: the nodes reaped leave reaping (every
 * partition has put back their jobs); a sweep that hit a limit goes on
 * at once; the gate lasts no longer than the next thing due in a
 * partition (as heartbeat.lua's own sweep does).
 */
static int
sweep_close(struct wq *wq, redisReply *r, int full, long long due)
{
	struct wq_argv	 c[2];
	redisReply	*cr[2];
	size_t		 i, n = 0;
	int		 rc;

	if (r->elements > 0) {
		wq_argv_init(&c[n]);
		wq_argv_adds(&c[n], "ZREM");
		wq_argv_key(&c[n], wq, "reaping");
		for (i = 0; i < r->elements; i++)
			wq_argv_adds(&c[n], r->element[i]->str);
		n++;
	}
	if (full || due > 0) {
		wq_argv_init(&c[n]);
		wq_argv_adds(&c[n], full ? "DEL" : "PEXPIRE");
		wq_argv_key(&c[n], wq, "sweep");
		if (!full) {
			wq_argv_addl(&c[n], due);
			wq_argv_adds(&c[n], "LT");
		}
		n++;
	}
	rc = wq_redis_pipeline(wq, c, n, cr);
	for (i = 0; rc == WQ_OK && i < n; i++)
		rc = wq_reply_error(wq, cr[i], "sweep");
	wq_redis_pipeline_free(c, cr, n);
	return rc;
}

/*
 * sweep.lua in partition p: KEYS the partition's later, then how ("dead":
 * the nodes being reaped follow, name and instance; "left": this node).
 */
static void
sweep_argv(struct wq *wq, int p, const char *how, struct wq_argv *a)
{
	wq_script_argv(a, WQ_SCRIPT_SWEEP);
	wq_argv_pkey(a, wq, p, "later");
	wq_argv_setnkeys(a, 1);
	wq_script_pprefix(a, wq, p);
	wq_argv_adds(a, how);
}

struct sweep_arg {
	struct wq_beat	*b;
	redisReply	*reaping;	/* "name instance" each */
	int		 full;
	long long	 due;
};

static int
sweep_build(struct wq *wq, int p, struct wq_argv *a, void *arg)
{
	redisReply	*r = ((struct sweep_arg *)arg)->reaping;
	const char	*m, *sp;
	size_t		 i;

	sweep_argv(wq, p, "dead", a);
	for (i = 0; i < r->elements; i++) {
		m = r->element[i]->str;
		if ((sp = strrchr(m, ' ')) == NULL)
			continue;
		wq_argv_addf(a, "%.*s", (int)(sp - m), m);
		wq_argv_adds(a, sp + 1);
	}
	return 1;
}

static int
sweep_decode(struct wq *wq, int p, redisReply *r, void *arg)
{
	struct sweep_arg	*sa = arg;
	long long		 d;

	(void)wq;
	(void)p;
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 4)
		return WQ_OK;
	sa->b->reclaimed += (long)wq_reply_ll(r->element[0]);
	sa->b->promoted += (long)wq_reply_ll(r->element[1]);
	sa->full |= wq_reply_ll(r->element[2]) != 0;
	sa->b->deps |= wq_reply_ll(r->element[3]) != 0;
	if (r->elements > 4 && (d = wq_reply_ll(r->element[4])) > 0 &&
	    (sa->due < 0 || d < sa->due))
		sa->due = d;
	return WQ_OK;
}

/*
 * A namespace of several partitions (docs/DESIGN.md, section 25): the
 * beat that swept sweeps each partition (sweep.lua, one pipeline), with
 * the nodes being reaped (the control partition's reaping), which then
 * leave reaping: every partition has put back their jobs.
 */
static int
sweep_parts(struct wq *wq, struct wq_beat *b)
{
	struct sweep_arg sa = { NULL, NULL, 0, -1 };
	struct wq_argv	 a;
	redisReply	*r;
	int		 rc;

	wq_argv_init(&a);
	wq_argv_adds(&a, "ZRANGE");
	wq_argv_key(&a, wq, "reaping");
	wq_argv_adds(&a, "0");
	wq_argv_adds(&a, "99");
	r = wq_redis_command(wq, &a);
	wq_argv_free(&a);
	if ((rc = wq_reply_error(wq, r, "sweep")) != WQ_OK) {
		if (r)
			freeReplyObject(r);
		return rc;
	}
	sa.b = b;
	sa.reaping = r;
	rc = wq_parts_run(wq, "sweep", sweep_build, sweep_decode, &sa);
	if (rc == WQ_OK && (r->elements > 0 || sa.full || sa.due > 0))
		rc = sweep_close(wq, r, sa.full, sa.due);
	freeReplyObject(r);
	return rc;
}

/*
 * Several partitions: whether the queues hold work, partition by
 * partition (an idle node's beat; a wake hint can be lost): LLEN of each
 * queue in each, and which of them are paused there (SMISMEMBER), one
 * pipeline.  A claim then goes where there is some it may take: a
 * paused queue's jobs do not send it to claim in vain.
 */
static int
beat_work(struct wq *wq, struct wq_worker_opts *o, struct wq_beat *b)
{
	struct wq_argv	*cmds;
	redisReply	**rs, *pz;
	size_t		  nq = o->nqueues, n = (size_t)wq->nparts * (nq + 1),
			  i, k;
	int		  rc, p;

	if (nq == 0)
		return WQ_OK;
	cmds = wq_calloc(n, sizeof(*cmds));
	rs = wq_calloc(n, sizeof(*rs));
	for (k = 0, p = 0; p < wq->nparts; p++) {
		for (i = 0; i < nq; i++, k++) {
			wq_argv_init(&cmds[k]);
			wq_argv_adds(&cmds[k], "LLEN");
			wq_argv_pkey(&cmds[k], wq, p, "queue:%s",
			    o->queues[i]);
		}
		wq_argv_init(&cmds[k]);
		wq_argv_adds(&cmds[k], "SMISMEMBER");
		wq_argv_pkey(&cmds[k], wq, p, "paused");
		for (i = 0; i < nq; i++)
			wq_argv_adds(&cmds[k], o->queues[i]);
		k++;
	}
	rc = wq_redis_pipeline(wq, cmds, n, rs);
	for (k = 0, p = 0; rc == WQ_OK && p < wq->nparts; p++, k += nq + 1) {
		pz = rs[k + nq];
		for (i = 0; i < nq; i++)
			if (rs[k + i]->type == REDIS_REPLY_INTEGER &&
			    rs[k + i]->integer > 0 &&
			    (pz->type != REDIS_REPLY_ARRAY || pz->elements !=
			    nq || wq_reply_ll(pz->element[i]) != 1)) {
				wq->part_work[p] = 1;
				b->work = 1;
			}
	}
	wq_redis_pipeline_free(cmds, rs, n);
	free(cmds);
	free(rs);
	return rc;
}

int
wq_node_heartbeat(struct wq *wq, struct wq_worker_opts *o, jv fields,
    struct wq_beat *b)
{
	struct wq_argv	 a;
	redisReply	*r;
	char		*sent;
	int64_t		 now;
	int		 rc, full, parts = 0;

	b->member = 0;
	b->nmsgs = 0;
	b->more = b->work = 0;
	b->reaped = b->reclaimed = b->promoted = 0;
	b->cron = b->deps = 0;
	b->sweep_err = WQ_OK;
	if ((rc = wq_connect(wq)) != WQ_OK) {
		jv_free(fields);
		return rc;
	}
	now = wq_now_ms();
	full = wq->beat_fields == NULL || wq->beat_gen != wq->conn_gen ||
	    now - wq->beat_full_at >= BEAT_FULL_MS;
	sent = wq_dump(jv_copy(fields));
	beat_argv(wq, o, fields, sent, full, b, &a);
	r = wq_script_run(wq, &a);
	wq_argv_free(&a);
	rc = beat_decode(wq, r, b, &parts);
	if (r)
		freeReplyObject(r);
	/* Unsure what the hash holds (or not ours): tell it all next time. */
	free(wq->beat_fields);
	wq->beat_fields = NULL;
	if (rc != WQ_OK || !b->member) {
		free(sent);
		return rc;
	}
	wq->beat_fields = sent;
	if (full) {
		wq->beat_gen = wq->conn_gen;
		wq->beat_full_at = now;
	}
	/*
	 * What follows the beat does not undo it: the beat counted and the
	 * messages it took are the caller's to handle.  A failure of the
	 * partitions' sweep, or of the look at the queues, is told in
	 * b->sweep_err; after the latter a claim goes to see.
	 */
	if (parts)
		b->sweep_err = sweep_parts(wq, b);
	if (b->want_work && wq->nparts > 1 &&
	    (rc = beat_work(wq, o, b)) != WQ_OK) {
		memset(wq->part_work, 1, (size_t)wq->nparts);
		b->work = 1;
		if (b->sweep_err == WQ_OK)
			b->sweep_err = rc;
	}
	return WQ_OK;
}

/* The two sweeps of wq_node_sweep_rest(), as its log tells them. */
struct sweep_words {
	const char	*kind;		/* the log's event */
	const char	*what;		/* what failed */
	const char	*field;		/* what the figure counts */
	const char	*did;		/* what it did, after the figure */
};
static const struct sweep_words	sweep_cron = { "cron", "schedules",
    "jobs", "job(s) of schedules submitted" };
static const struct sweep_words	sweep_deps = { "deps", "dependencies",
    "steps", "step(s) of dependencies finished for a process that died" };

/* A sweep's word to the log: why it failed (rc), or what it did (n). */
static void
sweep_told(struct wq *wq, const struct sweep_words *sw, int rc, long long n,
    void (*log)(void *, const char *, jv, const char *), void *arg)
{
	char	line[512];

	if (rc != WQ_OK) {
		snprintf(line, sizeof(line), "%s: %s", sw->what, wq_error(wq));
		log(arg, sw->kind, jv_null(), line);
	} else if (n > 0) {
		snprintf(line, sizeof(line), "%lld %s", n, sw->did);
		log(arg, sw->kind, jv_object_set(jv_object(),
		    jv_string(sw->field), jv_number((double)n)), line);
	}
}

/*
 * The rest of a sweep this node's beat won: the due schedules fired
 * (cron), the steps of dependencies a dead process left finished (deps).
 * Each sweep that failed, or did something, is told to log (wq.h).
 */
void
wq_node_sweep_rest(struct wq *wq, int cron, int deps, int *more,
    void (*log)(void *, const char *, jv, const char *), void *arg)
{
	long	fired = 0;
	size_t	done = 0;
	int	rc;

	if (cron) {
		rc = wq_schedule_sweep(wq, &fired, more);
		sweep_told(wq, &sweep_cron, rc, fired, log, arg);
	}
	if (deps) {
		rc = wq_deps_sweep(wq, &done);
		sweep_told(wq, &sweep_deps, rc, (long long)done, log, arg);
	}
}

/* Several partitions: hand back what this node holds in each, first. */
static int
leave_build(struct wq *wq, int p, struct wq_argv *a, void *arg)
{
	(void)arg;
	sweep_argv(wq, p, "left", a);
	wq_argv_adds(a, wq_name(wq));
	wq_argv_addl(a, wq->gen);
	return 1;
}

int
wq_node_leave(struct wq *wq)
{
	struct wq_argv	 a;
	redisReply	*r;
	int		 rc;

	if (wq->nparts > 1 && wq->gen > 0 &&
	    (rc = wq_parts_run(wq, "leave", leave_build, NULL, NULL)) !=
	    WQ_OK)
		return rc;
	node_argv(wq, WQ_SCRIPT_LEAVE, &a);
	wq_argv_adds(&a, node_instance(wq));
	r = wq_script_run(wq, &a);
	wq_argv_free(&a);
	if ((rc = wq_reply_error(wq, r, "leave")) == WQ_OK &&
	    wq_reply_ll(r) < 0)
		rc = wq_seterr(wq, WQ_NO, "node %s was declared dead "
		    "meanwhile: nothing to leave", wq_name(wq));
	if (r)
		freeReplyObject(r);
	return rc;
}
