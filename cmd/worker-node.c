/*
 * worker-node.c -- the worker as a node of the cluster: coming up
 * (connect, register or beat, hand back what a broken link left,
 * subscribe to its hints), going down when Redis goes away (and coming
 * back after a backoff), heartbeats, messages, the drain, leaving, and
 * the log line of each event.
 *
 * A heartbeat is one round trip: the beat, the cluster's sweep when it
 * is this node's turn, the inbox, and whether the queues hold work (a
 * worker with a free slot claims then: wake hints can be lost).  The
 * built-in messages are answered by libwq (builtin.c), the same way an
 * API instance answers them; the types of --on go to their handlers.
 *
 * Under systemd (Type=notify), the service manager is told READY=1 once
 * the node is a member of the cluster, STOPPING=1 when it starts to
 * drain, and, when the unit sets WatchdogSec=, WATCHDOG=1 at every
 * heartbeat's time: from the loop, whether Redis answers or not, so that
 * a worker that hangs is restarted and a Redis outage restarts nobody.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "worker.h"

/* One log line on stderr, text or JSON. */
void
worker_log(struct worker *w, const char *event, jv extra, const char *fmt,
    ...)
{
	va_list		 ap;
	char		 msg[1024], tbuf[32], *s;
	struct timespec	 ts;
	struct tm	 tm;
	jv		 o;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (w->log_json) {
		o = jv_object();
		o = jv_object_set(o, jv_string("ts"),
		    jv_number((double)wq_now_ms()));
		o = jv_object_set(o, jv_string("node"),
		    jv_string(wq_name(w->wq)));
		o = jv_object_set(o, jv_string("event"), jv_string(event));
		o = jv_object_set(o, jv_string("msg"), jv_string(msg));
		if (jv_get_kind(extra) == JV_KIND_OBJECT)
			o = jv_object_merge(o, extra);
		else
			jv_free(extra);
		s = wq_dump(o);
		fprintf(stderr, "%s\n", s);
		free(s);
		return;
	}
	jv_free(extra);
	wq_unctrl(msg);		/* names and errors come from others */
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ %s %s: %s\n", tbuf, ts.tv_nsec / 1000000,
	    wq_name(w->wq), event, msg);
}

static jv
queues_json(struct worker *w)
{
	jv	a = jv_array();
	size_t	i;

	for (i = 0; i < w->o.nqueues; i++)
		a = jv_array_append(a, jv_string(w->o.queues[i]));
	return a;
}

/* The node's description: registered, heartbeated, answered to info. */
static jv
node_fields(struct worker *w, int full)
{
	static const char *works[] = { "exec", "jq", "sleep" };
	jv	 o;
	char	*host;

	o = jv_object();
	if (full) {
		host = wq_hostname();
		o = jv_object_set(o, jv_string("role"), jv_string("worker"));
		o = jv_object_set(o, jv_string("host"), jv_string(host));
		o = jv_object_set(o, jv_string("pid"),
		    jv_number((double)getpid()));
		o = jv_object_set(o, jv_string("queues"), queues_json(w));
		o = jv_object_set(o, jv_string("concurrency"),
		    jv_number((double)w->o.concurrency));
		o = jv_object_set(o, jv_string("work"),
		    jv_string(works[w->work]));
		free(host);
	}
	o = jv_object_set(o, jv_string("processed"),
	    jv_number((double)w->processed));
	o = jv_object_set(o, jv_string("failed"),
	    jv_number((double)w->failed));
	o = jv_object_set(o, jv_string("current"), worker_running_ids(w));
	o = jv_object_set(o, jv_string("state"),
	    jv_string(w->draining ? "draining" : "running"));
	return o;
}

/* Redis went away: note it, and come back after a backoff. */
void
worker_went_down(struct worker *w)
{
	if (w->up)
		worker_log(w, "redis", jv_null(), "unreachable: %s; retrying",
		    wq_error(w->wq));
	w->up = 0;
	wq_disconnect(w->wq);
	wq_hints_close(w->hints);
	w->hints = NULL;
	w->reconnect_at = wq_now_ms() + wq_backoff_ms(w->wq);
}

/*
 * An operation failed with rc.  Redis unreachable or unable to serve
 * now: go down and come back after a backoff.  Redis answered an error
 * (WQ_EREDIS: a key of the wrong type, a script's error): the link is
 * fine and a retry would fail the same way, so the one operation fails,
 * logged (the same error once a minute at most); the caller decides what
 * then.  Returns rc.
 */
int
worker_failed(struct worker *w, int rc)
{
	const char	*e = wq_error(w->wq);
	int64_t		 now = wq_now_ms();

	if (rc != WQ_EREDIS) {
		worker_went_down(w);
		return rc;
	}
	if (w->last_err == NULL || strcmp(w->last_err, e) != 0 ||
	    now - w->last_err_at >= 60000) {
		worker_log(w, "redis-error", jv_null(), "%s", e);
		free(w->last_err);
		w->last_err = wq_strdup(e);
		w->last_err_at = now;
	}
	return rc;
}

/* Answer m (body consumed), unless Redis is away. */
void
worker_reply(struct worker *w, struct wq_msg *m, const char *type, jv body)
{
	int	rc;

	if (!w->up) {
		jv_free(body);
		return;
	}
	if ((rc = wq_msg_reply(w->wq, m, type, body)) != WQ_OK)
		worker_failed(w, rc);
}

/* The callbacks of the built-in messages (struct wq_builtin). */
static void
on_reply(void *arg, struct wq_msg *m, const char *type, jv body)
{
	worker_reply(arg, m, type, body);
}

static jv
on_info(void *arg)
{
	struct worker	*w = arg;
	jv		 info;

	info = node_fields(w, 1);
	info = jv_object_set(info, jv_string("name"),
	    jv_string(wq_name(w->wq)));
	return jv_object_set(info, jv_string("started_at"),
	    jv_number((double)w->started_at));
}

static jv
on_draining(void *arg)
{
	return jv_object_set(jv_object(), jv_string("running"),
	    worker_running_ids(arg));
}

/* Stop claiming; the running jobs have the grace to end. */
static void
drain_begin(struct worker *w)
{
	w->draining = 1;
	w->drain_deadline = wq_now_ms() + (int64_t)(w->grace_s * 1000);
	(void)wq_notify("STOPPING=1\nSTATUS=draining");
}

static void
on_drain(void *arg, struct wq_msg *m)
{
	struct worker	*w = arg;

	if (w->draining)
		return;
	worker_log(w, "drain", jv_null(), "drain requested by %s", m->from);
	drain_begin(w);
}

/* A type of --on: its handler runs. */
static int
on_other(void *arg, struct wq_msg *m)
{
	struct worker	*w = arg;
	size_t		 i;

	for (i = 0; i < w->nhandlers; i++)
		if (strcmp(w->handlers[i].type, m->type) == 0) {
			(void)worker_start_handler(w, m, w->handlers[i].cmd);
			return 1;
		}
	return 0;
}

/*
 * A job was cancelled (cancel.lua, docs/DESIGN.md, Job control): kill
 * it, with its process group, if it runs here under that attempt (with
 * none, any).  Its outcome is recorded as a failure, which the fencing
 * drops: the record is cancelled already.  A --sleep job just ends; a
 * --jq job is stopped by killing the child that runs it (worker-jq.c).
 */
static jv
on_cancel(void *arg, struct wq_msg *m)
{
	struct worker	*w = arg;
	struct slot	*s;
	const char	*id = "";
	long		 attempt = 0;
	long long	 n;
	size_t		 i;
	jv		 v, a;
	int		 killed = 0;

	if (jv_get_kind(m->body) != JV_KIND_OBJECT)
		return jv_string("expected {\"id\",\"attempt\"}");
	v = jv_object_get(jv_copy(m->body), jv_string("id"));
	if (jv_get_kind(v) == JV_KIND_STRING)
		id = jv_string_value(v);
	a = jv_object_get(jv_copy(m->body), jv_string("attempt"));
	if (jv_get_kind(a) == JV_KIND_NUMBER &&
	    wq_num_ll(jv_number_value(a), &n) == 0 && n > 0 && n <= LONG_MAX)
		attempt = (long)n;
	jv_free(a);
	for (i = 0; i < w->nslots; i++) {
		s = &w->slots[i];
		if (!s->used || s->kind != PROC_JOB || s->cancelled ||
		    strcmp(s->claim.id, id) != 0 ||
		    (attempt > 0 && s->claim.token != attempt))
			continue;
		s->cancelled = 1;
		worker_kill_slot(s);
		killed = 1;
	}
	if (killed || worker_jq_cancel(w, id, attempt)) {
		killed = 1;
		worker_log(w, "cancel", jv_object_set(jv_object(),
		    jv_string("id"), jv_string(id)), "job %s cancelled by %s",
		    id, m->from);
	}
	v = jv_object_set(jv_object_set(jv_object(), jv_string("id"), v),
	    jv_string("killed"), jv_bool(killed));
	return v;
}

static void
handle_message(struct worker *w, struct wq_msg *m)
{
	const struct wq_builtin	b = { w, on_info, on_draining, on_drain,
	    on_other, on_reply, on_cancel };

	wq_builtin_answer(&b, m);
}

/* Until it is empty (a batch comes back full, there may be more). */
void
worker_read_inbox(struct worker *w)
{
	struct wq_msg	msgs[32];
	size_t		n, i;
	int		rc;

	w->msg_now = 0;
	do {
		if ((rc = wq_msg_take(w->wq, msgs, 32, &n)) != WQ_OK) {
			worker_failed(w, rc);
			return;
		}
		for (i = 0; i < n; i++) {
			handle_message(w, &msgs[i]);
			wq_msg_clear(&msgs[i]);
		}
	} while (n == 32);
}

/* What this node's sweep did for the cluster, when it did something. */
static void
log_sweep(struct worker *w, struct wq_beat *b)
{
	if (b->reaped > 0)
		worker_log(w, "reap", jv_object_set(jv_object_set(jv_object(),
		    jv_string("nodes"), jv_number((double)b->reaped)),
		    jv_string("jobs"), jv_number((double)b->reclaimed)),
		    "%ld dead node(s) removed, %ld job(s) put back",
		    b->reaped, b->reclaimed);
}

static void
sweep_logged(void *arg, const char *kind, jv figure, const char *line)
{
	worker_log(arg, kind, figure, "%s", line);
}

/*
 * This beat swept and a schedule is due (cron: fire it, docs/DESIGN.md,
 * Schedules), or deps holds steps a dead process left (deps: do them).
 * A failure waits for the next sweep; a full sweep of schedules asks the
 * loop to go on at once (cron_now).
 */
void
worker_sweep_rest(struct worker *w, int cron, int deps)
{
	if (cron)
		w->cron_now = 0;
	wq_node_sweep_rest(w->wq, cron, deps, &w->cron_now, sweep_logged, w);
}

/*
 * Coming back, the name is held by another live process (this one was
 * reaped while cut off, and a new one took the name): this one is no
 * member and cannot become one.  Its jobs were given to others: kill
 * them (their process groups) at once, as a drain past its grace does,
 * and exit 2 once they are reaped, rather than leave them running.
 */
static void
name_taken(struct worker *w)
{
	worker_log(w, "fenced", jv_null(), "%s; stopping %d running job(s) "
	    "and exiting", wq_error(w->wq), worker_nrunning(w, PROC_JOB));
	w->name_lost = 1;
	if (!w->draining)
		drain_begin(w);
	w->drain_deadline = wq_now_ms();
}

/*
 * The first time, register (which refuses a name a live node holds).
 * Coming back, beat: the name is ours unless we were reaped meanwhile,
 * and then we register anew.  *member: it was still a member.
 */
static int
join(struct worker *w, int *member)
{
	struct wq_beat	b;
	int		rc = WQ_OK;

	memset(&b, 0, sizeof(b));
	if (w->started_at != 0)
		rc = wq_node_heartbeat(w->wq, &w->o, node_fields(w, 1), &b);
	*member = b.member;
	log_sweep(w, &b);
	if (rc == WQ_OK && !*member)
		rc = wq_node_register(w->wq, &w->o, node_fields(w, 1));
	if (rc == WQ_EUSAGE && w->started_at == 0)
		cmd_die(WQ_EUSAGE, "%s", wq_error(w->wq));
	if (rc == WQ_EUSAGE)
		name_taken(w);
	if (rc == WQ_OK && *member)
		rc = worker_recover(w);
	return rc;
}

/* Connect, (re)register, subscribe. */
void
worker_come_up(struct worker *w)
{
	char	*q;
	int	 rc, member;

	if ((rc = wq_connect(w->wq)) != WQ_OK) {
		w->reconnect_at = wq_now_ms() + wq_backoff_ms(w->wq);
		return;
	}
	rc = join(w, &member);
	if (rc == WQ_OK)
		rc = wq_hints_open(w->wq, &w->o, &w->hints);
	if (rc != WQ_OK) {
		/* an error answered is logged; the link is kept */
		if (rc == WQ_EREDIS)
			worker_failed(w, rc);
		else
			wq_disconnect(w->wq);
		w->reconnect_at = wq_now_ms() + wq_backoff_ms(w->wq);
		return;
	}
	wq_backoff_reset(w->wq);
	if (w->started_at == 0) {
		q = wq_dump(queues_json(w));
		w->started_at = wq_now_ms();
		worker_log(w, "start", jv_null(), "started: queues %s, "
		    "concurrency %ld", q, w->o.concurrency);
		free(q);
	} else
		worker_log(w, "redis", jv_null(), "connected again%s",
		    member ? "" : "; was declared dead, registered anew");
	w->up = 1;
	w->claim_now = 1;
	w->promote_now = 1;
	w->msg_now = 1;
	w->next_beat = 0;
	if (!w->ready) {
		w->ready = 1;
		q = NULL;
		if (asprintf(&q, "READY=1\nSTATUS=a member of the cluster as "
		    "%s", wq_name(w->wq)) < 0)
			abort();
		(void)wq_notify(q);
		free(q);
	}
}

/*
 * One round trip: the beat, the cluster's sweep when it is this node's
 * turn, the inbox, and whether the queues hold work (a worker with a free
 * slot claims then: wake hints can be lost).
 */
void
worker_heartbeat(struct worker *w)
{
	struct wq_msg	msgs[32];
	struct wq_beat	b;
	size_t		i;
	int		rc;

	w->next_beat = wq_now_ms() + w->o.heartbeat_ms;
	memset(&b, 0, sizeof(b));
	b.msgs = msgs;
	b.max_msgs = sizeof(msgs) / sizeof(msgs[0]);
	b.want_work = !w->draining && worker_claimable(w) > 0;
	if ((rc = wq_node_heartbeat(w->wq, &w->o, node_fields(w, 0), &b)) !=
	    WQ_OK) {
		worker_failed(w, rc);	/* else the next beat, as usual */
		return;
	}
	if (!b.member) {
		/* Frozen or cut off for longer than the node timeout. */
		worker_log(w, "fenced", jv_null(), "this node was declared "
		    "dead; registering again (results of its old claims will "
		    "be dropped)");
		if ((rc = wq_node_register(w->wq, &w->o,
		    node_fields(w, 1))) != WQ_OK) {
			worker_failed(w, rc);
			return;
		}
		w->claim_now = 1;
		w->msg_now = 1;
		return;
	}
	log_sweep(w, &b);
	if (b.cron || b.deps)
		worker_sweep_rest(w, b.cron, b.deps);
	for (i = 0; i < b.nmsgs; i++) {
		handle_message(w, &msgs[i]);
		wq_msg_clear(&msgs[i]);
	}
	w->msg_now |= b.more;
	w->claim_now |= b.work;
	if (b.sweep_err != WQ_OK)
		worker_failed(w, b.sweep_err);
}

/* Start the drain: stop claiming; past the grace, hand jobs back. */
void
worker_drain_tick(struct worker *w)
{
	size_t	i;
	int64_t	now = wq_now_ms();

	if (worker_got_term > 0 && !w->draining) {
		worker_log(w, "drain", jv_null(), "signal: finishing %d "
		    "running job(s), then leaving",
		    worker_nrunning(w, PROC_JOB));
		drain_begin(w);
	}
	if (!w->draining)
		return;
	if (worker_got_term > 1 || now >= w->drain_deadline) {
		worker_jq_handback(w);
		for (i = 0; i < w->nslots; i++)
			if (w->slots[i].used && !w->slots[i].handback) {
				w->slots[i].handback = 1;
				worker_kill_slot(&w->slots[i]);
			}
	}
}

/* Done: record what is left, leave the cluster, say so. */
void
worker_leave(struct worker *w)
{
	worker_flush_outcomes(w);
	if (w->up && wq_node_leave(w->wq) != WQ_OK)
		worker_log(w, "exit", jv_null(), "could not leave cleanly: %s",
		    wq_error(w->wq));
	worker_log(w, "exit", jv_null(), "stopped: %ld processed, %ld failed",
	    w->processed, w->failed);
}

/* What the service manager gave (NOTIFY_SOCKET, WATCHDOG_USEC). */
void
worker_notify_init(struct worker *w)
{
	if (wq_notify_init() == -1)
		worker_log(w, "start", jv_null(), "NOTIFY_SOCKET is not a "
		    "socket's path or @name: systemd is not told anything");
	w->watchdog_ms = wq_notify_watchdog_ms();
}

/* WATCHDOG=1 at every heartbeat's time, within half the watchdog's. */
void
worker_watchdog(struct worker *w)
{
	int64_t	now;
	long	every;

	if (w->watchdog_ms <= 0 || (now = wq_now_ms()) < w->next_watchdog)
		return;
	every = w->o.heartbeat_ms < w->watchdog_ms / 2 ? w->o.heartbeat_ms :
	    w->watchdog_ms / 2;
	w->next_watchdog = now + (every > 0 ? every : 1);
	(void)wq_notify("WATCHDOG=1");
}
