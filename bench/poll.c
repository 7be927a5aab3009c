/*
 * poll.c -- time a drain from a counter in Redis, for bench/run.
 *
 *   poll PORT KEY N TIMEOUT [cont PID...]
 *
 * The workers of every system add what they finished to KEY (wq keeps
 * its own, stats:worked; the peers' workers flush a bench:done counter
 * every 10 ms).  The drain is timed from the first count seen to the
 * count reaching N, so that the start-up of the workers (a Ruby or
 * Node.js process takes a second or more to boot) is not part of it.
 * With "cont PID..." the workers were stopped (SIGSTOP) while the jobs
 * were queued: poll continues them (SIGCONT) once it is connected, and
 * times the drain from there, counting from zero.  Looks every 2 ms;
 * prints {"value":jobs/s,"unit":"jobs/s","jobs":N counted,"seconds":S}.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis.h>

static double
now_s(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long
counter(redisContext *c, const char *key)
{
	redisReply	*r;
	long long	 v = 0;

	if ((r = redisCommand(c, "GET %s", key)) == NULL) {
		fprintf(stderr, "poll: Redis connection lost\n");
		exit(1);
	}
	if (r->type == REDIS_REPLY_STRING)
		v = strtoll(r->str, NULL, 10);
	freeReplyObject(r);
	return v;
}

int
main(int argc, char **argv)
{
	redisContext	*c;
	const char	*key;
	long long	 n, v, v0 = 0;
	double		 timeout, t, t0 = 0, deadline;
	int		 i, started = 0;

	if (argc < 5) {
		fprintf(stderr, "usage: poll PORT KEY N TIMEOUT [cont PID...]\n");
		return 2;
	}
	key = argv[2];
	n = atoll(argv[3]);
	timeout = atof(argv[4]);
	c = redisConnect("127.0.0.1", atoi(argv[1]));
	if (c == NULL || c->err) {
		fprintf(stderr, "poll: cannot connect to Redis\n");
		return 1;
	}
	if (argc > 5 && strcmp(argv[5], "cont") == 0) {
		t0 = now_s();
		started = 1;
		for (i = 6; i < argc; i++)
			kill((pid_t)atol(argv[i]), SIGCONT);
	}
	deadline = now_s() + timeout;
	for (;;) {
		v = counter(c, key);
		t = now_s();
		if (!started && v > 0) {
			t0 = t;
			v0 = v;
			started = 1;
		}
		if (v >= n)
			break;
		if (t > deadline) {
			fprintf(stderr, "poll: %s reached %lld of %lld in %.0f s\n",
			    key, v, n, timeout);
			return 1;
		}
		usleep(2000);
	}
	if (t - t0 < 1e-3)
		t = t0 + 1e-3;
	printf("{\"value\":%.0f,\"unit\":\"jobs/s\",\"jobs\":%lld,"
	    "\"seconds\":%.3f}\n", (double)(n - v0) / (t - t0), n - v0, t - t0);
	redisFree(c);
	return 0;
}
