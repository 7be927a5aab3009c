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
 * it has free slots in one call.  Jobs to run later are queued by the
 * worker at their time (a timer, learnt from promote.lua when a due:<q>
 * hint says one was submitted), not by polling.  An idle worker claims
 * only on a wake hint or when its heartbeat finds work.
 * --jq and --sleep 0 jobs are taken --batch at a time: --sleep 0 work runs
 * in the loop itself, --jq work in a child process the loop feeds through
 * a pipe (worker-jq.c), so that --timeout holds for it too.
 *
 * When Redis goes away the running jobs go on; their outcomes wait, the
 * worker reconnects with backoff and then records them.  If it was
 * declared dead meanwhile (its heartbeat lapsed), its jobs were given to
 * others and those outcomes are refused by the fencing in complete.lua.
 *
 * The pieces are described in worker.h.
 */
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "worker.h"

/* What a descriptor of the poll set is. */
enum event {
	EV_SIGNAL,	/* the self-pipe: a signal came */
	EV_HINTS,	/* the subscriber connection: work queued, a message */
	EV_STDOUT,	/* a process's stdout: its result, or its reply */
	EV_STDERR,	/* a process's stderr: the tail of it is kept */
	EV_STDIN,	/* a process's stdin: room for more input */
	EV_JQ_OUT,	/* the --jq child's stdout: results */
	EV_JQ_IN,	/* the --jq child's stdin: room for more data */
	EV_PROGRESS	/* a job's WQ_PROGRESS_FD: what it says */
};

/* The poll set of one wait, and what each descriptor is. */
struct pollset {
	struct pollfd	 *pfd;
	enum event	 *ev;
	struct slot	**slot;
	size_t		  n, cap;
};

volatile sig_atomic_t		 worker_got_term;
static volatile sig_atomic_t	 got_chld;
static int			 sigpipe_fds[2];

static void
on_signal(int sig)
{
	int	saved = errno;
	char	c = (char)sig;

	if (sig == SIGCHLD)
		got_chld = 1;
	else
		worker_got_term++;
	(void)!write(sigpipe_fds[1], &c, 1);
	errno = saved;
}

/* SIGTERM, SIGINT and SIGCHLD wake the loop through a self-pipe. */
static void
signals_init(void)
{
	struct sigaction	sa;

	if (pipe2(sigpipe_fds, O_CLOEXEC | O_NONBLOCK) == -1)
		cmd_die(WQ_EUNAVAIL, "pipe: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGTERM, &sa, NULL) == -1 ||
	    sigaction(SIGINT, &sa, NULL) == -1 ||
	    sigaction(SIGCHLD, &sa, NULL) == -1)
		cmd_die(WQ_EUNAVAIL, "sigaction: %s", strerror(errno));
}

/* The next timer: reconnect or beat, the drain's end, a job's. */
static int64_t
next_wakeup(struct worker *w)
{
	int64_t	t, now = wq_now_ms();
	size_t	i;

	t = now + 1000;
	if (!w->up)
		t = w->reconnect_at;
	else if (w->next_beat < t)
		t = w->next_beat;
	if (w->draining && w->drain_deadline < t)
		t = w->drain_deadline;
	if (w->watchdog_ms > 0 && w->next_watchdog < t)
		t = w->next_watchdog;
	if (w->up && w->next_promote > 0 && w->next_promote < t)
		t = w->next_promote;
	if (worker_progress_due(w) > 0 && worker_progress_due(w) < t)
		t = worker_progress_due(w);
	for (i = 0; i < w->nslots; i++) {
		if (!w->slots[i].used)
			continue;
		if (w->slots[i].wake_at > 0 && w->slots[i].wake_at < t)
			t = w->slots[i].wake_at;
		if (!w->slots[i].timed_out && w->slots[i].deadline < t)
			t = w->slots[i].deadline;
	}
	if (worker_jq_deadline(w) != 0 && worker_jq_deadline(w) < t)
		t = worker_jq_deadline(w);
	return t;
}

/*
 * One turn of work: the drain, the link, the beat, the inbox, the
 * processes that ended, the outcomes, the next claim.  Returns 0 when
 * the worker is done: draining, nothing running, nothing left to record
 * (or Redis away past the grace).
 */
static int
turn(struct worker *w)
{
	worker_drain_tick(w);
	worker_watchdog(w);
	if (!w->up && !w->name_lost && wq_now_ms() >= w->reconnect_at)
		worker_come_up(w);
	if (w->up && wq_now_ms() >= w->next_beat)
		worker_heartbeat(w);
	if (w->up && w->msg_now)
		worker_read_inbox(w);
	if (w->up && w->cron_now && !w->draining)
		worker_sweep_rest(w, 1, 0);
	if (w->up && !w->draining && (w->promote_now ||
	    (w->next_promote > 0 && wq_now_ms() >= w->next_promote)))
		worker_promote(w);
	worker_service_slots(w);
	if (worker_progress_due(w) > 0 && wq_now_ms() >=
	    worker_progress_due(w))
		worker_flush_progress(w, NULL);
	/* outcomes go with the claim, when there is one */
	if (!w->claim_now || w->draining || worker_claimable(w) == 0)
		worker_flush_outcomes(w);
	if (w->up && w->claim_now && !w->draining)
		worker_claim(w);
	worker_service_slots(w);
	worker_flush_outcomes(w);
	return !(w->draining && worker_nrunning(w, PROC_JOB) == 0 &&
	    (w->nouts == 0 || (!w->up && wq_now_ms() >= w->drain_deadline)));
}

static void
watch(struct pollset *ps, int fd, short events, enum event ev,
    struct slot *s)
{
	if (ps->n == ps->cap) {
		ps->cap *= 2;
		ps->pfd = wq_reallocarray(ps->pfd, ps->cap, sizeof(*ps->pfd));
		ps->ev = wq_reallocarray(ps->ev, ps->cap, sizeof(*ps->ev));
		ps->slot = wq_reallocarray(ps->slot, ps->cap,
		    sizeof(*ps->slot));
	}
	ps->pfd[ps->n].fd = fd;
	ps->pfd[ps->n].events = events;
	ps->ev[ps->n] = ev;
	ps->slot[ps->n++] = s;
}

/* What to wait for: signals, hints, and each process's pipes. */
static void
pollset_fill(struct worker *w, struct pollset *ps)
{
	struct slot	*s;
	const int	*fds;
	size_t		 i, n;

	ps->n = 0;
	watch(ps, sigpipe_fds[0], POLLIN, EV_SIGNAL, NULL);
	if (w->hints != NULL) {
		fds = wq_hints_fds(w->hints, &n);
		for (i = 0; i < n; i++)
			watch(ps, fds[i], POLLIN, EV_HINTS, NULL);
	}
	if (w->jq_run.out_fd >= 0)
		watch(ps, w->jq_run.out_fd, POLLIN, EV_JQ_OUT, NULL);
	if (w->jq_run.in_fd >= 0 && w->jq_run.in_len > 0)
		watch(ps, w->jq_run.in_fd, POLLOUT, EV_JQ_IN, NULL);
	for (i = 0; i < w->nslots; i++) {
		s = &w->slots[i];
		if (!s->used)
			continue;
		if (s->out_fd >= 0)
			watch(ps, s->out_fd, POLLIN, EV_STDOUT, s);
		if (s->err_fd >= 0)
			watch(ps, s->err_fd, POLLIN, EV_STDERR, s);
		if (s->in_fd >= 0)
			watch(ps, s->in_fd, POLLOUT, EV_STDIN, s);
		if (s->prog_fd >= 0)
			watch(ps, s->prog_fd, POLLIN, EV_PROGRESS, s);
	}
}

/* One descriptor is ready. */
static void
event(struct worker *w, enum event ev, struct slot *s)
{
	char	buf[64];
	int	work, msg;

	switch (ev) {
	case EV_SIGNAL:
		while (read(sigpipe_fds[0], buf, sizeof(buf)) > 0)
			;
		break;
	case EV_HINTS:
		if (wq_hints_read(w->hints, &work, &msg) != WQ_OK) {
			worker_went_down(w);
			break;
		}
		w->claim_now |= work;
		w->msg_now |= msg;
		w->promote_now |= wq_hints_due(w->hints);
		break;
	case EV_STDOUT:
		worker_read_output(s, 0);
		break;
	case EV_STDERR:
		worker_read_output(s, 1);
		break;
	case EV_STDIN:
		worker_write_input(s);
		break;
	case EV_JQ_OUT:
		worker_jq_read(w);
		break;
	case EV_JQ_IN:
		worker_jq_write(w);
		break;
	case EV_PROGRESS:
		worker_read_progress(s);
		break;
	}
}

/* Wait for the next event or timer, and handle what came. */
static void
wait_events(struct worker *w, struct pollset *ps)
{
	int64_t	t;
	size_t	i;
	int	rc, ms, hints;

	pollset_fill(w, ps);
	t = next_wakeup(w) - wq_now_ms();
	ms = t < 0 ? 0 : (int)t;
	if ((w->claim_now && w->up && !w->draining &&
	    worker_claimable(w) > 0) || (w->cron_now && w->up &&
	    !w->draining))
		ms = 0;
	rc = poll(ps->pfd, ps->n, ms);
	if (rc < 0 && errno != EINTR)
		cmd_die(WQ_EUNAVAIL, "poll: %s", strerror(errno));
	/* the hints: one read of all their descriptors (wq_hints_read) */
	for (i = 0, hints = 0; rc > 0 && i < ps->n; i++)
		if (ps->pfd[i].revents != 0 && (ps->ev[i] != EV_HINTS ||
		    !hints++))
			event(w, ps->ev[i], ps->slot[i]);
	if (got_chld) {
		got_chld = 0;
		worker_reap_children(w);
	}
}

/*
 * The event loop: a turn of work, then a wait on the poll set until a
 * descriptor is ready or the next timer is due.
 */
static void
loop(struct worker *w)
{
	struct pollset	ps;

	ps.cap = w->nslots * 4 + 4;
	ps.pfd = wq_calloc(ps.cap, sizeof(*ps.pfd));
	ps.ev = wq_calloc(ps.cap, sizeof(*ps.ev));
	ps.slot = wq_calloc(ps.cap, sizeof(*ps.slot));
	while (turn(w))
		wait_events(w, &ps);
	free(ps.pfd);
	free(ps.ev);
	free(ps.slot);
}

int
main(int argc, char **argv)
{
	struct worker	w;

	memset(&w, 0, sizeof(w));
	worker_options(&w, argc, argv);
	worker_notify_init(&w);
	worker_slots_init(&w);
	signals_init();
	setvbuf(stderr, NULL, _IOLBF, 0);

	/* The first connection: a taken name is a usage error. */
	worker_come_up(&w);
	if (!w.up)
		worker_log(&w, "redis", jv_null(), "unreachable: %s; retrying",
		    wq_error(w.wq));
	loop(&w);
	worker_leave(&w);

	wq_hints_close(w.hints);
	worker_options_free(&w);
	free(w.slots);
	worker_jq_stop(&w);
	free(w.outs);
	free(w.last_err);
	wq_free(w.wq);
	return w.name_lost ? WQ_EUSAGE : 0;
}
