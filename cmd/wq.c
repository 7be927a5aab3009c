/*
 * wq -- the dispatcher: "wq submit ..." runs wq-submit, like git.
 *
 * The command is looked for beside this program first (so a build tree
 * works without installing), then on PATH.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wq.h"

static const char *cmds[] = { "submit", "status", "worker", "peers", "send",
    "cluster", "api", "cron", "cancel", "retry", "queue", "events", NULL };

static void
usage(FILE *f)
{
	fprintf(f,
"usage: wq COMMAND [ARGS...]\n"
"Commands:\n"
"  submit   queue work, print its callback ids      (wq-submit)\n"
"  status   what became of a job; --wait for it     (wq-status)\n"
"  worker   take work and run it                    (wq-worker)\n"
"  peers    the cluster's nodes; --watch monitors   (wq-peers)\n"
"  send     send a message to a node                (wq-send)\n"
"  cluster  start and stop a local cluster          (wq-cluster)\n"
"  api      the HTTP API server                     (wq-api)\n"
"  cron     recurring jobs                          (wq-cron)\n"
"  cancel   cancel pending and working jobs         (wq-cancel)\n"
"  retry    run failed or cancelled jobs again      (wq-retry)\n"
"  queue    list, pause, resume, purge queues       (wq-queue)\n"
"  events   what happened to jobs; --follow         (wq-events)\n"
"'wq COMMAND --help' tells more; see also wq(7).\n");
}

int
main(int argc, char **argv)
{
	char	 path[PATH_MAX + 16], self[PATH_MAX], *slash;
	ssize_t	 n;
	int	 i;

	if (argc < 2) {
		usage(stderr);
		return WQ_EUSAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("wq %s\n", WQ_VERSION);
		return 0;
	}
	for (i = 0; cmds[i] != NULL; i++)
		if (strcmp(argv[1], cmds[i]) == 0)
			break;
	if (cmds[i] == NULL) {
		fprintf(stderr, "wq: unknown command '%s' (try wq --help)\n",
		    argv[1]);
		return WQ_EUSAGE;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	/* a build tree or an install: the commands live together */
	if (n > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL) {
			*slash = '\0';
			snprintf(path, sizeof(path), "%s/wq-%s", self, cmds[i]);
			if (access(path, X_OK) == 0) {
				argv[1] = path;
				execv(path, argv + 1);
			}
		}
	}
	snprintf(path, sizeof(path), "wq-%s", cmds[i]);
	argv[1] = path;
	execvp(path, argv + 1);
	fprintf(stderr, "wq: cannot run %s: %s\n", path, strerror(errno));
	return WQ_EUSAGE;
}
