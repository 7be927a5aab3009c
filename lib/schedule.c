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
#define NAME_MAX_LEN	128
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

	if (n == 0 || n > NAME_MAX_LEN || strspn(name, "abcdefghijklmnopqrs"
	    "tuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n)
		return wq_seterr(wq, WQ_EUSAGE, "bad schedule name \"%.64s\":"
		    " 1 to %d of A-Z a-z 0-9 . _ -", name, NAME_MAX_LEN);
	return WQ_OK;
}

/* The server's clock, ms. */
static int
server_now(struct wq *wq, int64_t *now)
{
	struct wq_argv	 a;
	redisReply	*r;
	int		 rc;

	wq_argv_init(&a);
	wq_argv_adds(&a, "TIME");
	r = wq_redis_command(wq, &a);
	wq_argv_free(&a);
	if ((rc = wq_reply_error(wq, r, "cron")) == WQ_OK)
		*now = wq_reply_time_ms(r);
	if (r)
		freeReplyObject(r);
	return rc;
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
	wq_argv_addf(a, "%s:", wq->cfg.ns);
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

	k = jv_object_get(jv_copy(job), jv_string("key"));
	if (jv_is_valid(k)) {
		jv_free(k);
		return wq_seterr(wq, WQ_EUSAGE, "a schedule's job has no "
		    "\"key\": each firing's id comes from the name and time");
	}
	if (wq_spec_from_json(wq, jv_copy(job), &s) != WQ_OK)
		return WQ_EUSAGE;
	wq_spec_clear(&s);
	return WQ_OK;
}

int
wq_schedule_add(struct wq *wq, const struct wq_schedule *s, jv *out)
{
	struct wq_argv	 a;
	struct wq_cron	 c;
	const char	*tz = s->tz ? s->tz : "UTC";
	char		*job, when[40];
	int64_t		 now, next;
	long long	 n;
	int		 rc;

	if ((rc = check_name(wq, s->name)) != WQ_OK ||
	    (rc = wq_cron_parse(wq, s->spec, &c)) != WQ_OK ||
	    (rc = wq_cron_zone(wq, tz)) != WQ_OK ||
	    (rc = check_job(wq, s->job)) != WQ_OK)
		return rc;
	if (s->catch_up < 0 || s->catch_up > CATCH_UP_MAX)
		return wq_seterr(wq, WQ_EUSAGE, "bad catch-up %ld: 0 to %d",
		    s->catch_up, CATCH_UP_MAX);
	if ((rc = server_now(wq, &now)) != WQ_OK)
		return rc;
	if (wq_cron_times(&c, tz, now / 1000, &next, 1) == 0)
		return wq_seterr(wq, WQ_EUSAGE, "bad schedule \"%.64s\": it "
		    "never fires", s->spec);
	script_argv(wq, "add", s->name, next, &a);
	wq_argv_adds(&a, "spec");
	wq_argv_adds(&a, s->spec);
	wq_argv_adds(&a, "tz");
	wq_argv_adds(&a, tz);
	wq_argv_adds(&a, "job");
	job = wq_dump(jv_copy(s->job));
	wq_argv_adds(&a, job);
	free(job);
	wq_argv_adds(&a, "catch_up");
	wq_argv_addl(&a, s->catch_up);
	if ((rc = script_run(wq, &a, &n)) != WQ_OK)
		return rc;
	wq_cron_format(tz, next, when, sizeof(when));
	*out = jv_object_set(jv_object_set(jv_object_set(jv_object(),
	    jv_string("name"), jv_string(s->name)), jv_string("status"),
	    jv_string(n ? "added" : "replaced")), jv_string("next"),
	    jv_string(when));
	return WQ_OK;
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

int
wq_schedule_list(struct wq *wq, jv *out)
{
	struct wq_argv	  a;
	struct sched	  s;
	redisReply	 *r, **rs;
	char		**names;
	size_t		  i, n;
	int		  rc;

	wq_argv_init(&a);
	wq_argv_adds(&a, "SMEMBERS");
	wq_argv_key(&a, wq, "schedules");
	r = wq_redis_command(wq, &a);
	wq_argv_free(&a);
	if ((rc = wq_reply_error(wq, r, "cron")) != WQ_OK) {
		if (r)
			freeReplyObject(r);
		return rc;
	}
	n = wq_queues_names(r, &names);
	freeReplyObject(r);
	rc = read_hashes(wq, names, n, &rs);
	*out = jv_array();
	for (i = 0; rc == WQ_OK && i < n; i++) {
		sched_decode(wq, names[i], rs[i], &s);
		if (s.ok)
			*out = jv_array_append(*out, sched_json(&s));
		sched_clear(&s);
	}
	free_hashes(rs, n);
	wq_strs_free(names, n);
	if (rc != WQ_OK)
		jv_free(*out);
	return rc;
}

int
wq_schedule_set(struct wq *wq, const char *name, int op)
{
	static const char *const ops[] = { "rm", "pause", "resume" };
	struct wq_argv	 a;
	struct sched	 s;
	redisReply	**rs;
	int64_t		 now, next = 0;
	long long	 n;
	int		 rc;

	if ((rc = check_name(wq, name)) != WQ_OK)
		return rc;
	if (op == WQ_SCHEDULE_RESUME) {
		/* The first time after now: what it missed stays missed. */
		if ((rc = server_now(wq, &now)) != WQ_OK ||
		    (rc = read_hashes(wq, (char *const *)&name, 1, &rs)) !=
		    WQ_OK)
			return rc;
		sched_decode(wq, name, rs[0], &s);
		free_hashes(rs, 1);
		if (s.ok && wq_cron_times(&s.c, s.tz, now / 1000, &next,
		    1) == 0)
			next = 0;
		sched_clear(&s);
	}
	script_argv(wq, ops[op], name, next, &a);
	if ((rc = script_run(wq, &a, &n)) != WQ_OK)
		return rc;
	if (n == 0)
		return wq_seterr(wq, WQ_NO, "no schedule %s", name);
	return WQ_OK;
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
	char		 key[NAME_MAX_LEN + 32];
	jv		*answers;
	int		 rc;

	room = (size_t)s->catch_up + 1 + ON_TIME_MAX;
	t = wq_calloc(room, sizeof(*t));
	n = due_times(s, now_ms, t, room, &next);
	wq_script_argv(&a, WQ_SCRIPT_FIRE);
	wq_argv_key(&a, wq, "schedule:%s", s->name);
	wq_argv_key(&a, wq, "cron");
	wq_argv_setnkeys(&a, 2);
	wq_argv_addf(&a, "%s:", wq->cfg.ns);
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

int
wq_schedule_sweep(struct wq *wq, long *fired)
{
	struct wq_argv	  cmds[2];
	struct sched	  s;
	redisReply	 *r[2], **rs;
	char		**names;
	size_t		  i, n = 0;
	int64_t		  now;
	int		  rc, rc2;

	*fired = 0;
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
