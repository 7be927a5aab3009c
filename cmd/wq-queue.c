/*
 * wq-queue -- the queues: list them with their depths, pause and resume
 * one (workers stop claiming from it; work still queues), purge one (its
 * pending jobs cancelled).  docs/DESIGN.md, Job control.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

enum { OPT_YES = WQ_OPT_FIRST_PRIVATE };

static const struct option own[] = {
	{ "yes",	no_argument,	NULL, OPT_YES },
	{ NULL, 0, NULL, 0 }
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: wq-queue ls\n"
"       wq-queue pause|resume Q\n"
"       wq-queue purge Q --yes\n"
"The queues: ls prints one line per queue, with its depths and whether\n"
"it is paused.  pause: workers stop claiming from Q (work still\n"
"queues); resume: they claim again.  purge: Q's pending jobs, those\n"
"waiting for a retry too, become cancelled.\n"
"  --yes              purge: yes, cancel them (refused without)\n"
"%s", wq_common_usage);
}

static void
done(struct wq *wq, int rc)
{
	if (rc != WQ_OK)
		cmd_die(rc, "%s", wq_error(wq));
}

/* The line of one queue: its name, depths, paused, limits (to come). */
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
	o = jv_object_set(jv_object(), jv_string("name"), jv_string(name));
	o = jv_object_merge(o, depths);
	return jv_object_set(o, jv_string("limits"), jv_null());
}

/* Print the line of queue q, or of every queue (q NULL). */
static void
print_queues(struct wq *wq, const char *q)
{
	jv	all, keys, k;
	int	i, n;

	done(wq, wq_queues(wq, &all));
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

int
main(int argc, char **argv)
{
	struct option	*opts;
	struct wq	*wq;
	const char	*verb;
	long		 cancelled;
	int		 c, yes = 0, changed;

	wq = cmd_start("queue", own, &opts);
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (c == OPT_YES)
			yes = 1;
		else
			cmd_common(wq, c, optarg, argv, usage);
	}
	free(opts);
	argc -= optind;
	argv += optind;
	if (argc < 1)
		cmd_die(WQ_EUSAGE, "expected ls, pause, resume or purge "
		    "(try --help)");
	if (wq_setting(wq, WQ_OPT_API) != NULL)
		cmd_die(WQ_EUSAGE, "--api: wq-queue talks to Redis only");
	verb = argv[0];
	if (strcmp(verb, "ls") == 0) {
		if (argc != 1)
			cmd_die(WQ_EUSAGE, "ls takes no arguments");
		print_queues(wq, NULL);
	} else if (strcmp(verb, "pause") == 0 || strcmp(verb, "resume") == 0) {
		if (argc != 2)
			cmd_die(WQ_EUSAGE, "usage: %s Q", verb);
		done(wq, wq_queue_set(wq, argv[1], verb[0] == 'p' ?
		    WQ_QUEUE_PAUSE : WQ_QUEUE_RESUME, &changed));
		print_queues(wq, argv[1]);
	} else if (strcmp(verb, "purge") == 0) {
		if (argc != 2)
			cmd_die(WQ_EUSAGE, "usage: purge Q --yes");
		if (!yes)
			cmd_die(WQ_EUSAGE, "purge cancels every pending job of "
			    "%.128s: say --yes", argv[1]);
		done(wq, wq_queue_purge(wq, argv[1], &cancelled));
		cmd_print(jv_object_set(jv_object_set(jv_object(),
		    jv_string("name"), jv_string(argv[1])),
		    jv_string("cancelled"), jv_number((double)cancelled)));
	} else
		cmd_die(WQ_EUSAGE, "unknown verb \"%.32s\" (expected ls, "
		    "pause, resume or purge)", verb);
	cmd_flush();
	wq_free(wq);
	return 0;
}
