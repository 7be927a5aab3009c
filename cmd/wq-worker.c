/*
 * wq-worker -- the service: take jobs from Redis, run them, record how
 * they ended; be a member of the cluster and answer its messages.
 *
 * One thread and one poll(2) loop.  The loop watches a self-pipe (signals),
 * a subscriber connection (hints: work was queued, a message arrived) and
 * the pipes of the processes it runs (--exec jobs and --on handlers), and
 * wakes for timers (heartbeats, --sleep jobs, job timeouts).  Each turn it
 * records the outcomes that are ready in one script call, heartbeats when
 * due (one round trip, which also reads the inbox, says whether the
 * queues hold work, and now and then reaps dead nodes and promotes due
 * retries for the cluster), answers messages, and claims as many jobs as
 * it has free slots in one call.  An idle worker claims only on a wake
 * hint or when its heartbeat finds work.
 * --jq and --sleep 0 work runs in the loop itself, so such jobs are taken
 * --batch at a time and cost two round trips per batch.
 *
 * When Redis goes away the running jobs go on; their outcomes wait, the
 * worker reconnects with backoff and then records them.  If it was
 * declared dead meanwhile (its heartbeat lapsed), its jobs were given to
 * others and those outcomes are refused by the fencing in complete.lua.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"

enum { OPT_EXEC = WQ_OPT_FIRST_PRIVATE, OPT_JQ, OPT_SLEEP, OPT_CONCURRENCY,
    OPT_TIMEOUT, OPT_MAX_ATTEMPTS, OPT_HEARTBEAT, OPT_NODE_TIMEOUT,
    OPT_BATCH, OPT_GRACE, OPT_ON, OPT_LOG, OPT_QUIET, OPT_HANDLER_TIMEOUT,
    OPT_BACKOFF };

static const struct option own[] = {
	{ "exec",		required_argument,	NULL, OPT_EXEC },
	{ "jq",			required_argument,	NULL, OPT_JQ },
	{ "sleep",		required_argument,	NULL, OPT_SLEEP },
	{ "concurrency",	required_argument,	NULL, OPT_CONCURRENCY },
	{ "timeout",		required_argument,	NULL, OPT_TIMEOUT },
	{ "max-attempts",	required_argument,	NULL, OPT_MAX_ATTEMPTS },
	{ "heartbeat",		required_argument,	NULL, OPT_HEARTBEAT },
	{ "node-timeout",	required_argument,	NULL, OPT_NODE_TIMEOUT },
	{ "batch",		required_argument,	NULL, OPT_BATCH },
	{ "grace",		required_argument,	NULL, OPT_GRACE },
	{ "on",			required_argument,	NULL, OPT_ON },
	{ "handler-timeout",	required_argument,	NULL, OPT_HANDLER_TIMEOUT },
	{ "log",		required_argument,	NULL, OPT_LOG },
	{ "quiet",		no_argument,		NULL, OPT_QUIET },
	{ "backoff",		required_argument,	NULL, OPT_BACKOFF },
	{ NULL, 0, NULL, 0 }
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: wq-worker (--exec CMD | --jq PROGRAM | --sleep S) [options]\n"
"Take jobs from the queues and run them; a member of the cluster.\n"
"  --exec CMD          run CMD (with sh -c) per job: data on stdin (a string\n"
"                      raw, else JSON), stdout is the result\n"
"  --jq PROGRAM        the result is PROGRAM's output on the data\n"
"  --sleep S           pause S seconds per job (the demo work)\n"
"  --queue Q           a queue to take from; repeat, in priority order\n"
"  --concurrency N     jobs at once (default 1)\n"
"  --timeout S         kill a job after S seconds (default 300)\n"
"  --max-attempts N    attempts before a job fails for good (default 3)\n"
"  --backoff S         first retry delay; doubles per attempt, jittered\n"
"                      (default 1)\n"
"  --heartbeat S       heartbeat interval (default 1)\n"
"  --node-timeout S    a node silent this long is dead (default 5)\n"
"  --batch K           jobs per claim for --jq and --sleep 0 (default 64)\n"
"  --grace S           on SIGTERM, wait S s for running jobs, then hand\n"
"                      them back (default 30)\n"
"  --on TYPE=CMD       answer messages of TYPE by running CMD, body on\n"
"                      stdin, stdout is the reply; repeatable\n"
"  --handler-timeout S kill an --on handler after S s (default 5)\n"
"  --log text|json     log format on stderr (default text)\n"
"  --quiet             no log line per job\n"
"%s", wq_common_usage);
}

#define MAX_CAPTURE	(1024 * 1024)
#define ERR_TAIL	4096

enum work { WORK_EXEC, WORK_JQ, WORK_SLEEP };
enum proc_kind { PROC_JOB, PROC_HANDLER };

struct capture {
	char	*p;
	size_t	 n;
	int	 truncated;
};

/* A slot: one running job (or an --on handler's process). */
struct slot {
	int		 used;
	enum proc_kind	 kind;
	struct wq_claim	 claim;
	struct wq_msg	 msg;		/* PROC_HANDLER */
	pid_t		 pid;
	int		 in_fd, out_fd, err_fd;
	char		*in;
	size_t		 in_len, in_off;
	struct capture	 out, err;
	int64_t		 started, deadline, wake_at;
	int		 exited, status, timed_out, handback;
};

struct handler {
	char	*type;
	char	*cmd;
};

static struct {
	struct wq		*wq;
	struct wq_worker_opts	 o;
	enum work		 work;
	char			*exec_cmd;
	struct wq_jq		*jq;
	double			 sleep_s;
	long			 batch;
	double			 grace_s;
	double			 handler_timeout_s;
	long			 backoff_ms;
	struct handler		*handlers;
	size_t			 nhandlers;
	int			 log_json;
	int			 quiet;

	struct slot		*slots;
	size_t			 nslots;	/* concurrency + handler slots */
	struct wq_outcome	*outs;
	size_t			 nouts, outcap;
	struct wq_hints		*hints;

	int			 up;		/* connected and registered */
	int64_t			 reconnect_at;
	int64_t			 next_beat;
	int			 claim_now;
	int			 msg_now;
	int			 draining;
	int64_t			 drain_deadline;
	long			 processed, failed;
	int64_t			 started_at;
} w;

static int		sigpipe_fds[2];
static volatile sig_atomic_t got_term, got_chld;

static void
on_signal(int sig)
{
	int	saved = errno;
	char	c = (char)sig;

	if (sig == SIGCHLD)
		got_chld = 1;
	else
		got_term++;
	(void)!write(sigpipe_fds[1], &c, 1);
	errno = saved;
}

/* One log line on stderr, text or JSON. */
__attribute__((format(printf, 3, 4)))
static void
logf_(const char *event, jv extra, const char *fmt, ...)
{
	va_list		 ap;
	char		 msg[1024];
	struct timespec	 ts;
	struct tm	 tm;
	char		 tbuf[32];
	jv		 o;
	char		*s;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (w.log_json) {
		o = jv_object();
		o = jv_object_set(o, jv_string("ts"),
		    jv_number((double)wq_now_ms()));
		o = jv_object_set(o, jv_string("node"),
		    jv_string(wq_name(w.wq)));
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
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ %s %s: %s\n", tbuf, ts.tv_nsec / 1000000,
	    wq_name(w.wq), event, msg);
}

static jv
running_ids(void)
{
	jv	a = jv_array();
	size_t	i;

	for (i = 0; i < w.nslots; i++)
		if (w.slots[i].used && w.slots[i].kind == PROC_JOB)
			a = jv_array_append(a, jv_string(w.slots[i].claim.id));
	return a;
}

static jv
queues_json(void)
{
	jv	a = jv_array();
	size_t	i;

	for (i = 0; i < w.o.nqueues; i++)
		a = jv_array_append(a, jv_string(w.o.queues[i]));
	return a;
}

/* The node's description: registered, heartbeated, answered to info. */
static jv
node_fields(int full)
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
		o = jv_object_set(o, jv_string("queues"), queues_json());
		o = jv_object_set(o, jv_string("concurrency"),
		    jv_number((double)w.o.concurrency));
		o = jv_object_set(o, jv_string("work"),
		    jv_string(works[w.work]));
		free(host);
	}
	o = jv_object_set(o, jv_string("processed"),
	    jv_number((double)w.processed));
	o = jv_object_set(o, jv_string("failed"), jv_number((double)w.failed));
	o = jv_object_set(o, jv_string("current"), running_ids());
	o = jv_object_set(o, jv_string("state"),
	    jv_string(w.draining ? "draining" : "running"));
	return o;
}

static int
nrunning(enum proc_kind kind)
{
	size_t	i;
	int	n = 0;

	for (i = 0; i < w.nslots; i++)
		if (w.slots[i].used && w.slots[i].kind == kind)
			n++;
	return n;
}

static void
outcome_add(struct wq_claim *c, int kind, jv result, const char *error)
{
	struct wq_outcome	*o;

	if (w.nouts == w.outcap) {
		w.outcap = w.outcap ? w.outcap * 2 : 256;
		w.outs = wq_realloc(w.outs, w.outcap * sizeof(*w.outs));
	}
	o = &w.outs[w.nouts++];
	memset(o, 0, sizeof(*o));
	memcpy(o->id, c->id, sizeof(o->id));
	o->token = c->token;
	o->kind = kind;
	o->result = result;
	o->error = error ? wq_strdup(error) : NULL;
	o->retry_ms = kind == WQ_DONE_FAIL ?
	    wq_backoff_retry_ms(c->token, w.backoff_ms) : 0;
}

/* Redis went away: note it, and come back after a backoff. */
static void
went_down(void)
{
	if (w.up)
		logf_("redis", jv_null(), "unreachable: %s; retrying",
		    wq_error(w.wq));
	w.up = 0;
	wq_disconnect(w.wq);
	wq_hints_close(w.hints);
	w.hints = NULL;
	w.reconnect_at = wq_now_ms() + wq_backoff_ms(w.wq);
}

/* The outcomes were recorded: log them, count them, forget them. */
static void
outcomes_recorded(void)
{
	size_t	i;

	for (i = 0; i < w.nouts; i++) {
		struct wq_outcome *o = &w.outs[i];
		const char *st = o->state ? o->state : "?";

		if (strcmp(st, "stale") == 0)
			logf_("fenced", jv_object_set(jv_object(),
			    jv_string("id"), jv_string(o->id)),
			    "job %s: result dropped, the claim (attempt %ld) "
			    "was taken away", o->id, o->token);
		else if (!w.quiet)
			logf_("job", jv_object_set(jv_object_set(jv_object(),
			    jv_string("id"), jv_string(o->id)),
			    jv_string("state"), jv_string(st)),
			    "job %s %s (attempt %ld)%s%s", o->id, st, o->token,
			    o->error ? ": " : "", o->error ? o->error : "");
		if (strcmp(st, "worked") == 0)
			w.processed++;
		else if (strcmp(st, "failed") == 0 ||
		    strcmp(st, "pending") == 0) {
			if (o->kind == WQ_DONE_FAIL)
				w.failed++;
			if (strcmp(st, "failed") == 0)
				w.processed++;
		}
		wq_outcome_clear(o);
	}
	w.nouts = 0;
}

/* Record the outcomes waiting; keep them if Redis is away. */
static void
flush_outcomes(void)
{
	if (w.nouts == 0 || !w.up)
		return;
	if (wq_complete(w.wq, w.outs, w.nouts) != WQ_OK) {
		went_down();
		return;
	}
	outcomes_recorded();
}

/* Run a job in the loop (--jq, --sleep 0). */
static void
run_inline(struct wq_claim *c)
{
	char	err[512];
	jv	out, res;

	if (w.work == WORK_SLEEP) {
		outcome_add(c, WQ_DONE_OK, jv_null(), NULL);
		return;
	}
	if (wq_jq_run(w.jq, jv_copy(c->data), &out, err, sizeof(err)) == -1) {
		jv_free(out);
		outcome_add(c, WQ_DONE_FAIL, jv_null(), err);
		return;
	}
	switch (jv_array_length(jv_copy(out))) {
	case 0:
		res = jv_null();
		jv_free(out);
		break;
	case 1:
		res = jv_array_get(out, 0);
		break;
	default:
		res = out;
	}
	outcome_add(c, WQ_DONE_OK, res, NULL);
}

static void
set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/*
 * Start cmd with sh -c, in its own process group (so a timeout kills its
 * children too), input on stdin.  The data never reaches a shell's
 * command line: only stdin and the environment.
 */
static int
spawn(struct slot *s, const char *cmd, jv input, const char *id,
    long attempt)
{
	int	in[2], out[2], err[2];
	char	num[32];
	pid_t	pid;

	if (pipe2(in, O_CLOEXEC) == -1)
		return -1;
	if (pipe2(out, O_CLOEXEC) == -1) {
		close(in[0]);
		close(in[1]);
		return -1;
	}
	if (pipe2(err, O_CLOEXEC) == -1) {
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		return -1;
	}
	if ((pid = fork()) == -1) {
		close(in[0]); close(in[1]); close(out[0]); close(out[1]);
		close(err[0]); close(err[1]);
		return -1;
	}
	if (pid == 0) {
		setpgid(0, 0);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGCHLD, SIG_DFL);
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		if (id != NULL) {
			setenv("WQ_JOB_ID", id, 1);
			snprintf(num, sizeof(num), "%ld", attempt);
			setenv("WQ_ATTEMPT", num, 1);
		}
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	close(in[0]);
	close(out[1]);
	close(err[1]);
	s->pid = pid;
	s->in_fd = in[1];
	s->out_fd = out[0];
	s->err_fd = err[0];
	set_nonblock(s->in_fd);
	set_nonblock(s->out_fd);
	set_nonblock(s->err_fd);
	if (jv_get_kind(input) == JV_KIND_STRING) {
		s->in_len = (size_t)jv_string_length_bytes(jv_copy(input));
		s->in = wq_calloc(1, s->in_len + 1);
		memcpy(s->in, jv_string_value(input), s->in_len);
		jv_free(input);
	} else {
		char *t = wq_dump(input);

		s->in_len = strlen(t) + 1;
		s->in = wq_realloc(t, s->in_len + 1);
		s->in[s->in_len - 1] = '\n';
	}
	s->in_off = 0;
	if (s->in_len == 0) {
		close(s->in_fd);
		s->in_fd = -1;
	}
	return 0;
}

static struct slot *
free_slot(void)
{
	size_t	i;

	for (i = 0; i < w.nslots; i++)
		if (!w.slots[i].used)
			return &w.slots[i];
	return NULL;
}

static void
slot_reset(struct slot *s)
{
	if (s->in_fd >= 0)
		close(s->in_fd);
	if (s->out_fd >= 0)
		close(s->out_fd);
	if (s->err_fd >= 0)
		close(s->err_fd);
	free(s->in);
	free(s->out.p);
	free(s->err.p);
	if (s->kind == PROC_JOB)
		wq_claim_clear(&s->claim);
	else
		wq_msg_clear(&s->msg);
	memset(s, 0, sizeof(*s));
	s->in_fd = s->out_fd = s->err_fd = -1;
}

static void
start_job(struct slot *s, struct wq_claim *c)
{
	long	timeout;

	memset(s, 0, sizeof(*s));
	s->in_fd = s->out_fd = s->err_fd = -1;
	s->used = 1;
	s->kind = PROC_JOB;
	s->claim = *c;
	s->started = wq_now_ms();
	timeout = c->timeout > 0 ? c->timeout : w.o.timeout;
	s->deadline = s->started + (int64_t)timeout * 1000;
	if (w.work == WORK_SLEEP) {
		s->wake_at = s->started + (int64_t)(w.sleep_s * 1000);
		return;
	}
	if (spawn(s, w.exec_cmd, jv_copy(c->data), c->id, c->token) == -1) {
		outcome_add(c, WQ_DONE_FAIL, jv_null(), "cannot start the "
		    "command: out of processes or descriptors");
		slot_reset(s);
	}
}

/* --jq and --sleep 0 work runs in the loop, a batch at a time. */
static int
works_inline(void)
{
	return w.work == WORK_JQ || (w.work == WORK_SLEEP && w.sleep_s == 0);
}

static void
claim(void)
{
	struct wq_claim	*cs;
	size_t		 max, n, i;
	int		 rc, inline_work;
	int64_t		 t0 = wq_now_ms();

	inline_work = works_inline();
	for (;;) {
		if (inline_work)
			max = (size_t)w.batch;
		else
			max = (size_t)(w.o.concurrency - nrunning(PROC_JOB));
		if (max == 0 || !w.up || w.draining) {
			w.claim_now = !w.draining && max == 0 ? w.claim_now : 0;
			return;
		}
		cs = wq_calloc(max, sizeof(*cs));
		/* What ended is recorded in the same round trip. */
		rc = wq_complete_claim(w.wq, w.outs, w.nouts, &w.o, max, cs,
		    &n);
		if (rc != WQ_OK) {
			free(cs);
			went_down();
			return;
		}
		outcomes_recorded();
		for (i = 0; i < n; i++) {
			if (inline_work) {
				run_inline(&cs[i]);
				wq_claim_clear(&cs[i]);
			} else
				start_job(free_slot(), &cs[i]);
		}
		free(cs);
		w.claim_now = n == max;
		if (!inline_work || n < max)
			return;
		/* A backlog must not starve heartbeats and messages. */
		if (wq_now_ms() - t0 >= 20)
			return;
	}
}

/* Read what a child wrote; returns 1 at EOF. */
static int
drain_fd(int fd, struct capture *c, size_t cap, int keep_tail)
{
	char	buf[65536];
	ssize_t	n;

	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n == 0)
			return 1;
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : 1;
		if (keep_tail) {
			c->p = wq_realloc(c->p, c->n + (size_t)n + 1);
			memcpy(c->p + c->n, buf, (size_t)n);
			c->n += (size_t)n;
			if (c->n > cap) {
				memmove(c->p, c->p + c->n - cap, cap);
				c->n = cap;
			}
		} else if (c->n + (size_t)n > cap) {
			c->truncated = 1;
		} else {
			c->p = wq_realloc(c->p, c->n + (size_t)n + 1);
			memcpy(c->p + c->n, buf, (size_t)n);
			c->n += (size_t)n;
		}
		if (c->p != NULL)
			c->p[c->n] = '\0';
	}
}

static void
write_input(struct slot *s)
{
	ssize_t	n;

	while (s->in_fd >= 0 && s->in_off < s->in_len) {
		n = write(s->in_fd, s->in + s->in_off, s->in_len - s->in_off);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			break;		/* EPIPE: it does not read stdin */
		}
		s->in_off += (size_t)n;
	}
	close(s->in_fd);
	s->in_fd = -1;
}

/* The last line of what a failed command said on stderr. */
static void
last_line(struct capture *c, char *out, size_t len)
{
	char	*p, *end;

	out[0] = '\0';
	if (c->p == NULL)
		return;
	end = c->p + c->n;
	while (end > c->p && (end[-1] == '\n' || end[-1] == '\r'))
		end--;
	*end = '\0';
	p = strrchr(c->p, '\n');
	p = p ? p + 1 : c->p;
	snprintf(out, len, "%s", p);
}

static void
send_reply(struct wq_msg *m, const char *type, jv body)
{
	if (!w.up || !m->reply_wanted) {
		jv_free(body);
		return;
	}
	if (wq_msg_reply(w.wq, m, type, body) != WQ_OK)
		went_down();
}

/* A process (job or handler) has exited and its pipes are closed. */
static void
proc_done(struct slot *s)
{
	char	 why[600], tail[400];
	jv	 res;
	size_t	 n;

	why[0] = '\0';
	if (s->timed_out)
		snprintf(why, sizeof(why), "timed out after %.0f s",
		    (double)(s->deadline - s->started) / 1000);
	else if (WIFSIGNALED(s->status))
		snprintf(why, sizeof(why), "killed by signal %d",
		    WTERMSIG(s->status));
	else if (WEXITSTATUS(s->status) != 0)
		snprintf(why, sizeof(why), "exit status %d",
		    WEXITSTATUS(s->status));
	else if (s->out.truncated)
		snprintf(why, sizeof(why), "output over %d bytes", MAX_CAPTURE);
	if (why[0] != '\0' && !s->timed_out) {
		last_line(&s->err, tail, sizeof(tail));
		if (tail[0] != '\0') {
			n = strlen(why);
			snprintf(why + n, sizeof(why) - n, ": %s", tail);
		}
	}
	n = s->out.n;
	if (n > 0 && s->out.p[n - 1] == '\n')
		n--;
	res = jv_string_sized(s->out.p ? s->out.p : "", (int)n);
	if (s->kind == PROC_HANDLER) {
		if (why[0] != '\0') {
			jv_free(res);
			send_reply(&s->msg, "error", jv_string(why));
		} else
			send_reply(&s->msg, s->msg.type, res);
	} else if (s->handback)
		outcome_add(&s->claim, WQ_DONE_BACK, jv_null(), NULL), jv_free(res);
	else if (why[0] != '\0') {
		jv_free(res);
		outcome_add(&s->claim, WQ_DONE_FAIL, jv_null(), why);
	} else
		outcome_add(&s->claim, WQ_DONE_OK, res, NULL);
	slot_reset(s);
}

static void
reap_children(void)
{
	pid_t	pid;
	int	status;
	size_t	i;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		for (i = 0; i < w.nslots; i++)
			if (w.slots[i].used && w.slots[i].pid == pid) {
				w.slots[i].exited = 1;
				w.slots[i].status = status;
				/* what it left in the pipes is read below */
				kill(-pid, SIGKILL);
			}
}

static void
kill_slot(struct slot *s)
{
	if (s->pid > 0 && !s->exited)
		kill(-s->pid, SIGKILL);
}

/* Timers and finished processes. */
static void
service_slots(void)
{
	size_t		i;
	int64_t		now = wq_now_ms();
	struct slot	*s;

	for (i = 0; i < w.nslots; i++) {
		s = &w.slots[i];
		if (!s->used)
			continue;
		if (s->kind == PROC_JOB && w.work == WORK_SLEEP) {
			if (s->handback) {
				outcome_add(&s->claim, WQ_DONE_BACK, jv_null(),
				    NULL);
				slot_reset(s);
			} else if (now >= s->wake_at) {
				outcome_add(&s->claim, WQ_DONE_OK, jv_null(),
				    NULL);
				slot_reset(s);
			} else if (now >= s->deadline) {
				s->timed_out = 1;
				outcome_add(&s->claim, WQ_DONE_FAIL, jv_null(),
				    "timed out");
				slot_reset(s);
			}
			continue;
		}
		if (!s->exited && now >= s->deadline && !s->timed_out) {
			s->timed_out = 1;
			kill_slot(s);
		}
		if (s->exited && s->out_fd < 0 && s->err_fd < 0)
			proc_done(s);
	}
}

static void
handle_message(struct wq_msg *m)
{
	struct slot	*s;
	size_t		 i;
	jv		 info;

	if (strcmp(m->type, "ping") == 0 || strcmp(m->type, "info") == 0) {
		info = node_fields(1);
		info = jv_object_set(info, jv_string("name"),
		    jv_string(wq_name(w.wq)));
		info = jv_object_set(info, jv_string("started_at"),
		    jv_number((double)w.started_at));
		send_reply(m, strcmp(m->type, "ping") == 0 ? "pong" : "info",
		    info);
		return;
	}
	if (strcmp(m->type, "drain") == 0) {
		send_reply(m, "draining", jv_object_set(jv_object(),
		    jv_string("running"), running_ids()));
		if (!w.draining) {
			logf_("drain", jv_null(), "drain requested by %s",
			    m->from);
			w.draining = 1;
			w.drain_deadline = wq_now_ms() +
			    (int64_t)(w.grace_s * 1000);
		}
		return;
	}
	for (i = 0; i < w.nhandlers; i++)
		if (strcmp(w.handlers[i].type, m->type) == 0)
			break;
	if (i == w.nhandlers) {
		send_reply(m, "error", jv_string("unknown message type"));
		return;
	}
	/* handler slots are beyond the job slots */
	s = NULL;
	for (size_t k = (size_t)w.o.concurrency; k < w.nslots; k++)
		if (!w.slots[k].used) {
			s = &w.slots[k];
			break;
		}
	if (s == NULL) {
		send_reply(m, "error", jv_string("busy: too many handlers "
		    "running"));
		return;
	}
	memset(s, 0, sizeof(*s));
	s->in_fd = s->out_fd = s->err_fd = -1;
	s->used = 1;
	s->kind = PROC_HANDLER;
	s->msg = *m;
	s->started = wq_now_ms();
	s->deadline = s->started + (int64_t)(w.handler_timeout_s * 1000);
	/* No body: empty stdin, not "null". */
	if (spawn(s, w.handlers[i].cmd, jv_get_kind(m->body) == JV_KIND_NULL ?
	    jv_string("") : jv_copy(m->body), NULL, 0) == -1) {
		send_reply(m, "error", jv_string("cannot start the handler"));
		memset(&s->msg, 0, sizeof(s->msg));	/* m still owns it */
		s->msg.body = jv_null();
		slot_reset(s);
		return;
	}
	/* the slot owns the message now */
	memset(m, 0, sizeof(*m));
	m->body = jv_null();
}

static void
read_inbox(void)
{
	struct wq_msg	msgs[32];
	size_t		n, i;

	w.msg_now = 0;
	do {
		if (wq_msg_take(w.wq, msgs, 32, &n) != WQ_OK) {
			went_down();
			return;
		}
		for (i = 0; i < n; i++) {
			handle_message(&msgs[i]);
			wq_msg_clear(&msgs[i]);
		}
	} while (n == 32);
}

/*
 * Back after a broken link: a claim sent before the break may have taken
 * jobs whose reply never came.  Hand back what this node holds but is
 * neither running nor about to record.
 */
static int
recover(void)
{
	const char	**known;
	size_t		  n = 0, i;
	long		  handed = 0;
	int		  rc;

	known = wq_calloc(w.nslots + w.nouts, sizeof(*known));
	for (i = 0; i < w.nslots; i++)
		if (w.slots[i].used && w.slots[i].kind == PROC_JOB)
			known[n++] = w.slots[i].claim.id;
	for (i = 0; i < w.nouts; i++)
		known[n++] = w.outs[i].id;
	rc = wq_recover(w.wq, known, n, &handed);
	free(known);
	if (rc == WQ_OK && handed > 0)
		logf_("recover", jv_null(), "%ld job(s) claimed before the link "
		    "broke were handed back", handed);
	return rc;
}

/* What this node's sweep did for the cluster, when it did something. */
static void
log_sweep(struct wq_beat *b)
{
	if (b->reaped > 0)
		logf_("reap", jv_object_set(jv_object_set(jv_object(),
		    jv_string("nodes"), jv_number((double)b->reaped)),
		    jv_string("jobs"), jv_number((double)b->reclaimed)),
		    "%ld dead node(s) removed, %ld job(s) put back", b->reaped,
		    b->reclaimed);
}

/* Connect, (re)register, subscribe. */
static void
come_up(void)
{
	struct wq_beat	b;
	int		rc, member;

	if ((rc = wq_connect(w.wq)) != WQ_OK) {
		w.reconnect_at = wq_now_ms() + wq_backoff_ms(w.wq);
		return;
	}
	/*
	 * The first time, register (which refuses a name a live node
	 * holds).  Coming back, beat: the name is ours unless we were
	 * reaped meanwhile, and then we register anew.
	 */
	memset(&b, 0, sizeof(b));
	if (w.started_at != 0)
		rc = wq_node_heartbeat(w.wq, &w.o, node_fields(1), &b);
	else
		rc = WQ_OK;
	member = b.member;
	log_sweep(&b);
	if (rc == WQ_OK && !member)
		rc = wq_node_register(w.wq, &w.o, node_fields(1));
	if (rc == WQ_EUSAGE)
		cmd_die(WQ_EUSAGE, "%s", wq_error(w.wq));
	if (rc == WQ_OK && member)
		rc = recover();
	if (rc == WQ_OK)
		rc = wq_hints_open(w.wq, &w.o, &w.hints);
	if (rc != WQ_OK) {
		wq_disconnect(w.wq);
		w.reconnect_at = wq_now_ms() + wq_backoff_ms(w.wq);
		return;
	}
	wq_backoff_reset(w.wq);
	if (w.started_at == 0) {
		char *q = wq_dump(queues_json());

		w.started_at = wq_now_ms();
		logf_("start", jv_null(), "started: queues %s, concurrency %ld",
		    q, w.o.concurrency);
		free(q);
	} else
		logf_("redis", jv_null(), "connected again%s",
		    member ? "" : "; was declared dead, registered anew");
	w.up = 1;
	w.claim_now = 1;
	w.msg_now = 1;
	w.next_beat = 0;
}

/*
 * One round trip: the beat, the cluster's sweep when it is this node's
 * turn, the inbox, and whether the queues hold work (a worker with a free
 * slot claims then: wake hints can be lost).
 */
static void
heartbeat(void)
{
	struct wq_msg	msgs[32];
	struct wq_beat	b;
	size_t		i;

	w.next_beat = wq_now_ms() + w.o.heartbeat_ms;
	memset(&b, 0, sizeof(b));
	b.msgs = msgs;
	b.max_msgs = sizeof(msgs) / sizeof(msgs[0]);
	b.want_work = !w.draining && (works_inline() ||
	    nrunning(PROC_JOB) < w.o.concurrency);
	if (wq_node_heartbeat(w.wq, &w.o, node_fields(0), &b) != WQ_OK) {
		went_down();
		return;
	}
	if (!b.member) {
		/* Frozen or cut off for longer than the node timeout. */
		logf_("fenced", jv_null(), "this node was declared dead; "
		    "registering again (results of its old claims will be "
		    "dropped)");
		if (wq_node_register(w.wq, &w.o, node_fields(1)) != WQ_OK) {
			went_down();
			return;
		}
		w.claim_now = 1;
		w.msg_now = 1;
		return;
	}
	log_sweep(&b);
	for (i = 0; i < b.nmsgs; i++) {
		handle_message(&msgs[i]);
		wq_msg_clear(&msgs[i]);
	}
	w.msg_now |= b.more;
	w.claim_now |= b.work;
}

/* Start the drain: stop claiming; past the grace, hand jobs back. */
static void
drain_tick(void)
{
	size_t	i;
	int64_t	now = wq_now_ms();

	if (got_term > 0 && !w.draining) {
		logf_("drain", jv_null(), "signal: finishing %d running job(s), "
		    "then leaving", nrunning(PROC_JOB));
		w.draining = 1;
		w.drain_deadline = now + (int64_t)(w.grace_s * 1000);
	}
	if (!w.draining)
		return;
	if (got_term > 1 || now >= w.drain_deadline)
		for (i = 0; i < w.nslots; i++)
			if (w.slots[i].used && !w.slots[i].handback) {
				w.slots[i].handback = 1;
				kill_slot(&w.slots[i]);
			}
}

static void
add_handler(const char *spec)
{
	const char	*eq;

	eq = strchr(spec, '=');
	if (eq == NULL || eq == spec || eq[1] == '\0')
		cmd_die(WQ_EUSAGE, "bad --on: expected TYPE=CMD");
	if ((eq - spec == 4 && strncmp(spec, "ping", 4) == 0) ||
	    (eq - spec == 4 && strncmp(spec, "info", 4) == 0) ||
	    (eq - spec == 5 && strncmp(spec, "drain", 5) == 0))
		cmd_die(WQ_EUSAGE, "bad --on: %.*s is a built-in message type",
		    (int)(eq - spec), spec);
	w.handlers = wq_realloc(w.handlers, (w.nhandlers + 1) *
	    sizeof(*w.handlers));
	w.handlers[w.nhandlers].type = strndup(spec, (size_t)(eq - spec));
	w.handlers[w.nhandlers].cmd = wq_strdup(eq + 1);
	w.nhandlers++;
}

/* The options, by the table cmd_start() made; frees it. */
static void
parse_options(int argc, char **argv, struct option *opts)
{
	char		 err[512];
	int		 c, nwork = 0;
	const char	*log = "text";

	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_EXEC:
			if (*optarg == '\0')
				cmd_die(WQ_EUSAGE, "bad --exec: empty command");
			w.work = WORK_EXEC;
			w.exec_cmd = optarg;
			nwork++;
			break;
		case OPT_JQ:
			if (wq_jq_compile(optarg, &w.jq, err, sizeof(err)) == -1)
				cmd_die(WQ_EUSAGE, "%s", err);
			w.work = WORK_JQ;
			nwork++;
			break;
		case OPT_SLEEP:
			w.sleep_s = cmd_seconds("--sleep", optarg);
			w.work = WORK_SLEEP;
			nwork++;
			break;
		case OPT_CONCURRENCY:
			w.o.concurrency = cmd_long("--concurrency", optarg, 1,
			    4096);
			break;
		case OPT_TIMEOUT:
			w.o.timeout = cmd_long("--timeout", optarg, 1,
			    86400 * 30);
			break;
		case OPT_MAX_ATTEMPTS:
			w.o.max_attempts = cmd_long("--max-attempts", optarg,
			    1, 1000);
			break;
		case OPT_HEARTBEAT:
			w.o.heartbeat_ms = (long)(cmd_seconds("--heartbeat",
			    optarg) * 1000);
			if (w.o.heartbeat_ms < 50)
				cmd_die(WQ_EUSAGE, "bad --heartbeat: at least "
				    "0.05 s");
			break;
		case OPT_NODE_TIMEOUT:
			w.o.node_timeout_ms = (long)(cmd_seconds(
			    "--node-timeout", optarg) * 1000);
			if (w.o.node_timeout_ms < 1000)
				cmd_die(WQ_EUSAGE, "bad --node-timeout: at least "
				    "1 s");
			break;
		case OPT_BATCH:
			w.batch = cmd_long("--batch", optarg, 1, 10000);
			break;
		case OPT_GRACE:
			w.grace_s = cmd_seconds("--grace", optarg);
			break;
		case OPT_ON:
			add_handler(optarg);
			break;
		case OPT_HANDLER_TIMEOUT:
			w.handler_timeout_s = cmd_seconds("--handler-timeout",
			    optarg);
			break;
		case OPT_LOG:
			log = optarg;
			if (strcmp(log, "text") != 0 && strcmp(log, "json") != 0)
				cmd_die(WQ_EUSAGE, "bad --log: text or json");
			break;
		case OPT_QUIET:
			w.quiet = 1;
			break;
		case OPT_BACKOFF:
			w.backoff_ms = (long)(cmd_seconds("--backoff", optarg) *
			    1000);
			break;
		case WQ_OPT_API:
			/* WQ_API in the environment is for the clients */
			cmd_die(WQ_EUSAGE, "a worker talks to Redis; --api is "
			    "for clients");
		case WQ_OPT_QUEUE:
			if (wq_check_queue(w.wq, optarg) != WQ_OK)
				cmd_die(WQ_EUSAGE, "%s", wq_error(w.wq));
			w.o.queues = wq_realloc(w.o.queues,
			    (w.o.nqueues + 1) * sizeof(*w.o.queues));
			w.o.queues[w.o.nqueues++] = optarg;
			break;
		default:
			cmd_common(w.wq, c, optarg, argv, usage);
		}
	}
	free(opts);
	if (optind < argc)
		cmd_die(WQ_EUSAGE, "unexpected argument '%s' (try --help)",
		    argv[optind]);
	if (nwork != 1)
		cmd_die(WQ_EUSAGE, "give exactly one of --exec, --jq, --sleep "
		    "(try --help)");
	if (w.o.heartbeat_ms * 2 > w.o.node_timeout_ms)
		cmd_die(WQ_EUSAGE, "--node-timeout must be at least twice "
		    "--heartbeat");
	w.log_json = strcmp(log, "json") == 0;
	if (w.o.nqueues == 0) {
		w.o.queues = wq_calloc(1, sizeof(*w.o.queues));
		w.o.queues[0] = wq_setting(w.wq, WQ_OPT_QUEUE);
		w.o.nqueues = 1;
	}
}

static int64_t
next_wakeup(void)
{
	int64_t	t, now = wq_now_ms();
	size_t	i;

	t = now + 1000;
	if (!w.up)
		t = w.reconnect_at;
	else if (w.next_beat < t)
		t = w.next_beat;
	if (w.draining && w.drain_deadline < t)
		t = w.drain_deadline;
	for (i = 0; i < w.nslots; i++) {
		if (!w.slots[i].used)
			continue;
		if (w.slots[i].wake_at > 0 && w.slots[i].wake_at < t)
			t = w.slots[i].wake_at;
		if (!w.slots[i].timed_out && w.slots[i].deadline < t)
			t = w.slots[i].deadline;
	}
	return t;
}

static void
loop(void)
{
	struct pollfd	*pfd;
	struct slot	**owner;
	int		 *what;
	size_t		  np, i, cap;
	int64_t		  t;
	int		  rc, work, msg, ms;
	char		  buf[64];

	cap = w.nslots * 3 + 2;
	pfd = wq_calloc(cap, sizeof(*pfd));
	owner = wq_calloc(cap, sizeof(*owner));
	what = wq_calloc(cap, sizeof(*what));
	for (;;) {
		drain_tick();
		if (!w.up && wq_now_ms() >= w.reconnect_at)
			come_up();
		if (w.up && wq_now_ms() >= w.next_beat)
			heartbeat();
		if (w.up && w.msg_now)
			read_inbox();
		service_slots();
		flush_outcomes();
		if (w.up && w.claim_now && !w.draining)
			claim();
		service_slots();
		flush_outcomes();
		if (w.draining && nrunning(PROC_JOB) == 0 && (w.nouts == 0 ||
		    (!w.up && wq_now_ms() >= w.drain_deadline)))
			break;

		np = 0;
		pfd[np].fd = sigpipe_fds[0];
		pfd[np].events = POLLIN;
		what[np++] = 0;
		if (w.hints != NULL) {
			pfd[np].fd = wq_hints_fd(w.hints);
			pfd[np].events = POLLIN;
			what[np++] = 1;
		}
		for (i = 0; i < w.nslots; i++) {
			struct slot *s = &w.slots[i];

			if (!s->used)
				continue;
			if (s->out_fd >= 0) {
				pfd[np].fd = s->out_fd;
				pfd[np].events = POLLIN;
				owner[np] = s;
				what[np++] = 2;
			}
			if (s->err_fd >= 0) {
				pfd[np].fd = s->err_fd;
				pfd[np].events = POLLIN;
				owner[np] = s;
				what[np++] = 3;
			}
			if (s->in_fd >= 0) {
				pfd[np].fd = s->in_fd;
				pfd[np].events = POLLOUT;
				owner[np] = s;
				what[np++] = 4;
			}
		}
		t = next_wakeup() - wq_now_ms();
		ms = t < 0 ? 0 : (int)t;
		if (w.claim_now && w.up && !w.draining &&
		    nrunning(PROC_JOB) < w.o.concurrency)
			ms = 0;
		rc = poll(pfd, np, ms);
		if (rc < 0 && errno != EINTR)
			cmd_die(WQ_EUNAVAIL, "poll: %s", strerror(errno));
		for (i = 0; rc > 0 && i < np; i++) {
			if (pfd[i].revents == 0)
				continue;
			switch (what[i]) {
			case 0:
				while (read(sigpipe_fds[0], buf, sizeof(buf)) > 0)
					;
				break;
			case 1:
				if (wq_hints_read(w.hints, &work, &msg) != WQ_OK) {
					went_down();
					break;
				}
				w.claim_now |= work;
				w.msg_now |= msg;
				break;
			case 2:
				if (drain_fd(owner[i]->out_fd, &owner[i]->out,
				    MAX_CAPTURE, 0)) {
					close(owner[i]->out_fd);
					owner[i]->out_fd = -1;
				}
				break;
			case 3:
				if (drain_fd(owner[i]->err_fd, &owner[i]->err,
				    ERR_TAIL, 1)) {
					close(owner[i]->err_fd);
					owner[i]->err_fd = -1;
				}
				break;
			case 4:
				write_input(owner[i]);
				break;
			}
		}
		if (got_chld) {
			got_chld = 0;
			reap_children();
		}
	}
	free(pfd);
	free(owner);
	free(what);
}

int
main(int argc, char **argv)
{
	struct sigaction	 sa;
	struct option		*opts;
	size_t			 i;
	int			 rc;

	w.wq = cmd_start("worker", own, &opts);
	w.o.concurrency = 1;
	w.o.timeout = 300;
	w.o.max_attempts = 3;
	w.o.heartbeat_ms = 1000;
	w.o.node_timeout_ms = 5000;
	w.batch = 64;
	w.grace_s = 30;
	w.handler_timeout_s = 5;
	w.backoff_ms = 1000;
	parse_options(argc, argv, opts);

	w.nslots = (size_t)w.o.concurrency + 4;	/* + handler slots */
	w.slots = wq_calloc(w.nslots, sizeof(*w.slots));
	for (i = 0; i < w.nslots; i++)
		w.slots[i].in_fd = w.slots[i].out_fd = w.slots[i].err_fd = -1;

	if (pipe2(sigpipe_fds, O_CLOEXEC | O_NONBLOCK) == -1)
		cmd_die(WQ_EUNAVAIL, "pipe: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	setvbuf(stderr, NULL, _IOLBF, 0);

	/* The first connection: a taken name is a usage error. */
	come_up();
	if (!w.up)
		logf_("redis", jv_null(), "unreachable: %s; retrying",
		    wq_error(w.wq));
	loop();

	flush_outcomes();
	rc = 0;
	if (w.up && wq_node_leave(w.wq) != WQ_OK) {
		logf_("exit", jv_null(), "could not leave cleanly: %s",
		    wq_error(w.wq));
	}
	logf_("exit", jv_null(), "stopped: %ld processed, %ld failed",
	    w.processed, w.failed);
	wq_hints_close(w.hints);
	wq_jq_free(w.jq);
	for (i = 0; i < w.nhandlers; i++) {
		free(w.handlers[i].type);
		free(w.handlers[i].cmd);
	}
	free(w.handlers);
	free(w.slots);
	free(w.outs);
	free(w.o.queues);
	wq_free(w.wq);
	return rc;
}
