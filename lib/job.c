/*
 * job.c -- the life of a job: submit, status, claim, complete, retry.
 *
 * Each operation exists once: a function that builds its Redis command
 * (wq_*_argv) and one that decodes the reply (wq_*_decode).  The blocking
 * functions the commands call put the two around a round trip; the Kore
 * API puts them around a hiredis async command.  The state changes
 * themselves are the Lua scripts in lib/lua/, which say why each must be
 * atomic.
 *
 * Batching: wq_submit() sends up to SUBMIT_BATCH jobs to a script call
 * (those that share a queue and settings) and pipelines the calls;
 * claiming takes up to its max jobs in one call; wq_complete() records
 * any number of outcomes in one call.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wq-int.h"

#define SUBMIT_BATCH	256

static const char *
spec_queue(struct wq *wq, struct wq_spec *s)
{
	return s->queue ? s->queue : wq->cfg.queue;
}

static long
spec_ttl(struct wq *wq, struct wq_spec *s)
{
	return s->ttl > 0 ? s->ttl : wq->cfg.ttl;
}

static int
same_after(struct wq_spec *a, struct wq_spec *b)
{
	size_t	i;

	if (a->nafter != b->nafter || a->link_later != b->link_later)
		return 0;
	for (i = 0; i < a->nafter; i++)
		if (strcmp(a->after[i], b->after[i]) != 0)
			return 0;
	return 1;
}

/*
 * How many of specs[0..n), from the first, can go in one submit call (at
 * most SUBMIT_BATCH): a call has one queue, timeout, max_attempts, ttl,
 * traceparent, time to run, priority, group and parents for all its jobs.
 */
static size_t
submit_span(struct wq *wq, struct wq_spec *specs, size_t n)
{
	size_t	i;

	for (i = 1; i < n && i < SUBMIT_BATCH; i++)
		if (wq_part_of(wq, specs[i].id) !=
		    wq_part_of(wq, specs[0].id) ||
		    strcmp(spec_queue(wq, &specs[i]), spec_queue(wq, specs)) ||
		    specs[i].timeout != specs[0].timeout ||
		    specs[i].max_attempts != specs[0].max_attempts ||
		    spec_ttl(wq, &specs[i]) != spec_ttl(wq, specs) ||
		    specs[i].run != specs[0].run ||
		    specs[i].priority != specs[0].priority ||
		    strcmp(specs[i].group ? specs[i].group : "",
		    specs[0].group ? specs[0].group : "") ||
		    !same_after(&specs[i], &specs[0]) ||
		    specs[i].run_ms != specs[0].run_ms ||
		    strcmp(specs[i].traceparent ? specs[i].traceparent : "",
		    specs[0].traceparent ? specs[0].traceparent : ""))
			break;
	return n == 0 ? 0 : i;
}

/*
 * Build one submit script call for specs[0..n), which share their queue,
 * timeout, max_attempts, ttl and traceparent (submit_span()).
 */
void
wq_submit_argv(struct wq *wq, struct wq_spec *specs, size_t n,
    struct wq_argv *a)
{
	size_t	 i;
	char	*data;
	jv	 after;

	int	 p = wq_part_of(wq, specs[0].id);

	wq_script_argv(a, WQ_SCRIPT_SUBMIT);
	wq_argv_pkey(a, wq, p, "queue:%s", spec_queue(wq, specs));
	wq_argv_setnkeys(a, 1);
	wq_script_pprefix(a, wq, p);
	wq_argv_adds(a, wq_name(wq));
	wq_argv_adds(a, spec_queue(wq, specs));
	if (specs[0].timeout > 0)
		wq_argv_addl(a, specs[0].timeout);
	else
		wq_argv_adds(a, "");
	if (specs[0].max_attempts > 0)
		wq_argv_addl(a, specs[0].max_attempts);
	else
		wq_argv_adds(a, "");
	if (spec_ttl(wq, specs) != WQ_TTL_DEFAULT)
		wq_argv_addl(a, spec_ttl(wq, specs));
	else
		wq_argv_adds(a, "");	/* the script's default */
	wq_argv_adds(a, specs[0].traceparent ? specs[0].traceparent : "");
	/* the options of job control: none when all are the default */
	if (specs[0].run == WQ_RUN_NOW && specs[0].priority == 0 &&
	    wq->cfg.max_queues == WQ_MAX_QUEUES_DEFAULT &&
	    specs[0].nafter == 0 && specs[0].group == NULL) {
		wq_argv_adds(a, "0");
		goto jobs;
	}
	wq_argv_adds(a, "6");
	/* when to run: "" now, "+MS" after a delay, "MS" at a time */
	if (specs[0].run == WQ_RUN_IN)
		wq_argv_addf(a, "+%lld", (long long)specs[0].run_ms);
	else if (specs[0].run == WQ_RUN_AT)
		wq_argv_addf(a, "%lld", (long long)specs[0].run_ms);
	else
		wq_argv_adds(a, "");
	wq_argv_addl(a, specs[0].priority);
	wq_argv_addl(a, wq->cfg.max_queues);
	if (specs[0].nafter > 0) {
		after = jv_array();
		for (i = 0; i < specs[0].nafter; i++)
			after = jv_array_append(after,
			    jv_string(specs[0].after[i]));
		data = wq_dump(after);
		wq_argv_adds(a, data);
		free(data);
	} else
		wq_argv_adds(a, "");
	wq_argv_addl(a, specs[0].link_later ? -WQ_DEPS_GRACE_MS : 0);
	wq_argv_adds(a, specs[0].group ? specs[0].group : "");
jobs:
	for (i = 0; i < n; i++) {
		wq_argv_adds(a, specs[i].id);
		data = wq_dump(jv_copy(specs[i].data));
		wq_argv_adds(a, data);
		free(data);
	}
}

jv
wq_answer_accepted(struct wq *wq, struct wq_spec *s)
{
	jv	o;

	o = jv_object();
	o = jv_object_set(o, jv_string("accepted_by"), jv_string(wq_name(wq)));
	o = jv_object_set(o, jv_string("callback"), jv_string(s->id));
	o = jv_object_set(o, jv_string("data"), jv_copy(s->data));
	o = jv_object_set(o, jv_string("status"), jv_string("accepted"));
	return o;
}

/*
 * A submission answer's line.  A new job's answer has the same four fields
 * every time, and jv_dump_string() of the whole object costs 3.8 us, more
 * than all the rest of a bulk submission does per job; so its line is put
 * together around the data and the node's name, each dumped by jv (0.3
 * us).  The line is byte for byte what wq_dump() makes of the object
 * wq_answer_accepted() builds (jv dumps an object's keys in the order
 * they were set).  A duplicate's answer, the record, goes to wq_dump().
 */
char *
wq_answer_line(struct wq *wq, struct wq_spec *s, jv answer)
{
	static const char	 a[] = "{\"accepted_by\":",
				 b[] = ",\"callback\":\"",
				 c[] = "\",\"data\":",
				 e[] = ",\"status\":\"accepted\"}";
	char			*d, *line, *p;
	size_t			 nn, nd;

	if (jv_get_kind(answer) != JV_KIND_NULL &&
	    jv_object_has(jv_copy(answer), jv_string("duplicate")))
		return wq_dump(answer);
	jv_free(answer);
	if (wq->name_json == NULL || wq->name_json_of != wq_name(wq)) {
		free(wq->name_json);
		wq->name_json = wq_dump(jv_string(wq_name(wq)));
		wq->name_json_of = wq_name(wq);
	}
	d = wq_dump(jv_copy(s->data));
	nn = strlen(wq->name_json);
	nd = strlen(d);
	p = line = wq_calloc(1, sizeof(a) + nn + sizeof(b) + WQ_ID_LEN +
	    sizeof(c) + nd + sizeof(e));
#define PUT(s, n)	do { memcpy(p, (s), (n)); p += (n); } while (0)
	PUT(a, sizeof(a) - 1);
	PUT(wq->name_json, nn);
	PUT(b, sizeof(b) - 1);
	PUT(s->id, strlen(s->id));
	PUT(c, sizeof(c) - 1);
	PUT(d, nd);
	PUT(e, sizeof(e) - 1);
#undef PUT
	free(d);
	return line;
}

/* The answers to a submit call; jv_null() for accepted ones if lazy. */
static int
submit_decode(struct wq *wq, struct wq_spec *specs, size_t n,
    redisReply *r, jv *answers, int lazy)
{
	size_t	i;
	int	rc;

	/* a new queue past --max-queues: refused before any write */
	if (r != NULL && r->type == REDIS_REPLY_ERROR &&
	    strncmp(r->str, "WQQUEUES ", 9) == 0)
		return wq_seterr(wq, WQ_EUSAGE, "queue %s: there are %s "
		    "queues already, the most there may be (--max-queues)",
		    spec_queue(wq, specs), r->str + 9);
	if ((rc = wq_reply_error(wq, r, "submit")) != WQ_OK)
		return rc;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != n)
		return wq_seterr(wq, WQ_EREDIS, "submit: unexpected reply");
	for (i = 0; i < n; i++) {
		if (r->element[i]->type == REDIS_REPLY_ARRAY) {
			answers[i] = jv_object_set(
			    wq_record_from_reply(specs[i].id, r->element[i]),
			    jv_string("duplicate"), jv_true());
		} else if (lazy)
			answers[i] = jv_null();
		else
			answers[i] = wq_answer_accepted(wq, &specs[i]);
	}
	return WQ_OK;
}

int
wq_submit_decode(struct wq *wq, struct wq_spec *specs, size_t n,
    redisReply *r, jv *answers)
{
	return submit_decode(wq, specs, n, r, answers, 0);
}

/* The link broke in the middle of a submission. */
static int
submit_broken(struct wq *wq)
{
	wq_seterr(wq, WQ_EUNAVAIL, "Redis connection lost: %s",
	    wq->rc != NULL && wq->rc->errstr[0] ? wq->rc->errstr : "closed");
	wq_disconnect(wq);
	return WQ_EUNAVAIL;
}

/* Send a command without waiting for its reply. */
static int
submit_send(struct wq *wq, struct wq_argv *a)
{
	int	done = 0;

	if (wq_redis_append(wq, a) != WQ_OK)
		return submit_broken(wq);
	while (!done)
		if (redisBufferWrite(wq->rc, &done) != REDIS_OK)
			return submit_broken(wq);
	return WQ_OK;
}

/*
 * Submit in batches (submit_span()), one script call each, with two in
 * flight: while Redis runs batch b, this builds and sends batch b + 1 and
 * decodes batch b - 1, so that the client's work and Redis's overlap
 * instead of taking turns.  The first batch goes alone, so that a Redis
 * without the script loads it (EVAL after NOSCRIPT) before others are in
 * flight; a NOSCRIPT later (the scripts were flushed) is redone by EVAL,
 * in order, once every reply in flight has been read.
 */
/*
 * Routed (a cluster, P > 1): every batch in one pipeline, split per
 * primary by the cluster client (which loads a script a node lacks).
 */
static int
submit_routed(struct wq *wq, struct wq_spec *specs, jv *answers, size_t nb,
    const size_t *off, const size_t *cnt)
{
	struct wq_argv	 *cmds;
	redisReply	**replies;
	size_t		  b;
	int		  rc;

	cmds = wq_calloc(nb, sizeof(*cmds));
	replies = wq_calloc(nb, sizeof(*replies));
	for (b = 0; b < nb; b++)
		wq_submit_argv(wq, specs + off[b], cnt[b], &cmds[b]);
	rc = wq_redis_pipeline(wq, cmds, nb, replies);
	for (b = 0; rc == WQ_OK && b < nb; b++)
		rc = submit_decode(wq, specs + off[b], cnt[b], replies[b],
		    answers + off[b], 1);
	wq_redis_pipeline_free(cmds, replies, nb);
	free(cmds);
	free(replies);
	return rc;
}

static int
submit_run(struct wq *wq, struct wq_spec *specs, size_t n, jv *answers)
{
	struct wq_argv	 *cmds;
	redisReply	**replies;
	void		 *p;
	size_t		  nb, b, k, i, *off, *cnt;
	int		  rc = WQ_OK, redo = 0;

	off = wq_calloc(n, sizeof(*off));
	cnt = wq_calloc(n, sizeof(*cnt));
	for (nb = 0, i = 0; i < n; i += cnt[nb++]) {
		off[nb] = i;
		cnt[nb] = submit_span(wq, specs + i, n - i);
	}
	if (wq->rcl != NULL) {
		rc = submit_routed(wq, specs, answers, nb, off, cnt);
		free(off);
		free(cnt);
		return rc;
	}
	cmds = wq_calloc(nb, sizeof(*cmds));
	replies = wq_calloc(nb, sizeof(*replies));
	wq_submit_argv(wq, specs, cnt[0], &cmds[0]);
	if ((replies[0] = wq_script_run(wq, &cmds[0])) == NULL)
		rc = WQ_EUNAVAIL;
	else
		rc = submit_decode(wq, specs, cnt[0], replies[0], answers, 1);
	for (b = 1; rc == WQ_OK && b <= nb; b++) {
		if (b < nb) {
			wq_submit_argv(wq, specs + off[b], cnt[b], &cmds[b]);
			if ((rc = submit_send(wq, &cmds[b])) != WQ_OK)
				break;
		}
		if (b < 2)
			continue;
		/* The reply to batch k = b - 1, sent before this one. */
		k = b - 1;
		if (redisGetReply(wq->rc, &p) != REDIS_OK || p == NULL) {
			rc = submit_broken(wq);
			break;
		}
		replies[k] = p;
		if (wq_reply_noscript(replies[k]))
			redo = 1;
		else if ((rc = submit_decode(wq, specs + off[k], cnt[k],
		    replies[k], answers + off[k], 1)) != WQ_OK && b < nb)
			wq_disconnect(wq);	/* a reply is still in flight */
	}
	for (b = 1; rc == WQ_OK && redo && b < nb; b++) {
		if (!wq_reply_noscript(replies[b]))
			continue;
		freeReplyObject(replies[b]);
		if ((replies[b] = wq_script_run(wq, &cmds[b])) == NULL) {
			rc = WQ_EUNAVAIL;
			break;
		}
		rc = submit_decode(wq, specs + off[b], cnt[b], replies[b],
		    answers + off[b], 1);
	}
	for (b = 0; b < nb; b++) {
		if (replies[b] != NULL)
			freeReplyObject(replies[b]);
		wq_argv_free(&cmds[b]);
	}
	free(cmds);
	free(replies);
	free(off);
	free(cnt);
	return rc;
}

/* Order of specs by partition (for qsort_r). */
static int
part_cmp(const void *a, const void *b, void *arg)
{
	const size_t	*x = a, *y = b;
	struct wq_spec	*s = ((void **)arg)[1];
	struct wq	*wq = ((void **)arg)[0];
	int		 pa = wq_part_of(wq, s[*x].id), pb = wq_part_of(wq,
			    s[*y].id);

	if (pa != pb)
		return pa < pb ? -1 : 1;
	return *x < *y ? -1 : *x > *y;
}

/*
 * Submit: one script call a batch, a batch's jobs all of one partition
 * (docs/DESIGN.md, section 25).  With several partitions the jobs are
 * grouped by partition (in their order within each), submitted so, and
 * their answers put back in the order of specs.
 */
int
wq_submit(struct wq *wq, struct wq_spec *specs, size_t n, jv *answers)
{
	struct wq_spec	*sorted;
	size_t		*perm, i;
	void		*arg[2] = { wq, specs };
	jv		*ans;
	int		 rc;

	for (i = 0; i < n; i++)
		answers[i] = jv_invalid();
	if (n == 0)
		return WQ_OK;
	if ((rc = wq_connect(wq)) != WQ_OK)
		return rc;
	for (i = 0; i < n; i++)
		if (specs[i].group != NULL &&
		    (rc = wq_parts_one(wq, "groups (--group)")) != WQ_OK)
			return rc;
	if ((rc = wq_deps_check(wq, specs, n)) != WQ_OK)
		return rc;
	if (wq->nparts <= 1) {
		rc = submit_run(wq, specs, n, answers);
	} else {
		perm = wq_calloc(n, sizeof(*perm));
		for (i = 0; i < n; i++)
			perm[i] = i;
		qsort_r(perm, n, sizeof(*perm), part_cmp, arg);
		sorted = wq_calloc(n, sizeof(*sorted));
		ans = wq_calloc(n, sizeof(*ans));
		for (i = 0; i < n; i++) {
			sorted[i] = specs[perm[i]];
			ans[i] = jv_invalid();
		}
		rc = submit_run(wq, sorted, n, ans);
		for (i = 0; i < n; i++)
			answers[perm[i]] = ans[i];
		free(ans);
		free(sorted);
		free(perm);
	}
	if (rc == WQ_OK)
		rc = wq_deps_link(wq, specs, n, answers);
	if (rc != WQ_OK)
		for (i = 0; i < n; i++) {
			jv_free(answers[i]);
			answers[i] = jv_invalid();
		}
	return rc;
}

void
wq_status_argv(struct wq *wq, const char *id, struct wq_argv *a)
{
	wq_argv_init(a);
	wq_argv_adds(a, "HGETALL");
	wq_argv_pkey(a, wq, wq_part_of(wq, id), "job:%s", id);
}

int
wq_status_decode(struct wq *wq, const char *id, redisReply *r, jv *rec)
{
	int	rc;

	if ((rc = wq_reply_error(wq, r, "status")) != WQ_OK)
		return rc;
	*rec = wq_record_from_reply(id, r);
	return WQ_OK;
}

/*
 * One pipelined round of reads of the records of ids: HGETALL, or HGET
 * of one field; fn(arg, i, reply) for each, in order, as long as it
 * returns WQ_OK.  The commands are RESP text in one buffer and the
 * replies are made in an arena (redis.c): a round reads up to a thousand
 * records, and a struct wq_argv per command and a malloc per element of
 * every reply were most of the client's work.
 */
static int
status_round(struct wq *wq, const char **ids, size_t n, const char *field,
    int (*fn)(void *, size_t, redisReply *), void *arg)
{
	struct wq_resp	  cmds = { NULL, 0, 0 };
	struct wq_arena	 *arena;
	redisReply	**replies;
	size_t		  i;
	int		  rc;

	if (n == 0)
		return WQ_OK;
	replies = wq_calloc(n, sizeof(*replies));
	for (i = 0; i < n; i++)
		wq_resp_job(&cmds, wq, field == NULL ? "HGETALL" : "HGET",
		    ids[i], field);
	rc = wq_redis_pipeline_arena(wq, &cmds, n, replies, &arena);
	for (i = 0; rc == WQ_OK && i < n; i++)
		if ((rc = wq_reply_error(wq, replies[i], "status")) == WQ_OK)
			rc = fn(arg, i, replies[i]);
	wq_arena_free(arena);
	free(cmds.p);
	free(replies);
	return rc;
}

struct status_out {
	struct wq	 *wq;
	const char	**ids;
	jv		 *recs;
	struct wq_rec	 *out;
	int		  how;
	int		 *ended;
};

static int
status_jv(void *arg, size_t i, redisReply *r)
{
	struct status_out	*o = arg;

	return wq_status_decode(o->wq, o->ids[i], r, &o->recs[i]);
}

int
wq_status(struct wq *wq, const char **ids, size_t n, jv *recs)
{
	struct status_out	o = { wq, ids, recs, NULL, 0, NULL };
	size_t			i;

	for (i = 0; i < n; i++)
		recs[i] = jv_invalid();
	return status_round(wq, ids, n, NULL, status_jv, &o);
}

static int
status_rec(void *arg, size_t i, redisReply *r)
{
	struct status_out	*o = arg;

	wq_record_decode(o->ids[i], r, o->how, &o->out[i]);
	return WQ_OK;
}

/*
 * The records of ids, pipelined, as wq-status prints them: each one's
 * line, or its jv for a jq program (see struct wq_rec).
 */
int
wq_status_recs(struct wq *wq, const char **ids, size_t n, int how,
    struct wq_rec *out)
{
	struct status_out	o = { wq, ids, NULL, out, how, NULL };
	size_t			i;
	int			rc;

	for (i = 0; i < n; i++) {
		out[i].line = NULL;
		out[i].rec = jv_invalid();
	}
	if ((rc = status_round(wq, ids, n, NULL, status_rec, &o)) != WQ_OK)
		for (i = 0; i < n; i++)
			wq_record_clear(&out[i]);
	return rc;
}

static int
status_ended(void *arg, size_t i, redisReply *r)
{
	struct status_out	*o = arg;

	o->ended[i] = r->type != REDIS_REPLY_STRING ||
	    wq_record_status_final(r->str);
	return WQ_OK;
}

/*
 * Whether jobs have ended, from their status field alone (HGET): what a
 * waiter asks of each job it has just subscribed to, most of which are
 * still pending, so that it reads a whole record only once the job has
 * ended.  An unknown id counts as ended: the read says it is unknown.
 */
int
wq_status_ended(struct wq *wq, const char **ids, size_t n, int *ended)
{
	struct status_out	o = { wq, ids, NULL, NULL, 0, ended };

	return status_round(wq, ids, n, "s", status_ended, &o);
}


/* A reply's ids: append them to *ids. */
static int
list_append(struct wq *wq, redisReply *u, jv *ids)
{
	size_t	i;
	int	rc;

	if ((rc = wq_reply_error(wq, u, "list")) == WQ_OK)
		for (i = 0; i < u->elements; i++)
			*ids = jv_array_append(*ids,
			    jv_string(u->element[i]->str));
	if (u)
		freeReplyObject(u);
	return rc;
}

/* Whether the queue's list r holds the marker m. */
static int
list_has(redisReply *r, const char *m)
{
	size_t	i;

	for (i = 0; i < r->elements; i++)
		if (strcmp(r->element[i]->str, m) == 0)
			return 1;
	return 0;
}

/* The first n members of a sorted set of partition p, fmt... (ZRANGE 0
 * n-1). */
__attribute__((format(printf, 4, 5)))
static redisReply *
list_zrange(struct wq *wq, int p, long n, const char *fmt, ...)
{
	struct wq_argv	 a;
	redisReply	*r;
	va_list		 ap;

	wq_argv_init(&a);
	wq_argv_adds(&a, "ZRANGE");
	va_start(ap, fmt);
	wq_argv_vpkey(&a, wq, p, fmt, ap);
	va_end(ap);
	wq_argv_adds(&a, "0");
	wq_argv_addl(&a, n - 1);
	r = wq_redis_command(wq, &a);
	wq_argv_free(&a);
	return r;
}

/*
 * The pending jobs of priorities above 0 (urgent:<q>, best first), when
 * the queue's list r has markers for them: they come first.
 */
static int
list_urgent(struct wq *wq, int p, const char *queue, long limit,
    redisReply *r, jv *ids)
{
	if (!list_has(r, "^"))
		return WQ_OK;
	return list_append(wq, list_zrange(wq, p, limit, "urgent:%s", queue),
	    ids);
}

/*
 * The pending jobs of groups (group:<q>:<g>, the groups in turn, each
 * best first), when the queue's list r has markers '@' for them, up to
 * limit ids in all.
 */
static int
list_groups(struct wq *wq, int p, const char *queue, long limit,
    redisReply *r, jv *ids)
{
	redisReply	*g;
	size_t		 i;
	jv		 got;
	int		 rc;

	if (!list_has(r, "@"))
		return WQ_OK;
	g = list_zrange(wq, p, limit, "groups:%s", queue);
	if ((rc = wq_reply_error(wq, g, "list")) != WQ_OK) {
		if (g)
			freeReplyObject(g);
		return rc;
	}
	got = jv_array();
	for (i = 0; rc == WQ_OK && i < g->elements &&
	    jv_array_length(jv_copy(got)) < limit; i++)
		rc = list_append(wq, list_zrange(wq, p, limit -
		    jv_array_length(jv_copy(got)), "group:%s:%s", queue,
		    g->element[i]->str), &got);
	freeReplyObject(g);
	*ids = jv_array_concat(*ids, got);
	return rc;
}

/*
 * The ids of a list read in partition p, when it is a queue the urgent
 * ones first, then those of groups, without the markers.
 */
static int
list_ids(struct wq *wq, int p, const char *queue, const char *state,
    long limit, redisReply *r, jv *ids)
{
	size_t	i;
	int	rc;

	if (strcmp(state, "pending") == 0 &&
	    ((rc = list_urgent(wq, p, queue, limit, r, ids)) != WQ_OK ||
	    (rc = list_groups(wq, p, queue, limit, r, ids)) != WQ_OK))
		return rc;
	for (i = 0; i < r->elements; i++)
		if (strcmp(r->element[i]->str, "^") != 0 &&
		    strcmp(r->element[i]->str, "@") != 0)
			*ids = jv_array_append(*ids,
			    jv_string(r->element[i]->str));
	return WQ_OK;
}

/*
 * The read of a state's list in partition p (working: the members, in
 * the control partition); WQ_EUSAGE for a state that is none of them.
 */
static int
list_argv(struct wq *wq, int p, const char *queue, const char *state,
    long limit, struct wq_argv *a)
{
	wq_argv_init(a);
	if (strcmp(state, "pending") == 0 || strcmp(state, "dead") == 0 ||
	    strcmp(state, "failed") == 0) {
		wq_argv_adds(a, "LRANGE");
		wq_argv_pkey(a, wq, p, "%s:%s", state[0] == 'p' ? "queue" :
		    "dead", queue);
		wq_argv_adds(a, "0");
		wq_argv_addl(a, limit - 1);
	} else if (strcmp(state, "delayed") == 0) {
		wq_argv_adds(a, "ZRANGE");
		wq_argv_pkey(a, wq, p, "delayed:%s", queue);
		wq_argv_adds(a, "0");
		wq_argv_addl(a, limit - 1);
	} else if (strcmp(state, "working") == 0) {
		wq_argv_adds(a, "ZRANGE");
		wq_argv_key(a, wq, "nodes");
		wq_argv_adds(a, "0");
		wq_argv_adds(a, "-1");
	} else {
		wq_argv_free(a);
		return wq_seterr(wq, WQ_EUSAGE, "bad state \"%s\": expected "
		    "pending, delayed, working, failed or dead", state);
	}
	return WQ_OK;
}

/*
 * The lists of a state in the P > 1 partitions, read in one round (and
 * the urgent and grouped ones of a partition whose queue has markers for
 * them), merged in turn: the first of each partition, then the second
 * of each..., up to limit.  Each partition is in its order (FIFO).
 */
static int
list_parts(struct wq *wq, int np, const char *queue, const char *state,
    long limit, jv *out)
{
	struct wq_argv	 *cmds;
	redisReply	**rs;
	jv		 *got, ids, v;
	int		  rc, p, i, more;

	cmds = wq_calloc((size_t)np, sizeof(*cmds));
	rs = wq_calloc((size_t)np, sizeof(*rs));
	got = wq_calloc((size_t)np, sizeof(*got));
	for (p = 0; p < np; p++) {
		got[p] = jv_array();
		(void)list_argv(wq, p, queue, state, limit, &cmds[p]);
	}
	rc = wq_redis_pipeline(wq, cmds, (size_t)np, rs);
	for (p = 0; rc == WQ_OK && p < np; p++)
		if ((rc = wq_reply_error(wq, rs[p], "list")) == WQ_OK)
			rc = list_ids(wq, p, queue, state, limit, rs[p],
			    &got[p]);
	wq_redis_pipeline_free(cmds, rs, (size_t)np);
	ids = jv_array();
	for (i = 0, more = 1; rc == WQ_OK && more; i++)
		for (p = 0, more = 0; p < np; p++) {
			if (i >= jv_array_length(jv_copy(got[p])))
				continue;
			more = 1;
			v = jv_array_get(jv_copy(got[p]), i);
			if (jv_array_length(jv_copy(ids)) < limit)
				ids = jv_array_append(ids, v);
			else
				jv_free(v);
		}
	for (p = 0; p < np; p++)
		jv_free(got[p]);
	free(got);
	free(cmds);
	free(rs);
	if (rc != WQ_OK)
		jv_free(ids);
	else
		*out = ids;
	return rc;
}

/*
 * The active lists of node in the partitions, one round: their ids
 * appended to *ids.
 */
static int
list_active(struct wq *wq, int np, const char *node, long limit, jv *ids)
{
	struct wq_argv	 *cmds;
	redisReply	**rs;
	size_t		  j;
	int		  rc, p;

	cmds = wq_calloc((size_t)np, sizeof(*cmds));
	rs = wq_calloc((size_t)np, sizeof(*rs));
	for (p = 0; p < np; p++) {
		wq_argv_init(&cmds[p]);
		wq_argv_adds(&cmds[p], "LRANGE");
		wq_argv_pkey(&cmds[p], wq, p, "active:%s", node);
		wq_argv_adds(&cmds[p], "0");
		wq_argv_addl(&cmds[p], limit - 1);
	}
	rc = wq_redis_pipeline(wq, cmds, (size_t)np, rs);
	for (p = 0; rc == WQ_OK && p < np; p++)
		if ((rc = wq_reply_error(wq, rs[p], "list")) == WQ_OK)
			for (j = 0; j < rs[p]->elements; j++)
				*ids = jv_array_append(*ids,
				    jv_string(rs[p]->element[j]->str));
	wq_redis_pipeline_free(cmds, rs, (size_t)np);
	free(cmds);
	free(rs);
	return rc;
}

/*
 * Ids by state, as an array of ids.  limit bounds each list read.  With
 * P > 1 partitions: every partition's, merged (list_parts).
 */
int
wq_list(struct wq *wq, const char *queue, const char *state, long limit,
    jv *out)
{
	struct wq_argv	 a;
	redisReply	*r, *nodes;
	size_t		 i;
	jv		 ids;
	int		 rc, np;

	if ((rc = list_argv(wq, 0, queue, state, limit, &a)) != WQ_OK)
		return rc;
	if ((rc = wq_connect(wq)) != WQ_OK) {
		wq_argv_free(&a);
		return rc;
	}
	np = wq_parts(wq);
	if (np > 1 && strcmp(state, "working") != 0) {
		wq_argv_free(&a);
		return list_parts(wq, np, queue, state, limit, out);
	}
	r = wq_redis_command(wq, &a);
	wq_argv_free(&a);
	ids = jv_array();
	if ((rc = wq_reply_error(wq, r, "list")) != WQ_OK) {
		if (r)
			freeReplyObject(r);
		jv_free(ids);
		return rc;
	}
	if (strcmp(state, "working") != 0) {
		rc = list_ids(wq, 0, queue, state, limit, r, &ids);
		freeReplyObject(r);
		if (rc != WQ_OK)
			jv_free(ids);
		else
			*out = ids;
		return rc;
	}
	/*
	 * working: the active lists of the live nodes, whatever the queue
	 * of their jobs (wq-status keeps those of its queue, after limit),
	 * in every partition.
	 */
	nodes = r;
	for (i = 0; rc == WQ_OK && i < nodes->elements &&
	    jv_array_length(jv_copy(ids)) < limit; i++)
		rc = list_active(wq, np, nodes->element[i]->str, limit, &ids);
	freeReplyObject(nodes);
	if (rc != WQ_OK)
		jv_free(ids);
	else
		*out = ids;
	return rc;
}

void
wq_claim_clear(struct wq_claim *c)
{
	jv_free(c->data);
	c->data = jv_null();
	free(c->traceparent);
	c->traceparent = NULL;
}

static void
claim_argv(struct wq *wq, struct wq_worker_opts *o, size_t max, int p,
    struct wq_argv *a)
{
	/* Per queue, in this order: claim.lua's KEYS (its limits' state:
	 * docs/DESIGN.md, Limits). */
	static const char *const keys[] = { "queue", "urgent", "limit",
	    "running", "started" };
	size_t	i, k, nk = sizeof(keys) / sizeof(keys[0]);

	wq_script_argv(a, WQ_SCRIPT_CLAIM);
	wq_argv_pkey(a, wq, p, "active:%s", wq_name(wq));
	for (k = 0; k < nk; k++)
		for (i = 0; i < o->nqueues; i++)
			wq_argv_pkey(a, wq, p, "%s:%s", keys[k], o->queues[i]);
	wq_argv_setnkeys(a, (int)(o->nqueues * nk) + 1);
	wq_script_pprefix(a, wq, p);
	wq_argv_adds(a, wq_name(wq));
	wq_argv_addl(a, (long long)max);
	wq_argv_addl(a, o->max_attempts);
	if (wq->nparts > 1)
		wq_argv_addl(a, wq->gen);
}

static int
claim_decode(struct wq *wq, redisReply *r, size_t max, struct wq_claim *out,
    size_t *n)
{
	redisReply	**e;
	size_t		  i, k;
	int		  rc;
	char		  err[64];

	*n = 0;
	if (r != NULL && r->type == REDIS_REPLY_ERROR &&
	    strncmp(r->str, "NAMETAKEN", 9) == 0)
		return wq_seterr(wq, WQ_EREDIS, "claim: node %s has a newer "
		    "instance: this process's name was taken", wq_name(wq));
	if ((rc = wq_reply_error(wq, r, "claim")) != WQ_OK)
		return rc;
	for (i = 0, k = 0; i + 5 < r->elements && k < max; i += 6, k++) {
		e = r->element + i;
		memset(&out[k], 0, sizeof(out[k]));
		snprintf(out[k].id, sizeof(out[k].id), "%s", e[0]->str);
		out[k].data = wq_parse(e[1]->str, e[1]->len, err, sizeof(err));
		if (!jv_is_valid(out[k].data))
			out[k].data = jv_string_sized(e[1]->str,
			    (int)e[1]->len);
		out[k].token = (long)wq_reply_ll(e[2]);
		out[k].timeout = e[3]->len ? (long)wq_reply_ll(e[3]) : 0;
		out[k].max_attempts = (long)wq_reply_ll(e[4]);
		if (e[5]->len > 0)
			out[k].traceparent = wq_strdup(e[5]->str);
	}
	*n = k;
	return WQ_OK;
}

/*
 * Several partitions (docs/DESIGN.md, section 25): the next partition a
 * claim may find work in, round robin from where the last one left off;
 * -1 when none is known to have any (a wake hint or a beat says so
 * again: hints.c, node.c).
 */
static int
claim_next_part(struct wq *wq)
{
	int	i, p;

	if (wq->nparts <= 1)
		return 0;
	for (i = 0; i < wq->nparts; i++) {
		p = (wq->part_next + i) % wq->nparts;
		if (wq->part_work[p])
			return p;
	}
	return -1;
}

/* A claim of want jobs in partition p gave got: where the next goes. */
static void
claim_went(struct wq *wq, int p, size_t want, size_t got)
{
	if (wq->nparts <= 1)
		return;
	if (got < want)
		wq->part_work[p] = 0;
	wq->part_next = (p + 1) % wq->nparts;
}

/*
 * Claim up to max more jobs into out[*n...], partition after partition,
 * until max are claimed or no partition is known to have work (each
 * tried at most once).
 */
static int
claim_more(struct wq *wq, struct wq_worker_opts *o, size_t max,
    struct wq_claim *out, size_t *n)
{
	struct wq_argv	 a;
	redisReply	*r;
	size_t		 got;
	int		 rc = WQ_OK, p, tries;

	for (tries = 0; *n < max && tries < wq->nparts; tries++) {
		if ((p = claim_next_part(wq)) < 0)
			break;
		claim_argv(wq, o, max - *n, p, &a);
		r = wq_script_run(wq, &a);
		wq_argv_free(&a);
		rc = claim_decode(wq, r, max - *n, out + *n, &got);
		if (r)
			freeReplyObject(r);
		if (rc != WQ_OK)
			break;
		claim_went(wq, p, max - *n, got);
		*n += got;
	}
	return rc;
}

static int
claim(struct wq *wq, struct wq_worker_opts *o, size_t max,
    struct wq_claim *out, size_t *n)
{
	int	rc;

	*n = 0;
	if ((rc = wq_connect(wq)) != WQ_OK)
		return rc;
	if (wq->nparts <= 1) {
		struct wq_argv	 a;
		redisReply	*r;

		claim_argv(wq, o, max, 0, &a);
		r = wq_script_run(wq, &a);
		wq_argv_free(&a);
		rc = claim_decode(wq, r, max, out, n);
		if (r)
			freeReplyObject(r);
		return rc;
	}
	return claim_more(wq, o, max, out, n);
}

void
wq_outcome_clear(struct wq_outcome *o)
{
	jv_free(o->result);
	o->result = jv_null();
	free(o->error);
	o->error = NULL;
	free(o->state);
	o->state = NULL;
	free(o->traceparent);
	o->traceparent = NULL;
}

/* complete.lua for outs[idx[0..n)] (idx NULL: outs[0..n)), all of one
 * partition. */
static void
complete_argv(struct wq *wq, struct wq_outcome *outs, const size_t *idx,
    size_t n, struct wq_argv *a)
{
	static const char *kinds[] = { "ok", "fail", "back" };
	struct wq_outcome	*op;
	size_t			 i;
	char			*s;
	int			 p = n > 0 ? wq_part_of(wq,
				    outs[idx ? idx[0] : 0].id) : 0;

	wq_script_argv(a, WQ_SCRIPT_COMPLETE);
	wq_argv_pkey(a, wq, p, "active:%s", wq_name(wq));
	wq_argv_setnkeys(a, 1);
	wq_script_pprefix(a, wq, p);
	wq_argv_adds(a, wq_name(wq));
	for (i = 0; i < n; i++) {
		op = &outs[idx ? idx[i] : i];
		wq_argv_adds(a, op->id);
		wq_argv_addl(a, op->token);
		wq_argv_adds(a, kinds[op->kind]);
		if (op->kind == WQ_DONE_OK) {
			s = wq_dump(jv_copy(op->result));
			wq_argv_adds(a, s);
			free(s);
		} else
			wq_argv_adds(a, op->error ? op->error : "");
		wq_argv_addl(a, op->retry_ms);
	}
}

static int
complete_decode(struct wq *wq, redisReply *r, struct wq_outcome *outs,
    const size_t *idx, size_t n)
{
	struct wq_outcome	*op;
	size_t			 i, len;
	int			 rc;

	if ((rc = wq_reply_error(wq, r, "complete")) != WQ_OK)
		return rc;
	for (i = 0; i < n && i < r->elements; i++) {
		op = &outs[idx ? idx[i] : i];
		free(op->state);
		op->state = wq_strdup(r->element[i]->str);
		/* "worked!": it has children to tell (complete.lua) */
		if ((len = strlen(op->state)) > 0 &&
		    op->state[len - 1] == '!') {
			op->state[len - 1] = '\0';
			op->children = 1;
		}
	}
	return WQ_OK;
}

/*
 * The complete.lua calls of outs[0..n): one, or with several partitions
 * one a partition (their indices in *idx, grouped: call k has cnt[k] of
 * them from off[k]).  Returns the number of calls.
 */
static size_t
complete_calls(struct wq *wq, struct wq_outcome *outs, size_t n,
    struct wq_argv **cmds, size_t **idx, size_t **off, size_t **cnt)
{
	size_t	 i, k, nc = 0;
	int	 p;

	*idx = wq_calloc(n + 1, sizeof(**idx));
	*off = wq_calloc(n + 1, sizeof(**off));
	*cnt = wq_calloc(n + 1, sizeof(**cnt));
	*cmds = wq_calloc(n + 2, sizeof(**cmds));
	if (wq->nparts <= 1) {
		for (i = 0; i < n; i++)
			(*idx)[i] = i;
		(*cnt)[0] = n;
		complete_argv(wq, outs, NULL, n, &(*cmds)[0]);
		return 1;
	}
	/* grouped by partition, in order within each (n is small: a
	 * worker's batch) */
	for (k = 0, p = 0; p < wq->nparts && k < n; p++) {
		size_t	first = k;

		for (i = 0; i < n; i++)
			if (wq_part_of(wq, outs[i].id) == p)
				(*idx)[k++] = i;
		if (k == first)
			continue;
		(*off)[nc] = first;
		(*cnt)[nc] = k - first;
		complete_argv(wq, outs, *idx + first, k - first,
		    &(*cmds)[nc]);
		nc++;
	}
	return nc;
}

int
wq_complete(struct wq *wq, struct wq_outcome *outs, size_t n)
{
	struct wq_argv	 *cmds;
	redisReply	**rs;
	size_t		 *idx, *off, *cnt, nc, k;
	int		  rc;

	if (n == 0)
		return WQ_OK;
	if ((rc = wq_connect(wq)) != WQ_OK)
		return rc;
	nc = complete_calls(wq, outs, n, &cmds, &idx, &off, &cnt);
	rs = wq_calloc(nc, sizeof(*rs));
	rc = wq_script_pipeline(wq, cmds, nc, rs);
	for (k = 0; rc == WQ_OK && k < nc; k++)
		rc = complete_decode(wq, rs[k], outs, idx + off[k], cnt[k]);
	wq_redis_pipeline_free(cmds, rs, nc);
	free(cmds);
	free(rs);
	free(idx);
	free(off);
	free(cnt);
	return rc;
}

/*
 * Record outcomes and claim the next jobs in one round trip (a pipeline
 * of the scripts): the steady state of a busy worker.  With several
 * partitions, the outcomes go one call a partition, and the claim to the
 * next partition known to have work, then to others while it falls
 * short (claim_more()).
 */
int
wq_complete_claim(struct wq *wq, struct wq_outcome *outs, size_t nouts,
    struct wq_worker_opts *o, size_t max, struct wq_claim *out, size_t *n)
{
	struct wq_argv	 *cmds;
	redisReply	**rs;
	size_t		 *idx, *off, *cnt, nc, k, got;
	int		  rc, p, erc = WQ_OK;

	*n = 0;
	if (nouts == 0)
		return claim(wq, o, max, out, n);
	if ((rc = wq_connect(wq)) != WQ_OK)
		return rc;
	nc = complete_calls(wq, outs, nouts, &cmds, &idx, &off, &cnt);
	if ((p = claim_next_part(wq)) >= 0)
		claim_argv(wq, o, max, p, &cmds[nc]);
	rs = wq_calloc(nc + 1, sizeof(*rs));
	rc = wq_script_pipeline(wq, cmds, nc + (p >= 0), rs);
	/* Outcomes Redis refused with an error keep no state; the claim,
	 * made all the same, must not be lost. */
	for (k = 0; rc == WQ_OK && k < nc; k++)
		if ((erc = complete_decode(wq, rs[k], outs, idx + off[k],
		    cnt[k])) != WQ_OK && erc != WQ_EREDIS)
			rc = erc;
	if (rc == WQ_OK && p >= 0) {
		rc = claim_decode(wq, rs[nc], max, out, &got);
		if (rc == WQ_OK) {
			claim_went(wq, p, max, got);
			*n = got;
		}
	}
	wq_redis_pipeline_free(cmds, rs, nc + (p >= 0));
	free(cmds);
	free(rs);
	free(idx);
	free(off);
	free(cnt);
	if (rc == WQ_OK && wq->nparts > 1 && *n < max)
		rc = claim_more(wq, o, max, out, n);
	return rc;
}

/*
 * After a reconnect: hand back what the node holds but does not know of
 * (recover.lua, in each partition).
 */
struct recover_arg {
	const char	**known;
	size_t		  n;
	long		 *handed;
};

static int
recover_build(struct wq *wq, int p, struct wq_argv *a, void *arg)
{
	struct recover_arg	*ra = arg;
	size_t			 i;

	wq_script_argv(a, WQ_SCRIPT_RECOVER);
	wq_argv_pkey(a, wq, p, "active:%s", wq_name(wq));
	wq_argv_setnkeys(a, 1);
	wq_script_pprefix(a, wq, p);
	wq_argv_adds(a, wq_name(wq));
	for (i = 0; i < ra->n; i++)
		if (wq_part_of(wq, ra->known[i]) == p)
			wq_argv_adds(a, ra->known[i]);
	return 1;
}

static int
recover_decode(struct wq *wq, int p, redisReply *r, void *arg)
{
	struct recover_arg	*ra = arg;

	(void)wq;
	(void)p;
	*ra->handed += (long)wq_reply_ll(r);
	return WQ_OK;
}

int
wq_recover(struct wq *wq, const char **known, size_t n, long *handed)
{
	struct recover_arg	ra = { known, n, handed };

	*handed = 0;
	return wq_parts_run(wq, "recover", recover_build, recover_decode,
	    &ra);
}

/* promote.lua on o's queues, in each partition. */
struct promote_arg {
	struct wq_worker_opts	*o;
	long			*moved;
	int64_t			*next_ms;
};

static int
promote_build(struct wq *wq, int p, struct wq_argv *a, void *arg)
{
	struct wq_worker_opts	*o = ((struct promote_arg *)arg)->o;
	size_t			 i;

	wq_script_argv(a, WQ_SCRIPT_PROMOTE);
	for (i = 0; i < o->nqueues; i++) {
		wq_argv_pkey(a, wq, p, "delayed:%s", o->queues[i]);
		wq_argv_pkey(a, wq, p, "queue:%s", o->queues[i]);
	}
	wq_argv_setnkeys(a, (int)o->nqueues * 2);
	wq_script_pprefix(a, wq, p);
	for (i = 0; i < o->nqueues; i++)
		wq_argv_adds(a, o->queues[i]);
	return 1;
}

static int
promote_decode(struct wq *wq, int p, redisReply *r, void *arg)
{
	struct promote_arg	*pa = arg;
	int64_t			 t;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
		return wq_seterr(wq, WQ_EUNAVAIL, "promote: unexpected reply");
	*pa->moved += (long)wq_reply_ll(r->element[0]);
	t = (int64_t)wq_reply_ll(r->element[1]);
	if (t >= 0 && (*pa->next_ms < 0 || t < *pa->next_ms))
		*pa->next_ms = t;
	if (wq->nparts > 1 && wq_reply_ll(r->element[0]) > 0)
		wq->part_work[p] = 1;
	return WQ_OK;
}

int
wq_promote(struct wq *wq, struct wq_worker_opts *o, long *moved,
    int64_t *next_ms)
{
	struct promote_arg	pa = { o, moved, next_ms };

	*moved = 0;
	*next_ms = -1;
	return wq_parts_run(wq, "promote", promote_build, promote_decode,
	    &pa);
}

/* progress.lua, one call a partition that has some of the ids. */
struct progress_arg {
	const char	**ids;
	const long	 *tokens;
	const char	**progress;
	size_t		  n;
};

static int
progress_build(struct wq *wq, int p, struct wq_argv *a, void *arg)
{
	struct progress_arg	*pa = arg;
	size_t			 i;
	int			 any = 0;

	for (i = 0; i < pa->n; i++) {
		if (wq_part_of(wq, pa->ids[i]) != p)
			continue;
		if (!any) {
			/* KEYS[1]: a job's key, which places the call (a
			 * cluster routes by it) */
			wq_script_argv(a, WQ_SCRIPT_PROGRESS);
			wq_argv_pkey(a, wq, p, "job:%s", pa->ids[i]);
			wq_argv_setnkeys(a, 1);
			wq_script_pprefix(a, wq, p);
			wq_argv_adds(a, wq_name(wq));
			any = 1;
		}
		wq_argv_adds(a, pa->ids[i]);
		wq_argv_addl(a, pa->tokens[i]);
		wq_argv_adds(a, pa->progress[i]);
	}
	return any;
}

int
wq_progress(struct wq *wq, const char **ids, const long *tokens,
    const char **progress, size_t n)
{
	struct progress_arg	pa = { ids, tokens, progress, n };

	if (n == 0)
		return WQ_OK;
	return wq_parts_run(wq, "progress", progress_build, NULL, &pa);
}

/*
 * A progress line: a number from 0 to 100, or an object with "progress"
 * (such a number) and maybe "message" (a string, cut to 200 bytes).
 */
char *
wq_progress_parse(const char *line, size_t n)
{
	char	 err[64];
	jv	 v, p, m, o;
	double	 d;

	v = wq_parse(line, n, err, sizeof(err));
	if (!jv_is_valid(v)) {
		jv_free(v);
		return NULL;
	}
	if (jv_get_kind(v) == JV_KIND_NUMBER) {
		p = v;
		m = jv_invalid();
	} else if (jv_get_kind(v) == JV_KIND_OBJECT) {
		p = jv_object_get(jv_copy(v), jv_string("progress"));
		m = jv_object_get(v, jv_string("message"));
	} else {
		jv_free(v);
		return NULL;
	}
	d = jv_get_kind(p) == JV_KIND_NUMBER ? jv_number_value(p) : -1;
	jv_free(p);
	if (!(d >= 0 && d <= 100)) {
		jv_free(m);
		return NULL;
	}
	o = jv_object_set(jv_object(), jv_string("progress"), jv_number(d));
	if (jv_get_kind(m) == JV_KIND_STRING)
		o = jv_object_set(o, jv_string("message"),
		    jv_string_sized(jv_string_value(m),
		    jv_string_length_bytes(jv_copy(m)) > 200 ? 200 :
		    jv_string_length_bytes(jv_copy(m))));
	jv_free(m);
	return wq_dump(o);
}
