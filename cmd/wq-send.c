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
"{\"from\",\"type\",\"body\",\"id\",\"ms\"}.  "
"Built-in types: ping (answered by\n"
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
	*d = wq_reallocarray(*d, *n + 1, sizeof(**d));
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
			cmd_die(WQ_EUSAGE, "stdin line %zu: no node name",
			    i + 1);
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

/* What to send, to whom, and what came back. */
struct send {
	struct wq	*wq;
	struct dest	*dests;
	size_t		 ndest;
	const char	*type;
	const char	*to;		/* NULL with --all */
	jv		 body;
	char		*id;		/* one for all: one list of replies */
	double		 timeout;
	int		 all, nowait, json;
	int		 sent, got;
	int		 result;
};

/* The options and arguments: [NODE] TYPE [BODY]. */
static void
parse_args(struct send *m, int argc, char **argv)
{
	struct option	*opts;
	char		 err[256];
	int		 c;

	m->wq = cmd_start("send", own, &opts);
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_ALL:
			m->all = 1;
			break;
		case OPT_NO_WAIT:
			m->nowait = 1;
			break;
		case OPT_TIMEOUT:
			m->timeout = cmd_seconds("--timeout", optarg);
			if (m->timeout <= 0)
				cmd_die(WQ_EUSAGE, "bad --timeout: more "
				    "than 0");
			break;
		case OPT_JSON:
			m->json = 1;
			break;
		default:
			cmd_common(m->wq, c, optarg, argv, usage);
		}
	}
	free(opts);
	argc -= optind;
	argv += optind;
	if (argc < (m->all ? 1 : 2) || argc > (m->all ? 2 : 3))
		cmd_die(WQ_EUSAGE, "usage: wq-send [options] %sTYPE [BODY] "
		    "(try --help)", m->all ? "--all " : "NODE ");
	if (!m->all)
		m->to = *argv++;
	m->type = argv[0];
	if (!m->all && argc == 2 && strcmp(m->to, "-") != 0)
		swap_if_reversed(m->wq, &m->to, &m->type);
	if (*m->type == '\0')
		cmd_die(WQ_EUSAGE, "empty message type");
	if (m->to != NULL && *m->to == '\0')
		cmd_die(WQ_EUSAGE, "empty node name");
	if (argv[1] == NULL)
		m->body = jv_null();
	else if (m->json) {
		m->body = wq_parse(argv[1], strlen(argv[1]), err, sizeof(err));
		if (!jv_is_valid(m->body))
			cmd_die(WQ_EUSAGE, "BODY: %s", err);
	} else
		m->body = jv_string(argv[1]);
	if (wq_setting(m->wq, WQ_OPT_API) != NULL)
		cmd_die(WQ_EUSAGE, "messages go through Redis, not --api");
}

/* The nodes to send to; WQ_OK, or the exit status when there are none. */
static int
destinations(struct send *m)
{
	int	rc = WQ_OK;

	if (m->all)
		rc = dests_all(m->wq, &m->dests, &m->ndest);
	else if (strcmp(m->to, "-") == 0)
		dests_from_stdin(&m->dests, &m->ndest);
	else
		dest_add(&m->dests, &m->ndest, m->to);
	if (rc == WQ_OK && m->ndest > 0)
		return WQ_OK;
	if (rc != WQ_OK)
		cmd_warn("%s", wq_error(m->wq));
	else
		cmd_warn("%s", m->all ? "no live nodes" :
		    "no node names on stdin");
	return rc != WQ_OK ? rc : m->all ? WQ_NO : WQ_EUSAGE;
}

/* Send to every destination; WQ_OK, or the exit status of a failure. */
static int
send_all(struct send *m)
{
	struct dest	*d;
	size_t		 i;
	int		 rc;

	for (i = 0; i < m->ndest; i++) {
		d = &m->dests[i];
		d->sent_at = mono_ms();
		if (m->nowait)
			rc = wq_msg_send(m->wq, d->name, m->type,
			    jv_copy(m->body), 0, &m->id);
		else
			rc = wq_msg_ask(m->wq, d->name, m->type,
			    jv_copy(m->body), m->timeout, &m->id);
		if (rc == WQ_OK)
			m->sent++;
		else if (rc == WQ_NO && m->all)
			d->answered = 1;	/* died since the listing */
		else if (rc == WQ_NO) {
			cmd_warn("%s", wq_error(m->wq));
			d->answered = 1;
			m->result = WQ_NO;
		} else {
			cmd_warn("%s", wq_error(m->wq));
			return rc;
		}
	}
	return WQ_OK;
}

/* One reply: whose it is, whether it is an error; print it. */
static void
got_reply(struct send *m, jv reply)
{
	struct dest	*d = NULL;
	size_t		 i;
	jv		 v;

	v = jv_object_get(jv_copy(reply), jv_string("from"));
	for (i = 0; i < m->ndest; i++)
		if (jv_get_kind(v) == JV_KIND_STRING &&
		    !m->dests[i].answered &&
		    strcmp(m->dests[i].name, jv_string_value(v)) == 0) {
			d = &m->dests[i];
			break;
		}
	jv_free(v);
	if (d != NULL) {
		d->answered = 1;
		m->got++;
	}
	v = jv_object_get(jv_copy(reply), jv_string("type"));
	if (jv_get_kind(v) == JV_KIND_STRING &&
	    strcmp(jv_string_value(v), "error") == 0)
		m->result = WQ_NO;
	jv_free(v);
	cmd_print(reply_line(reply, d));
	cmd_flush();
}

/* The replies, until each node answered or the timeout. */
static int
collect(struct send *m)
{
	int64_t	deadline;
	double	left;
	size_t	i;
	jv	reply;
	int	rc;

	deadline = wq_now_ms() + (int64_t)(m->timeout * 1000);
	while (m->got < m->sent) {
		left = (double)(deadline - wq_now_ms()) / 1000;
		if (left <= 0)
			break;
		rc = wq_msg_wait_reply(m->wq, m->id, left, &reply);
		if (rc == WQ_NO)
			break;
		if (rc != WQ_OK) {
			cmd_warn("%s", wq_error(m->wq));
			return rc;
		}
		got_reply(m, reply);
	}
	for (i = 0; i < m->ndest; i++)
		if (!m->dests[i].answered) {
			cmd_warn("%s did not answer within %g s",
			    m->dests[i].name, m->timeout);
			m->result = WQ_NO;
		}
	return m->result;
}

/* Send, then print the replies (or, with --no-wait, what was sent). */
static int
run(struct send *m)
{
	int	rc;

	if ((rc = destinations(m)) != WQ_OK)
		return rc;
	if ((rc = send_all(m)) != WQ_OK)
		return rc;
	if (m->nowait && m->sent > 0)
		cmd_print(jv_object_set(jv_object_set(jv_object(),
		    jv_string("id"), jv_string(m->id)), jv_string("sent"),
		    jv_number(m->sent)));
	else if (m->sent == 0 && m->all)
		cmd_warn("no live nodes");	/* all died since the listing */
	if (m->nowait || m->sent == 0) {
		cmd_flush();
		return m->sent == 0 ? WQ_NO : m->result;
	}
	return collect(m);
}

int
main(int argc, char **argv)
{
	struct send	m;
	size_t		i;
	int		result;

	memset(&m, 0, sizeof(m));
	m.timeout = 5;
	m.result = WQ_OK;
	parse_args(&m, argc, argv);
	result = run(&m);
	jv_free(m.body);
	for (i = 0; i < m.ndest; i++)
		free(m.dests[i].name);
	free(m.dests);
	free(m.id);
	wq_free(m.wq);
	return result;
}
