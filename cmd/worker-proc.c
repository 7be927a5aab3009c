/*
 * worker-proc.c -- the processes a worker runs: --exec jobs and --on
 * handlers, one a slot.  A process is started with sh -c in its own
 * process group (so that a timeout kills its children too), its input
 * written to its stdin and its stdout and stderr read through
 * non-blocking pipes as the event loop finds them ready.  It is done
 * once it has exited and both pipes are at their end; then its job's
 * outcome is noted, or its message answered.  --sleep jobs hold a slot
 * without a process: a timer ends them.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "worker.h"

int
worker_nrunning(struct worker *w, enum proc_kind kind)
{
	size_t	i;
	int	n = 0;

	for (i = 0; i < w->nslots; i++)
		if (w->slots[i].used && w->slots[i].kind == kind)
			n++;
	if (kind == PROC_JOB)
		n += (int)worker_jq_running(w);
	return n;
}

/* The ids of the jobs running, as a JSON array. */
jv
worker_running_ids(struct worker *w)
{
	jv	a = jv_array();
	size_t	i;

	for (i = 0; i < w->nslots; i++)
		if (w->slots[i].used && w->slots[i].kind == PROC_JOB)
			a = jv_array_append(a,
			    jv_string(w->slots[i].claim.id));
	return worker_jq_ids(w, a);
}

/* The job slots, then HANDLER_SLOTS for --on handlers. */
void
worker_slots_init(struct worker *w)
{
	size_t	i;

	w->nslots = (size_t)w->o.concurrency + HANDLER_SLOTS;
	w->slots = wq_calloc(w->nslots, sizeof(*w->slots));
	for (i = 0; i < w->nslots; i++)
		w->slots[i].in_fd = w->slots[i].out_fd =
		    w->slots[i].err_fd = w->slots[i].prog_fd = -1;
	w->jq_run.in_fd = w->jq_run.out_fd = -1;
}

static int
set_nonblock(int fd)
{
	int	fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1)
		return -1;
	return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void
close_pair(int p[2])
{
	close(p[0]);
	close(p[1]);
}

/*
 * In the child: the pipes as stdin, stdout, stderr; a job's environment
 * (c, NULL for a handler): its id, its attempt, and its traceparent, or
 * none (not one the worker itself was given).  Either is the worker's
 * without its secrets (WQ_REDIS has the password); every other
 * descriptor of the worker is close-on-exec.
 */
__attribute__((noreturn))
static void
child(const char *cmd, int in[2], int out[2], int err[2], int prog,
    const struct wq_claim *c)
{
	char	num[32];

	/* A child that cannot be set up runs nothing: 127, as sh would. */
	if (setpgid(0, 0) == -1 || signal(SIGPIPE, SIG_DFL) == SIG_ERR ||
	    signal(SIGTERM, SIG_DFL) == SIG_ERR ||
	    signal(SIGINT, SIG_DFL) == SIG_ERR ||
	    signal(SIGCHLD, SIG_DFL) == SIG_ERR || dup2(in[0], 0) == -1 ||
	    dup2(out[1], 1) == -1 || dup2(err[1], 2) == -1 ||
	    unsetenv("WQ_REDIS") == -1 || unsetenv("WQ_TOKEN") == -1)
		_exit(127);
	/* a job's progress: the one descriptor it gets besides 0, 1, 2 */
	if (unsetenv("WQ_PROGRESS_FD") == -1)
		_exit(127);
	if (prog >= 0) {
		snprintf(num, sizeof(num), "%d", PROGRESS_FD);
		if ((prog == PROGRESS_FD ? fcntl(prog, F_SETFD, 0) :
		    dup2(prog, PROGRESS_FD)) == -1 ||
		    setenv("WQ_PROGRESS_FD", num, 1) == -1)
			_exit(127);
	}
	if (c != NULL) {
		snprintf(num, sizeof(num), "%ld", c->token);
		if (setenv("WQ_JOB_ID", c->id, 1) == -1 ||
		    setenv("WQ_ATTEMPT", num, 1) == -1 ||
		    (c->traceparent != NULL ?
		    setenv("TRACEPARENT", c->traceparent, 1) :
		    unsetenv("TRACEPARENT")) == -1)
			_exit(127);
	}
	execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
	_exit(127);
}

/* What goes to stdin: a string as it is, anything else as JSON. */
static void
set_input(struct slot *s, jv input)
{
	char	*t;

	if (jv_get_kind(input) == JV_KIND_STRING) {
		s->in_len = (size_t)jv_string_length_bytes(jv_copy(input));
		s->in = wq_calloc(1, s->in_len + 1);
		memcpy(s->in, jv_string_value(input), s->in_len);
		jv_free(input);
	} else {
		t = wq_dump(input);
		s->in_len = strlen(t) + 1;
		s->in = wq_realloc(t, s->in_len + 1);
		s->in[s->in_len - 1] = '\n';
	}
	s->in_off = 0;
	if (s->in_len == 0) {
		close(s->in_fd);
		s->in_fd = -1;
	}
}

/*
 * Start cmd with sh -c, input on stdin.  The data never reaches a
 * shell's command line: only stdin and the environment.
 */
static int
spawn(struct slot *s, const char *cmd, jv input, const struct wq_claim *c)
{
	int	in[2], out[2], err[2], prog[2] = { -1, -1 };
	pid_t	pid;

	if (c != NULL && pipe2(prog, O_CLOEXEC) == -1)
		goto fail;
	if (pipe2(in, O_CLOEXEC) == -1)
		goto fail;
	if (pipe2(out, O_CLOEXEC) == -1)
		goto fail_in;
	if (pipe2(err, O_CLOEXEC) == -1)
		goto fail_out;
	/* the worker's ends only: each end of a pipe has its own flags */
	if (set_nonblock(in[1]) == -1 || set_nonblock(out[0]) == -1 ||
	    set_nonblock(err[0]) == -1 || (pid = fork()) == -1) {
		close_pair(err);
		goto fail_out;
	}
	if (pid == 0)
		child(cmd, in, out, err, prog[1], c);
	/* (the child does it too: whichever runs first; EACCES once it
	 * has run exec is the child's own doing) */
	(void)setpgid(pid, pid);
	if (prog[1] >= 0) {
		close(prog[1]);
		s->prog_fd = prog[0];
		set_nonblock(s->prog_fd);
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);
	s->pid = pid;
	s->in_fd = in[1];
	s->out_fd = out[0];
	s->err_fd = err[0];
	set_input(s, input);
	return 0;
fail_out:
	close_pair(out);
fail_in:
	close_pair(in);
fail:
	if (prog[0] >= 0)
		close_pair(prog);
	jv_free(input);
	return -1;
}

struct slot *
worker_free_slot(struct worker *w)
{
	size_t	i;

	for (i = 0; i < w->nslots; i++)
		if (!w->slots[i].used)
			return &w->slots[i];
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
	if (s->prog_fd >= 0)
		close(s->prog_fd);
	free(s->prog);
	free(s->in);
	free(s->out.p);
	free(s->err.p);
	if (s->kind == PROC_JOB)
		wq_claim_clear(&s->claim);
	else
		wq_msg_clear(&s->msg);
	memset(s, 0, sizeof(*s));
	s->in_fd = s->out_fd = s->err_fd = s->prog_fd = -1;
}

static void
slot_take(struct slot *s, enum proc_kind kind)
{
	memset(s, 0, sizeof(*s));
	s->in_fd = s->out_fd = s->err_fd = s->prog_fd = -1;
	s->used = 1;
	s->kind = kind;
	s->started = wq_now_ms();
}

/* A claimed job into slot s (which owns the claim from now on). */
void
worker_start_job(struct worker *w, struct slot *s, struct wq_claim *c)
{
	long	timeout;

	slot_take(s, PROC_JOB);
	s->claim = *c;
	timeout = c->timeout > 0 ? c->timeout : w->o.timeout;
	s->deadline = s->started + (int64_t)timeout * 1000;
	if (w->work == WORK_SLEEP) {
		s->wake_at = s->started + (int64_t)(w->sleep_s * 1000);
		return;
	}
	if (spawn(s, w->exec_cmd, jv_copy(c->data), c) == -1) {
		worker_outcome_add(w, c, WQ_DONE_FAIL, jv_null(), "cannot "
		    "start the command: out of processes or descriptors");
		slot_reset(s);
	}
}

/*
 * Run cmd, an --on handler, for message m: its body on stdin, its
 * stdout the reply.  The slot takes m over (m is left empty); when
 * none is free or the process cannot start, m is answered "error".
 */
int
worker_start_handler(struct worker *w, struct wq_msg *m, const char *cmd)
{
	struct slot	*s = NULL;
	size_t		 k;

	/* handler slots are beyond the job slots */
	for (k = (size_t)w->o.concurrency; k < w->nslots; k++)
		if (!w->slots[k].used) {
			s = &w->slots[k];
			break;
		}
	if (s == NULL) {
		worker_reply(w, m, "error", jv_string("busy: too many "
		    "handlers running"));
		return -1;
	}
	slot_take(s, PROC_HANDLER);
	s->msg = *m;
	s->deadline = s->started + (int64_t)(w->handler_timeout_s * 1000);
	/* No body: empty stdin, not "null". */
	if (spawn(s, cmd, jv_get_kind(m->body) == JV_KIND_NULL ?
	    jv_string("") : jv_copy(m->body), NULL) == -1) {
		worker_reply(w, m, "error",
		    jv_string("cannot start the handler"));
		memset(&s->msg, 0, sizeof(s->msg));	/* m still owns it */
		s->msg.body = jv_null();
		slot_reset(s);
		return -1;
	}
	/* the slot owns the message now */
	memset(m, 0, sizeof(*m));
	m->body = jv_null();
	return 0;
}

void
worker_kill_slot(struct slot *s)
{
	if (s->pid > 0 && !s->exited)
		kill(-s->pid, SIGKILL);
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

/* The process's stdout (err 0: its result) or stderr (err 1) is ready. */
void
worker_read_output(struct slot *s, int err)
{
	int	*fd = err ? &s->err_fd : &s->out_fd;

	if (drain_fd(*fd, err ? &s->err : &s->out, err ? ERR_TAIL :
	    MAX_CAPTURE, err)) {
		close(*fd);
		*fd = -1;
	}
}

/* One line of progress: the latest, if it is one (else ignored). */
static void
progress_line(struct slot *s, const char *line, size_t n)
{
	char	*p;

	if ((p = wq_progress_parse(line, n)) == NULL)
		return;
	free(s->prog);
	s->prog = p;
}

/*
 * What the job wrote on WQ_PROGRESS_FD: lines, of which the last good
 * one waits to be written (rate-limited: worker_flush_progress); a line
 * longer than PROGRESS_LINE is ignored.
 */
void
worker_read_progress(struct slot *s)
{
	char	 buf[4096], *nl;
	ssize_t	 r;
	size_t	 i, k;

	while ((r = read(s->prog_fd, buf, sizeof(buf))) > 0) {
		for (i = 0; i < (size_t)r; i = k + 1) {
			nl = memchr(buf + i, '\n', (size_t)r - i);
			k = nl ? (size_t)(nl - buf) : (size_t)r;
			if (!s->prog_skip && s->prog_len + (k - i) <=
			    sizeof(s->prog_buf)) {
				memcpy(s->prog_buf + s->prog_len, buf + i,
				    k - i);
				s->prog_len += k - i;
			} else
				s->prog_skip = 1;
			if (nl == NULL)
				break;
			if (!s->prog_skip)
				progress_line(s, s->prog_buf, s->prog_len);
			s->prog_len = 0;
			s->prog_skip = 0;
		}
	}
	if (r == 0 || (r == -1 && errno != EAGAIN && errno != EINTR)) {
		close(s->prog_fd);
		s->prog_fd = -1;
	}
}

void
worker_write_input(struct slot *s)
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

/* Why a process failed, into why (empty when it did not). */
static void
failure(struct slot *s, char *why, size_t len)
{
	char	tail[400];
	size_t	n;

	why[0] = '\0';
	if (s->timed_out)
		snprintf(why, len, "timed out after %.0f s",
		    (double)(s->deadline - s->started) / 1000);
	else if (WIFSIGNALED(s->status))
		snprintf(why, len, "killed by signal %d", WTERMSIG(s->status));
	else if (WEXITSTATUS(s->status) != 0)
		snprintf(why, len, "exit status %d", WEXITSTATUS(s->status));
	else if (s->out.truncated)
		snprintf(why, len, "output over %d bytes", MAX_CAPTURE);
	if (why[0] != '\0' && !s->timed_out) {
		last_line(&s->err, tail, sizeof(tail));
		if (tail[0] != '\0') {
			n = strlen(why);
			snprintf(why + n, len - n, ": %s", tail);
		}
	}
}

/* A process (job or handler) has exited and its pipes are closed. */
static void
proc_done(struct worker *w, struct slot *s)
{
	char	 why[600];
	jv	 res;
	size_t	 n;

	/* its last word on progress, before its end is recorded */
	if (s->kind == PROC_JOB && s->prog_fd >= 0)
		worker_read_progress(s);
	if (s->kind == PROC_JOB && s->prog != NULL)
		worker_flush_progress(w, s);
	failure(s, why, sizeof(why));
	n = s->out.n;
	if (n > 0 && s->out.p[n - 1] == '\n')
		n--;
	res = jv_string_sized(s->out.p ? s->out.p : "", (int)n);
	if (s->kind == PROC_HANDLER) {
		if (why[0] != '\0') {
			jv_free(res);
			worker_reply(w, &s->msg, "error", jv_string(why));
		} else
			worker_reply(w, &s->msg, s->msg.type, res);
	} else if (s->handback) {
		jv_free(res);
		worker_outcome_add(w, &s->claim, WQ_DONE_BACK, jv_null(),
		    NULL);
	} else if (why[0] != '\0' || s->cancelled) {
		jv_free(res);
		worker_outcome_add(w, &s->claim, WQ_DONE_FAIL, jv_null(),
		    s->cancelled ? "cancelled" : why);
	} else
		worker_outcome_add(w, &s->claim, WQ_DONE_OK, res, NULL);
	slot_reset(s);
}

/*
 * The children that exited.  Each one's process group (what a job left
 * running) is killed while the child is still a zombie: once reaped, its
 * pid, which names the group, may be another process's.
 */
void
worker_reap_children(struct worker *w)
{
	siginfo_t	si;
	pid_t		pid;
	int		status;
	size_t		i;

	for (;;) {
		memset(&si, 0, sizeof(si));
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == -1 ||
		    (pid = si.si_pid) == 0)
			break;
		kill(-pid, SIGKILL);
		if (waitpid(pid, &status, 0) != pid)
			break;
		if (worker_jq_reaped(w, pid, status))
			continue;
		for (i = 0; i < w->nslots; i++)
			if (w->slots[i].used && w->slots[i].pid == pid) {
				/* what it left in the pipes is read below */
				w->slots[i].exited = 1;
				w->slots[i].status = status;
			}
	}
}

/* A --sleep job: handed back, done, or over its timeout. */
static void
service_sleep(struct worker *w, struct slot *s, int64_t now)
{
	if (s->handback)
		worker_outcome_add(w, &s->claim, WQ_DONE_BACK, jv_null(),
		    NULL);
	else if (s->cancelled)
		worker_outcome_add(w, &s->claim, WQ_DONE_FAIL, jv_null(),
		    "cancelled");
	else if (now >= s->wake_at)
		worker_outcome_add(w, &s->claim, WQ_DONE_OK, jv_null(), NULL);
	else if (now >= s->deadline) {
		s->timed_out = 1;
		worker_outcome_add(w, &s->claim, WQ_DONE_FAIL, jv_null(),
		    "timed out");
	} else
		return;
	slot_reset(s);
}

/* Timers and finished processes. */
void
worker_service_slots(struct worker *w)
{
	size_t		i;
	int64_t		now = wq_now_ms();
	struct slot	*s;

	worker_jq_service(w);
	for (i = 0; i < w->nslots; i++) {
		s = &w->slots[i];
		if (!s->used)
			continue;
		if (s->kind == PROC_JOB && w->work == WORK_SLEEP) {
			service_sleep(w, s, now);
			continue;
		}
		if (!s->exited && now >= s->deadline && !s->timed_out) {
			s->timed_out = 1;
			worker_kill_slot(s);
		}
		if (s->exited && s->out_fd < 0 && s->err_fd < 0)
			proc_done(w, s);
	}
}
