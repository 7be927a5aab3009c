/*
 * wq-events -- the event stream: what happened to jobs (submitted,
 * claimed, progress, worked, failed, retried, cancelled, reclaimed,
 * promoted), one NDJSON line an event, each with its stream id, so that
 * a reader that stopped resumes with --since the last id it printed and
 * misses nothing still in the stream (docs/DESIGN.md, Events).
 */
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

enum { OPT_FOLLOW = WQ_OPT_FIRST_PRIVATE, OPT_SINCE, OPT_JQ };

static const struct option own[] = {
	{ "follow",	no_argument,		NULL, OPT_FOLLOW },
	{ "since",	required_argument,	NULL, OPT_SINCE },
	{ "jq",		required_argument,	NULL, OPT_JQ },
	{ NULL, 0, NULL, 0 }
};

/* How many events a read takes, and how long --follow blocks in one. */
#define EVENTS_BATCH	1000
#define EVENTS_BLOCK_MS	5000

static void
usage(FILE *f)
{
	fprintf(f,
"usage: wq-events [--follow] [--since ID|TIME] [--queue Q] [--jq PROGRAM]\n"
"Print the events of jobs (submitted, claimed, progress, worked, failed,\n"
"retried, cancelled, reclaimed, promoted) still in the stream, oldest\n"
"first, one JSON object a line with its stream \"id\"; with --follow,\n"
"then wait for more.  To resume, give the last id printed to --since.\n"
"  -f, --follow       wait for new events after the last (until killed)\n"
"  --since ID|TIME    the events after stream id ID (MS-SEQ), or from\n"
"                     TIME on (RFC 3339 or epoch seconds); not ahead of\n"
"                     the server's clock\n"
"  --queue Q          only the events of queue Q\n"
"  --jq PROGRAM       filter or reshape each event (jq syntax)\n"
"Events are written while --events (WQ_EVENTS) is above 0 where jobs\n"
"change: see wq-submit(1).\n"
"%s", wq_common_usage);
}

/* Print one event (consumed) if it is of queue (NULL: any), through jq. */
static void
emit(jv ev, const char *queue, struct wq_jq *jq)
{
	jv	 q, out;
	char	 err[512];
	int	 i, n;

	if (queue != NULL) {
		q = jv_object_get(jv_copy(ev), jv_string("queue"));
		if (jv_get_kind(q) != JV_KIND_STRING ||
		    strcmp(jv_string_value(q), queue) != 0) {
			jv_free(q);
			jv_free(ev);
			return;
		}
		jv_free(q);
	}
	if (jq == NULL) {
		cmd_print(ev);
		return;
	}
	if (wq_jq_run(jq, ev, &out, err, sizeof(err)) == -1)
		cmd_warn("%s", err);
	n = jv_array_length(jv_copy(out));
	for (i = 0; i < n; i++)
		cmd_print(jv_array_get(jv_copy(out), i));
	jv_free(out);
}

int
main(int argc, char **argv)
{
	struct option	*opts;
	struct wq	*wq;
	struct wq_jq	*jq = NULL;
	const char	*since = NULL;
	char		*queue = NULL, last[WQ_EVENT_ID_LEN], err[512];
	char		 trimmed[WQ_EVENT_ID_LEN];
	int		 c, i, n, rc, follow = 0, lost = 0;
	jv		 evs;

	wq = cmd_start("events", own, &opts);
	while ((c = getopt_long(argc, argv, ":hf", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
		case OPT_FOLLOW:
			follow = 1;
			break;
		case OPT_SINCE:
			since = optarg;
			break;
		case OPT_JQ:
			wq_jq_free(jq);
			if (wq_jq_compile(optarg, &jq, err, sizeof(err)) == -1)
				cmd_die(WQ_EUSAGE, "--jq: %s", err);
			break;
		case WQ_OPT_QUEUE:
			/* a filter here, not only the setting */
			cmd_common(wq, c, optarg, argv, usage);
			free(queue);
			queue = wq_strdup(optarg);
			break;
		default:
			cmd_common(wq, c, optarg, argv, usage);
		}
	}
	free(opts);
	if (optind < argc)
		cmd_die(WQ_EUSAGE, "unexpected argument \"%.64s\" (try --help)",
		    argv[optind]);
	if (wq_setting(wq, WQ_OPT_API) != NULL)
		cmd_die(WQ_EUSAGE, "--api: wq-events talks to Redis only (the "
		    "API serves GET /api/v1/events)");
	if ((rc = wq_events_since(wq, since, last)) != WQ_OK)
		cmd_die(rc, "%s", wq_error(wq));
	/* a reader that comes back too late is told what it missed */
	if (since != NULL && (rc = wq_events_lost(wq, last, trimmed)) < 0)
		cmd_die(-rc, "%s", wq_error(wq));
	if (since != NULL && rc == 1)
		cmd_warn("the stream was trimmed: it starts at %s, after "
		    "%s; events between may be missed (--events keeps more)",
		    trimmed, last);
	for (;;) {
		rc = wq_events_read(wq, last, follow ? EVENTS_BLOCK_MS : 0,
		    EVENTS_BATCH, &evs);
		if (rc == WQ_EUNAVAIL && follow) {
			/* from where it was, once Redis is back */
			if (!lost)
				cmd_warn("%s (trying again)", wq_error(wq));
			lost = 1;
			jv_free(evs);
			(void)poll(NULL, 0, wq_backoff_ms(wq));
			continue;
		}
		if (rc != WQ_OK)
			cmd_die(rc, "%s", wq_error(wq));
		if (lost)
			wq_backoff_reset(wq);
		lost = 0;
		n = jv_array_length(jv_copy(evs));
		for (i = 0; i < n; i++)
			emit(jv_array_get(jv_copy(evs), i), queue, jq);
		jv_free(evs);
		cmd_flush_filter();
		if (!follow && n < EVENTS_BATCH)
			break;
	}
	free(queue);
	wq_jq_free(jq);
	wq_free(wq);
	return 0;
}
