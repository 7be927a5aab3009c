/*
 * worker-opts.c -- wq-worker's options: the table, --help, the defaults,
 * and the checks that make a bad option a usage error (exit 2) before
 * the worker connects.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "worker.h"

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
	{ "max-attempts",	required_argument, NULL, OPT_MAX_ATTEMPTS },
	{ "heartbeat",		required_argument,	NULL, OPT_HEARTBEAT },
	{ "node-timeout",	required_argument, NULL, OPT_NODE_TIMEOUT },
	{ "batch",		required_argument,	NULL, OPT_BATCH },
	{ "grace",		required_argument,	NULL, OPT_GRACE },
	{ "on",			required_argument,	NULL, OPT_ON },
	{ "handler-timeout",	required_argument, NULL, OPT_HANDLER_TIMEOUT },
	{ "log",		required_argument,	NULL, OPT_LOG },
	{ "quiet",		no_argument,		NULL, OPT_QUIET },
	{ "backoff",		required_argument,	NULL, OPT_BACKOFF },
	{ "events",		required_argument,	NULL, WQ_OPT_EVENTS },
	WQ_WAIT_LONGOPTS,
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
"  --events N          keep about N events in the event stream, 0: write\n"
"                      none (WQ_EVENTS; default 100000; wq-events(1))\n"
"%s%s", cmd_wait_usage, wq_common_usage);
}

#define MAX_CAPTURE	(1024 * 1024)
#define ERR_TAIL	4096


/* --on TYPE=CMD: a handler for messages of TYPE (not a built-in one). */
static void
add_handler(struct worker *w, const char *spec)
{
	const char	*eq;

	eq = strchr(spec, '=');
	if (eq == NULL || eq == spec || eq[1] == '\0')
		cmd_die(WQ_EUSAGE, "bad --on: expected TYPE=CMD");
	if (wq_builtin_type(spec, (size_t)(eq - spec)))
		cmd_die(WQ_EUSAGE, "bad --on: %.*s is a built-in message type",
		    (int)(eq - spec), spec);
	w->handlers = wq_reallocarray(w->handlers, w->nhandlers + 1,
	    sizeof(*w->handlers));
	w->handlers[w->nhandlers].type = wq_strndup(spec,
	    (size_t)(eq - spec));
	w->handlers[w->nhandlers].cmd = wq_strdup(eq + 1);
	w->nhandlers++;
}

/* --exec, --jq or --sleep: what a job is. */
static void
set_work(struct worker *w, int c, const char *arg)
{
	char	err[512];

	switch (c) {
	case OPT_EXEC:
		if (*arg == '\0')
			cmd_die(WQ_EUSAGE, "bad --exec: empty command");
		w->work = WORK_EXEC;
		w->exec_cmd = arg;
		break;
	case OPT_JQ:
		if (wq_jq_compile(arg, &w->jq, err, sizeof(err)) == -1)
			cmd_die(WQ_EUSAGE, "%s", err);
		w->work = WORK_JQ;
		break;
	case OPT_SLEEP:
		w->sleep_s = cmd_seconds("--sleep", arg);
		w->work = WORK_SLEEP;
		break;
	}
}

/* One option of the worker's own; 0 when it is not one. */
static int
option(struct worker *w, int c, const char *arg, const char **log)
{
	switch (c) {
	case OPT_CONCURRENCY:
		w->o.concurrency = cmd_long("--concurrency", arg, 1, 4096);
		break;
	case OPT_TIMEOUT:
		w->o.timeout = cmd_long("--timeout", arg, 1,
		    WQ_JOB_TIMEOUT_MAX);
		break;
	case OPT_MAX_ATTEMPTS:
		w->o.max_attempts = cmd_long("--max-attempts", arg, 1,
		    WQ_JOB_ATTEMPTS_MAX);
		break;
	case OPT_HEARTBEAT:
		w->o.heartbeat_ms = (long)(cmd_seconds("--heartbeat", arg) *
		    1000);
		if (w->o.heartbeat_ms < 50)
			cmd_die(WQ_EUSAGE, "bad --heartbeat: at least 0.05 s");
		break;
	case OPT_NODE_TIMEOUT:
		w->o.node_timeout_ms = (long)(cmd_seconds("--node-timeout",
		    arg) * 1000);
		if (w->o.node_timeout_ms < WQ_NODE_TIMEOUT_MIN_MS)
			cmd_die(WQ_EUSAGE, "bad --node-timeout: at least "
			    "%g s", WQ_NODE_TIMEOUT_MIN_MS / 1000.0);
		break;
	case OPT_BATCH:
		w->batch = cmd_long("--batch", arg, 1, 10000);
		break;
	case OPT_GRACE:
		w->grace_s = cmd_seconds("--grace", arg);
		break;
	case OPT_ON:
		add_handler(w, arg);
		break;
	case OPT_HANDLER_TIMEOUT:
		w->handler_timeout_s = cmd_seconds("--handler-timeout", arg);
		break;
	case OPT_LOG:
		*log = arg;
		if (strcmp(arg, "text") != 0 && strcmp(arg, "json") != 0)
			cmd_die(WQ_EUSAGE, "bad --log: text or json");
		break;
	case OPT_QUIET:
		w->quiet = 1;
		break;
	case OPT_BACKOFF:
		w->backoff_ms = (long)(cmd_seconds("--backoff", arg) * 1000);
		break;
	case WQ_OPT_API:
		/* WQ_API in the environment is for the clients */
		cmd_die(WQ_EUSAGE, "a worker talks to Redis; --api is for "
		    "clients");
	case WQ_OPT_QUEUE:
		if (wq_check_queue(w->wq, arg) != WQ_OK)
			cmd_die(WQ_EUSAGE, "%s", wq_error(w->wq));
		w->o.queues = wq_reallocarray(w->o.queues, w->o.nqueues + 1,
		    sizeof(*w->o.queues));
		w->o.queues[w->o.nqueues++] = arg;
		break;
	default:
		return 0;
	}
	return 1;
}

/* The context, the defaults, the options. */
void
worker_options(struct worker *w, int argc, char **argv)
{
	struct option	*opts;
	int		 c, nwork = 0;
	const char	*log = "text";

	w->wq = cmd_start("worker", own, &opts);

	w->o.concurrency = 1;
	w->o.timeout = 300;
	w->o.max_attempts = 3;
	w->o.heartbeat_ms = WQ_HEARTBEAT_MS;
	w->o.node_timeout_ms = WQ_NODE_TIMEOUT_MS;
	w->batch = 64;
	w->grace_s = 30;
	w->handler_timeout_s = 5;
	w->backoff_ms = 1000;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (c == OPT_EXEC || c == OPT_JQ || c == OPT_SLEEP) {
			set_work(w, c, optarg);
			nwork++;
		} else if (!option(w, c, optarg, &log))
			cmd_common(w->wq, c, optarg, argv, usage);
	}
	free(opts);
	if (optind < argc)
		cmd_die(WQ_EUSAGE, "unexpected argument '%s' (try --help)",
		    argv[optind]);
	if (nwork != 1)
		cmd_die(WQ_EUSAGE, "give exactly one of --exec, --jq, --sleep "
		    "(try --help)");
	if (w->o.heartbeat_ms * 2 > w->o.node_timeout_ms)
		cmd_die(WQ_EUSAGE, "--node-timeout must be at least twice "
		    "--heartbeat");
	w->log_json = strcmp(log, "json") == 0;
	if (w->o.nqueues == 0) {
		w->o.queues = wq_calloc(1, sizeof(*w->o.queues));
		w->o.queues[0] = wq_setting(w->wq, WQ_OPT_QUEUE);
		w->o.nqueues = 1;
	}
}

void
worker_options_free(struct worker *w)
{
	size_t	i;

	wq_jq_free(w->jq);
	for (i = 0; i < w->nhandlers; i++) {
		free(w->handlers[i].type);
		free(w->handlers[i].cmd);
	}
	free(w->handlers);
	free(w->o.queues);
}
