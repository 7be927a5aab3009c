/*
 * wq-send -- send a message to a node (or --all live nodes) and print
 * each reply as NDJSON.  Exit 1 when a node is not alive or does not
 * answer within --timeout.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

enum { OPT_ALL = WQ_OPT_FIRST_PRIVATE, OPT_NO_WAIT, OPT_TIMEOUT, OPT_JSON };

static const struct option own[] = {
	{ "all",	no_argument,		NULL, OPT_ALL },
	{ "no-wait",	no_argument,		NULL, OPT_NO_WAIT },
	{ "timeout",	required_argument,	NULL, OPT_TIMEOUT },
	{ "json",	no_argument,		NULL, OPT_JSON },
	{ NULL, 0, NULL, 0 }
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: wq-send [options] NODE TYPE [BODY]\n"
"       wq-send --all [options] TYPE [BODY]\n"
"Send a message to a node and print its reply as NDJSON\n"
"{\"from\",\"type\",\"body\",\"id\"}.  Built-in types: ping, info, drain.\n"
"  --all              send to every live node, print every reply\n"
"  --no-wait          do not wait for replies\n"
"  --timeout S        wait at most S seconds for replies (default 5)\n"
"  --json             BODY is JSON (default: a string)\n"
"%s", wq_common_usage);
}

int
main(int argc, char **argv)
{
	struct option	*opts;
	struct wq	*wq;
	const char	*type, *to = NULL;
	char		*id = NULL, err[256];
	double		 timeout = 5;
	int		 c, all = 0, nowait = 0, json = 0, rc, i, n, sent = 0,
			 got = 0, result = 0;
	int64_t		 deadline;
	jv		 body, peers, reply;

	cmd_init("wq-send");
	wq = wq_new("send");
	cmd_check_env(wq);
	opts = cmd_longopts(own);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_ALL:
			all = 1;
			break;
		case OPT_NO_WAIT:
			nowait = 1;
			break;
		case OPT_TIMEOUT:
			timeout = cmd_seconds("--timeout", optarg);
			break;
		case OPT_JSON:
			json = 1;
			break;
		default:
			cmd_common(wq, c, optarg, argv, usage);
		}
	}
	free(opts);
	argc -= optind;
	argv += optind;
	if (argc < (all ? 1 : 2) || argc > (all ? 2 : 3))
		cmd_die(WQ_EUSAGE, "usage: wq-send [options] %sTYPE [BODY] "
		    "(try --help)", all ? "--all " : "NODE ");
	if (!all)
		to = *argv++;
	type = argv[0];
	if (*type == '\0')
		cmd_die(WQ_EUSAGE, "empty message type");
	if (argv[1] == NULL)
		body = jv_null();
	else if (json) {
		body = wq_parse(argv[1], strlen(argv[1]), err, sizeof(err));
		if (!jv_is_valid(body))
			cmd_die(WQ_EUSAGE, "BODY: %s", err);
	} else
		body = jv_string(argv[1]);
	if (wq_config(wq)->api_url != NULL)
		cmd_die(WQ_EUSAGE, "messages go through Redis, not --api");

	if (all) {
		if ((rc = wq_peers(wq, 0, &peers)) != WQ_OK)
			cmd_die(rc, "%s", wq_error(wq));
		n = jv_array_length(jv_copy(peers));
		for (i = 0; i < n; i++) {
			jv p = jv_array_get(jv_copy(peers), i);
			jv name = jv_object_get(p, jv_string("name"));

			rc = wq_msg_send(wq, jv_string_value(name), type,
			    jv_copy(body), !nowait, &id);
			if (rc == WQ_OK)
				sent++;
			else if (rc != WQ_NO)
				cmd_die(rc, "%s", wq_error(wq));
			jv_free(name);
		}
		jv_free(peers);
		if (sent == 0)
			cmd_die(WQ_NO, "no live nodes");
	} else {
		rc = wq_msg_send(wq, to, type, jv_copy(body), !nowait, &id);
		if (rc != WQ_OK)
			cmd_die(rc, "%s", wq_error(wq));
		sent = 1;
	}
	jv_free(body);
	if (nowait) {
		wq_print(jv_object_set(jv_object_set(jv_object(),
		    jv_string("id"), jv_string(id)), jv_string("sent"),
		    jv_number(sent)));
		free(id);
		wq_free(wq);
		return 0;
	}
	deadline = wq_now_ms() + (int64_t)(timeout * 1000);
	while (got < sent) {
		double left = (double)(deadline - wq_now_ms()) / 1000;

		if (left <= 0)
			break;
		rc = wq_msg_wait_reply(wq, id, left, &reply);
		if (rc == WQ_NO)
			break;
		if (rc != WQ_OK)
			cmd_die(rc, "%s", wq_error(wq));
		wq_print(reply);
		cmd_flush();
		got++;
	}
	if (got < sent) {
		cmd_warn("%d of %d node(s) did not answer within %.1f s",
		    sent - got, sent, timeout);
		result = WQ_NO;
	}
	free(id);
	wq_free(wq);
	return result;
}
