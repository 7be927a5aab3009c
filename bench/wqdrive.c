/*
 * wqdrive.c -- drive libwq directly for the measurements no command
 * makes: one job per round trip, submit-to-done latency seen from the
 * client, and the load of many simulated nodes.  bench/run builds it
 * against the tree's lib/.libs/libwq.a; it takes WQ_REDIS from the
 * environment like every command and prints one JSON line.
 *
 *   wqdrive submit1 N       N jobs, one wq_submit() call (one round
 *                           trip) each
 *   wqdrive latency RATE S  RATE jobs/s for S seconds, one per call; for
 *                           each, the time from the start of its submit
 *                           call to the arrival of its done hint (the
 *                           pub/sub message complete.lua publishes, which
 *                           wq-status --wait sleeps on), on a second
 *                           connection subscribed before the submit
 *   wqdrive beat NODES S    NODES simulated idle workers, each doing once
 *                           per second what an idle wq-worker does on its
 *                           heartbeat: wq_node_heartbeat() with a
 *                           worker's fields, its inbox and its queue
 *                           (beat, sweep when its turn comes, messages,
 *                           is there work); spread over the second
 *   wqdrive cron N          N schedules "@every 5s" added, one
 *                           wq_schedule_add() each
 *   wqdrive sweep N         once they are all due (5.2 s: each once),
 *                           wq_schedule_sweep() back to back (what the
 *                           sweeper does when its beat says one is due,
 *                           without the gate between sweeps) until N
 *                           jobs are fired
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wq.h"

static double
now_s(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(struct wq *wq, const char *what)
{
	fprintf(stderr, "wqdrive: %s: %s\n", what, wq ? wq_error(wq) : "");
	exit(1);
}

static void
make_spec(struct wq *wq, const char *fmt, long i, struct wq_spec *s)
{
	char	text[64];
	int	n;

	n = snprintf(text, sizeof(text), fmt, (long)getpid(), i);
	if (wq_spec_from_text(wq, text, (size_t)n, WQ_TEXT_STRING, s) != WQ_OK)
		die(wq, "spec");
}

static void
submit_one(struct wq *wq, struct wq_spec *s)
{
	jv	answer;

	if (wq_submit(wq, s, 1, &answer) != WQ_OK)
		die(wq, "submit");
	jv_free(answer);
}

static void
mode_submit1(long n)
{
	struct wq	*wq;
	struct wq_spec	 s;
	double		 t0, t;
	long		 i;

	wq = wq_new("bench");
	if (wq_connect(wq) != WQ_OK)
		die(wq, "connect");
	t0 = now_s();
	for (i = 0; i < n; i++) {
		make_spec(wq, "one-%ld-%ld", i, &s);
		submit_one(wq, &s);
		wq_spec_clear(&s);
	}
	t = now_s() - t0;
	printf("{\"value\":%.0f,\"unit\":\"jobs/s\",\"jobs\":%ld}\n", n / t, n);
	wq_free(wq);
}

/* The jobs in flight of the latency run, found by id. */
struct lat {
	char	 id[WQ_ID_LEN + 1];
	double	 sent;
	double	 ms;		/* < 0 while not done */
};

static struct lat	*lats;
static long		 nlats;

static struct lat *
lat_find(const char *id)
{
	static long	lo;
	long		i;

	/* Hints come mostly in order: skip the done prefix. */
	while (lo < nlats && lats[lo].ms >= 0)
		lo++;
	for (i = lo; i < nlats; i++)
		if (lats[i].ms < 0 && strcmp(lats[i].id, id) == 0)
			return &lats[i];
	return NULL;
}

static long
lat_read(struct wq_waiter *w, int ms)
{
	struct pollfd	 pfd[64];
	struct lat	*l;
	const int	*fds;
	char		*ids[256];
	size_t		 n, i;
	long		 done = 0;

	/* (one descriptor on one server; one a primary on a cluster) */
	fds = wq_waiter_fds(w, &n);
	for (i = 0; i < n && i < 64; i++) {
		pfd[i].fd = fds[i];
		pfd[i].events = POLLIN;
	}
	if (poll(pfd, i, ms < 0 ? 0 : ms) <= 0)	/* late: never -1 */
		return 0;
	if (wq_waiter_read(w, ids, 256, &n) != WQ_OK)
		die(NULL, "waiter");
	for (i = 0; i < n; i++) {
		if ((l = lat_find(ids[i])) == NULL)
			continue;
		l->ms = (now_s() - l->sent) * 1000;
		wq_waiter_remove(w, l->id);
		done++;
	}
	return done;
}

static int
cmp_lat(const void *a, const void *b)
{
	double	x = ((const struct lat *)a)->ms, y = ((const struct lat *)b)->ms;

	return x < y ? -1 : x > y;
}

static void
mode_latency(long rate, long secs)
{
	struct wq		*wq;
	struct wq_waiter	*w;
	struct wq_spec		 s;
	const char		*id;
	double			 t0, next, wait_until;
	long			 n, i, done = 0;

	n = rate * secs;
	lats = calloc((size_t)n, sizeof(*lats));
	wq = wq_new("bench");
	if (lats == NULL || wq_connect(wq) != WQ_OK ||
	    wq_waiter_open(wq, &w) != WQ_OK)
		die(wq, "connect");
	t0 = now_s();
	for (i = 0; i < n; i++) {
		next = t0 + (double)i / (double)rate;
		while (now_s() < next)
			done += lat_read(w, (int)((next - now_s()) * 1000));
		make_spec(wq, "lat-%ld-%ld", i, &s);
		memcpy(lats[i].id, s.id, sizeof(s.id));
		lats[i].ms = -1;
		nlats = i + 1;
		id = lats[i].id;
		if (wq_waiter_add(w, &id, 1) != WQ_OK)
			die(wq, "subscribe");
		lats[i].sent = now_s();
		submit_one(wq, &s);
		wq_spec_clear(&s);
	}
	wait_until = now_s() + 10;
	while (done < n && now_s() < wait_until)
		done += lat_read(w, 100);
	if (done < n) {
		fprintf(stderr, "wqdrive: %ld of %ld jobs not seen done\n",
		    n - done, n);
		exit(1);
	}
	qsort(lats, (size_t)n, sizeof(*lats), cmp_lat);
	printf("{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f,\"unit\":\"ms\","
	    "\"jobs\":%ld}\n", lats[n / 2].ms, lats[(n * 99) / 100].ms,
	    lats[n - 1].ms, n);
	wq_waiter_close(w);
	wq_free(wq);
	free(lats);
}

/* A worker's fields (cmd/wq-worker.c): all to register, some to beat. */
static jv
worker_fields(int full)
{
	jv	o;

	o = jv_object();
	if (full) {
		o = jv_object_set(o, jv_string("role"), jv_string("worker"));
		o = jv_object_set(o, jv_string("host"), jv_string("bench"));
		o = jv_object_set(o, jv_string("pid"),
		    jv_number((double)getpid()));
		o = jv_object_set(o, jv_string("queues"),
		    jv_array_append(jv_array(), jv_string("default")));
		o = jv_object_set(o, jv_string("concurrency"), jv_number(1));
		o = jv_object_set(o, jv_string("work"), jv_string("sleep"));
	}
	o = jv_object_set(o, jv_string("processed"), jv_number(0));
	o = jv_object_set(o, jv_string("failed"), jv_number(0));
	o = jv_object_set(o, jv_string("current"), jv_array());
	o = jv_object_set(o, jv_string("state"), jv_string("running"));
	return o;
}

static void
mode_beat(long nodes, long secs)
{
	struct wq		**wqs;
	struct wq_worker_opts	  o;
	struct wq_beat		  b;
	struct wq_msg		  m[32];
	const char		 *queues[] = { "default" };
	char			  name[64];
	double			  t0, due;
	long			  i, tick;
	size_t			  k;

	memset(&o, 0, sizeof(o));
	o.queues = queues;
	o.nqueues = 1;
	o.max_attempts = 3;
	o.timeout = 300;
	o.node_timeout_ms = 5000;
	o.heartbeat_ms = 1000;
	o.concurrency = 1;
	wqs = calloc((size_t)nodes, sizeof(*wqs));
	for (i = 0; i < nodes; i++) {
		wqs[i] = wq_new("worker");
		snprintf(name, sizeof(name), "sim-%ld", i);
		if (wq_setopt(wqs[i], WQ_OPT_NAME, name) != WQ_OK ||
		    wq_connect(wqs[i]) != WQ_OK ||
		    wq_node_register(wqs[i], &o, worker_fields(1)) != WQ_OK)
			die(wqs[i], "register");
	}
	/* Up: the caller measures Redis from here. */
	printf("{\"up\":%ld}\n", nodes);
	fflush(stdout);
	t0 = now_s();
	for (tick = 0; tick < secs; tick++) {
		for (i = 0; i < nodes; i++) {
			due = t0 + tick + (double)i / (double)nodes;
			if (due > now_s())
				usleep((useconds_t)((due - now_s()) * 1e6));
			memset(&b, 0, sizeof(b));
			b.msgs = m;
			b.max_msgs = sizeof(m) / sizeof(m[0]);
			b.want_work = 1;
			if (wq_node_heartbeat(wqs[i], &o, worker_fields(0),
			    &b) != WQ_OK || !b.member)
				die(wqs[i], "beat");
			for (k = 0; k < b.nmsgs; k++)
				wq_msg_clear(&m[k]);
		}
	}
	printf("{\"nodes\":%ld,\"seconds\":%ld}\n", nodes, secs);
	for (i = 0; i < nodes; i++) {
		wq_node_leave(wqs[i]);
		wq_free(wqs[i]);
	}
	free(wqs);
}

static void
mode_cron(long n, int add)
{
	struct wq		*wq;
	struct wq_schedule	 s;
	char			 name[64];
	double			 t0, tadd, tfire;
	long			 i, fired, total = 0, sweeps = 0;
	jv			 answer;
	int			 more;

	wq = wq_new("bench");
	if (wq_connect(wq) != WQ_OK)
		die(wq, "connect");
	if (!add)
		goto sweep;
	memset(&s, 0, sizeof(s));
	s.name = name;
	s.spec = "@every 5s";
	t0 = now_s();
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "bench-%ld", i);
		s.job = jv_object_set(jv_object_set(jv_object(),
		    jv_string("data"), jv_number((double)i)),
		    jv_string("queue"), jv_string("cronbench"));
		if (wq_schedule_add(wq, &s, &answer) != WQ_OK)
			die(wq, "schedule add");
		jv_free(s.job);
		jv_free(answer);
	}
	tadd = now_s() - t0;
	printf("{\"value\":%.0f,\"unit\":\"schedules/s\"}\n", n / tadd);
	wq_free(wq);
	return;
sweep:
	usleep(5200000);	/* the last one added is due, once */
	t0 = now_s();
	while (total < n) {
		if (wq_schedule_sweep(wq, &fired, &more) != WQ_OK)
			die(wq, "sweep");
		total += fired;
		sweeps++;
	}
	tfire = now_s() - t0;
	printf("{\"value\":%.0f,\"unit\":\"fired/s\",\"fired\":%ld,"
	    "\"sweeps\":%ld,\"fire_ms\":%.0f}\n", total / tfire, total,
	    sweeps, tfire * 1000);
	wq_free(wq);
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "submit1") == 0)
		mode_submit1(atol(argv[2]));
	else if (argc == 4 && strcmp(argv[1], "latency") == 0)
		mode_latency(atol(argv[2]), atol(argv[3]));
	else if (argc == 4 && strcmp(argv[1], "beat") == 0)
		mode_beat(atol(argv[2]), atol(argv[3]));
	else if (argc == 3 && strcmp(argv[1], "cron") == 0)
		mode_cron(atol(argv[2]), 1);
	else if (argc == 3 && strcmp(argv[1], "sweep") == 0)
		mode_cron(atol(argv[2]), 0);
	else {
		fprintf(stderr, "usage: wqdrive submit1 N | latency RATE S | "
		    "beat NODES S | cron N | sweep N\n");
		return 2;
	}
	return 0;
}
