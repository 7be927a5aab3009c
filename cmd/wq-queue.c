/*
 * wq-queue -- the queues: list them with their depths, pause and resume
 * one (workers stop claiming from it; work still queues), purge one (its
 * pending jobs cancelled), limit one (docs/DESIGN.md, Job control and
 * Limits).  With --api, each through the HTTP API's routes instead.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

enum { OPT_YES = WQ_OPT_FIRST_PRIVATE, OPT_CONCURRENCY, OPT_RATE,
    OPT_CLEAR, OPT_GROUP_CONCURRENCY };

static const struct option own[] = {
	{ "yes",		no_argument,	NULL, OPT_YES },
	{ "concurrency",	required_argument, NULL, OPT_CONCURRENCY },
	{ "rate",		required_argument, NULL, OPT_RATE },
	{ "clear",		no_argument,	NULL, OPT_CLEAR },
	{ "group-concurrency",	required_argument, NULL,
	    OPT_GROUP_CONCURRENCY },
	{ NULL, 0, NULL, 0 }
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: wq-queue ls\n"
"       wq-queue pause|resume Q\n"
"       wq-queue purge Q --yes\n"
"       wq-queue limit Q [--concurrency N] [--rate N/PERIOD]\n"
"                        [--group-concurrency K] [--clear]\n"
"The queues: ls prints one line per queue, with its depths, whether\n"
"it is paused and its limits.  pause: workers stop claiming from Q\n"
"(work still queues); resume: they claim again.  purge: Q's pending\n"
"jobs, those waiting for a retry too, become cancelled.  limit: what\n"
"every worker may start from Q, from its next claim on.\n"
"  --yes              purge: yes, cancel them (refused without)\n"
"  --concurrency N    limit: at most N of Q's jobs working at once\n"
"  --rate N/PERIOD    limit: at most N started in any PERIOD (50/s,\n"
"                     100/10s, 5/500ms, 1000/m, 1/h)\n"
"  --group-concurrency K\n"
"                     limit: at most K jobs of one group working at\n"
"                     once (a job's group: wq-submit's --group); the\n"
"                     groups take turns\n"
"  --clear            limit: remove Q's limits (before setting those\n"
"                     given)\n"
"%s", wq_common_usage);
}

/* The API's client, with --api (else NULL). */
static struct wq_api_pool	*pool;

static void
done(struct wq *wq, int rc)
{
	if (rc != WQ_OK)
		cmd_die(rc, "%s", wq_error(wq));
}

/* The line of one queue: its name, depths, paused, limits (or null). */
static jv
queue_line(const char *name, jv depths)
{
	jv	o;

	if (jv_get_kind(depths) != JV_KIND_OBJECT) {
		jv_free(depths);
		depths = jv_object();
		depths = jv_object_set(depths, jv_string("pending"),
		    jv_number(0));
		depths = jv_object_set(depths, jv_string("delayed"),
		    jv_number(0));
		depths = jv_object_set(depths, jv_string("dead"),
		    jv_number(0));
		depths = jv_object_set(depths, jv_string("paused"),
		    jv_false());
	}
	if (!jv_object_has(jv_copy(depths), jv_string("limits")))
		depths = jv_object_set(depths, jv_string("limits"), jv_null());
	o = jv_object_set(jv_object(), jv_string("name"), jv_string(name));
	return jv_object_merge(o, depths);
}

/* Print the line of queue q, or of every queue (q NULL). */
static void
print_queues(struct wq *wq, const char *q)
{
	jv	all, keys, k;
	int	i, n;

	done(wq, pool != NULL ? wq_api_queues(pool, &all) : wq_queues(wq,
	    &all));
	if (q != NULL) {
		cmd_print(queue_line(q, jv_object_get(all, jv_string(q))));
		return;
	}
	keys = jv_keys(jv_copy(all));
	n = jv_array_length(jv_copy(keys));
	for (i = 0; i < n; i++) {
		k = jv_array_get(jv_copy(keys), i);
		cmd_print(queue_line(jv_string_value(k),
		    jv_object_get(jv_copy(all), jv_copy(k))));
		jv_free(k);
	}
	jv_free(keys);
	jv_free(all);
}

/* limit Q: the limits of the options. */
static void
limit(struct wq *wq, int argc, char **argv, const struct wq_limits *lim)
{
	if (argc != 2)
		cmd_die(WQ_EUSAGE, "usage: limit Q [--concurrency N] "
		    "[--rate N/PERIOD] [--group-concurrency K] [--clear]");
	if (!lim->concurrency && !lim->rate && !lim->group_concurrency &&
	    !lim->clear)
		cmd_die(WQ_EUSAGE, "limit: say --concurrency, --rate, "
		    "--group-concurrency or --clear");
	done(wq, pool != NULL ? wq_api_queue_limit(pool, argv[1], lim) :
	    wq_queue_limit(wq, argv[1], lim));
	print_queues(wq, argv[1]);
}

int
main(int argc, char **argv)
{
	struct option		*opts;
	struct wq		*wq;
	struct wq_limits	 lim;
	const char		*verb;
	long			 cancelled;
	int			 c, yes = 0, changed, op;

	memset(&lim, 0, sizeof(lim));
	wq = cmd_start("queue", own, &opts);
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_YES:
			yes = 1;
			break;
		case OPT_CONCURRENCY:
			lim.concurrency = cmd_long("--concurrency", optarg, 1,
			    WQ_LIMIT_MAX);
			break;
		case OPT_RATE:
			if (wq_limit_rate(wq, optarg, &lim.rate,
			    &lim.period_ms) != WQ_OK)
				cmd_die(WQ_EUSAGE, "--rate: %s", wq_error(wq));
			break;
		case OPT_CLEAR:
			lim.clear = 1;
			break;
		case OPT_GROUP_CONCURRENCY:
			lim.group_concurrency = cmd_long("--group-concurrency",
			    optarg, 1, WQ_LIMIT_MAX);
			break;
		default:
			cmd_common(wq, c, optarg, argv, usage);
		}
	}
	free(opts);
	argc -= optind;
	argv += optind;
	if (argc < 1)
		cmd_die(WQ_EUSAGE, "expected ls, pause, resume, purge or "
		    "limit (try --help)");
	if (wq_setting(wq, WQ_OPT_API) != NULL)
		done(wq, wq_api_pool_open(wq, 1, &pool));
	verb = argv[0];
	if (strcmp(verb, "ls") == 0) {
		if (argc != 1)
			cmd_die(WQ_EUSAGE, "ls takes no arguments");
		print_queues(wq, NULL);
	} else if (strcmp(verb, "pause") == 0 || strcmp(verb, "resume") == 0) {
		if (argc != 2)
			cmd_die(WQ_EUSAGE, "usage: %s Q", verb);
		op = verb[0] == 'p' ? WQ_QUEUE_PAUSE : WQ_QUEUE_RESUME;
		done(wq, pool != NULL ? wq_api_queue_set(pool, argv[1], op) :
		    wq_queue_set(wq, argv[1], op, &changed));
		print_queues(wq, argv[1]);
	} else if (strcmp(verb, "purge") == 0) {
		if (argc != 2)
			cmd_die(WQ_EUSAGE, "usage: purge Q --yes");
		if (!yes)
			cmd_die(WQ_EUSAGE, "purge cancels every pending job of "
			    "%.128s: say --yes", argv[1]);
		done(wq, pool != NULL ? wq_api_queue_purge(pool, argv[1],
		    &cancelled) : wq_queue_purge(wq, argv[1], &cancelled));
		cmd_print(jv_object_set(jv_object_set(jv_object(),
		    jv_string("name"), jv_string(argv[1])),
		    jv_string("cancelled"), jv_number((double)cancelled)));
	} else if (strcmp(verb, "limit") == 0)
		limit(wq, argc, argv, &lim);
	else
		cmd_die(WQ_EUSAGE, "unknown verb \"%.32s\" (expected ls, "
		    "pause, resume, purge or limit)", verb);
	cmd_flush();
	wq_api_pool_close(pool);
	wq_free(wq);
	return 0;
}
