/*
 * wq-cancel -- cancel jobs: a pending one never runs, a working one is
 * killed by the node that runs it; either way its record becomes
 * cancelled, a final status (docs/DESIGN.md, Job control).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cmd.h"

static const struct option own[] = {
	{ NULL, 0, NULL, 0 }
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: wq-cancel [ID...]\n"
"Cancel jobs: the ids of the arguments, else one per line of stdin\n"
"(plain, or NDJSON with \"callback\", as wq-submit and wq-status print).\n"
"A pending job is taken off its queue, a waiting one (--after) out of\n"
"its wait; a working one is killed, with its process group, by the\n"
"worker that runs it.  Prints the record\n"
"after the change, one line per id.  Exit 1 when an id is unknown or\n"
"its job has ended already.\n"
"%s", wq_common_usage);
}

int
main(int argc, char **argv)
{
	struct option	*opts;
	struct wq	*wq;
	int		 c, rc;

	wq = cmd_start("cancel", own, &opts);
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1)
		cmd_common(wq, c, optarg, argv, usage);
	free(opts);
	rc = cmd_control(wq, WQ_CONTROL_CANCEL, "cancelled", NULL,
	    argc - optind, argv + optind);
	wq_free(wq);
	return rc;
}
