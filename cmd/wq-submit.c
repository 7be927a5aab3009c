/*
 * wq-submit -- queue work; print one submission answer per job.
 *
 * Every input is parsed and checked before anything is sent, so bad input
 * (a malformed JSON line, data over --max-data) queues nothing.  Jobs go
 * to Redis in pipelined batches, or one by one to the HTTP API (--api).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

enum { OPT_LINES = WQ_OPT_FIRST_PRIVATE, OPT_JSON, OPT_KEY, OPT_TIMEOUT,
    OPT_MAX_ATTEMPTS, OPT_TRACEPARENT };

static const struct option own[] = {
	{ "lines",		no_argument,		NULL, OPT_LINES },
	{ "json",		no_argument,		NULL, OPT_JSON },
	{ "key",		required_argument,	NULL, OPT_KEY },
	{ "timeout",		required_argument,	NULL, OPT_TIMEOUT },
	{ "max-attempts",	required_argument, NULL, OPT_MAX_ATTEMPTS },
	{ "traceparent",	required_argument, NULL, OPT_TRACEPARENT },
	{ NULL, 0, NULL, 0 }
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: wq-submit [options] [DATA...]\n"
"Queue one job per argument, or per line of stdin when there are none;\n"
"print one answer per job: "
"{\"accepted_by\",\"callback\",\"data\",\"status\"}.\n"
"  --lines            each input is the data string (the default)\n"
"  --json             each input is a JSON job object {\"data\",\"key\",\n"
"                     \"queue\",\"timeout\",\"max_attempts\",\"ttl\",\n"
"                     \"traceparent\"}\n"
"  --key K            idempotency key of the job (one job only)\n"
"  --timeout S        seconds a worker may run each job\n"
"  --max-attempts N   attempts before a job fails for good\n"
"  --traceparent TP   the W3C trace context of the jobs (default:\n"
"                     $TRACEPARENT); their commands get it as TRACEPARENT\n"
"%s", wq_common_usage);
}

#define CHUNK	10000

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

int
main(int argc, char **argv)
{
	struct option	*opts;
	struct wq	*wq;
	struct wq_spec	*specs;
	char		**items, *key = NULL;
	const char	*trace = NULL;
	size_t		 n, i, off, cnt, *lens;
	long		 timeout = 0, max_attempts = 0;
	int		 c, mode = WQ_TEXT_STRING, rc = 0;
	jv		*answers;

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
			timeout = cmd_long("--timeout", optarg, 1, 86400 * 30);
			break;
		case OPT_MAX_ATTEMPTS:
			max_attempts = cmd_long("--max-attempts", optarg, 1,
			    1000);
			break;
		case OPT_TRACEPARENT:
			trace = trace_option(wq, optarg, 0);
			break;
		default:
			cmd_common(wq, c, optarg, argv, usage);
		}
	}
	free(opts);
	if (trace == NULL)
		trace = trace_option(wq, getenv("TRACEPARENT"), 1);
	items = cmd_inputs(argc - optind, argv + optind, &n, &lens);
	if (key != NULL && n != 1)
		cmd_die(WQ_EUSAGE, "--key names one job, but %zu were given",
		    n);

	/* Check everything first: bad input queues nothing. */
	specs = wq_calloc(n, sizeof(*specs));
	for (i = 0; i < n; i++) {
		if (mode == WQ_TEXT_JSON && lens[i] == 0) {
			cmd_die(WQ_EUSAGE, "input %zu: empty line (expected a "
			    "JSON job object)", i + 1);
		}
		if (wq_spec_from_text(wq, items[i], lens[i], mode, &specs[i]) !=
		    WQ_OK)
			cmd_die(WQ_EUSAGE, "input %zu: %s", i + 1,
			    wq_error(wq));
		if (key != NULL) {
			specs[i].key = wq_strdup(key);
			wq_id_of(jv_null(), key, specs[i].id);
		}
		if (specs[i].timeout == 0)
			specs[i].timeout = timeout;
		if (specs[i].max_attempts == 0)
			specs[i].max_attempts = max_attempts;
		if (specs[i].traceparent == NULL && trace != NULL)
			specs[i].traceparent = wq_strdup(trace);
	}
	cmd_inputs_free(items);
	free(lens);

	answers = wq_calloc(CHUNK, sizeof(*answers));
	for (off = 0; off < n; off += cnt) {
		cnt = n - off < CHUNK ? n - off : CHUNK;
		rc = WQ_OK;
		i = 0;
		if (wq_setting(wq, WQ_OPT_API) != NULL) {
			for (i = 0; i < cnt && rc == WQ_OK; i++)
				rc = wq_api_submit(wq, &specs[off + i],
				    &answers[i]);
		} else
			rc = wq_submit(wq, specs + off, cnt, answers);
		if (rc != WQ_OK) {
			while (i > 0)		/* the API answered these */
				jv_free(answers[--i]);
			for (i = 0; i < n; i++)
				wq_spec_clear(&specs[i]);
			free(specs);
			free(answers);
			cmd_die(rc, "%s", wq_error(wq));
		}
		for (i = 0; i < cnt; i++) {
			if (wq_setting(wq, WQ_OPT_API) != NULL)
				cmd_print(answers[i]);
			else
				cmd_print_answer(wq, &specs[off + i],
				    answers[i]);
			wq_spec_clear(&specs[off + i]);
		}
		cmd_flush();
	}
	free(answers);
	free(specs);
	wq_free(wq);
	return 0;
}
