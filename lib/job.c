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
		if (strcmp(spec_queue(wq, &specs[i]), spec_queue(wq, specs)) ||
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

	wq_script_argv(a, WQ_SCRIPT_SUBMIT);
	wq_argv_key(a, wq, "queue:%s", spec_queue(wq, specs));
	wq_argv_setnkeys(a, 1);
	wq_script_prefix(a, wq);
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
int
wq_submit(struct wq *wq, struct wq_spec *specs, size_t n, jv *answers)
{
	struct wq_argv	 *cmds;
	redisReply	**replies;
	void		 *p;
	size_t		  nb, b, k, i, *off, *cnt;
	int		  rc = WQ_OK, redo = 0;

	for (i = 0; i < n; i++)
		answers[i] = jv_invalid();
	if (n == 0)
		return WQ_OK;
	if ((rc = wq_deps_check(wq, specs, n)) != WQ_OK)
		return rc;
	off = wq_calloc(n, sizeof(*off));
	cnt = wq_calloc(n, sizeof(*cnt));
	for (nb = 0, i = 0; i < n; i += cnt[nb++]) {
		off[nb] = i;
		cnt[nb] = submit_span(wq, specs + i, n - i);
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
	wq_argv_key(a, wq, "job:%s", id);
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

/* The first n members of a sorted set, NS:fmt... (ZRANGE 0 n-1). */
__attribute__((format(printf, 3, 4)))
static redisReply *
list_zrange(struct wq *wq, long n, const char *fmt, ...)
{
	struct wq_argv	 a;
	redisReply	*r;
	va_list		 ap;

	wq_argv_init(&a);
	wq_argv_adds(&a, "ZRANGE");
	va_start(ap, fmt);
	wq_argv_vkey(&a, wq, fmt, ap);
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
list_urgent(struct wq *wq, const char *queue, long limit, redisReply *r,
    jv *ids)
{
	if (!list_has(r, "^"))
		return WQ_OK;
	return list_append(wq, list_zrange(wq, limit, "urgent:%s", queue),
	    ids);
}

/*
 * The pending jobs of groups (group:<q>:<g>, the groups in turn, each
 * best first), when the queue's list r has markers '@' for them, up to
 * limit ids in all.
 */
static int
list_groups(struct wq *wq, const char *queue, long limit, redisReply *r,
    jv *ids)
{
	redisReply	*g;
	size_t		 i;
	jv		 got;
	int		 rc;

	if (!list_has(r, "@"))
		return WQ_OK;
	g = list_zrange(wq, limit, "groups:%s", queue);
	if ((rc = wq_reply_error(wq, g, "list")) != WQ_OK) {
		if (g)
			freeReplyObject(g);
		return rc;
	}
	got = jv_array();
	for (i = 0; rc == WQ_OK && i < g->elements &&
	    jv_array_length(jv_copy(got)) < limit; i++)
		rc = list_append(wq, list_zrange(wq, limit -
		    jv_array_length(jv_copy(got)), "group:%s:%s", queue,
		    g->element[i]->str), &got);
	freeReplyObject(g);
	*ids = jv_array_concat(*ids, got);
	return rc;
}

/*
 * The ids of a list read, when it is a queue the urgent ones first, then
 * those of groups, without the markers.
 */
static int
list_ids(struct wq *wq, const char *queue, const char *state, long limit,
    redisReply *r, jv *ids)
{
	size_t	i;
	int	rc;

	if (strcmp(state, "pending") == 0 &&
	    ((rc = list_urgent(wq, queue, limit, r, ids)) != WQ_OK ||
	    (rc = list_groups(wq, queue, limit, r, ids)) != WQ_OK))
		return rc;
	for (i = 0; i < r->elements; i++)
		if (strcmp(r->element[i]->str, "^") != 0 &&
		    strcmp(r->element[i]->str, "@") != 0)
			*ids = jv_array_append(*ids,
			    jv_string(r->element[i]->str));
	return WQ_OK;
}

/* Ids by state, as an array of ids.  limit bounds each list read. */
int
wq_list(struct wq *wq, const char *queue, const char *state, long limit,
    jv *out)
{
	struct wq_argv	 a;
	redisReply	*r, *nodes;
	size_t		 i, j;
	jv		 ids;
	int		 rc;

	ids = jv_array();
	wq_argv_init(&a);
	if (strcmp(state, "pending") == 0 || strcmp(state, "dead") == 0 ||
	    strcmp(state, "failed") == 0) {
		wq_argv_adds(&a, "LRANGE");
		wq_argv_key(&a, wq, "%s:%s", state[0] == 'p' ? "queue" : "dead",
		    queue);
		wq_argv_adds(&a, "0");
		wq_argv_addl(&a, limit - 1);
	} else if (strcmp(state, "delayed") == 0) {
		wq_argv_adds(&a, "ZRANGE");
		wq_argv_key(&a, wq, "delayed:%s", queue);
		wq_argv_adds(&a, "0");
		wq_argv_addl(&a, limit - 1);
	} else if (strcmp(state, "working") == 0) {
		wq_argv_adds(&a, "ZRANGE");
		wq_argv_key(&a, wq, "nodes");
		wq_argv_adds(&a, "0");
		wq_argv_adds(&a, "-1");
	} else {
		wq_argv_free(&a);
		jv_free(ids);
		return wq_seterr(wq, WQ_EUSAGE, "bad state \"%s\": expected "
		    "pending, delayed, working, failed or dead", state);
	}
	r = wq_redis_command(wq, &a);
	wq_argv_free(&a);
	if ((rc = wq_reply_error(wq, r, "list")) != WQ_OK) {
		if (r)
			freeReplyObject(r);
		jv_free(ids);
		return rc;
	}
	if (strcmp(state, "working") != 0) {
		rc = list_ids(wq, queue, state, limit, r, &ids);
		freeReplyObject(r);
		if (rc != WQ_OK)
			jv_free(ids);
		else
			*out = ids;
		return rc;
	}
	/*
	 * working: the active lists of the live nodes, whatever the queue
	 * of their jobs (wq-status keeps those of its queue, after limit).
	 */
	nodes = r;
	for (i = 0; i < nodes->elements && jv_array_length(jv_copy(ids)) <
	    limit; i++) {
		wq_argv_init(&a);
		wq_argv_adds(&a, "LRANGE");
		wq_argv_key(&a, wq, "active:%s", nodes->element[i]->str);
		wq_argv_adds(&a, "0");
		wq_argv_addl(&a, limit - 1);
		r = wq_redis_command(wq, &a);
		wq_argv_free(&a);
		if ((rc = wq_reply_error(wq, r, "list")) != WQ_OK) {
			if (r)
				freeReplyObject(r);
			freeReplyObject(nodes);
			jv_free(ids);
			return rc;
		}
		for (j = 0; j < r->elements; j++)
			ids = jv_array_append(ids,
			    jv_string(r->element[j]->str));
		freeReplyObject(r);
	}
	freeReplyObject(nodes);
	*out = ids;
	return WQ_OK;
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
claim_argv(struct wq *wq, struct wq_worker_opts *o, size_t max,
    struct wq_argv *a)
{
	/* Per queue, in this order: claim.lua's KEYS (its limits' state:
	 * docs/DESIGN.md, Limits). */
	static const char *const keys[] = { "queue", "urgent", "limit",
	    "running", "started" };
	size_t	i, k, nk = sizeof(keys) / sizeof(keys[0]);

	wq_script_argv(a, WQ_SCRIPT_CLAIM);
	wq_argv_key(a, wq, "active:%s", wq_name(wq));
	for (k = 0; k < nk; k++)
		for (i = 0; i < o->nqueues; i++)
			wq_argv_key(a, wq, "%s:%s", keys[k], o->queues[i]);
	wq_argv_setnkeys(a, (int)(o->nqueues * nk) + 1);
	wq_script_prefix(a, wq);
	wq_argv_adds(a, wq_name(wq));
	wq_argv_addl(a, (long long)max);
	wq_argv_addl(a, o->max_attempts);
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

static int
claim(struct wq *wq, struct wq_worker_opts *o, size_t max,
    struct wq_claim *out, size_t *n)
{
	struct wq_argv	 a;
	redisReply	*r;
	int		 rc;

	*n = 0;
	claim_argv(wq, o, max, &a);
	r = wq_script_run(wq, &a);
	wq_argv_free(&a);
	rc = claim_decode(wq, r, max, out, n);
	if (r)
		freeReplyObject(r);
	return rc;
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

static void
complete_argv(struct wq *wq, struct wq_outcome *outs, size_t n,
    struct wq_argv *a)
{
	static const char *kinds[] = { "ok", "fail", "back" };
	size_t	 i;
	char	*s;

	wq_script_argv(a, WQ_SCRIPT_COMPLETE);
	wq_argv_key(a, wq, "active:%s", wq_name(wq));
	wq_argv_setnkeys(a, 1);
	wq_script_prefix(a, wq);
	wq_argv_adds(a, wq_name(wq));
	for (i = 0; i < n; i++) {
		wq_argv_adds(a, outs[i].id);
		wq_argv_addl(a, outs[i].token);
		wq_argv_adds(a, kinds[outs[i].kind]);
		if (outs[i].kind == WQ_DONE_OK) {
			s = wq_dump(jv_copy(outs[i].result));
			wq_argv_adds(a, s);
			free(s);
		} else
			wq_argv_adds(a, outs[i].error ? outs[i].error : "");
		wq_argv_addl(a, outs[i].retry_ms);
	}
}

static int
complete_decode(struct wq *wq, redisReply *r, struct wq_outcome *outs,
    size_t n)
{
	size_t	i, len;
	int	rc;

	if ((rc = wq_reply_error(wq, r, "complete")) != WQ_OK)
		return rc;
	for (i = 0; i < n && i < r->elements; i++) {
		free(outs[i].state);
		outs[i].state = wq_strdup(r->element[i]->str);
		/* "worked!": it has children to tell (complete.lua) */
		if ((len = strlen(outs[i].state)) > 0 &&
		    outs[i].state[len - 1] == '!') {
			outs[i].state[len - 1] = '\0';
			outs[i].children = 1;
		}
	}
	return WQ_OK;
}

int
wq_complete(struct wq *wq, struct wq_outcome *outs, size_t n)
{
	struct wq_argv	 a;
	redisReply	*r;
	int		 rc;

	if (n == 0)
		return WQ_OK;
	complete_argv(wq, outs, n, &a);
	r = wq_script_run(wq, &a);
	wq_argv_free(&a);
	rc = complete_decode(wq, r, outs, n);
	if (r)
		freeReplyObject(r);
	return rc;
}

/*
 * Record outcomes and claim the next jobs in one round trip (a pipeline
 * of the two scripts): the steady state of a busy worker.
 */
int
wq_complete_claim(struct wq *wq, struct wq_outcome *outs, size_t nouts,
    struct wq_worker_opts *o, size_t max, struct wq_claim *out, size_t *n)
{
	struct wq_argv	 a[2];
	redisReply	*r[2];
	int		 rc, i;

	*n = 0;
	if (nouts == 0)
		return claim(wq, o, max, out, n);
	complete_argv(wq, outs, nouts, &a[0]);
	claim_argv(wq, o, max, &a[1]);
	rc = wq_redis_pipeline(wq, a, 2, r);
	for (i = 0; rc == WQ_OK && i < 2; i++)
		if (wq_reply_noscript(r[i])) {
			freeReplyObject(r[i]);
			r[i] = wq_script_run(wq, &a[i]);
			if (r[i] == NULL)
				rc = WQ_EUNAVAIL;
		}
	/* Outcomes Redis refused with an error keep no state; the claim,
	 * made all the same, must not be lost. */
	if (rc == WQ_OK && (rc = complete_decode(wq, r[0], outs, nouts)) ==
	    WQ_EREDIS)
		rc = WQ_OK;
	if (rc == WQ_OK)
		rc = claim_decode(wq, r[1], max, out, n);
	for (i = 0; i < 2; i++) {
		if (r[i] != NULL)
			freeReplyObject(r[i]);
		wq_argv_free(&a[i]);
	}
	return rc;
}

/* After a reconnect: hand back what the node holds but does not know of. */
int
wq_recover(struct wq *wq, const char **known, size_t n, long *handed)
{
	struct wq_argv	 a;
	redisReply	*r;
	size_t		 i;
	int		 rc;

	wq_script_argv(&a, WQ_SCRIPT_RECOVER);
	wq_argv_key(&a, wq, "active:%s", wq_name(wq));
	wq_argv_setnkeys(&a, 1);
	wq_script_prefix(&a, wq);
	wq_argv_adds(&a, wq_name(wq));
	for (i = 0; i < n; i++)
		wq_argv_adds(&a, known[i]);
	r = wq_script_run(wq, &a);
	wq_argv_free(&a);
	if ((rc = wq_reply_error(wq, r, "recover")) == WQ_OK)
		*handed = (long)wq_reply_ll(r);
	if (r)
		freeReplyObject(r);
	return rc;
}

int
wq_promote(struct wq *wq, struct wq_worker_opts *o, long *moved,
    int64_t *next_ms)
{
	struct wq_argv	 a;
	redisReply	*r;
	size_t		 i;
	int		 rc;

	wq_script_argv(&a, WQ_SCRIPT_PROMOTE);
	for (i = 0; i < o->nqueues; i++) {
		wq_argv_key(&a, wq, "delayed:%s", o->queues[i]);
		wq_argv_key(&a, wq, "queue:%s", o->queues[i]);
	}
	wq_argv_setnkeys(&a, (int)o->nqueues * 2);
	wq_script_prefix(&a, wq);
	for (i = 0; i < o->nqueues; i++)
		wq_argv_adds(&a, o->queues[i]);
	r = wq_script_run(wq, &a);
	wq_argv_free(&a);
	if ((rc = wq_reply_error(wq, r, "promote")) == WQ_OK) {
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
			rc = wq_seterr(wq, WQ_EUNAVAIL, "promote: unexpected "
			    "reply");
		else {
			*moved = (long)wq_reply_ll(r->element[0]);
			*next_ms = (int64_t)wq_reply_ll(r->element[1]);
		}
	}
	if (r)
		freeReplyObject(r);
	return rc;
}

int
wq_progress(struct wq *wq, const char **ids, const long *tokens,
    const char **progress, size_t n)
{
	struct wq_argv	 a;
	redisReply	*r;
	size_t		 i;
	int		 rc;

	if (n == 0)
		return WQ_OK;
	wq_script_argv(&a, WQ_SCRIPT_PROGRESS);
	wq_argv_setnkeys(&a, 0);
	wq_script_prefix(&a, wq);
	wq_argv_adds(&a, wq_name(wq));
	for (i = 0; i < n; i++) {
		wq_argv_adds(&a, ids[i]);
		wq_argv_addl(&a, tokens[i]);
		wq_argv_adds(&a, progress[i]);
	}
	r = wq_script_run(wq, &a);
	wq_argv_free(&a);
	rc = wq_reply_error(wq, r, "progress");
	if (r)
		freeReplyObject(r);
	return rc;
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
