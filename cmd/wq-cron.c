/*
 * wq-cron -- recurring jobs: add, list, remove, pause and resume the
 * schedules that the cluster's sweep fires (docs/DESIGN.md, Schedules).
 * There is no daemon of its own: a schedule fires while any worker runs.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

enum { OPT_TZ = WQ_OPT_FIRST_PRIVATE, OPT_CATCH_UP, OPT_JSON, OPT_TIMEOUT,
    OPT_MAX_ATTEMPTS };

static const struct option own[] = {
	{ "tz",			required_argument,	NULL, OPT_TZ },
	{ "catch-up",		required_argument,	NULL, OPT_CATCH_UP },
	{ "json",		no_argument,		NULL, OPT_JSON },
	{ "timeout",		required_argument,	NULL, OPT_TIMEOUT },
	{ "max-attempts",	required_argument, NULL, OPT_MAX_ATTEMPTS },
	{ NULL, 0, NULL, 0 }
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: wq-cron add NAME SPEC [DATA] [options]\n"
"       wq-cron ls\n"
"       wq-cron rm|pause|resume NAME\n"
"Recurring jobs, fired by the cluster's sweep while any worker runs.\n"
"SPEC: 5 cron fields (minute hour day-of-month month day-of-week),\n"
"@hourly, @daily, @weekly, @monthly, @yearly, or @every DURATION (1s,\n"
"5m, 1h30m).  DATA: the job's data (default: NAME).  add replaces a\n"
"schedule of that name; ls prints one line per schedule, with its next\n"
"times.\n"
"  --tz ZONE          time zone of SPEC, e.g. Europe/Paris (default UTC)\n"
"  --catch-up N       after an outage, run the latest time and up to N\n"
"                     missed ones before it (default 0)\n"
"  --json             DATA is a JSON job object {\"data\",\"queue\",\n"
"                     \"timeout\",\"max_attempts\",\"ttl\"}\n"
"  --timeout S        seconds a worker may run each job\n"
"  --max-attempts N   attempts before a job fails for good\n"
"%s", wq_common_usage);
}

/*
 * The job object of add: DATA (or --json), the options around it (libwq
 * adds the queue and ttl of the settings when it names none).
 */
static jv
job_object(const char *data, int json, long timeout,
    long max_attempts)
{
	char	err[256];
	jv	job;

	if (json) {
		job = wq_parse(data, strlen(data), err, sizeof(err));
		if (jv_get_kind(job) != JV_KIND_OBJECT) {
			jv_free(job);
			cmd_die(WQ_EUSAGE, "--json: DATA must be a JSON job "
			    "object");
		}
	} else
		job = jv_object_set(jv_object(), jv_string("data"),
		    jv_string(data));
	if (timeout > 0)
		job = jv_object_set(job, jv_string("timeout"),
		    jv_number((double)timeout));
	if (max_attempts > 0)
		job = jv_object_set(job, jv_string("max_attempts"),
		    jv_number((double)max_attempts));
	return job;
}

static void
done(struct wq *wq, int rc)
{
	if (rc != WQ_OK)
		cmd_die(rc, "%s", wq_error(wq));
}

int
main(int argc, char **argv)
{
	static const char *const verbs[] = { "rm", "pause", "resume" };
	struct option		*opts;
	struct wq_schedule	 s;
	struct wq		*wq;
	const char		*verb;
	long			 timeout = 0, max_attempts = 0;
	int			 c, i, json = 0, op, rc;
	jv			 out;

	memset(&s, 0, sizeof(s));
	wq = cmd_start("cron", own, &opts);
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_TZ:
			s.tz = optarg;
			break;
		case OPT_CATCH_UP:
			s.catch_up = cmd_long("--catch-up", optarg, 0, 1000);
			break;
		case OPT_JSON:
			json = 1;
			break;
		case OPT_TIMEOUT:
			timeout = cmd_long("--timeout", optarg, 1,
			    WQ_JOB_TIMEOUT_MAX);
			break;
		case OPT_MAX_ATTEMPTS:
			max_attempts = cmd_long("--max-attempts", optarg, 1,
			    WQ_JOB_ATTEMPTS_MAX);
			break;
		default:
			cmd_common(wq, c, optarg, argv, usage);
		}
	}
	free(opts);
	argc -= optind;
	argv += optind;
	if (argc < 1)
		cmd_die(WQ_EUSAGE, "expected add, ls, rm, pause or resume "
		    "(try --help)");
	if (wq_setting(wq, WQ_OPT_API) != NULL)
		cmd_die(WQ_EUSAGE, "--api: wq-cron talks to Redis only");
	verb = argv[0];
	if (strcmp(verb, "add") == 0) {
		if (argc < 3 || argc > 4)
			cmd_die(WQ_EUSAGE, "usage: add NAME SPEC [DATA]");
		s.name = argv[1];
		s.spec = argv[2];
		s.job = job_object(argc == 4 ? argv[3] : argv[1], json,
		    timeout, max_attempts);
		rc = wq_schedule_add(wq, &s, &out);
		jv_free(s.job);
		done(wq, rc);
		cmd_print(out);
	} else if (strcmp(verb, "ls") == 0) {
		if (argc != 1)
			cmd_die(WQ_EUSAGE, "ls takes no arguments");
		done(wq, wq_schedule_list(wq, &out));
		for (i = 0; i < jv_array_length(jv_copy(out)); i++)
			cmd_print(jv_array_get(jv_copy(out), i));
		jv_free(out);
	} else {
		for (op = 0; op < 3 && strcmp(verb, verbs[op]) != 0; op++)
			;
		if (op == 3)
			cmd_die(WQ_EUSAGE, "unknown verb \"%.32s\" (expected "
			    "add, ls, rm, pause or resume)", verb);
		if (argc != 2)
			cmd_die(WQ_EUSAGE, "usage: %s NAME", verb);
		done(wq, wq_schedule_set(wq, argv[1], op, &out));
		cmd_print(out);
	}
	cmd_flush();
	wq_free(wq);
	return 0;
}
