/*
 * wq-send -- send a message to nodes and print each reply as NDJSON
 * {"from","type","body","id","ms"} (ms: the round trip as this command
 * saw it).  The nodes are NODE, every live node (--all), or the names
 * read from stdin (NODE "-": plain names or wq-peers' NDJSON lines).
 * Exit 1 when a node is not alive, does not answer within --timeout, or
 * answers "error".
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"

enum { OPT_ALL = WQ_OPT_FIRST_PRIVATE, OPT_NO_WAIT, OPT_TIMEOUT, OPT_JSON };

static const struct option own[] = {
	{ "all",	no_argument,		NULL, OPT_ALL },
	{ "no-wait",	no_argument,		NULL, OPT_NO_WAIT },
	{ "timeout",	required_argument,	NULL, OPT_TIMEOUT },
	{ "json",	no_argument,		NULL, OPT_JSON },
	{ NULL, 0, NULL, 0 }
};

/* A node the message went to. */
struct dest {
	char	*name;
	double	 sent_at;	/* monotonic, ms */
	int	 answered;
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: wq-send [options] NODE TYPE [BODY]\n"
"       wq-send --all [options] TYPE [BODY]\n"
"Send a message to a node and print its reply as NDJSON\n"
"{\"from\",\"type\",\"body\",\"id\",\"ms\"}.  Built-in types: ping (answered by\n"
"pong and the node's info), info, drain (the node stops taking jobs,\n"
"finishes them and leaves); others are answered by a worker's --on handler.\n"
"NODE - reads node names from stdin, one a line (or wq-peers' output).\n"
"  --all              send to every live node, print every reply\n"
"  --no-wait          do not wait for replies; print {\"id\",\"sent\"}\n"
"  --timeout S        wait at most S seconds for replies (default 5); a\n"
"                     node that comes to the message later drops it\n"
"  --json             BODY is JSON (default: a string)\n"
"Exit 1 when a node is not alive, does not answer in time or answers\n"
"\"error\".\n"
"%s", wq_common_usage);
}

static double
mono_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000 + (double)ts.tv_nsec / 1e6;
}

static void
dest_add(struct dest **d, size_t *n, const char *name)
{
	*d = wq_realloc(*d, (*n + 1) * sizeof(**d));
	memset(&(*d)[*n], 0, sizeof(**d));
	(*d)[*n].name = wq_strdup(name);
	(*n)++;
}

/* Node names from stdin: plain, or JSON objects with a "name". */
static void
dests_from_stdin(struct dest **d, size_t *n)
{
	char	**lines, err[64];
	size_t	 *lens, nl, i;
	jv	  o, name;

	lines = cmd_inputs(0, NULL, &nl, &lens);
	for (i = 0; i < nl; i++) {
		if (lens[i] == 0)
			continue;
		if (lines[i][0] != '{') {
			dest_add(d, n, lines[i]);
			continue;
		}
		o = wq_parse(lines[i], lens[i], err, sizeof(err));
		name = jv_get_kind(o) == JV_KIND_OBJECT ?
		    jv_object_get(o, jv_string("name")) : (jv_free(o),
		    jv_invalid());
		if (jv_get_kind(name) != JV_KIND_STRING)
			cmd_die(WQ_EUSAGE, "stdin line %zu: no node name", i + 1);
		dest_add(d, n, jv_string_value(name));
		jv_free(name);
	}
	cmd_inputs_free(lines);
	free(lens);
}

static int
dests_all(struct wq *wq, struct dest **d, size_t *n)
{
	jv	peers, p, name;
	int	i, np, rc;

	if ((rc = wq_peers(wq, 0, &peers)) != WQ_OK)
		return rc;
	np = jv_array_length(jv_copy(peers));
	for (i = 0; i < np; i++) {
		p = jv_array_get(jv_copy(peers), i);
		name = jv_object_get(p, jv_string("name"));
		if (jv_get_kind(name) == JV_KIND_STRING)
			dest_add(d, n, jv_string_value(name));
		jv_free(name);
	}
	jv_free(peers);
	return WQ_OK;
}

/* The reply as printed: from, type, body, id, then the round trip. */
static jv
reply_line(jv r, struct dest *d)
{
	static const char *keys[] = { "from", "type", "body", "id" };
	jv	o, v;
	size_t	i;

	o = jv_object();
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		v = jv_object_get(jv_copy(r), jv_string(keys[i]));
		o = jv_object_set(o, jv_string(keys[i]),
		    jv_is_valid(v) ? v : jv_null());
	}
	jv_free(r);
	if (d != NULL)
		o = jv_object_set(o, jv_string("ms"), jv_number(
		    (double)(long)((mono_ms() - d->sent_at) * 1000) / 1000));
	return o;
}

static int
live(jv peers, const char *name)
{
	int	i, n, found = 0;

	n = jv_array_length(jv_copy(peers));
	for (i = 0; i < n && !found; i++) {
		jv p = jv_array_get(jv_copy(peers), i);
		jv v = jv_object_get(p, jv_string("name"));

		found = jv_get_kind(v) == JV_KIND_STRING &&
		    strcmp(jv_string_value(v), name) == 0;
		jv_free(v);
	}
	return found;
}

/*
 * "wq-send TYPE NODE", as xargs -n1 makes it of
 * "wq-peers | jq -r .name | xargs -n1 wq-send ping": when the first word
 * names no live node and the second does, they were given the other way.
 */
static void
swap_if_reversed(struct wq *wq, const char **to, const char **type)
{
	const char	*t;
	jv		 peers;

	if (wq_peers(wq, 0, &peers) != WQ_OK)
		return;		/* the send will say what is wrong */
	if (!live(peers, *to) && live(peers, *type)) {
		t = *to;
		*to = *type;
		*type = t;
	}
	jv_free(peers);
}

int
main(int argc, char **argv)
{
	struct option	*opts;
	struct wq	*wq;
	struct dest	*dests = NULL, *d;
	const char	*type, *to = NULL;
	char		*id = NULL, err[256];
	double		 timeout = 5;
	size_t		 ndest = 0, i;
	int		 c, all = 0, nowait = 0, json = 0, rc, sent = 0,
			 got = 0, result = WQ_OK;
	int64_t		 deadline;
	jv		 body, reply, v;

	wq = cmd_start("send", own, &opts);
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
			if (timeout <= 0)
				cmd_die(WQ_EUSAGE, "bad --timeout: more than 0");
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
	if (!all && argc == 2 && strcmp(to, "-") != 0)
		swap_if_reversed(wq, &to, &type);
	if (*type == '\0')
		cmd_die(WQ_EUSAGE, "empty message type");
	if (to != NULL && *to == '\0')
		cmd_die(WQ_EUSAGE, "empty node name");
	if (argv[1] == NULL)
		body = jv_null();
	else if (json) {
		body = wq_parse(argv[1], strlen(argv[1]), err, sizeof(err));
		if (!jv_is_valid(body))
			cmd_die(WQ_EUSAGE, "BODY: %s", err);
	} else
		body = jv_string(argv[1]);
	if (wq_setting(wq, WQ_OPT_API) != NULL)
		cmd_die(WQ_EUSAGE, "messages go through Redis, not --api");

	rc = WQ_OK;
	if (all)
		rc = dests_all(wq, &dests, &ndest);
	else if (strcmp(to, "-") == 0)
		dests_from_stdin(&dests, &ndest);
	else
		dest_add(&dests, &ndest, to);
	if (rc != WQ_OK || ndest == 0) {
		if (rc != WQ_OK)
			cmd_warn("%s", wq_error(wq));
		else
			cmd_warn("%s", all ? "no live nodes" :
			    "no node names on stdin");
		jv_free(body);
		result = rc != WQ_OK ? rc : all ? WQ_NO : WQ_EUSAGE;
		goto done;
	}

	/* One id for all: every reply comes back on one list. */
	for (i = 0; i < ndest; i++) {
		d = &dests[i];
		d->sent_at = mono_ms();
		if (nowait)
			rc = wq_msg_send(wq, d->name, type, jv_copy(body), 0,
			    &id);
		else
			rc = wq_msg_ask(wq, d->name, type, jv_copy(body),
			    timeout, &id);
		if (rc == WQ_OK)
			sent++;
		else if (rc == WQ_NO && all)
			d->answered = 1;	/* died since the listing */
		else if (rc == WQ_NO) {
			cmd_warn("%s", wq_error(wq));
			d->answered = 1;
			result = WQ_NO;
		} else {
			cmd_warn("%s", wq_error(wq));
			jv_free(body);
			result = rc;
			goto done;
		}
	}
	jv_free(body);
	if (nowait && sent > 0)
		cmd_print(jv_object_set(jv_object_set(jv_object(),
		    jv_string("id"), jv_string(id)), jv_string("sent"),
		    jv_number(sent)));
	else if (sent == 0 && all)
		cmd_warn("no live nodes");	/* all died since the listing */
	if (nowait || sent == 0) {
		cmd_flush();
		if (sent == 0)
			result = WQ_NO;
		goto done;
	}
	deadline = wq_now_ms() + (int64_t)(timeout * 1000);
	while (got < sent) {
		double left = (double)(deadline - wq_now_ms()) / 1000;

		if (left <= 0)
			break;
		if ((rc = wq_msg_wait_reply(wq, id, left, &reply)) == WQ_NO)
			break;
		if (rc != WQ_OK) {
			cmd_warn("%s", wq_error(wq));
			result = rc;
			goto done;
		}
		v = jv_object_get(jv_copy(reply), jv_string("from"));
		for (d = NULL, i = 0; i < ndest; i++)
			if (jv_get_kind(v) == JV_KIND_STRING &&
			    !dests[i].answered &&
			    strcmp(dests[i].name, jv_string_value(v)) == 0) {
				d = &dests[i];
				break;
			}
		jv_free(v);
		if (d != NULL) {
			d->answered = 1;
			got++;
		}
		v = jv_object_get(jv_copy(reply), jv_string("type"));
		if (jv_get_kind(v) == JV_KIND_STRING &&
		    strcmp(jv_string_value(v), "error") == 0)
			result = WQ_NO;
		jv_free(v);
		cmd_print(reply_line(reply, d));
		cmd_flush();
	}
	for (i = 0; i < ndest; i++)
		if (!dests[i].answered) {
			cmd_warn("%s did not answer within %g s", dests[i].name,
			    timeout);
			result = WQ_NO;
		}
done:
	for (i = 0; i < ndest; i++)
		free(dests[i].name);
	free(dests);
	free(id);
	wq_free(wq);
	return result;
}
