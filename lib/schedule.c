/*
 * schedule.c -- recurring jobs (docs/DESIGN.md, Schedules): the schedules
 * kept in Redis (the set "schedules", a hash schedule:<name> each, and
 * "cron", the zset of the next time of those not paused), changed by
 * schedule.lua, and the firing of those that are due, which the node
 * that sweeps does when its beat says one is (heartbeat.lua).
 *
 * A firing's job is the schedule's job object with the key
 * "cron:NAME:TIME" (TIME in Unix seconds), so its callback id is a pure
 * function of the name and the scheduled time: submitted twice, it is one
 * job.  fire.lua moves the schedule's next time on before the jobs are
 * submitted, and only the sweeper whose move won submits them: a time is
 * fired at most once however many nodes sweep (a sweeper that dies
 * between the two loses that firing, never doubles it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wq-int.h"

/* A time later than this is missed (no node was there to fire it). */
#define ON_TIME_MS	2000
#define ON_TIME_MAX	(ON_TIME_MS / 1000 + 2)
#define SWEEP_MAX	100	/* schedules fired by one sweep */
#define SHOWN		3	/* next times listed */
#define CATCH_UP_MAX	1000
#define SEARCH_MAX	100000	/* times stepped over to find the latest */

/* A schedule as read from its hash. */
struct sched {
	const char	*name;
	char		*spec, *tz, *next_s;
	struct wq_cron	 c;
	jv		 job;
	long		 catch_up;
	int		 paused, ok;
	int64_t		 next, last;
};

static int
check_name(struct wq *wq, const char *name)
{
	size_t	n = strlen(name);

	if (n == 0 || n > WQ_SCHEDULE_NAME_MAX || strspn(name,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-") != n)
		return wq_seterr(wq, WQ_EUSAGE, "bad schedule name \"%.64s\":"
		    " 1 to %d of A-Z a-z 0-9 . _ -", name,
		    WQ_SCHEDULE_NAME_MAX);
	return WQ_OK;
}

/* schedule.lua's call, its fields added by the caller. */
static void
script_argv(struct wq *wq, const char *op, const char *name, int64_t next,
    struct wq_argv *a)
{
	wq_script_argv(a, WQ_SCRIPT_SCHEDULE);
	wq_argv_key(a, wq, "schedules");
	wq_argv_key(a, wq, "schedule:%s", name);
	wq_argv_key(a, wq, "cron");
	wq_argv_setnkeys(a, 3);
	wq_script_prefix(a, wq);
	wq_argv_adds(a, op);
	wq_argv_adds(a, name);
	wq_argv_addl(a, (long long)next);
}

/* Run a built call: its integer reply into *n. */
static int
script_run(struct wq *wq, struct wq_argv *a, long long *n)
{
	redisReply	*r;
	int		 rc;

	r = wq_script_run(wq, a);
	wq_argv_free(a);
	if ((rc = wq_reply_error(wq, r, "cron")) == WQ_OK)
		*n = wq_reply_ll(r);
	if (r)
		freeReplyObject(r);
	return rc;
}

/* A job object fit to fire: what a submission takes, but no key. */
static int
check_job(struct wq *wq, jv job)
{
	struct wq_spec	s;
	jv		k;
	int		rc = WQ_OK;

	k = jv_object_get(jv_copy(job), jv_string("key"));
	if (jv_is_valid(k)) {
		jv_free(k);
		return wq_seterr(wq, WQ_EUSAGE, "a schedule's job has no "
		    "\"key\": each firing's id comes from the name and time");
	}
	if (wq_spec_from_json(wq, jv_copy(job), &s) != WQ_OK)
		return WQ_EUSAGE;
	/* (each firing would be refused: wq_submit()) */
	if (s.group != NULL)
		rc = wq_parts_one(wq, "groups");
	wq_spec_clear(&s);
	return rc;
}

/* HGETALL of schedule:<name> for each name, in one pipeline. */
static int
read_hashes(struct wq *wq, char *const *names, size_t n, redisReply ***rs)
{
	struct wq_argv	*cmds;
	size_t		 i;
	int		 rc;

	cmds = wq_calloc(n, sizeof(*cmds));
	*rs = wq_calloc(n, sizeof(**rs));
	for (i = 0; i < n; i++) {
		wq_argv_init(&cmds[i]);
		wq_argv_adds(&cmds[i], "HGETALL");
		wq_argv_key(&cmds[i], wq, "schedule:%s", names[i]);
	}
	rc = n ? wq_redis_pipeline(wq, cmds, n, *rs) : WQ_OK;
	for (i = 0; i < n; i++)
		wq_argv_free(&cmds[i]);
	free(cmds);
	for (i = 0; rc == WQ_OK && i < n; i++)
		rc = wq_reply_error(wq, (*rs)[i], "cron");
	return rc;
}

static void
free_hashes(redisReply **rs, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (rs[i])
			freeReplyObject(rs[i]);
	free(rs);
}

/* A schedule's hash into *s (s->ok: complete, and its spec parses). */
static void
sched_decode(struct wq *wq, const char *name, redisReply *r,
    struct sched *s)
{
	const char	*f, *v;
	size_t		 i;

	memset(s, 0, sizeof(*s));
	s->name = name;
	s->job = jv_invalid();
	for (i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements;
	    i += 2) {
		f = r->element[i]->str;
		v = r->element[i + 1]->str;
		if (f == NULL || v == NULL)
			continue;
		if (strcmp(f, "spec") == 0)
			s->spec = wq_strdup(v);
		else if (strcmp(f, "tz") == 0)
			s->tz = wq_strdup(v);
		else if (strcmp(f, "next") == 0) {
			s->next_s = wq_strdup(v);
			s->next = strtoll(v, NULL, 10);
		} else if (strcmp(f, "last") == 0)
			s->last = strtoll(v, NULL, 10);
		else if (strcmp(f, "paused") == 0)
			s->paused = strcmp(v, "1") == 0;
		else if (strcmp(f, "catch_up") == 0)
			s->catch_up = strtol(v, NULL, 10);
		else if (strcmp(f, "job") == 0) {
			jv_free(s->job);
			s->job = jv_parse(v);
		}
	}
	s->ok = s->spec != NULL && s->tz != NULL && s->next_s != NULL &&
	    jv_get_kind(s->job) == JV_KIND_OBJECT &&
	    wq_cron_parse(wq, s->spec, &s->c) == WQ_OK;
}

static void
sched_clear(struct sched *s)
{
	free(s->spec);
	free(s->tz);
	free(s->next_s);
	jv_free(s->job);
}

/* A schedule as wq-cron ls shows it. */
static jv
sched_json(struct sched *s)
{
	int64_t	t[SHOWN];
	size_t	i, n = 0;
	char	when[40];
	jv	o, next = jv_array();

	if (!s->paused) {
		t[0] = s->next;
		n = 1 + wq_cron_times(&s->c, s->tz, s->next, t + 1, SHOWN - 1);
	}
	for (i = 0; i < n; i++) {
		wq_cron_format(s->tz, t[i], when, sizeof(when));
		next = jv_array_append(next, jv_string(when));
	}
	o = jv_object_set(jv_object(), jv_string("name"),
	    jv_string(s->name));
	o = jv_object_set(o, jv_string("spec"), jv_string(s->spec));
	o = jv_object_set(o, jv_string("tz"), jv_string(s->tz));
	o = jv_object_set(o, jv_string("job"), jv_copy(s->job));
	o = jv_object_set(o, jv_string("catch_up"),
	    jv_number((double)s->catch_up));
	o = jv_object_set(o, jv_string("paused"), jv_bool(s->paused));
	if (s->last > 0) {
		wq_cron_format(s->tz, s->last, when, sizeof(when));
		o = jv_object_set(o, jv_string("last"), jv_string(when));
	} else
		o = jv_object_set(o, jv_string("last"), jv_null());
	return jv_object_set(o, jv_string("next"), next);
}

/*
 * The operations on schedules (list, add, rm, pause, resume), each in
 * rounds of commands, so that the blocking functions here and the API's
 * event loop (a struct wq_read, read.c) run the same code:
 *
 *   list     SMEMBERS schedules; then HGETALL of each
 *   add      TIME (the next time is after the server's now); then
 *            schedule.lua
 *   resume   TIME and HGETALL of the schedule; then schedule.lua
 *   rm,      schedule.lua
 *   pause
 *
 * A script the server does not know (NOSCRIPT) is sent again as EVAL in
 * a round of its own.
 */
struct wq_cronop {
	struct wq	*wq;
	int		 op;
	int		 round;		/* whose commands are out */
	int		 evaled;
	int		 done;
	char		*name, *spec, *tz;
	jv		 job;
	long		 catch_up;
	struct wq_cron	 c;
	int64_t		 next;
	struct wq_argv	*cmds;
	size_t		 ncmds;
	char		**names;	/* list: sorted */
	size_t		 nnames;
	jv		 out;
};

static const char *const op_verbs[] = { "rm", "pause", "resume", "add",
    "ls" };
static const char *const op_states[] = { "removed", "paused", "resumed" };

/* The job of an add, with the queue and ttl of the settings by default. */
static jv
job_defaults(struct wq *wq, jv job)
{
	if (!jv_object_has(jv_copy(job), jv_string("queue")))
		job = jv_object_set(job, jv_string("queue"),
		    jv_string(wq_setting(wq, WQ_OPT_QUEUE)));
	if (!jv_object_has(jv_copy(job), jv_string("ttl")))
		job = jv_object_set(job, jv_string("ttl"),
		    jv_number((double)wq_setting_num(wq, WQ_OPT_TTL)));
	return job;
}

/* What an add takes, checked before anything is sent. */
static int
check_add(struct wq *wq, const struct wq_schedule *s, struct wq_cron *c)
{
	int	rc;

	if (s->spec == NULL)
		return wq_seterr(wq, WQ_EUSAGE, "a schedule needs an "
		    "expression");
	if ((rc = wq_cron_parse(wq, s->spec, c)) != WQ_OK ||
	    (rc = wq_cron_zone(wq, s->tz ? s->tz : "UTC")) != WQ_OK)
		return rc;
	if (jv_get_kind(s->job) != JV_KIND_OBJECT)
		return wq_seterr(wq, WQ_EUSAGE, "a schedule's job is a JSON "
		    "object");
	if ((rc = check_job(wq, s->job)) != WQ_OK)
		return rc;
	if (s->catch_up < 0 || s->catch_up > CATCH_UP_MAX)
		return wq_seterr(wq, WQ_EUSAGE, "bad catch-up %ld: 0 to %d",
		    s->catch_up, CATCH_UP_MAX);
	return WQ_OK;
}

int
wq_cronop_new(struct wq *wq, int op, const struct wq_schedule *s,
    struct wq_cronop **out)
{
	struct wq_cronop	*o;
	struct wq_cron		 c;
	int			 rc;

	*out = NULL;
	if (op < 0 || op > WQ_SCHEDULE_LIST)
		return wq_seterr(wq, WQ_EUSAGE, "cron: unknown operation");
	if (op != WQ_SCHEDULE_LIST && ((rc = check_name(wq, s->name)) !=
	    WQ_OK || (op == WQ_SCHEDULE_ADD && (rc = check_add(wq, s,
	    &c)) != WQ_OK)))
		return rc;
	o = wq_calloc(1, sizeof(*o));
	o->wq = wq;
	o->op = op;
	o->job = jv_invalid();
	o->out = jv_invalid();
	if (op != WQ_SCHEDULE_LIST)
		o->name = wq_strdup(s->name);
	if (op == WQ_SCHEDULE_ADD) {
		o->spec = wq_strdup(s->spec);
		o->tz = wq_strdup(s->tz ? s->tz : "UTC");
		o->job = job_defaults(wq, jv_copy(s->job));
		o->catch_up = s->catch_up;
		o->c = c;
	}
	*out = o;
	return WQ_OK;
}

static void
op_cmds_free(struct wq_cronop *o)
{
	size_t	i;

	for (i = 0; i < o->ncmds; i++)
		wq_argv_free(&o->cmds[i]);
	free(o->cmds);
	o->cmds = NULL;
	o->ncmds = 0;
}

void
wq_cronop_free(struct wq_cronop *o)
{
	if (o == NULL)
		return;
	op_cmds_free(o);
	wq_strs_free(o->names, o->nnames);
	free(o->name);
	free(o->spec);
	free(o->tz);
	jv_free(o->job);
	jv_free(o->out);
	free(o);
}

/* Room for n commands of the next round. */
static struct wq_argv *
op_slots(struct wq_cronop *o, size_t n)
{
	size_t	i;

	o->cmds = wq_calloc(n, sizeof(*o->cmds));
	o->ncmds = n;
	for (i = 0; i < n; i++)
		wq_argv_init(&o->cmds[i]);
	return o->cmds;
}

static void
op_time(struct wq_argv *a)
{
	wq_argv_adds(a, "TIME");
}

static void
op_round1(struct wq_cronop *o)
{
	struct wq_argv	*a;

	switch (o->op) {
	case WQ_SCHEDULE_LIST:
		a = op_slots(o, 1);
		wq_argv_adds(a, "SMEMBERS");
		wq_argv_key(a, o->wq, "schedules");
		break;
	case WQ_SCHEDULE_ADD:
		op_time(op_slots(o, 1));
		break;
	case WQ_SCHEDULE_RESUME:
		a = op_slots(o, 2);
		op_time(&a[0]);
		wq_argv_adds(&a[1], "HGETALL");
		wq_argv_key(&a[1], o->wq, "schedule:%s", o->name);
		break;
	default:
		a = op_slots(o, 1);
		wq_argv_free(a);
		script_argv(o->wq, op_verbs[o->op], o->name, 0, a);
	}
}

/* The commands of the next round, or 0 once the operation is done. */
size_t
wq_cronop_next(struct wq_cronop *o, struct wq_argv **cmds)
{
	*cmds = NULL;
	if (o->done)
		return 0;
	if (o->round == 0) {
		op_round1(o);
		o->round = 1;
	}
	*cmds = o->cmds;
	return o->ncmds;
}

/* {"name","status"} */
static jv
op_answer(struct wq_cronop *o, const char *status)
{
	return jv_object_set(jv_object_set(jv_object(), jv_string("name"),
	    jv_string(o->name)), jv_string("status"), jv_string(status));
}

/* schedule.lua's answer to rm, pause, resume: 0 is no such schedule. */
static int
op_changed(struct wq_cronop *o, redisReply *r)
{
	if (wq_reply_ll(r) == 0)
		return wq_seterr(o->wq, WQ_NO, "no schedule %s", o->name);
	o->out = op_answer(o, op_states[o->op]);
	return WQ_OK;
}

/* Round two of an add: the schedule, due at its first time from now. */
static int
op_add(struct wq_cronop *o, int64_t now)
{
	struct wq_argv	*a;
	char		*job;

	if (wq_cron_times(&o->c, o->tz, now / 1000, &o->next, 1) == 0)
		return wq_seterr(o->wq, WQ_EUSAGE, "bad schedule \"%.64s\": "
		    "it never fires", o->spec);
	a = op_slots(o, 1);
	wq_argv_free(a);
	script_argv(o->wq, "add", o->name, o->next, a);
	wq_argv_adds(a, "spec");
	wq_argv_adds(a, o->spec);
	wq_argv_adds(a, "tz");
	wq_argv_adds(a, o->tz);
	wq_argv_adds(a, "job");
	job = wq_dump(jv_copy(o->job));
	wq_argv_adds(a, job);
	free(job);
	wq_argv_adds(a, "catch_up");
	wq_argv_addl(a, o->catch_up);
	return WQ_OK;
}

/* Round two of a resume: from the first time after now; what it
 * missed while paused stays missed. */
static void
op_resume(struct wq_cronop *o, int64_t now, redisReply *h)
{
	struct sched	 s;
	struct wq_argv	*a;
	int64_t		 next = 0;

	sched_decode(o->wq, o->name, h, &s);
	if (s.ok && wq_cron_times(&s.c, s.tz, now / 1000, &next, 1) == 0)
		next = 0;
	sched_clear(&s);
	a = op_slots(o, 1);
	wq_argv_free(a);
	script_argv(o->wq, "resume", o->name, next, a);
}

static int
op_feed1(struct wq_cronop *o, redisReply **r)
{
	struct wq_argv	*a;
	size_t		 i;

	switch (o->op) {
	case WQ_SCHEDULE_LIST:
		o->nnames = wq_queues_names(r[0], &o->names);
		if (o->nnames == 0) {
			o->out = jv_array();
			break;
		}
		a = op_slots(o, o->nnames);
		for (i = 0; i < o->nnames; i++) {
			wq_argv_adds(&a[i], "HGETALL");
			wq_argv_key(&a[i], o->wq, "schedule:%s", o->names[i]);
		}
		break;
	case WQ_SCHEDULE_ADD:
		return op_add(o, wq_reply_time_ms(r[0]));
	case WQ_SCHEDULE_RESUME:
		op_resume(o, wq_reply_time_ms(r[0]), r[1]);
		break;
	default:
		return op_changed(o, r[0]);
	}
	return WQ_OK;
}

static int
op_feed2(struct wq_cronop *o, redisReply **r)
{
	struct sched	s;
	size_t		i;
	char		when[40];

	switch (o->op) {
	case WQ_SCHEDULE_LIST:
		o->out = jv_array();
		for (i = 0; i < o->nnames; i++) {
			sched_decode(o->wq, o->names[i], r[i], &s);
			if (s.ok)
				o->out = jv_array_append(o->out,
				    sched_json(&s));
			sched_clear(&s);
		}
		break;
	case WQ_SCHEDULE_ADD:
		wq_cron_format(o->tz, o->next, when, sizeof(when));
		o->out = jv_object_set(op_answer(o, wq_reply_ll(r[0]) ?
		    "added" : "replaced"), jv_string("next"),
		    jv_string(when));
		break;
	default:
		return op_changed(o, r[0]);
	}
	return WQ_OK;
}

/*
 * The replies to the commands wq_cronop_next() gave, in order: WQ_NO
 * for a schedule that does not exist, WQ_EUSAGE for one that never
 * fires from now on.
 */
int
wq_cronop_feed(struct wq_cronop *o, redisReply **r, size_t n)
{
	size_t	i;
	int	rc;

	if (o->done || n != o->ncmds)
		return wq_seterr(o->wq, WQ_EUNAVAIL, "cron: %zu replies to "
		    "%zu commands", n, o->ncmds);
	for (i = 0; i < n && !o->evaled; i++)
		if (wq_reply_noscript(r[i])) {
			o->evaled = 1;
			for (i = 0; i < n; i++)
				wq_script_to_eval(&o->cmds[i]);
			return WQ_OK;
		}
	for (i = 0; i < n; i++)
		if ((rc = wq_reply_error(o->wq, r[i], "cron")) != WQ_OK) {
			o->done = 1;
			return rc;
		}
	if (n > 0 && o->op == WQ_SCHEDULE_LIST && o->round == 1 &&
	    r[0]->type != REDIS_REPLY_ARRAY)
		return wq_seterr(o->wq, WQ_EUNAVAIL, "cron: unexpected "
		    "reply");
	op_cmds_free(o);
	rc = o->round == 1 ? op_feed1(o, r) : op_feed2(o, r);
	o->round++;
	o->done = rc != WQ_OK || o->ncmds == 0;
	return rc;
}

/* The answer, once wq_cronop_next() gave 0; the caller owns it. */
jv
wq_cronop_result(struct wq_cronop *o)
{
	jv	out = o->out;

	o->out = jv_invalid();
	return jv_is_valid(out) ? out : jv_null();
}

/* The blocking run of an operation: a round trip a round. */
static int
op_run(struct wq *wq, int op, const struct wq_schedule *s, jv *out)
{
	struct wq_cronop	 *o;
	struct wq_argv		 *cmds;
	redisReply		**r;
	size_t			  n, i;
	int			  rc;

	if ((rc = wq_cronop_new(wq, op, s, &o)) != WQ_OK)
		return rc;
	while (rc == WQ_OK && (n = wq_cronop_next(o, &cmds)) > 0) {
		r = wq_calloc(n, sizeof(*r));
		if ((rc = wq_redis_pipeline(wq, cmds, n, r)) == WQ_OK)
			rc = wq_cronop_feed(o, r, n);
		for (i = 0; i < n; i++)
			if (r[i] != NULL)
				freeReplyObject(r[i]);
		free(r);
	}
	if (rc == WQ_OK)
		*out = wq_cronop_result(o);
	wq_cronop_free(o);
	return rc;
}

int
wq_schedule_add(struct wq *wq, const struct wq_schedule *s, jv *out)
{
	return op_run(wq, WQ_SCHEDULE_ADD, s, out);
}

int
wq_schedule_list(struct wq *wq, jv *out)
{
	return op_run(wq, WQ_SCHEDULE_LIST, NULL, out);
}

int
wq_schedule_set(struct wq *wq, const char *name, int op, jv *out)
{
	struct wq_schedule	s;

	memset(&s, 0, sizeof(s));
	s.name = name;
	if (op != WQ_SCHEDULE_RM && op != WQ_SCHEDULE_PAUSE &&
	    op != WQ_SCHEDULE_RESUME)
		return wq_seterr(wq, WQ_EUSAGE, "cron: unknown operation");
	return op_run(wq, op, &s, out);
}

/* The fields a body may have: a field unknown is a mistake, said. */
static int
body_fields(struct wq *wq, jv v)
{
	static const char *const known[] = { "spec", "tz", "catch_up",
	    "job" };
	const char	*k;
	size_t		 j;
	int		 i, rc = WQ_OK;
	jv		 f;

	for (i = jv_object_iter(v); rc == WQ_OK && jv_object_iter_valid(v, i);
	    i = jv_object_iter_next(v, i)) {
		f = jv_object_iter_key(v, i);
		k = jv_string_value(f);
		for (j = 0; j < 4 && strcmp(k, known[j]) != 0; j++)
			;
		if (j == 4)
			rc = wq_seterr(wq, WQ_EUSAGE, "unknown field \"%.32s\""
			    " (spec, tz, catch_up, job)", k);
		jv_free(f);
	}
	return rc;
}

/*
 * An add from the API's body {"spec","tz","catch_up","job"} (the job by
 * default {"data": NAME}); WQ_EUSAGE with why, nothing sent.
 */
int
wq_schedule_body(struct wq *wq, const char *name, const char *body,
    size_t len, struct wq_cronop **out)
{
	struct wq_schedule	 s;
	char			 err[256];
	jv			 v, spec, tz, cu;
	double			 d;
	int			 rc;

	*out = NULL;
	v = wq_parse(body, len, err, sizeof(err));
	if (!jv_is_valid(v)) {
		jv_free(v);
		return wq_seterr(wq, WQ_EUSAGE, "%s", err);
	}
	if (jv_get_kind(v) != JV_KIND_OBJECT) {
		jv_free(v);
		return wq_seterr(wq, WQ_EUSAGE, "expected a JSON object with "
		    "\"spec\"");
	}
	memset(&s, 0, sizeof(s));
	s.name = name;
	spec = jv_object_get(jv_copy(v), jv_string("spec"));
	tz = jv_object_get(jv_copy(v), jv_string("tz"));
	cu = jv_object_get(jv_copy(v), jv_string("catch_up"));
	s.job = jv_object_get(jv_copy(v), jv_string("job"));
	if (!jv_is_valid(s.job)) {
		jv_free(s.job);
		s.job = jv_object_set(jv_object(), jv_string("data"),
		    jv_string(name));
	}
	d = jv_get_kind(cu) == JV_KIND_NUMBER ? jv_number_value(cu) : 0;
	if ((rc = body_fields(wq, v)) != WQ_OK)
		;
	else if (jv_get_kind(spec) != JV_KIND_STRING)
		rc = wq_seterr(wq, WQ_EUSAGE, "\"spec\" is a string: a cron "
		    "expression or @every DURATION");
	else if (jv_is_valid(tz) && jv_get_kind(tz) != JV_KIND_STRING)
		rc = wq_seterr(wq, WQ_EUSAGE, "\"tz\" is a string: a zone "
		    "such as Europe/Paris");
	else if (jv_is_valid(cu) && (jv_get_kind(cu) != JV_KIND_NUMBER ||
	    d < 0 || d > CATCH_UP_MAX || d != (double)(long)d))
		rc = wq_seterr(wq, WQ_EUSAGE, "\"catch_up\" is a whole number "
		    "from 0 to %d", CATCH_UP_MAX);
	else {
		s.spec = jv_string_value(spec);
		s.tz = jv_is_valid(tz) ? jv_string_value(tz) : NULL;
		s.catch_up = (long)d;
		rc = wq_cronop_new(wq, WQ_SCHEDULE_ADD, &s, out);
	}
	jv_free(s.job);
	jv_free(spec);
	jv_free(tz);
	jv_free(cu);
	jv_free(v);
	return rc;
}
/*
 * The times of s to fire now, into t[] (the latest last), and the time
 * after them into *next: of the times past, those on time (ON_TIME_MS),
 * the latest (after an outage the schedule runs once) and the catch_up
 * missed ones before it.
 */
static size_t
due_times(struct sched *s, int64_t now_ms, int64_t *t, size_t room,
    int64_t *next)
{
	int64_t	cur = s->next, step[64];
	size_t	n = 0, keep, i, k, got, seen = 0;

	keep = (size_t)s->catch_up + 1;
	if (s->c.every > 0 && now_ms / 1000 - cur > s->c.every *
	    (long)(keep + ON_TIME_MAX))
		cur += ((now_ms / 1000 - cur) / s->c.every - (long)(keep +
		    ON_TIME_MAX)) * s->c.every;
	t[n++] = cur;
	for (;;) {
		got = wq_cron_times(&s->c, s->tz, cur, step, 64);
		for (i = 0; i < got && step[i] * 1000 <= now_ms; i++) {
			if (n == room) {
				memmove(t, t + 1, (room - 1) * sizeof(*t));
				n--;
			}
			t[n++] = step[i];
		}
		if (got == 0 || i < got) {
			*next = i < got ? step[i] : -1;
			break;
		}
		cur = step[got - 1];
		/* Missed for long: the last day holds the latest times. */
		if ((seen += got) > SEARCH_MAX && cur < now_ms / 1000 - 86400) {
			cur = now_ms / 1000 - 86400;
			seen = 0;
		}
	}
	/* The latest keep, and before them those on time. */
	for (k = 0; k < n && n - k > keep && now_ms - t[k] * 1000 >
	    ON_TIME_MS; k++)
		;
	memmove(t, t + k, (n - k) * sizeof(*t));
	return n - k;
}

/* Claim the times of s (fire.lua), then submit their jobs. */
static int
fire(struct wq *wq, struct sched *s, int64_t now_ms, long *fired)
{
	struct wq_argv	 a;
	struct wq_spec	*specs;
	int64_t		*t, next;
	size_t		 n, i, room;
	long long	 won;
	char		 key[WQ_SCHEDULE_NAME_MAX + 32];
	jv		*answers;
	int		 rc;

	room = (size_t)s->catch_up + 1 + ON_TIME_MAX;
	t = wq_calloc(room, sizeof(*t));
	n = due_times(s, now_ms, t, room, &next);
	wq_script_argv(&a, WQ_SCRIPT_FIRE);
	wq_argv_key(&a, wq, "schedule:%s", s->name);
	wq_argv_key(&a, wq, "cron");
	wq_argv_setnkeys(&a, 2);
	wq_script_prefix(&a, wq);
	wq_argv_adds(&a, s->name);
	wq_argv_adds(&a, s->next_s);
	/* Never again: parked far away, listed with no next time. */
	wq_argv_addl(&a, (long long)(next < 0 ? 253402300799LL : next));
	wq_argv_addl(&a, (long long)t[n - 1]);
	if ((rc = script_run(wq, &a, &won)) != WQ_OK || !won) {
		free(t);
		return rc;
	}
	specs = wq_calloc(n, sizeof(*specs));
	answers = wq_calloc(n, sizeof(*answers));
	for (i = 0; i < n && rc == WQ_OK; i++) {
		snprintf(key, sizeof(key), "cron:%s:%lld", s->name,
		    (long long)t[i]);
		rc = wq_spec_from_json(wq, jv_object_set(jv_copy(s->job),
		    jv_string("key"), jv_string(key)), &specs[i]);
	}
	if (rc == WQ_OK && (rc = wq_submit(wq, specs, n, answers)) ==
	    WQ_OK)
		*fired += (long)n;
	for (i = 0; i < n; i++) {
		jv_free(answers[i]);
		wq_spec_clear(&specs[i]);
	}
	free(answers);
	free(specs);
	free(t);
	return rc;
}

/*
 * Fire the schedules that are due, SWEEP_MAX at most; *more is set when
 * that many were due, so that the caller sweeps again at once rather
 * than a beat later (10,000 schedules due together would otherwise take
 * 100 beats).
 */
int
wq_schedule_sweep(struct wq *wq, long *fired, int *more)
{
	struct wq_argv	  cmds[2];
	struct sched	  s;
	redisReply	 *r[2], **rs;
	char		**names;
	size_t		  i, n = 0;
	int64_t		  now;
	int		  rc, rc2;

	*fired = 0;
	*more = 0;
	wq_argv_init(&cmds[0]);
	wq_argv_adds(&cmds[0], "TIME");
	wq_argv_init(&cmds[1]);
	wq_argv_adds(&cmds[1], "ZRANGE");
	wq_argv_key(&cmds[1], wq, "cron");
	wq_argv_adds(&cmds[1], "0");
	wq_argv_addl(&cmds[1], SWEEP_MAX - 1);
	wq_argv_adds(&cmds[1], "WITHSCORES");
	rc = wq_redis_pipeline(wq, cmds, 2, r);
	if (rc == WQ_OK && (rc = wq_reply_error(wq, r[1], "cron")) == WQ_OK) {
		now = wq_reply_time_ms(r[0]);
		names = wq_calloc(r[1]->elements / 2 + 1, sizeof(*names));
		for (i = 0; r[1]->type == REDIS_REPLY_ARRAY && i + 1 <
		    r[1]->elements; i += 2)
			if (wq_reply_ll(r[1]->element[i + 1]) <= now)
				names[n++] = wq_strdup(r[1]->element[i]->str);
	}
	wq_redis_pipeline_free(cmds, r, 2);
	if (rc != WQ_OK)
		return rc;
	*more = n == SWEEP_MAX;
	rc = read_hashes(wq, names, n, &rs);
	for (i = 0; rc == WQ_OK && i < n; i++) {
		sched_decode(wq, names[i], rs[i], &s);
		/* A schedule changed by hand so that it cannot fire: skip. */
		if (s.ok && !s.paused && (rc2 = fire(wq, &s, now, fired)) !=
		    WQ_OK && rc2 != WQ_EUSAGE)
			rc = rc2;
		sched_clear(&s);
	}
	free_hashes(rs, n);
	wq_strs_free(names, n);
	return rc;
}
