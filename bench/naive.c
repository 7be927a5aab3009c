/*
 * naive.c -- the physical limit of a Redis work queue: what a plain
 * hiredis loop does on the same redis-server as wq and its peers.
 *
 * No records, no fencing, no retries: a job is a list element and its
 * result a string key.  A worker round trip carries the results of the
 * jobs of its previous round trip (SET res:<job> <job> EX 3600) and
 * takes the next ones (LMOVE queue -> active), so B = 1 is one job per
 * round trip and B = 100 batches a hundred.  bench/run builds it with
 * cc -lhiredis and reads the one JSON line each mode prints.
 *
 *   naive PORT submit N B        LPUSH N jobs, B per round trip
 *   naive PORT drain N B W       pre-queue N, drain them with W processes
 *   naive PORT latency RATE S W  submit RATE jobs/s for S s; W workers
 *                                BRPOP, SET the result, and time the job
 *                                from its submission to that SET's reply
 */
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis.h>

#define QUEUE	"naive:queue"
#define ACTIVE	"naive:active"

static int	 port;

static double
now_s(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what)
{
	fprintf(stderr, "naive: %s\n", what);
	exit(1);
}

static redisContext *
connect_redis(void)
{
	redisContext	*c;

	c = redisConnect("127.0.0.1", port);
	if (c == NULL || c->err)
		die("cannot connect to Redis");
	return c;
}

static redisReply *
get_reply(redisContext *c)
{
	void	*r;

	if (redisGetReply(c, &r) != REDIS_OK || r == NULL)
		die("Redis connection lost");
	if (((redisReply *)r)->type == REDIS_REPLY_ERROR)
		die(((redisReply *)r)->str);
	return r;
}

static void
command(redisContext *c, const char *cmd)
{
	redisAppendCommand(c, cmd);
	freeReplyObject(get_reply(c));
}

/* Queue jobs "1".."n", b per round trip. */
static void
push(redisContext *c, long n, long b)
{
	long	i, j, k;

	for (i = 0; i < n; i += b) {
		k = n - i < b ? n - i : b;
		for (j = 0; j < k; j++)
			redisAppendCommand(c, "LPUSH %s %ld", QUEUE, i + j + 1);
		for (j = 0; j < k; j++)
			freeReplyObject(get_reply(c));
	}
}

static void
mode_submit(long n, long b)
{
	redisContext	*c;
	double		 t0, t;

	c = connect_redis();
	command(c, "DEL " QUEUE);
	t0 = now_s();
	push(c, n, b);
	t = now_s() - t0;
	printf("{\"value\":%.0f,\"unit\":\"jobs/s\",\"jobs\":%ld}\n", n / t, n);
	redisFree(c);
}

/* One worker: results of the last round trip plus the next b jobs. */
static void
worker(long b)
{
	redisContext	*c;
	redisReply	*r;
	char		**held;
	long		 nheld, i, nnext;

	c = connect_redis();
	held = calloc((size_t)b, sizeof(*held));
	if (held == NULL)
		die("out of memory");
	nheld = 0;
	for (;;) {
		for (i = 0; i < nheld; i++)
			redisAppendCommand(c, "SET naive:res:%s %s EX 3600",
			    held[i], held[i]);
		for (i = 0; i < b; i++)
			redisAppendCommand(c, "LMOVE %s %s RIGHT LEFT", QUEUE,
			    ACTIVE);
		for (i = 0; i < nheld; i++) {
			freeReplyObject(get_reply(c));
			free(held[i]);
		}
		nnext = 0;
		for (i = 0; i < b; i++) {
			r = get_reply(c);
			if (r->type == REDIS_REPLY_STRING)
				held[nnext++] = strdup(r->str);
			freeReplyObject(r);
		}
		nheld = nnext;
		if (nheld == 0)
			break;
	}
	free(held);
	redisFree(c);
}

static void
mode_drain(long n, long b, long w)
{
	redisContext	*c;
	double		 t0, t;
	long		 i;
	pid_t		 pid;
	int		 st, bad = 0;

	c = connect_redis();
	command(c, "DEL " QUEUE " " ACTIVE);
	push(c, n, 1000);
	t0 = now_s();
	for (i = 0; i < w; i++) {
		if ((pid = fork()) == -1)
			die("fork failed");
		if (pid == 0) {
			worker(b);
			_exit(0);
		}
	}
	while (wait(&st) > 0)
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad = 1;
	t = now_s() - t0;
	if (bad)
		die("a worker failed");
	printf("{\"value\":%.0f,\"unit\":\"jobs/s\",\"jobs\":%ld}\n", n / t, n);
	redisFree(c);
}

static int
cmp_double(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * A latency worker: BRPOP a job (its submission time), SET its result,
 * and once that is acknowledged write the job's latency in µs to fd.
 */
static void
lat_worker(int fd)
{
	redisContext	*c;
	redisReply	*r;
	double		 sent, lat;
	char		 line[64];
	int		 len;

	c = connect_redis();
	for (;;) {
		redisAppendCommand(c, "BRPOP %s 5", QUEUE);
		r = get_reply(c);
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
			freeReplyObject(r);
			break;
		}
		if (strcmp(r->element[1]->str, "stop") == 0) {
			freeReplyObject(r);
			break;
		}
		sent = strtod(r->element[1]->str, NULL);
		redisAppendCommand(c, "SET naive:res:%s done EX 3600",
		    r->element[1]->str);
		freeReplyObject(get_reply(c));
		lat = (now_s() - sent) * 1e6;
		len = snprintf(line, sizeof(line), "%.1f\n", lat);
		if (write(fd, line, (size_t)len) != len)
			die("write to the pipe failed");
		freeReplyObject(r);
	}
	redisFree(c);
}

static void
mode_latency(long rate, long secs, long w)
{
	redisContext	*c;
	FILE		*in;
	double		*lats, t0, next;
	long		 n, i, got;
	int		 fds[2];
	pid_t		 pid;

	n = rate * secs;
	c = connect_redis();
	command(c, "DEL " QUEUE);
	if (pipe(fds) == -1)
		die("pipe failed");
	for (i = 0; i < w; i++) {
		if ((pid = fork()) == -1)
			die("fork failed");
		if (pid == 0) {
			close(fds[0]);
			lat_worker(fds[1]);
			_exit(0);
		}
	}
	close(fds[1]);
	usleep(200000);
	t0 = now_s();
	for (i = 0; i < n; i++) {
		next = t0 + (double)i / (double)rate;
		while (now_s() < next) {
			double d = (next - now_s()) * 1e6;

			if (d > 50)
				usleep((useconds_t)(d - 50));
		}
		redisAppendCommand(c, "LPUSH %s %.9f", QUEUE, now_s());
		freeReplyObject(get_reply(c));
	}
	for (i = 0; i < w; i++) {
		redisAppendCommand(c, "LPUSH %s stop", QUEUE);
		freeReplyObject(get_reply(c));
	}
	lats = calloc((size_t)n, sizeof(*lats));
	if (lats == NULL || (in = fdopen(fds[0], "r")) == NULL)
		die("out of memory");
	for (got = 0; got < n && fscanf(in, "%lf", &lats[got]) == 1; got++)
		;
	while (wait(NULL) > 0)
		;
	if (got != n)
		die("lost jobs");
	qsort(lats, (size_t)n, sizeof(*lats), cmp_double);
	printf("{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f,\"unit\":\"ms\","
	    "\"jobs\":%ld}\n", lats[n / 2] / 1000, lats[(n * 99) / 100] / 1000,
	    lats[n - 1] / 1000, n);
	free(lats);
	fclose(in);
	redisFree(c);
}

int
main(int argc, char **argv)
{
	if (argc < 4)
		die("usage: naive PORT submit N B | drain N B W | "
		    "latency RATE S W");
	port = atoi(argv[1]);
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(argv[2], "submit") == 0 && argc == 5)
		mode_submit(atol(argv[3]), atol(argv[4]));
	else if (strcmp(argv[2], "drain") == 0 && argc == 6)
		mode_drain(atol(argv[3]), atol(argv[4]), atol(argv[5]));
	else if (strcmp(argv[2], "latency") == 0 && argc == 6)
		mode_latency(atol(argv[3]), atol(argv[4]), atol(argv[5]));
	else
		die("bad arguments");
	return 0;
}
