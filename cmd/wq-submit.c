/*
 * wq-submit -- queue work; print one submission answer per job.
 *
 * Lines of stdin are queued as they arrive: a batch is sent when it holds
 * BATCH jobs, or LINGER_MS after its first line, whichever comes first,
 * and its answers are printed and flushed at once, so a producer that
 * never ends (tail -f, inotifywait -m) is served line by line and the
 * next command of a pipeline sees each answer as soon as it exists.  A
 * bad line (malformed JSON, data over --max-data) stops the stream
 * there: the lines before it are queued and answered, it and those after
 * it are not, and the exit status is 2.
 *
 * --all-or-nothing reads the whole input and checks every line before
 * anything is sent, so that bad input queues nothing; arguments, and a
 * --key (one job), are always taken that way.  Jobs go to Redis in
 * pipelined batches, or to the HTTP API (--api), API_INFLIGHT requests
 * at a time on kept-alive connections.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"

enum { OPT_LINES = WQ_OPT_FIRST_PRIVATE, OPT_JSON, OPT_KEY, OPT_TIMEOUT,
    OPT_MAX_ATTEMPTS, OPT_TRACEPARENT, OPT_ALL, OPT_IN, OPT_AT,
    OPT_PRIORITY, OPT_AFTER, OPT_GROUP };

static const struct option own[] = {
	{ "lines",		no_argument,		NULL, OPT_LINES },
	{ "json",		no_argument,		NULL, OPT_JSON },
	{ "key",		required_argument,	NULL, OPT_KEY },
	{ "timeout",		required_argument,	NULL, OPT_TIMEOUT },
	{ "max-attempts",	required_argument, NULL, OPT_MAX_ATTEMPTS },
	{ "traceparent",	required_argument, NULL, OPT_TRACEPARENT },
	{ "all-or-nothing",	no_argument,		NULL, OPT_ALL },
	{ "in",			required_argument,	NULL, OPT_IN },
	{ "at",			required_argument,	NULL, OPT_AT },
	{ "priority",		required_argument,	NULL, OPT_PRIORITY },
	{ "group",		required_argument,	NULL, OPT_GROUP },
	{ "max-queues",		required_argument, NULL, WQ_OPT_MAX_QUEUES },
	{ "events",		required_argument, NULL, WQ_OPT_EVENTS },
	WQ_WAIT_LONGOPTS,
	{ "after",		required_argument,	NULL, OPT_AFTER },
	{ NULL, 0, NULL, 0 }
};

#define BATCH		1024	/* jobs a batch, at most */
#define BATCH_PARTS	8	/* several partitions: BATCH a partition, up
				   to this many (a script call a partition) */
#define LINGER_MS	5	/* how long a batch waits for more lines */
#define CHUNK		10000	/* jobs a call, --all-or-nothing */
#define API_INFLIGHT	16

static struct wq	*wq;
static int		 mode = WQ_TEXT_STRING;
static char		*key;
static long		 timeout, max_attempts, priority;
static const char	*trace;		/* --traceparent, $TRACEPARENT */
static const char	*group;		/* --group */
static struct wq_spec	 parents;	/* --after, in its after */
static int		 run = WQ_RUN_NOW;	/* --in, --at */
static int64_t		 run_ms;

static void
usage(FILE *f)
{
	fprintf(f,
"usage: wq-submit [options] [DATA...]\n"
"Queue one job per argument, or per line of stdin as lines arrive;\n"
"print one answer per job: "
"{\"accepted_by\",\"callback\",\"data\",\"status\"}.\n"
"  --lines            each input is the data string (the default)\n"
"  --json             each input is a JSON job object {\"data\",\"key\",\n"
"                     \"queue\",\"group\",\"timeout\",\"max_attempts\",\n"
"                     \"ttl\",\"traceparent\",\"in\",\"at\",\"priority\",\n"
"                     \"after\"}\n"
"  --all-or-nothing   read and check all of stdin before queueing any\n"
"                     of it (by default a bad line stops the stream)\n"
"  --key K            idempotency key of the job (one job only)\n"
"  --timeout S        seconds a worker may run each job\n"
"  --max-attempts N   attempts before a job fails for good\n"
"  --priority N       0 (the default) to 9: higher is claimed first\n"
"  --group G          the jobs' group (a tenant, a customer): the groups\n"
"                     of a queue take turns, and its group concurrency\n"
"                     holds for each (wq-queue limit)\n"
"  --after ID         run the jobs once job ID has worked (repeatable)\n"
"  --in DURATION      run the jobs after DURATION (seconds, or 250ms,\n"
"                     1.5s, 10m, 2h, 1d; at most 30 days)\n"
"  --at TIME          run the jobs at TIME (RFC 3339, as\n"
"                     2026-12-04T10:30:00Z, or seconds since the epoch)\n"
"  --traceparent TP   the W3C trace context of the jobs (default:\n"
"                     $TRACEPARENT); their commands get it as TRACEPARENT\n"
"  --max-queues N     a new queue is refused when there are N already\n"
"                     (WQ_MAX_QUEUES; default 1000)\n"
"  --events N         keep about N events in the event stream, 0: write\n"
"                     none (WQ_EVENTS; default 100000; wq-events(1))\n"
"%s"
"%s", cmd_wait_usage, wq_common_usage);
}

/* Parse input number no (from 1); on bad input, the reason in err. */
static int
parse(const char *text, size_t len, size_t no, struct wq_spec *spec,
    char *err, size_t errlen)
{
	size_t	i;

	if (mode == WQ_TEXT_JSON && len == 0) {
		snprintf(err, errlen, "input %zu: empty line (expected a JSON "
		    "job object)", no);
		return -1;
	}
	if (wq_spec_from_text(wq, text, len, mode, spec) != WQ_OK) {
		snprintf(err, errlen, "input %zu: %s", no, wq_error(wq));
		return -1;
	}
	if (key != NULL) {		/* over a "key" of the JSON */
		free(spec->key);
		spec->key = wq_strdup(key);
		wq_id_of(jv_null(), key, spec->id);
	}
	if (spec->timeout == 0)
		spec->timeout = timeout;
	if (spec->max_attempts == 0)
		spec->max_attempts = max_attempts;
	if (spec->traceparent == NULL && trace != NULL)
		spec->traceparent = wq_strdup(trace);
	if (spec->priority == 0)
		spec->priority = priority;
	if (spec->group == NULL && group != NULL)
		spec->group = wq_strdup(group);
	if (spec->nafter == 0)
		for (i = 0; i < parents.nafter; i++)
			wq_spec_add_after(wq, spec, parents.after[i]);
	if (spec->run == WQ_RUN_NOW) {
		spec->run = run;
		spec->run_ms = run_ms;
	}
	return 0;
}

/*
 * Queue specs[0..n) through Redis and print their answers, in order;
 * clears the specs.  Exits on an error, the answers of the batch unsaid.
 */
static void
submit_redis(struct wq_spec *specs, size_t n, jv *answers)
{
	size_t	i;
	int	rc;
	char	what[64];

	if ((rc = wq_submit(wq, specs, n, answers)) != WQ_OK)
		cmd_die(rc, "%s", wq_error(wq));
	/* --wait-replicas: once a batch, before its answers are said */
	snprintf(what, sizeof(what), "%zu job%s queued", n, n == 1 ? "" :
	    "s");
	if ((rc = wq_wait_replicas(wq, what)) != WQ_OK)
		cmd_die(rc, "%s", wq_error(wq));
	for (i = 0; i < n; i++) {
		cmd_print_answer(wq, &specs[i], answers[i]);
		wq_spec_clear(&specs[i]);
	}
	cmd_flush();
}

/*
 * Through the API: a window of API_INFLIGHT jobs, each one request; the
 * answers are printed in input order as the window's first ones come.
 */
struct window {
	struct wq_api_pool	*pool;
	struct wq_spec		 specs[API_INFLIGHT];
	jv			 answers[API_INFLIGHT];
	int			 rcs[API_INFLIGHT];
	char			*errs[API_INFLIGHT];
	int			 done[API_INFLIGHT];
	size_t			 next;		/* sequence of the next job */
	size_t			 print;		/* of the next to print */
};

static void
api_answered(void *arg, size_t tag, int rc, jv answer)
{
	struct window	*win = arg;
	size_t		 k = tag % API_INFLIGHT;

	win->answers[k] = answer;
	win->rcs[k] = rc;
	win->errs[k] = rc != WQ_OK ? wq_strdup(wq_error(wq)) : NULL;
	win->done[k] = 1;
}

/* Print the answers at the head of the window that have come. */
static void
api_print(struct window *win)
{
	size_t	k;

	while (win->print < win->next && win->done[k = win->print %
	    API_INFLIGHT]) {
		if (win->rcs[k] != WQ_OK)
			cmd_die(win->rcs[k], "%s", win->errs[k]);
		cmd_print(win->answers[k]);
		wq_spec_clear(&win->specs[k]);
		win->done[k] = 0;
		win->print++;
	}
	cmd_flush();
}

static void
api_start(struct window *win, struct wq_spec *spec)
{
	size_t	k = win->next % API_INFLIGHT;
	int	rc;

	win->specs[k] = *spec;
	if ((rc = wq_api_pool_submit(win->pool, &win->specs[k],
	    win->next)) != WQ_OK)
		cmd_die(rc, "%s", wq_error(wq));
	win->next++;
}

/* Every job of specs[0..n) through the window. */
static void
submit_api(struct window *win, struct wq_spec *specs, size_t n)
{
	size_t	i = 0;
	int	rc, ready;

	while (i < n || win->print < win->next) {
		for (; i < n && win->next - win->print < API_INFLIGHT; i++)
			api_start(win, &specs[i]);
		if ((rc = wq_api_pool_run(win->pool, -1, -1, &ready,
		    api_answered, win)) != WQ_OK)
			cmd_die(rc, "%s", wq_error(wq));
		api_print(win);
	}
}

/* Arguments, a --key, or --all-or-nothing: check all, then queue. */
static void
whole(int argc, char **argv, struct window *win)
{
	struct wq_spec	*specs;
	char		**items, err[1024];
	size_t		 n, i, off, cnt, *lens;
	jv		*answers;

	items = cmd_inputs(argc, argv, &n, &lens);
	if (key != NULL && n != 1)
		cmd_die(WQ_EUSAGE, "--key names one job, but %zu were given",
		    n);
	specs = wq_calloc(n + 1, sizeof(*specs));
	for (i = 0; i < n; i++)
		if (parse(items[i], lens[i], i + 1, &specs[i], err,
		    sizeof(err)) == -1)
			cmd_die(WQ_EUSAGE, "%s", err);
	cmd_inputs_free(items);
	free(lens);
	if (win != NULL)
		submit_api(win, specs, n);
	else {
		answers = wq_calloc(CHUNK, sizeof(*answers));
		for (off = 0; off < n; off += cnt) {
			cnt = n - off < CHUNK ? n - off : CHUNK;
			submit_redis(specs + off, cnt, answers);
		}
		free(answers);
	}
	free(specs);
}

/*
 * Lines as they come, through Redis: a batch closes at BATCH jobs, at
 * LINGER_MS after its first line, or at the end of the input.
 */
static void
stream_redis(struct cmd_lines *in)
{
	struct wq_spec	*specs;
	struct pollfd	 pfd;
	char		*line, err[1024];
	size_t		 n, len, max = BATCH;
	int64_t		 first = 0;
	int		 bad = 0;
	jv		*answers;
	long		 parts;

	specs = wq_calloc(BATCH * BATCH_PARTS, sizeof(*specs));
	answers = wq_calloc(BATCH * BATCH_PARTS, sizeof(*answers));
	for (;;) {
		n = 0;
		for (;;) {
			while (n < max && (line = cmd_lines_next(in,
			    &len)) != NULL) {
				if (parse(line, len, in->lineno, &specs[n],
				    err, sizeof(err)) == -1) {
					bad = 1;
					break;
				}
				if (n++ == 0)
					first = wq_now_ms();
			}
			if (n == max || bad || in->eof)
				break;
			pfd.fd = in->fd;
			pfd.events = POLLIN;
			pfd.revents = 0;
			if (n > 0 && cmd_poll_ms(first + LINGER_MS) == 0)
				break;
			if (poll(&pfd, 1, n > 0 ? cmd_poll_ms(first +
			    LINGER_MS) : -1) == -1 && errno != EINTR)
				cmd_die(WQ_EUSAGE, "poll: %s", strerror(errno));
			if (pfd.revents != 0)
				cmd_lines_fill(in);
		}
		if (n > 0)
			submit_redis(specs, n, answers);
		/* a batch is split by partition (wq_submit()): at P > 1 a
		 * larger one keeps each script call's share large */
		parts = wq_setting_num(wq, WQ_OPT_PARTITIONS);
		max = BATCH * (size_t)(parts < 1 ? 1 : parts > BATCH_PARTS ?
		    BATCH_PARTS : parts);
		if (bad)
			cmd_die(WQ_EUSAGE, "%s", err);
		if (cmd_lines_end(in))
			break;
	}
	free(specs);
	free(answers);
}

/* Lines as they come, through the API's window. */
static void
stream_api(struct cmd_lines *in, struct window *win)
{
	struct wq_spec	 spec;
	char		*line, err[1024];
	size_t		 len;
	int		 rc, ready, bad = 0, more = 1;

	for (;;) {
		while (!bad && win->next - win->print < API_INFLIGHT &&
		    (line = cmd_lines_next(in, &len)) != NULL) {
			if (parse(line, len, in->lineno, &spec, err,
			    sizeof(err)) == -1)
				bad = 1;
			else
				api_start(win, &spec);
		}
		more = !bad && !cmd_lines_end(in);
		if (!more && win->print == win->next)
			break;
		/* stdin is worth watching when there is room for a job */
		if ((rc = wq_api_pool_run(win->pool, more && win->next -
		    win->print < API_INFLIGHT ? in->fd : -1, -1, &ready,
		    api_answered, win)) != WQ_OK)
			cmd_die(rc, "%s", wq_error(wq));
		if (ready)
			cmd_lines_fill(in);
		api_print(win);
	}
	if (bad)
		cmd_die(WQ_EUSAGE, "%s", err);
}

/* The traceparent of every job (--traceparent, $TRACEPARENT): checked. */
static const char *
trace_option(struct wq *wq, const char *tp, int from_env)
{
	struct wq_spec	s;

	if (tp == NULL || *tp == '\0')
		return NULL;
	memset(&s, 0, sizeof(s));
	s.data = jv_invalid();
	if (wq_spec_set_trace(wq, &s, tp) != WQ_OK)
		cmd_die(WQ_EUSAGE, "%s%s", wq_error(wq), from_env ?
		    " (from $TRACEPARENT)" : "");
	wq_spec_clear(&s);
	return tp;
}

/* --in or --at: checked now, given to each job without its own. */
static void
run_option(struct wq *wq, int kind, const char *opt, const char *arg)
{
	struct wq_spec	s;

	memset(&s, 0, sizeof(s));
	s.data = jv_invalid();
	if (run != WQ_RUN_NOW)
		cmd_die(WQ_EUSAGE, "--in and --at exclude each other");
	if (wq_spec_set_run(wq, &s, kind, arg) != WQ_OK)
		cmd_die(WQ_EUSAGE, "%s: %s", opt, wq_error(wq));
	run = s.run;
	run_ms = s.run_ms;
	wq_spec_clear(&s);
}

int
main(int argc, char **argv)
{
	struct option		*opts;
	struct cmd_lines	 in;
	struct window		*win = NULL;
	int			 c, all = 0, rc;

	wq = cmd_start("submit", own, &opts);
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_LINES:
			mode = WQ_TEXT_STRING;
			break;
		case OPT_JSON:
			mode = WQ_TEXT_JSON;
			break;
		case OPT_KEY:
			if (*optarg == '\0')
				cmd_die(WQ_EUSAGE, "bad --key: empty");
			key = optarg;
			break;
		case OPT_TIMEOUT:
			timeout = cmd_long("--timeout", optarg, 1,
			    WQ_JOB_TIMEOUT_MAX);
			break;
		case OPT_MAX_ATTEMPTS:
			max_attempts = cmd_long("--max-attempts", optarg, 1,
			    WQ_JOB_ATTEMPTS_MAX);
			break;
		case OPT_TRACEPARENT:
			trace = trace_option(wq, optarg, 0);
			break;
		case OPT_ALL:
			all = 1;
			break;
		case OPT_PRIORITY:
			priority = cmd_long("--priority", optarg, 0,
			    WQ_PRIORITY_MAX);
			break;
		case OPT_GROUP:
			if (wq_check_group(wq, optarg) != WQ_OK)
				cmd_die(WQ_EUSAGE, "--group: %s", wq_error(wq));
			group = optarg;
			break;
		case OPT_AFTER:
			if (wq_spec_add_after(wq, &parents, optarg) != WQ_OK)
				cmd_die(WQ_EUSAGE, "--after: %s", wq_error(wq));
			break;
		case OPT_IN:
			run_option(wq, WQ_RUN_IN, "--in", optarg);
			break;
		case OPT_AT:
			run_option(wq, WQ_RUN_AT, "--at", optarg);
			break;
		default:
			cmd_common(wq, c, optarg, argv, usage);
		}
	}
	free(opts);
	if (trace == NULL)
		trace = trace_option(wq, getenv("TRACEPARENT"), 1);
	cmd_batched();
	if (wq_setting(wq, WQ_OPT_API) != NULL) {
		win = wq_calloc(1, sizeof(*win));
		if ((rc = wq_api_pool_open(wq, API_INFLIGHT,
		    &win->pool)) != WQ_OK)
			cmd_die(rc, "%s", wq_error(wq));
	}
	if (optind < argc || all || key != NULL)
		whole(argc - optind, argv + optind, win);
	else {
		cmd_lines_init(&in, STDIN_FILENO);
		if (win != NULL)
			stream_api(&in, win);
		else
			stream_redis(&in);
		cmd_lines_free(&in);
	}
	if (win != NULL) {
		wq_api_pool_close(win->pool);
		free(win);
	}
	wq_free(wq);
	return 0;
}
