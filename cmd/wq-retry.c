/*
 * wq-retry -- run failed (or cancelled) jobs again: each goes back to
 * pending with its attempts reset, keeping its id, data and settings;
 * --all takes a queue's whole dead list (docs/DESIGN.md, Job control).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cmd.h"

enum { OPT_ALL = WQ_OPT_FIRST_PRIVATE };

static const struct option own[] = {
	{ "all",	no_argument,	NULL, OPT_ALL },
	{ NULL, 0, NULL, 0 }
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: wq-retry [ID...]\n"
"       wq-retry --all [--queue Q]\n"
"Run failed or cancelled jobs again: the ids of the arguments, else one\n"
"per line of stdin (plain, or NDJSON with \"callback\", as wq-status\n"
"prints).  Each goes back to pending with its attempts reset, keeping\n"
"its id, data and settings.  Prints the record after the change, one\n"
"line per id.  Exit 1 when an id is unknown or its job neither failed\n"
"nor cancelled.\n"
"  --all              every job of the queue's dead list\n"
"%s", wq_common_usage);
}

int
main(int argc, char **argv)
{
	struct option	*opts;
	struct wq	*wq;
	int		 c, rc, all = 0;

	wq = cmd_start("retry", own, &opts);
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (c == OPT_ALL)
			all = 1;
		else
			cmd_common(wq, c, optarg, argv, usage);
	}
	free(opts);
	if (all && optind < argc)
		cmd_die(WQ_EUSAGE, "--all takes no ids");
	rc = cmd_control(wq, WQ_CONTROL_RETRY, "retried",
	    all ? wq_setting(wq, WQ_OPT_QUEUE) : NULL, argc - optind,
	    argv + optind);
	wq_free(wq);
	return rc;
}
