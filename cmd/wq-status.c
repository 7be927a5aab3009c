/*
 * wq-status -- what became of jobs; --wait blocks until they end.
 *
 * Ids come from the arguments or from stdin, as plain ids or as the NDJSON
 * lines wq-submit prints, and stdin is acted on as it arrives.  Without
 * --wait the records are printed in input order, a batch each time input
 * comes.  With --wait each id is followed from the moment it is read, and
 * each record printed when its job ends, in the order they end: the watch
 * of libwq subscribes to the jobs' done channels and this sleeps in
 * poll(2) on them and on stdin, so waiting costs Redis nothing, and what
 * it holds is the ids still in flight.  It is done when the input is
 * closed and every id has ended.  Through the API, API_INFLIGHT requests
 * are in flight, each held by the API until its job ends.  --progress
 * adds a line {"callback","progress"[,"message"]} each time a job in
 * flight writes its progress (the watch follows the channel progress).
 * Exit 1 when an id is unknown, a job failed, or --timeout passed first;
 * 2 when a line is no id (the ids before it are still answered).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"

enum { OPT_WAIT = WQ_OPT_FIRST_PRIVATE, OPT_TIMEOUT, OPT_JQ, OPT_LIST,
    OPT_LIMIT, OPT_PROGRESS };

static const struct option own[] = {
	{ "wait",	no_argument,		NULL, OPT_WAIT },
	{ "timeout",	required_argument,	NULL, OPT_TIMEOUT },
	{ "jq",		required_argument,	NULL, OPT_JQ },
	{ "list",	required_argument,	NULL, OPT_LIST },
	{ "limit",	required_argument,	NULL, OPT_LIMIT },
	{ "progress",	no_argument,		NULL, OPT_PROGRESS },
	{ NULL, 0, NULL, 0 }
};

#define CHUNK		1000
#define API_INFLIGHT	32

/*
 * Where the ids come from: the arguments (all checked before anything is
 * read), or stdin, read as it arrives.  A line of stdin that is no id
 * ends the input there: it is reported at once, what came before it is
 * answered (or waited for), and the exit status is 2.
 */
struct input {
	char		**args;
	size_t		  nargs, next;
	struct cmd_lines  lines;
	int		  stdin_open;	/* more may come from stdin */
	int		  bad;		/* the input ended at a bad line */
};

static struct wq_jq	*jq;
static int		 result;
static int		 progress;	/* --progress */

static void
usage(FILE *f)
{
	fprintf(f,
"usage: wq-status [options] [ID...]\n"
"       wq-status --list STATE [--queue Q] [--limit N]\n"
"Print the record of each job; ids from the arguments, or from stdin\n"
"(plain ids or NDJSON lines with a \"callback\" field), as they come.\n"
"  --wait             block until each job is worked, failed or\n"
"                     cancelled; print each record as its job ends\n"
"  --timeout S        with --wait: give up after S seconds (exit 1)\n"
"  --progress         with --wait: also a line {\"callback\",\"progress\",\n"
"                     \"message\"} each time a job reports its progress\n"
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
	    (strcmp(jv_string_value(st), "failed") == 0 ||
	    strcmp(jv_string_value(st), "cancelled") == 0))
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

/* Print what wq_status_recs() or wq_watch read, count times; clears it. */
static void
emit_rec(struct wq_rec *r, unsigned count)
{
	unsigned	i;

	for (i = 0; i < count; i++) {
		if (!r->found)
			unknown(r->id);
		else if (r->line != NULL) {
			if (r->failed)
				result = WQ_NO;
			puts(r->line);
		} else
			emit(jv_copy(r->rec));
	}
	wq_record_clear(r);
}

static void
input_init(struct input *in, int argc, char **argv)
{
	char	id[512];
	size_t	i;

	memset(in, 0, sizeof(*in));
	if (argc > 0) {
		in->args = wq_calloc((size_t)argc, sizeof(*in->args));
		for (i = 0; i < (size_t)argc; i++) {
			if (wq_id_from_line(argv[i], strlen(argv[i]), id,
			    sizeof(id)) == -1)
				cmd_die(WQ_EUSAGE, "input %zu: %s", i + 1, id);
			in->args[i] = wq_strdup(id);
		}
		in->nargs = (size_t)argc;
		return;
	}
	cmd_lines_init(&in->lines, STDIN_FILENO);
	in->stdin_open = 1;
}

static void
input_free(struct input *in)
{
	size_t	i;

	for (i = 0; i < in->nargs; i++)
		free(in->args[i]);
	free(in->args);
	cmd_lines_free(&in->lines);
}

/*
 * The next id into id: 1; 0 when none is ready yet (poll stdin, then
 * cmd_lines_fill()); -1 at the end of the input.
 */
static int
input_next(struct input *in, char *id, int *fresh)
{
	char	*line, err[512];
	size_t	 len;

	*fresh = 0;
	if (in->next < in->nargs) {
		memcpy(id, in->args[in->next++], WQ_ID_LEN + 1);
		return 1;
	}
	if (!in->stdin_open)
		return -1;
	if ((line = cmd_lines_next(&in->lines, &len)) == NULL) {
		if (!in->lines.eof)
			return 0;
		in->stdin_open = 0;
		return -1;
	}
	if (wq_id_from_input(line, len, err, sizeof(err), fresh) == -1) {
		cmd_warn("input %zu: %s", in->lines.lineno, err);
		in->bad = 1;
		in->stdin_open = 0;
		return -1;
	}
	memcpy(id, err, WQ_ID_LEN + 1);
	return 1;
}

/*
 * Through the API: several requests in flight on kept-alive connections
 * (API_INFLIGHT), each one id.
 */
static struct wq_api_pool	*pool;

static struct wq_api_pool *
api_pool(struct wq *wq)
{
	int	rc;

	if (pool == NULL && (rc = wq_api_pool_open(wq, API_INFLIGHT,
	    &pool)) != WQ_OK)
		cmd_die(rc, "%s", wq_error(wq));
	return pool;
}

struct api_batch {
	struct wq	 *wq;
	const char	**ids;
	struct wq_rec	 *recs;
};

static void
api_read(void *arg, size_t tag, int rc, jv answer)
{
	struct api_batch	*b = arg;

	if (rc != WQ_OK)
		cmd_die(rc, "%s", wq_error(b->wq));
	wq_record_set(&b->recs[tag], b->ids[tag], answer, jq != NULL ?
	    WQ_REC_JV : WQ_REC_LINE);
}

/* The records of ids as they stand, into recs[]: wq_status_recs(). */
static int
api_status(struct wq *wq, const char **ids, size_t n, struct wq_rec *recs)
{
	struct api_batch	 b = { wq, ids, recs };
	struct wq_api_pool	*p = api_pool(wq);
	size_t			 next = 0;
	int			 rc, ready;

	while (next < n || wq_api_pool_idle(p) < API_INFLIGHT) {
		for (; next < n && wq_api_pool_idle(p) > 0; next++)
			if ((rc = wq_api_pool_status(p, ids[next], 0,
			    next)) != WQ_OK)
				return rc;
		if ((rc = wq_api_pool_run(p, -1, -1, &ready, api_read,
		    &b)) != WQ_OK)
			return rc;
	}
	return WQ_OK;
}

/*
 * Without --wait: the records as they stand, in input order, a batch for
 * the ids that are there each time input arrives.
 */
static void
status_stream(struct wq *wq, struct input *in)
{
	struct wq_rec	 *recs;
	char		(*ids)[WQ_ID_LEN + 1];
	const char	**idp;
	size_t		  n, i;
	int		  r = 0, rc, fresh;

	recs = wq_calloc(CHUNK, sizeof(*recs));
	ids = wq_calloc(CHUNK, sizeof(*ids));
	idp = wq_calloc(CHUNK, sizeof(*idp));
	for (;;) {
		for (n = 0; n < CHUNK && (r = input_next(in, ids[n],
		    &fresh)) == 1; n++)
			idp[n] = ids[n];
		if (n > 0) {
			rc = wq_setting(wq, WQ_OPT_API) != NULL ?
			    api_status(wq, idp, n, recs) :
			    wq_status_recs(wq, idp, n, jq != NULL ?
			    WQ_REC_JV : WQ_REC_LINE, recs);
			if (rc != WQ_OK)
				cmd_die(rc, "%s", wq_error(wq));
			for (i = 0; i < n; i++)
				emit_rec(&recs[i], 1);
			cmd_flush_filter();
			continue;
		}
		if (r == -1)
			break;
		cmd_lines_fill(&in->lines);	/* nothing else to do: block */
	}
	free(recs);
	free(ids);
	free(idp);
}

/* --wait through the API: each request is held until its job ends. */
struct api_wait {
	struct wq	 *wq;
	char		(*ids)[WQ_ID_LEN + 1];	/* by tag */
	size_t		 *free;			/* tags not in use */
	size_t		  nfree;
	int64_t		  deadline;
};

/* How long the API may hold a request: what is left, at most 25 s. */
static double
api_wait_s(int64_t deadline)
{
	double	left;

	if (deadline < 0)
		return 25;
	left = (double)(deadline - wq_now_ms()) / 1000.0;
	return left > 25 ? 25 : (left > 0.001 ? left : 0.001);
}

static void
api_waited(void *arg, size_t tag, int rc, jv answer)
{
	struct api_wait	*a = arg;
	struct wq_rec	 r;

	if (rc != WQ_OK)
		cmd_die(rc, "%s", wq_error(a->wq));
	wq_record_set(&r, a->ids[tag], answer, jq != NULL ? WQ_REC_JV :
	    WQ_REC_LINE);
	if (r.found && !r.final && (a->deadline < 0 ||
	    wq_now_ms() < a->deadline)) {
		/* held as long as the API holds one: ask again */
		wq_record_clear(&r);
		if ((rc = wq_api_pool_status(pool, a->ids[tag],
		    api_wait_s(a->deadline), tag)) != WQ_OK)
			cmd_die(rc, "%s", wq_error(a->wq));
		return;
	}
	if (r.found && !r.final) {
		cmd_warn("%s: not finished before the timeout", r.id);
		result = WQ_NO;
	}
	emit_rec(&r, 1);
	a->free[a->nfree++] = tag;
}

static void
wait_api(struct wq *wq, struct input *in, int64_t deadline)
{
	struct api_wait		 a;
	struct wq_api_pool	*p = api_pool(wq);
	size_t			 tag;
	int			 r = 0, rc, ready, fresh;

	a.wq = wq;
	a.deadline = deadline;
	a.ids = wq_calloc(API_INFLIGHT, sizeof(*a.ids));
	a.free = wq_calloc(API_INFLIGHT, sizeof(*a.free));
	for (a.nfree = 0; a.nfree < API_INFLIGHT; a.nfree++)
		a.free[a.nfree] = API_INFLIGHT - 1 - a.nfree;
	for (;;) {
		if (deadline >= 0 && wq_now_ms() >= deadline)
			in->stdin_open = 0;	/* time is up: read no more */
		r = 1;
		while (a.nfree > 0 && (r = input_next(in, a.ids[a.free[
		    a.nfree - 1]], &fresh)) == 1) {
			tag = a.free[--a.nfree];
			if ((rc = wq_api_pool_status(p, a.ids[tag],
			    api_wait_s(deadline), tag)) != WQ_OK)
				cmd_die(rc, "%s", wq_error(wq));
		}
		if (r == -1 && a.nfree == API_INFLIGHT)
			break;
		/* r is 0 when stdin has nothing ready and there is room */
		if ((rc = wq_api_pool_run(p, r == 0 ? in->lines.fd : -1,
		    a.nfree == API_INFLIGHT ? cmd_poll_ms(deadline) : -1,
		    &ready, api_waited, &a)) != WQ_OK)
			cmd_die(rc, "%s", wq_error(wq));
		if (ready)
			cmd_lines_fill(&in->lines);
		cmd_flush_filter();
	}
	free(a.ids);
	free(a.free);
}

static void
on_ended(void *arg, struct wq_rec *r)
{
	(void)arg;
	emit_rec(r, r->count);
}

/* --progress: {"callback", "progress"[, "message"]}, not through --jq. */
static void
on_progress(void *arg, const char *id, jv p)
{
	(void)arg;
	cmd_print(jv_object_merge(jv_object_set(jv_object(),
	    jv_string("callback"), jv_string(id)), p));
}

/* The ids still waited for at the timeout: named, printed as they stand. */
static void
timed_out(struct wq *wq, char **ids, size_t n)
{
	struct input	in;
	size_t		i;

	for (i = 0; i < n; i++)
		cmd_warn("%s: not finished before the timeout", ids[i]);
	memset(&in, 0, sizeof(in));
	in.args = ids;
	in.nargs = n;
	status_stream(wq, &in);
	result = WQ_NO;
}

/* Open the watch (and its progress, with --progress). */
static int
watch_open(struct wq *wq, struct wq_watch **w)
{
	int	rc;

	if ((rc = wq_watch_open(wq, jq != NULL ? WQ_REC_JV : WQ_REC_LINE,
	    w)) != WQ_OK)
		return rc;
	if (progress && (rc = wq_watch_progress(*w, on_progress, NULL)) !=
	    WQ_OK) {
		wq_watch_close(*w);
		*w = NULL;
	}
	return rc;
}

/*
 * The link to Redis broke while waiting (a failover, a restart): say so
 * once, wait (wq_backoff_ms), connect again and watch the same ids, their
 * records read afresh, since some may have ended meanwhile.  Until the
 * deadline (then exit 3, as when Redis cannot be reached at the start);
 * without one, until Redis answers again.
 */
static struct wq_watch *
rewatch(struct wq *wq, struct wq_watch *w, int64_t deadline)
{
	char	**ids;
	size_t	  n, i;
	int	  rc, ms;

	cmd_warn("%s; waiting for it", wq_error(wq));
	ids = wq_watch_ids(w, &n);
	wq_watch_close(w);
	for (;;) {
		ms = wq_backoff_ms(wq);
		if (deadline >= 0 && cmd_poll_ms(deadline) < ms)
			ms = cmd_poll_ms(deadline);
		(void)poll(NULL, 0, ms);
		if ((rc = watch_open(wq, &w)) == WQ_OK)
			break;
		if (rc != WQ_EUNAVAIL ||
		    (deadline >= 0 && wq_now_ms() >= deadline))
			cmd_die(rc, "%s", wq_error(wq));
	}
	/* the watch's own ids: an add only queues them, it cannot fail */
	for (i = 0; i < n; i++)
		(void)wq_watch_add(w, ids[i], 0);
	wq_backoff_reset(wq);
	cmd_inputs_free(ids);
	return w;
}

/*
 * --wait: each id is handed to the watch (lib/watch.c) as soon as it is
 * read, and each record printed as its job ends.  Done when the input is
 * closed and no id is left, or at the deadline.  A link lost meanwhile is
 * made again (rewatch).
 */
static void
wait_redis(struct wq *wq, struct input *in, int64_t deadline)
{
	struct wq_watch	 *w;
	struct pollfd	 *pfd = NULL;
	const int	 *fds;
	char		  id[WQ_ID_LEN + 1], **left;
	size_t		  nleft, nfds, i;
	int		  r = 0, rc, ms, readable = 0, fresh;

	if ((rc = watch_open(wq, &w)) != WQ_OK)
		cmd_die(rc, "%s", wq_error(wq));
	for (;;) {
		/* (an add only queues the id: no Redis error) */
		while ((r = input_next(in, id, &fresh)) == 1)
			if ((rc = wq_watch_add(w, id, fresh)) != WQ_OK)
				cmd_die(rc, "%s", wq_error(wq));
		while ((rc = wq_watch_run(w, readable, on_ended, NULL)) !=
		    WQ_OK) {
			if (rc != WQ_EUNAVAIL)
				cmd_die(rc, "%s", wq_error(wq));
			w = rewatch(wq, w, deadline);
			readable = 0;
		}
		cmd_flush_filter();
		if (r == -1 && wq_watch_pending(w) == 0)
			break;
		if (deadline >= 0 && wq_now_ms() >= deadline)
			break;
		ms = wq_watch_next_ms(w);
		if (ms < 0 || (deadline >= 0 && cmd_poll_ms(deadline) < ms))
			ms = cmd_poll_ms(deadline);
		fds = wq_watch_fds(w, &nfds);
		pfd = wq_reallocarray(pfd, nfds + 1, sizeof(*pfd));
		memset(pfd, 0, (nfds + 1) * sizeof(*pfd));
		pfd[0].fd = r == 0 ? in->lines.fd : -1;
		pfd[0].events = POLLIN;
		for (i = 0; i < nfds; i++) {
			pfd[i + 1].fd = fds[i];
			pfd[i + 1].events = POLLIN;
		}
		if (poll(pfd, nfds + 1, ms) == -1 && errno != EINTR)
			cmd_die(WQ_EUNAVAIL, "poll: %s", strerror(errno));
		if (pfd[0].fd >= 0 && pfd[0].revents != 0)
			cmd_lines_fill(&in->lines);
		for (i = 0, readable = 0; i < nfds; i++)
			readable |= pfd[i + 1].revents != 0;
	}
	free(pfd);
	if (wq_watch_pending(w) > 0) {
		left = wq_watch_ids(w, &nleft);
		wq_watch_close(w);
		timed_out(wq, left, nleft);
		cmd_inputs_free(left);
	} else
		wq_watch_close(w);
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
	cmd_flush_filter();
}

int
main(int argc, char **argv)
{
	struct option	*opts;
	struct wq	*wq;
	struct input	 in;
	char		 err[512], *state = NULL;
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
		case OPT_PROGRESS:
			progress = 1;
			break;
		default:
			cmd_common(wq, c, optarg, argv, usage);
		}
	}
	free(opts);
	cmd_batched();
	if (timeout >= 0 && !wait)
		cmd_die(WQ_EUSAGE, "--timeout goes with --wait");
	if (progress && !wait)
		cmd_die(WQ_EUSAGE, "--progress goes with --wait");
	if (progress && wq_setting(wq, WQ_OPT_API) != NULL)
		cmd_die(WQ_EUSAGE, "--progress needs Redis, not --api");
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
	input_init(&in, argc - optind, argv + optind);
	if (timeout >= 0)
		deadline = wq_now_ms() + (int64_t)(timeout * 1000);
	if (!wait)
		status_stream(wq, &in);
	else if (wq_setting(wq, WQ_OPT_API) != NULL)
		wait_api(wq, &in, deadline);
	else
		wait_redis(wq, &in, deadline);
	if (in.bad)
		result = WQ_EUSAGE;
	input_free(&in);
	wq_api_pool_close(pool);
	wq_jq_free(jq);
	wq_free(wq);
	return result;
}
