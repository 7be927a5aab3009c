/*
 * worker-jq.c -- --jq work, in a child process that the loop feeds.
 *
 * A jq program can run for ever ('until(. == 0; . - 1)' on -1), and libjq
 * cannot be interrupted, so the program never runs in the event loop.  A
 * child forked once (it has the compiled program) reads the jobs' data on
 * its stdin, one JSON line a job, and writes one line a result on its
 * stdout, [true, result] or [false, error], in order, as each ends.  Both
 * run at once: the loop claims the next batch while the child works on
 * this one, and reads what results came at each wakeup.  Which job the
 * child is running, and since when, it keeps in a page shared with the
 * worker.  Past that job's timeout the child is killed, that job fails
 * "timed out" as an --exec job would, and the jobs after it go to a new
 * child.  A cancelled job is marked; when it is the next whose result
 * is due, the child (running it, or about to) is killed the same way, and
 * the jobs after it but the cancelled ones go to a new child.  Meanwhile
 * the loop heartbeats and answers messages as ever.
 */
#include <sys/types.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "worker.h"

#define JQ_READ		65536	/* read at least this much at once */

/* What the child is doing, in a page it shares with the worker. */
struct jqshared {
	size_t	taken;		/* jobs it began (the last one runs) */
	int64_t	started;	/* when the last one began (ms) */
};

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t	k;

	while (n > 0) {
		if ((k = write(fd, p, n)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* The child's result for one line of data, appended to *out. */
static void
child_job(struct worker *w, const char *p, size_t n, char **out,
    size_t *len)
{
	char	 err[512], *s;
	size_t	 k;
	jv	 data, res, line;

	data = wq_parse(p, n, err, sizeof(err));
	if (!jv_is_valid(data)) {
		jv_free(data);
		line = JV_ARRAY(jv_false(), jv_string("jq: bad input"));
	} else if (wq_jq_run(w->jq, data, &res, err, sizeof(err)) == -1) {
		jv_free(res);
		line = JV_ARRAY(jv_false(), jv_string(err));
	} else if (jv_array_length(jv_copy(res)) == 0) {
		jv_free(res);
		line = JV_ARRAY(jv_true(), jv_null());
	} else if (jv_array_length(jv_copy(res)) == 1)
		line = JV_ARRAY(jv_true(), jv_array_get(res, 0));
	else
		line = JV_ARRAY(jv_true(), res);
	s = wq_dump(line);
	k = strlen(s);
	*out = wq_realloc(*out, *len + k + 1);
	memcpy(*out + *len, s, k);
	(*out)[*len + k] = '\n';
	*len += k + 1;
	free(s);
}

/* Close every descriptor above 2 but a and b: not the Redis links. */
static void
keep_only(int a, int b)
{
	unsigned int	lo = (unsigned int)(a < b ? a : b);
	unsigned int	hi = (unsigned int)(a < b ? b : a);

	if (lo > 3)
		(void)close_range(3, lo - 1, 0);
	if (hi > lo + 1)
		(void)close_range(lo + 1, hi - 1, 0);
	(void)close_range(hi + 1, ~0U, 0);
}

/* The child: data lines on in, result lines on out. */
__attribute__((noreturn))
static void
jq_child(struct worker *w, int in, int out)
{
	struct jqshared	*sh = w->jq_run.sh;
	char		*ib = NULL, *ob = NULL, *nl;
	size_t		 ilen = 0, icap = 0, olen = 0, off;
	ssize_t		 k;

	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	setpgid(0, 0);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	keep_only(in, out);
	for (;;) {
		if (icap - ilen < JQ_READ) {
			icap = icap * 2 + JQ_READ;
			ib = wq_realloc(ib, icap);
		}
		k = read(in, ib + ilen, icap - ilen);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			free(ib);
			free(ob);
			wq_jq_free(w->jq);
			_exit(0);
		}
		ilen += (size_t)k;
		off = 0;
		while ((nl = memchr(ib + off, '\n', ilen - off)) != NULL) {
			__atomic_store_n(&sh->started, wq_now_ms(),
			    __ATOMIC_RELAXED);
			__atomic_add_fetch(&sh->taken, 1, __ATOMIC_RELEASE);
			child_job(w, ib + off, (size_t)(nl - ib - off), &ob,
			    &olen);
			off = (size_t)(nl - ib) + 1;
			if (write_all(out, ob, olen) == -1)
				_exit(1);
			olen = 0;
		}
		ilen -= off;
		memmove(ib, ib + off, ilen);
	}
}

/* The data of the jobs from r->sent on, to be written to the child. */
static void
queue_input(struct jqrun *r)
{
	char	*s;
	size_t	 k;

	for (; r->sent < r->qn; r->sent++) {
		s = wq_dump(jv_copy(r->q[r->sent].c.data));
		k = strlen(s);
		r->in = wq_realloc(r->in, r->in_len + k + 1);
		memcpy(r->in + r->in_len, s, k);
		r->in[r->in_len + k] = '\n';
		r->in_len += k + 1;
		free(s);
	}
}

/* The child's stdin has room: write what waits. */
void
worker_jq_write(struct worker *w)
{
	struct jqrun	*r = &w->jq_run;
	ssize_t		 k;

	while (r->in_fd >= 0 && r->in_off < r->in_len) {
		k = write(r->in_fd, r->in + r->in_off, r->in_len - r->in_off);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				r->in_off = r->in_len;	/* it died */
			break;
		}
		r->in_off += (size_t)k;
	}
	if (r->in_off == r->in_len)
		r->in_off = r->in_len = 0;
}

/* A child for the jobs outstanding; -1 when none can start. */
static int
jq_fork(struct worker *w)
{
	struct jqrun	*r = &w->jq_run;
	int		 in[2], out[2];
	pid_t		 pid;

	if (r->sh == NULL) {
		r->sh = mmap(NULL, sizeof(*r->sh), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (r->sh == MAP_FAILED) {
			r->sh = NULL;
			return -1;
		}
	}
	r->sh->taken = 0;
	if (pipe2(in, O_CLOEXEC) == -1)
		return -1;
	if (pipe2(out, O_CLOEXEC) == -1) {
		close(in[0]);
		close(in[1]);
		return -1;
	}
	if ((pid = fork()) == -1) {
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		return -1;
	}
	if (pid == 0)
		jq_child(w, in[0], out[1]);
	setpgid(pid, pid);
	close(in[0]);
	close(out[1]);
	fcntl(in[1], F_SETFL, fcntl(in[1], F_GETFL) | O_NONBLOCK);
	fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);
	r->pid = pid;
	r->in_fd = in[1];
	r->out_fd = out[0];
	r->exited = r->killed = 0;
	r->got = r->len = r->in_len = r->in_off = 0;
	r->sent = r->h;
	return 0;
}

/*
 * Job q[i] ended: its outcome (a cancelled job's is a failure, as an
 * --exec job's, which the fencing drops), and out of the queue.
 */
static void
jq_ended(struct worker *w, size_t i, int kind, jv result, const char *error)
{
	struct jqrun	*r = &w->jq_run;
	struct jqjob	 t;

	if (r->q[i].cancelled) {
		jv_free(result);
		result = jv_null();
		kind = WQ_DONE_FAIL;
		error = "cancelled";
	}
	worker_outcome_add(w, &r->q[i].c, kind, result, error);
	wq_claim_clear(&r->q[i].c);
	t = r->q[i];
	memmove(&r->q[r->h + 1], &r->q[r->h], (i - r->h) * sizeof(*r->q));
	r->q[r->h++] = t;
	if (r->h == r->qn)
		r->h = r->qn = r->sent = 0;
	w->claim_now = 1;	/* to record it, with the next claim */
}

/* Every job outstanding ends the same way (kind, error). */
static void
jq_end_all(struct worker *w, int kind, const char *error)
{
	while (w->jq_run.qn > w->jq_run.h)
		jq_ended(w, w->jq_run.h, kind, jv_null(), error);
}

/* The claims (n of them, taken over from cs) go to the child. */
void
worker_jq_start(struct worker *w, struct wq_claim *cs, size_t n)
{
	struct jqrun	*r = &w->jq_run;
	size_t		 i;

	if (r->qn + n > r->qcap) {
		r->qcap = r->qn + n + 64;
		r->q = wq_reallocarray(r->q, r->qcap, sizeof(*r->q));
	}
	for (i = 0; i < n; i++) {
		r->q[r->qn].c = cs[i];
		r->q[r->qn].stuck = 0;
		r->q[r->qn++].cancelled = 0;
	}
	free(cs);
	if (r->pid == 0 && jq_fork(w) == -1) {
		jq_end_all(w, WQ_DONE_FAIL, "cannot start jq: out of "
		    "processes or descriptors");
		return;
	}
	queue_input(r);
	worker_jq_write(w);
}

/* Jobs given to jq whose results did not come yet. */
size_t
worker_jq_running(struct worker *w)
{
	return w->jq_run.qn - w->jq_run.h;
}

/* Their ids (for the drain, info, recovery). */
jv
worker_jq_ids(struct worker *w, jv a)
{
	size_t	i;

	for (i = w->jq_run.h; i < w->jq_run.qn; i++)
		a = jv_array_append(a, jv_string(w->jq_run.q[i].c.id));
	return a;
}

/*
 * Job id (under that attempt; 0: any) was cancelled: 1 if it is here.
 * It is marked, and the loop's next turn stops it (worker_jq_service).
 */
int
worker_jq_cancel(struct worker *w, const char *id, long attempt)
{
	struct jqrun	*r = &w->jq_run;
	size_t		 i;

	for (i = r->h; i < r->qn; i++)
		if (!r->q[i].cancelled && strcmp(r->q[i].c.id, id) == 0 &&
		    (attempt == 0 || r->q[i].c.token == attempt)) {
			r->q[i].cancelled = 1;
			return 1;
		}
	return 0;
}

/* The index in q of the job the child runs; r->qn when none. */
static size_t
jq_cur(struct jqrun *r)
{
	size_t	taken;

	taken = __atomic_load_n(&r->sh->taken, __ATOMIC_ACQUIRE);
	if (taken <= r->got || r->h + (taken - 1 - r->got) >= r->sent)
		return r->qn;
	return r->h + (taken - 1 - r->got);
}

/*
 * When the running job's timeout comes (0: none to watch); 1 (at once)
 * when the next result due is a cancelled job's: the child runs it, or
 * takes it next.
 */
int64_t
worker_jq_deadline(struct worker *w)
{
	struct jqrun	*r = &w->jq_run;
	struct wq_claim	*c;
	size_t		 i;

	if (r->pid == 0 || r->exited || r->killed || r->h == r->qn)
		return 0;
	if (r->q[r->h].cancelled)
		return 1;
	if ((i = jq_cur(r)) == r->qn)
		return 0;
	c = &r->q[i].c;
	return __atomic_load_n(&r->sh->started, __ATOMIC_RELAXED) +
	    (int64_t)(c->timeout > 0 ? c->timeout : w->o.timeout) * 1000;
}

/* One line of the child: [true, result] or [false, error]. */
static void
jq_line(struct worker *w, const char *p, size_t n)
{
	struct jqrun	*r = &w->jq_run;
	char		 err[128];
	jv		 v, ok;

	if (r->h == r->qn)
		return;
	r->got++;
	v = wq_parse(p, n, err, sizeof(err));
	if (jv_get_kind(v) != JV_KIND_ARRAY ||
	    jv_array_length(jv_copy(v)) != 2) {
		jv_free(v);
		jq_ended(w, r->h, WQ_DONE_FAIL, jv_null(), "jq: bad output");
		return;
	}
	ok = jv_array_get(jv_copy(v), 0);
	if (jv_get_kind(ok) == JV_KIND_TRUE)
		jq_ended(w, r->h, WQ_DONE_OK, jv_array_get(v, 1), NULL);
	else {
		v = jv_array_get(v, 1);
		jq_ended(w, r->h, WQ_DONE_FAIL, jv_null(),
		    jv_string_value(v));
		jv_free(v);
	}
	jv_free(ok);
}

/* The child's stdout is ready: its results, line by line. */
void
worker_jq_read(struct worker *w)
{
	struct jqrun	*r = &w->jq_run;
	char		*nl, *p;
	ssize_t		 k;

	for (;;) {
		if (r->cap - r->len < JQ_READ) {
			r->cap = r->cap * 2 + JQ_READ;
			r->buf = wq_realloc(r->buf, r->cap);
		}
		k = read(r->out_fd, r->buf + r->len, r->cap - r->len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		r->len += (size_t)k;
		p = r->buf;
		while ((nl = memchr(p, '\n', r->len - (size_t)(p - r->buf)))
		    != NULL) {
			jq_line(w, p, (size_t)(nl - p));
			p = nl + 1;
		}
		r->len -= (size_t)(p - r->buf);
		memmove(r->buf, p, r->len);
	}
	if (k < 0 && errno == EAGAIN)
		return;
	close(r->out_fd);
	r->out_fd = -1;
}

/* A child exited: 1 when it was jq's. */
int
worker_jq_reaped(struct worker *w, pid_t pid, int status)
{
	if (w->jq_run.pid == 0 || w->jq_run.pid != pid || w->jq_run.exited)
		return 0;
	w->jq_run.exited = 1;
	w->jq_run.status = status;
	return 1;
}

/* Kill the child (not reaped yet, so its pid is still its own). */
static void
jq_kill(struct jqrun *r)
{
	if (r->pid > 0 && !r->exited && !r->killed) {
		kill(r->pid, SIGKILL);
		r->killed = 1;
	}
}

/* The drain is past its grace: stop, and hand back what did not end. */
void
worker_jq_handback(struct worker *w)
{
	if (w->jq_run.h == w->jq_run.qn || w->jq_run.handback)
		return;
	w->jq_run.handback = 1;
	jq_kill(&w->jq_run);
}

/* Why the child ended: it timed out, or died. */
static void
jq_why(struct jqrun *r, char *why, size_t len)
{
	if (r->timeout_s > 0)
		snprintf(why, len, "timed out after %ld s", r->timeout_s);
	else if (WIFSIGNALED(r->status))
		snprintf(why, len, "jq killed by signal %d",
		    WTERMSIG(r->status));
	else
		snprintf(why, len, "jq exit status %d", WEXITSTATUS(r->status));
}

/*
 * The child is gone: the job it ran fails (but when it was killed for a
 * cancel: that job, if not the cancelled one, runs again), the cancelled
 * ones end, the rest go to a new child.
 */
static void
jq_gone(struct worker *w)
{
	struct jqrun	*r = &w->jq_run;
	char		 why[128];
	size_t		 cur, i;

	if (r->in_fd >= 0)
		close(r->in_fd);
	r->in_fd = -1;
	r->pid = 0;
	if (r->handback) {
		jq_end_all(w, WQ_DONE_BACK, NULL);
		r->handback = 0;
	} else if (r->h < r->qn && !r->for_cancel) {
		/* The job killed at its timeout, found by its mark: results
		 * read since the kill moved the jobs in q (and its own may
		 * have come just before it: then it is not here). */
		if (r->timeout_s == 0)		/* it died of itself */
			cur = jq_cur(r);
		else
			for (cur = r->h; cur < r->qn && !r->q[cur].stuck;
			    cur++)
				;
		jq_why(r, why, sizeof(why));
		if (cur >= r->h && cur < r->qn)
			jq_ended(w, cur, WQ_DONE_FAIL, jv_null(), why);
	}
	for (i = r->h; i < r->qn; i++)
		if (r->q[i].cancelled)
			jq_ended(w, i, WQ_DONE_FAIL, jv_null(), NULL);
	r->timeout_s = 0;
	r->for_cancel = 0;
	if (r->h < r->qn) {
		if (jq_fork(w) == -1) {
			jq_end_all(w, WQ_DONE_FAIL, "cannot start jq: out "
			    "of processes or descriptors");
			return;
		}
		queue_input(r);
		worker_jq_write(w);
	}
}

/* The running job's timeout, a cancel, and the end of the child. */
void
worker_jq_service(struct worker *w)
{
	struct jqrun	*r = &w->jq_run;
	int64_t		 deadline;
	size_t		 cur;

	if (r->pid == 0)
		return;
	deadline = worker_jq_deadline(w);
	if (deadline != 0 && wq_now_ms() >= deadline && r->out_fd >= 0) {
		/* the results written already count first */
		worker_jq_read(w);
		deadline = worker_jq_deadline(w);
	}
	if (deadline != 0 && wq_now_ms() >= deadline) {
		if (r->q[r->h].cancelled)
			r->for_cancel = 1;
		else {
			cur = jq_cur(r);
			r->q[cur].stuck = 1;
			r->timeout_s = r->q[cur].c.timeout > 0 ?
			    r->q[cur].c.timeout : w->o.timeout;
		}
		jq_kill(r);
	}
	if (r->exited && r->out_fd < 0)
		jq_gone(w);
}

/*
 * The worker leaves, with nothing running: the child reads the end of its
 * input and exits, and is waited for (it must not outlive the worker).
 */
void
worker_jq_stop(struct worker *w)
{
	struct jqrun	*r = &w->jq_run;

	if (r->in_fd >= 0)
		close(r->in_fd);
	if (r->out_fd >= 0)
		close(r->out_fd);
	r->in_fd = r->out_fd = -1;
	if (r->h < r->qn)
		jq_kill(r);
	if (r->pid > 0 && !r->exited)
		while (waitpid(r->pid, NULL, 0) == -1 && errno == EINTR)
			;
	free(r->q);
	free(r->in);
	free(r->buf);
}
