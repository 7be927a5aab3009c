/*
 * wq-status -- what became of jobs; --wait blocks until they end.
 *
 * Ids come from the arguments or from stdin, as plain ids or as the NDJSON
 * lines wq-submit prints.  Without --wait the records are printed in input
 * order.  With --wait each record is printed when its job ends, in the
 * order they end: the command subscribes to the jobs' done channels and
 * sleeps in poll(2) until a hint arrives (it re-reads everything every few
 * seconds too, in case a hint was lost), so waiting costs Redis nothing.
 * Exit 1 when an id is unknown, a job failed, or --timeout passed first.
 */
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"

enum { OPT_WAIT = WQ_OPT_FIRST_PRIVATE, OPT_TIMEOUT, OPT_JQ, OPT_LIST,
    OPT_LIMIT };

static const struct option own[] = {
	{ "wait",	no_argument,		NULL, OPT_WAIT },
	{ "timeout",	required_argument,	NULL, OPT_TIMEOUT },
	{ "jq",		required_argument,	NULL, OPT_JQ },
	{ "list",	required_argument,	NULL, OPT_LIST },
	{ "limit",	required_argument,	NULL, OPT_LIMIT },
	{ NULL, 0, NULL, 0 }
};

#define RECHECK_MS	3000
#define CHUNK		1000

static struct wq_jq	*jq;
static int		 result;

static void
usage(FILE *f)
{
	fprintf(f,
"usage: wq-status [options] [ID...]\n"
"       wq-status --list STATE [--queue Q] [--limit N]\n"
"Print the record of each job; ids from the arguments, or from stdin\n"
"(plain ids or NDJSON lines with a \"callback\" field).\n"
"  --wait             block until each job is worked or failed\n"
"  --timeout S        with --wait: give up after S seconds (exit 1)\n"
"  --jq PROGRAM       filter or reshape each record (jq syntax)\n"
"  --list STATE       ids of --queue by state: pending, delayed, working,\n"
"                     failed or dead\n"
"  --limit N          with --list: at most N (default 1000)\n"
"%s", wq_common_usage);
}

/* Print a record (through --jq); note failures.  Consumes rec. */
static void
emit(jv rec)
{
	jv	 out, st;
	char	 err[512];
	int	 i, n;

	st = jv_object_get(jv_copy(rec), jv_string("status"));
	if (jv_get_kind(st) == JV_KIND_STRING &&
	    strcmp(jv_string_value(st), "failed") == 0)
		result = WQ_NO;
	jv_free(st);
	if (jq == NULL) {
		cmd_print(rec);
		return;
	}
	if (wq_jq_run(jq, rec, &out, err, sizeof(err)) == -1) {
		cmd_warn("%s", err);
		result = WQ_NO;
	}
	n = jv_array_length(jv_copy(out));
	for (i = 0; i < n; i++)
		cmd_print(jv_array_get(jv_copy(out), i));
	jv_free(out);
}

static void
unknown(const char *id)
{
	cmd_warn("%s: not found", id);
	result = WQ_NO;
}

static void
status_once(struct wq *wq, char **ids, size_t n)
{
	jv	*recs;
	size_t	 off, cnt, i;
	int	 rc;

	recs = wq_calloc(CHUNK, sizeof(*recs));
	for (off = 0; off < n; off += cnt) {
		cnt = n - off < CHUNK ? n - off : CHUNK;
		rc = WQ_OK;
		if (wq_setting(wq, WQ_OPT_API) != NULL) {
			for (i = 0; i < cnt && rc == WQ_OK; i++)
				rc = wq_api_status(wq, ids[off + i], 0,
				    &recs[i]);
		} else
			rc = wq_status(wq, (const char **)ids + off, cnt, recs);
		if (rc != WQ_OK) {
			free(recs);
			cmd_die(rc, "%s", wq_error(wq));
		}
		for (i = 0; i < cnt; i++) {
			if (jv_get_kind(recs[i]) == JV_KIND_NULL)
				unknown(ids[off + i]);
			else
				emit(jv_copy(recs[i]));
			jv_free(recs[i]);
		}
		cmd_flush();
	}
	free(recs);
}

static double
left_s(int64_t deadline)
{
	return deadline < 0 ? 1e9 : (double)(deadline - wq_now_ms()) / 1000.0;
}

/* --wait through the API: the API holds each request until the job ends. */
static void
wait_api(struct wq *wq, char **ids, size_t n, int64_t deadline)
{
	jv	rec;
	double	left;
	size_t	i;
	int	rc;

	for (i = 0; i < n; i++) {
		for (;;) {
			left = left_s(deadline);
			if ((rc = wq_api_status(wq, ids[i],
			    left > 25 ? 25 : (left > 0 ? left : 0.001),
			    &rec)) != WQ_OK)
				cmd_die(rc, "%s", wq_error(wq));
			if (jv_get_kind(rec) == JV_KIND_NULL) {
				unknown(ids[i]);
				break;
			}
			if (wq_record_final(rec) || left_s(deadline) <= 0) {
				if (!wq_record_final(rec)) {
					cmd_warn("%s: not finished before the "
					    "timeout", ids[i]);
					result = WQ_NO;
				}
				emit(rec);
				cmd_flush();
				break;
			}
			jv_free(rec);
		}
	}
}

/*
 * Re-read the records of the ids still waited for; print and drop the
 * ones that ended or are unknown.  pending maps id -> true.
 */
static int
recheck(struct wq *wq, jv *pending, char **only, size_t nonly)
{
	const char	**ids;
	jv		 *recs, keys;
	size_t		  n, i;
	int		  rc;

	if (only != NULL) {
		ids = wq_calloc(nonly, sizeof(*ids));
		for (n = 0, i = 0; i < nonly; i++)
			if (jv_object_has(jv_copy(*pending),
			    jv_string(only[i])))
				ids[n++] = only[i];
		keys = jv_null();
	} else {
		keys = jv_keys(jv_copy(*pending));
		n = (size_t)jv_array_length(jv_copy(keys));
		ids = wq_calloc(n, sizeof(*ids));
		for (i = 0; i < n; i++) {
			jv k = jv_array_get(jv_copy(keys), (int)i);

			/* keys holds a reference, so the string stays */
			ids[i] = jv_string_value(k);
			jv_free(k);
		}
	}
	recs = wq_calloc(n ? n : 1, sizeof(*recs));
	rc = wq_status(wq, ids, n, recs);
	for (i = 0; rc == WQ_OK && i < n; i++) {
		if (jv_get_kind(recs[i]) == JV_KIND_NULL) {
			unknown(ids[i]);
			*pending = jv_object_delete(*pending,
			    jv_string(ids[i]));
		} else if (wq_record_final(recs[i])) {
			*pending = jv_object_delete(*pending,
			    jv_string(ids[i]));
			emit(jv_copy(recs[i]));
		}
	}
	for (i = 0; i < n; i++)
		jv_free(recs[i]);
	free(recs);
	free(ids);
	jv_free(keys);
	cmd_flush();
	return rc;
}

static void
wait_redis(struct wq *wq, char **ids, size_t n, int64_t deadline)
{
	struct wq_waiter	*w = NULL;
	struct pollfd		 pfd;
	char			*hints[256];
	size_t			 nh, i;
	int64_t			 next_check = 0;
	double			 left;
	int			 rc, ms, fresh = 1;
	jv			 pending;

	pending = jv_object();
	for (i = 0; i < n; i++)
		pending = jv_object_set(pending, jv_string(ids[i]), jv_true());
	while (jv_object_length(jv_copy(pending)) > 0) {
		if (w == NULL) {
			/* Subscribe first, then read: no end can slip by. */
			if ((rc = wq_waiter_open(wq, &w)) != WQ_OK)
				cmd_die(rc, "%s", wq_error(wq));
			for (i = 0; i < n; i += CHUNK)
				if ((rc = wq_waiter_add(w,
				    (const char **)ids + i,
				    n - i < CHUNK ? n - i : CHUNK)) != WQ_OK)
					cmd_die(rc, "%s", wq_error(wq));
			fresh = 1;
		}
		if (fresh || wq_now_ms() >= next_check) {
			if ((rc = recheck(wq, &pending, NULL, 0)) != WQ_OK)
				cmd_die(rc, "%s", wq_error(wq));
			next_check = wq_now_ms() + RECHECK_MS;
			fresh = 0;
			continue;
		}
		left = left_s(deadline);
		if (left <= 0)
			break;
		ms = (int)(next_check - wq_now_ms());
		if (deadline >= 0 && left * 1000 < ms)
			ms = (int)(left * 1000) + 1;
		pfd.fd = wq_waiter_fd(w);
		pfd.events = POLLIN;
		if (poll(&pfd, 1, ms < 0 ? 0 : ms) <= 0)
			continue;
		if ((rc = wq_waiter_read(w, hints, 256, &nh)) != WQ_OK) {
			/* The link broke: back off, subscribe again. */
			wq_waiter_close(w);
			w = NULL;
			usleep((useconds_t)wq_backoff_ms(wq) * 1000);
			continue;
		}
		wq_backoff_reset(wq);
		if (nh > 0 && (rc = recheck(wq, &pending, hints, nh)) != WQ_OK)
			cmd_die(rc, "%s", wq_error(wq));
	}
	wq_waiter_close(w);
	if (jv_object_length(jv_copy(pending)) > 0) {
		/* Timed out: say which, print where they stand. */
		jv	  keys = jv_keys(jv_copy(pending));
		size_t	  nk = (size_t)jv_array_length(jv_copy(keys));
		char	**left = wq_calloc(nk + 1, sizeof(*left));

		for (i = 0; i < nk; i++) {
			jv k = jv_array_get(jv_copy(keys), (int)i);

			left[i] = wq_strdup(jv_string_value(k));
			cmd_warn("%s: not finished before the timeout",
			    left[i]);
			jv_free(k);
		}
		jv_free(keys);
		status_once(wq, left, nk);
		cmd_inputs_free(left);
		result = WQ_NO;
	}
	jv_free(pending);
}

/* Does a listed record belong in the listing of state? */
static int
listed(jv rec, const char *state, const char *queue)
{
	jv	v;
	int	ok = 1;

	if (strcmp(state, "working") == 0) {
		/* the active lists are per node: keep this queue's jobs */
		v = jv_object_get(jv_copy(rec), jv_string("queue"));
		ok = jv_get_kind(v) == JV_KIND_STRING &&
		    strcmp(jv_string_value(v), queue) == 0;
		jv_free(v);
	} else if (strcmp(state, "failed") == 0) {
		v = jv_object_get(jv_copy(rec), jv_string("status"));
		ok = jv_get_kind(v) == JV_KIND_STRING &&
		    strcmp(jv_string_value(v), "failed") == 0;
		jv_free(v);
	}
	return ok;
}

/*
 * --list STATE: the records of the ids in that state.  Ids of dead:<q>
 * outlive their records; they are shown as {"callback","status":"expired"}.
 * Listing failed jobs is not itself a failure: the exit status stays 0.
 */
static void
list(struct wq *wq, const char *state, long limit)
{
	const char	*queue = wq_setting(wq, WQ_OPT_QUEUE);
	const char	**v;
	jv		  ids, *recs, rec;
	size_t		  n, i;
	int		  rc;

	if ((rc = wq_list(wq, queue, state, limit, &ids)) != WQ_OK)
		cmd_die(rc, "%s", wq_error(wq));
	n = (size_t)jv_array_length(jv_copy(ids));
	v = wq_calloc(n + 1, sizeof(*v));
	for (i = 0; i < n; i++) {
		jv s = jv_array_get(jv_copy(ids), (int)i);

		v[i] = jv_string_value(s);	/* ids holds a reference */
		jv_free(s);
	}
	recs = wq_calloc(n + 1, sizeof(*recs));
	if ((rc = wq_status(wq, v, n, recs)) != WQ_OK) {
		free(recs);
		free(v);
		jv_free(ids);
		cmd_die(rc, "%s", wq_error(wq));
	}
	for (i = 0; i < n; i++) {
		rec = recs[i];
		if (jv_get_kind(rec) == JV_KIND_NULL) {
			if (strcmp(state, "dead") != 0)
				continue;
			rec = jv_object_set(jv_object(), jv_string("callback"),
			    jv_string(v[i]));
			rec = jv_object_set(rec, jv_string("status"),
			    jv_string("expired"));
		}
		if (listed(rec, state, queue))
			emit(rec);
		else
			jv_free(rec);
	}
	result = 0;
	free(recs);
	free(v);
	jv_free(ids);
	cmd_flush();
}

int
main(int argc, char **argv)
{
	struct option	*opts;
	struct wq	*wq;
	char		**items, err[512], *state = NULL;
	size_t		 n, i, *lens;
	double		 timeout = -1;
	long		 limit = 1000;
	int		 c, wait = 0;
	int64_t		 deadline = -1;

	wq = cmd_start("status", own, &opts);
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_WAIT:
			wait = 1;
			break;
		case OPT_TIMEOUT:
			timeout = cmd_seconds("--timeout", optarg);
			break;
		case OPT_JQ:
			wq_jq_free(jq);
			if (wq_jq_compile(optarg, &jq, err, sizeof(err)) == -1)
				cmd_die(WQ_EUSAGE, "%s", err);
			break;
		case OPT_LIST:
			state = optarg;
			if (strcmp(state, "pending") &&
			    strcmp(state, "delayed") &&
			    strcmp(state, "working") &&
			    strcmp(state, "failed") && strcmp(state, "dead"))
				cmd_die(WQ_EUSAGE, "bad --list: expected "
				    "pending, delayed, working, failed or "
				    "dead");
			break;
		case OPT_LIMIT:
			limit = cmd_long("--limit", optarg, 1, 10000000);
			break;
		default:
			cmd_common(wq, c, optarg, argv, usage);
		}
	}
	free(opts);
	if (timeout >= 0 && !wait)
		cmd_die(WQ_EUSAGE, "--timeout goes with --wait");
	if (state != NULL) {
		if (optind < argc || wait)
			cmd_die(WQ_EUSAGE, "--list takes no ids and no --wait");
		if (wq_setting(wq, WQ_OPT_API) != NULL)
			cmd_die(WQ_EUSAGE, "--list needs Redis, not --api");
		list(wq, state, limit);
		wq_jq_free(jq);
		wq_free(wq);
		return result;
	}
	items = cmd_inputs(argc - optind, argv + optind, &n, &lens);
	for (i = 0; i < n; i++) {
		/* normalise in place: ids are never longer than the line */
		if (wq_id_from_line(items[i], lens[i], err, sizeof(err)) == -1)
			cmd_die(WQ_EUSAGE, "input %zu: %s", i + 1, err);
		memcpy(items[i], err, WQ_ID_LEN + 1);
	}
	free(lens);
	if (timeout >= 0)
		deadline = wq_now_ms() + (int64_t)(timeout * 1000);
	if (!wait)
		status_once(wq, items, n);
	else if (wq_setting(wq, WQ_OPT_API) != NULL)
		wait_api(wq, items, n, deadline);
	else
		wait_redis(wq, items, n, deadline);
	cmd_inputs_free(items);
	wq_jq_free(jq);
	wq_free(wq);
	return result;
}
