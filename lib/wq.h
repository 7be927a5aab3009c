/*
 * wq.h -- the interface of libwq for the commands.
 *
 * libwq is the one place of wq that knows the Redis keyspace, the Lua
 * scripts that change it, the JSON of a job record and the settings every
 * command shares.  The commands in cmd/ and the Kore application in
 * kore-api/ are thin: they parse their options, call the functions below
 * and print what they get back.  Nothing here prints to stdout or exits:
 * every function returns one of the WQ_* codes below and leaves a one-line
 * message in wq_error(), which the caller reports.  No type of hiredis
 * appears here; the asynchronous halves that the API's event loop needs
 * are in wq-async.h, and what the files of libwq share among themselves
 * in wq-int.h.  docs/DESIGN.md tells how the pieces fit.
 *
 * A function's prefix names its file: wq_spec_* is in spec.c, wq_node_*
 * in node.c, and so on.  The exceptions are the short names most callers
 * use: the helpers of util.c (wq_calloc, wq_now_ms, wq_error...), the
 * context and settings of settings.c (wq_new, wq_free, wq_setopt,
 * wq_setting, wq_name), wq_dump and wq_parse (json.c), wq_connect and
 * wq_disconnect (redis.c), and the verbs on jobs of job.c (wq_submit,
 * wq_status, wq_list, wq_claim, wq_complete, wq_recover).
 *
 * The files, one concern each:
 *   util.c      allocation, the clock, errors, random ids, numbers
 *   settings.c  the context; settings (flag over environment over default)
 *   url.c       Redis URLs: parsed, and masked for messages
 *   redis.c     one Redis connection: timeouts, commands, pipelines
 *   argv.c      a command as it is built, keys, its RESP text
 *   reply.c     reading replies
 *   script.c    the Lua scripts by EVALSHA, the NOSCRIPT fallback
 *   backoff.c   waiting longer after each failure
 *   json.c      JSON text in (checked) and out
 *   jq.c        jq programs
 *   id.c        callback ids
 *   md5.c       MD5, for the callback ids
 *   spec.c      a submission, checked, before it is sent
 *   record.c    a job's record: its hash as JSON
 *   job.c       submit, status, lists, claim, complete, recover
 *   queues.c    queue depths
 *   node.c      this process as a member: register, heartbeat, leave
 *   peers.c     the members as the cluster sees them
 *   stats.c     the counters and the latency histogram
 *   msg.c       messages between nodes (inbox and replies)
 *   builtin.c   the message types every node answers
 *   sub.c       subscriber connections, for hints
 *   waiter.c    waiting for jobs to end (done:<id> hints)
 *   watch.c     following a stream of jobs until each ends (on a waiter)
 *   hints.c     a worker's hints (work queued, a message)
 *   cron.c      schedule expressions: parsed, their next times in a zone
 *   schedule.c  recurring jobs: the schedules in Redis, fired by the sweep
 *   control.c   job control: cancel, retry; queues paused, purged
 *   events.c    the event stream: what happened to jobs, read in order
 *   api.c       the HTTP client (libcurl) behind --api
 *   trace.c     W3C trace context: a job's traceparent
 *   notify.c    telling systemd: ready, stopping, alive
 *   async.c     hiredis async connections, for the Kore API
 *   read.c      the API's reads in rounds
 *   rcluster.c  a Redis Cluster client (rcluster.h; no command uses it
 *               yet)
 */
#ifndef WQ_H
#define WQ_H

#include <stddef.h>
#include <stdint.h>
#include <getopt.h>

#include <jv.h>

#include "wq-const.h"

#define WQ_VERSION		"0.1.0"

/* Return codes, which are also the exit codes of every command. */
#define WQ_OK			0	/* success */
#define WQ_NO			1	/* a negative answer: unknown, failed,
					   timed out */
#define WQ_EUSAGE		2	/* usage or bad input */
#define WQ_EUNAVAIL		3	/* Redis or the API unreachable, or
					   unable to serve now (read-only,
					   loading): try again later */
#define WQ_EREDIS		4	/* Redis answered an error (a key of
					   the wrong type, a script's error):
					   bad data or a bug, not retried */
#define WQ_EREPLICAS		5	/* written on the primary, but fewer
					   replicas than --wait-replicas
					   confirmed it in time (WAIT) */

#define WQ_ID_LEN		32
#define WQ_MAX_DATA		(1024 * 1024)

/* --wait-replicas N (0: off), --wait-timeout MS: Redis WAIT after writes. */
#define WQ_WAIT_REPLICAS_MAX	100
#define WQ_WAIT_TIMEOUT_DEFAULT	1000
#define WQ_WAIT_TIMEOUT_MAX	60000

/* --partitions P: a namespace's partitions (docs/DESIGN.md, section 25);
 * a new namespace's without it: 1, or 48 on a Redis Cluster. */
#define WQ_PARTITIONS_MAX	1024
#define WQ_PARTITIONS_CLUSTER	48

/* Option codes of the shared settings (docs/DESIGN.md), for getopt_long. */
enum {
	WQ_OPT_REDIS = 0x1000,
	WQ_OPT_API,
	WQ_OPT_TOKEN,
	WQ_OPT_NAMESPACE,
	WQ_OPT_QUEUE,
	WQ_OPT_TTL,
	WQ_OPT_NAME,
	WQ_OPT_MAX_DATA,
	WQ_OPT_MAX_QUEUES,	/* not in WQ_COMMON_LONGOPTS: the submitters'
				   own flag; WQ_MAX_QUEUES for all */
	WQ_OPT_EVENTS,		/* not in WQ_COMMON_LONGOPTS: the flag of
				   wq-submit, wq-worker, wq-api; WQ_EVENTS
				   for all */
	WQ_OPT_WAIT_REPLICAS,	/* not in WQ_COMMON_LONGOPTS: the flags of
				   wq-submit, wq-worker, wq-api;
				   WQ_WAIT_REPLICAS, WQ_WAIT_TIMEOUT */
	WQ_OPT_WAIT_TIMEOUT,
	WQ_OPT_PARTITIONS,	/* --partitions P, WQ_PARTITIONS: read at the
				   namespace's first use only (part.c) */
	WQ_OPT_VERSION,
	WQ_OPT_HELP = 'h',
	WQ_OPT_FIRST_PRIVATE = 0x2000	/* commands' own options from here */
};

/* Settings that are not options, for wq_setting_num(). */
enum {
	WQ_SET_CONNECT_MS = 0x1800,	/* connect timeout */
	WQ_SET_COMMAND_MS		/* command timeout */
};

#define WQ_COMMON_LONGOPTS						\
	{ "redis",	required_argument, NULL, WQ_OPT_REDIS },	\
	{ "api",	required_argument, NULL, WQ_OPT_API },		\
	{ "token",	required_argument, NULL, WQ_OPT_TOKEN },	\
	{ "namespace",	required_argument, NULL, WQ_OPT_NAMESPACE },	\
	{ "queue",	required_argument, NULL, WQ_OPT_QUEUE },	\
	{ "ttl",	required_argument, NULL, WQ_OPT_TTL },		\
	{ "name",	required_argument, NULL, WQ_OPT_NAME },		\
	{ "max-data",	required_argument, NULL, WQ_OPT_MAX_DATA },	\
	{ "partitions",	required_argument, NULL, WQ_OPT_PARTITIONS },	\
	{ "version",	no_argument,	   NULL, WQ_OPT_VERSION },	\
	{ "help",	no_argument,	   NULL, WQ_OPT_HELP }

/* --wait-replicas, --wait-timeout: the commands that write jobs' states. */
#define WQ_WAIT_LONGOPTS						\
	{ "wait-replicas", required_argument, NULL, WQ_OPT_WAIT_REPLICAS }, \
	{ "wait-timeout", required_argument, NULL, WQ_OPT_WAIT_TIMEOUT }

/* The usage lines of the shared settings, for every command's --help. */
extern const char wq_common_usage[];

struct wq;

/* Context: settings, a lazily opened Redis connection, the last error. */
struct wq	*wq_new(const char *role);
void		 wq_free(struct wq *);
const char	*wq_error(struct wq *);
const char	*wq_name(struct wq *);	/* ROLE-PID@HOSTNAME unless --name */

/*
 * Apply one shared option (a WQ_OPT_* code).  Returns WQ_OK, or WQ_EUSAGE
 * with the reason in wq_error().  Settings are validated as they are set,
 * so a bad --redis URL is a usage error before anything connects.
 */
int		 wq_setopt(struct wq *, int, const char *);
/* A text setting by its WQ_OPT_* code; NULL when unset. */
const char	*wq_setting(struct wq *, int);
/* WQ_OPT_TTL, WQ_OPT_MAX_DATA, WQ_OPT_MAX_QUEUES, WQ_OPT_EVENTS,
 * WQ_SET_CONNECT_MS, WQ_SET_COMMAND_MS. */
long		 wq_setting_num(struct wq *, int);
/* The timeouts (ms) of the connections made from now on. */
void		 wq_set_timeouts(struct wq *, int, int);

/*
 * Durability (--wait-replicas): after a write that callers promise,
 * WAIT until that many replicas have it, up to --wait-timeout.  WQ_OK at
 * once (nothing sent) when the setting is 0; WQ_EREPLICAS when fewer
 * confirmed, and wq_error() says so, naming what is on the primary
 * (what: "3 jobs queued", say).  Halves for the API: wq-async.h.
 */
int		 wq_wait_replicas(struct wq *, const char *what);
/* WQ_EUSAGE when an environment variable held a bad value. */
int		 wq_env_error(struct wq *);
int		 wq_check_queue(struct wq *, const char *);
int		 wq_check_group(struct wq *, const char *);
/* The URL with any password replaced by "***", for messages. */
char		*wq_url_safe(const char *);

/* Connection.  wq_connect() is a no-op while connected. */
int		 wq_connect(struct wq *);
void		 wq_disconnect(struct wq *);
/* Wait for the next reconnect attempt (capped exponential backoff). */
int		 wq_backoff_ms(struct wq *);
void		 wq_backoff_reset(struct wq *);
/* The n-th wait: base ms doubled n - 1 times, at most cap, times a
 * factor from [lo, hi) percent. */
long		 wq_backoff(long, long, long, int, int);

/*
 * A W3C traceparent (trace.c): 1 when s[0..n) is one, 0 when not.  The
 * longest kept is WQ_TRACE_MAX bytes.
 */
#define WQ_TRACE_MAX	256
int		 wq_trace_valid(const char *, size_t);

/* The callback id: MD5 of the data (or of the key), upper-case hex. */
int		 wq_id_of(jv data, const char *key, char out[WQ_ID_LEN + 1]);
int		 wq_id_valid(const char *);
/* An id from a line: plain, or NDJSON with "callback"; -1 with err. */
int		 wq_id_from_line(const char *, size_t, char *, size_t);
/* The same; *fresh: the line is the answer to new work ("accepted"). */
int		 wq_id_from_input(const char *, size_t, char *, size_t, int *);

/* The bounds of a job's own settings, wherever they are given. */
#define WQ_JOB_TIMEOUT_MAX	(86400 * 30)	/* seconds */
#define WQ_JOB_ATTEMPTS_MAX	1000
#define WQ_JOB_DELAY_MAX	(86400 * 30)	/* seconds: --in, --at */

/* A submission. */
struct wq_spec {
	jv		 data;		/* owned */
	char		*key;		/* idempotency key, or NULL */
	char		 id[WQ_ID_LEN + 1];
	char		*queue;		/* NULL: the configured queue */
	char		*group;		/* NULL: none (DESIGN.md, Limits) */
	long		 timeout;	/* seconds, 0: the worker's */
	long		 max_attempts;	/* 0: the worker's */
	long		 ttl;		/* seconds, 0: the configured one */
	char		*traceparent;	/* W3C trace context, or NULL */
	long		 priority;	/* 0 to WQ_PRIORITY_MAX, higher first */
	char		**after;	/* parents' ids (upper case), or NULL */
	size_t		 nafter;
	int		 link_later;	/* the sweep links it (the API) */
	int		 run;		/* WQ_RUN_NOW, WQ_RUN_IN, WQ_RUN_AT */
	int64_t		 run_ms;	/* the delay, or the time (epoch) */
};
#define WQ_AFTER_MAX	100	/* parents of a job */
#define WQ_RUN_NOW	0
#define WQ_RUN_IN	1
#define WQ_RUN_AT	2

void		 wq_spec_clear(struct wq_spec *);
/* Give every job of a submission this traceparent (checked: WQ_EUSAGE). */
int		 wq_spec_set_trace(struct wq *, struct wq_spec *,
		    const char *);
/* Run later (WQ_RUN_IN: a duration, WQ_RUN_AT: a time), checked. */
int		 wq_spec_set_run(struct wq *, struct wq_spec *, int,
		    const char *);
/* Add a parent (--after): a callback id, at most WQ_AFTER_MAX. */
int		 wq_spec_add_after(struct wq *, struct wq_spec *, const char *);
/* Parse a JSON job object {"data",...}; fills spec (id computed). */
int		 wq_spec_from_json(struct wq *, jv, struct wq_spec *);
int		 wq_spec_from_text(struct wq *, const char *, size_t, int,
		    struct wq_spec *);
#define WQ_TEXT_STRING	0	/* the text is the data string */
#define WQ_TEXT_JSON	1	/* the text is a JSON job object */
/* After a WQ_EUSAGE from a spec parser: was the data over --max-data? */
int		 wq_spec_too_big(struct wq *);

/*
 * Submit n jobs in pipelined batches.  answers[i] receives the existing
 * record, with "duplicate": true, when spec i's id has one, and jv_null()
 * when the job was queued: its answer is the "accepted" object (made
 * only when it is wanted: building it was a third of a bulk submission's
 * CPU).  The answers are owned by the caller.
 */
int		 wq_submit(struct wq *, struct wq_spec *, size_t, jv *);
/*
 * The NDJSON line (malloc'd, no newline) of the answer (consumed) to spec:
 * a record, or jv_null() for "accepted".
 */
char		*wq_answer_line(struct wq *, struct wq_spec *, jv);

/*
 * Fetch records.  records[i] receives the record of ids[i], or jv_null()
 * when the id is unknown.  Returns WQ_OK whatever the records are.
 */
int		 wq_status(struct wq *, const char **, size_t, jv *);
int		 wq_record_final(jv);	/* worked or failed */

/*
 * A record read to be printed: its NDJSON line (WQ_REC_LINE), which is
 * made without jv and is byte for byte what wq_dump() makes of the jv
 * record, or the jv record itself (WQ_REC_JV, for a jq program).
 */
struct wq_rec {
	char		 id[WQ_ID_LEN + 1];
	int		 found;		/* 0: an unknown id */
	int		 final;		/* worked or failed */
	int		 failed;
	unsigned	 count;		/* wq_watch: times the id was added */
	char		*line;		/* WQ_REC_LINE, malloc'd */
	jv		 rec;		/* WQ_REC_JV */
};
#define WQ_REC_LINE	0
#define WQ_REC_JV	1
/* wq_status() into struct wq_recs: out[i] for ids[i]. */
int		 wq_status_recs(struct wq *, const char **, size_t, int,
		    struct wq_rec *);
void		 wq_record_clear(struct wq_rec *);
/* One from a record the API answered (consumed; jv_null(): unknown). */
void		 wq_record_set(struct wq_rec *, const char *, jv, int);

/*
 * Waiting for jobs to end without polling: a second connection subscribes
 * to each job's done channel (on a Redis Cluster with several
 * partitions, a connection per primary of the channels: sharded hints);
 * the caller polls the n descriptors of wq_waiter_fds() (they change as
 * channels are added) and calls wq_waiter_read() when one is readable.
 * The channel is only a hint: the caller re-reads the record, and
 * re-checks everything now and then.
 */
struct wq_waiter;
int		 wq_waiter_open(struct wq *, struct wq_waiter **);
void		 wq_waiter_close(struct wq_waiter *);
const int	*wq_waiter_fds(struct wq_waiter *, size_t *);
int		 wq_waiter_add(struct wq_waiter *, const char **, size_t);
int		 wq_waiter_remove(struct wq_waiter *, const char *);
/* Read hints; ids[] receives up to max ids (owned by the waiter until
 * the next call).  Returns WQ_OK, or WQ_EUNAVAIL when the link broke. */
int		 wq_waiter_read(struct wq_waiter *, char **, size_t, size_t *);
/* Unsubscribe many at once. */
int		 wq_waiter_drop(struct wq_waiter *, const char **, size_t);
/* Subscribe to the end of every job of the namespace (1), or stop (0). */
int		 wq_waiter_all(struct wq_waiter *, int);
/* Subscribe to the progress of every running job of the namespace. */
int		 wq_waiter_progress(struct wq_waiter *);
/* Read what arrived: fn(arg, what, id) for each subscription confirmed
 * (after which a read of the record sees any end that is not hinted),
 * each hint, the confirmation of wq_waiter_all(w, 1) (id NULL), each
 * subscription refused (id NULL), and after wq_waiter_progress() each
 * progress a job wrote (WQ_WAITER_PROGRESS; id: "<id> <JSON>").
 * WQ_EUNAVAIL when the link broke. */
#define WQ_WAITER_SUBSCRIBED	1
#define WQ_WAITER_ENDED		2
#define WQ_WAITER_ALL		3
#define WQ_WAITER_REFUSED	4
#define WQ_WAITER_PROGRESS	5
int		 wq_waiter_events(struct wq_waiter *,
		    void (*)(void *, int, const char *), void *);

/*
 * Waiting for a stream of jobs (wq-status --wait, watch.c): ids are
 * added as they come, and each is handed to fn once its job has ended
 * (or the id is unknown).  The memory held is that of the ids in flight.
 * The caller polls the descriptors of wq_watch_fds() with its others
 * and calls wq_watch_run() (readable: one of them is) at least every
 * wq_watch_next_ms().  fresh: the id was just accepted (see
 * wq_id_from_input()).
 */
struct wq_watch;
int		 wq_watch_open(struct wq *, int, struct wq_watch **);
void		 wq_watch_close(struct wq_watch *);
int		 wq_watch_add(struct wq_watch *, const char *, int);
/* Also hand over, as it comes, the progress each job in flight writes:
 * fn(arg, id, {"progress"[,"message"]}), which owns it. */
int		 wq_watch_progress(struct wq_watch *,
		    void (*)(void *, const char *, jv), void *);
const int	*wq_watch_fds(struct wq_watch *, size_t *);
int		 wq_watch_next_ms(struct wq_watch *);
/* fn gets each ended record, which it owns (wq_record_clear()). */
int		 wq_watch_run(struct wq_watch *, int,
		    void (*)(void *, struct wq_rec *), void *);
size_t		 wq_watch_pending(struct wq_watch *);
/* The ids still waited for, malloc'd (NULL-terminated). */
char		**wq_watch_ids(struct wq_watch *, size_t *);

/*
 * Job control (control.c): op on the jobs of ids, in calls of a bounded
 * size, fn(arg, id, code, record) for each id as its call answers: code
 * 1 done, 0 the job is not in a state for it (the record as it is), -1
 * unknown (jv_null()); the record is fn's.  wq_retry_dead() retries the
 * jobs of a queue's dead list, oldest first (its ids of expired records
 * get -1).  On an error, the ids of the calls made were handed to fn.
 */
#define WQ_CONTROL_CANCEL	0
#define WQ_CONTROL_RETRY	1
int		 wq_control(struct wq *, int, const char **, size_t,
		    void (*)(void *, const char *, int, jv), void *);
int		 wq_retry_dead(struct wq *, const char *,
		    void (*)(void *, const char *, int, jv), void *);
/*
 * Queues: pause (claims pass over it, for every worker; work is still
 * queued) or resume one, *changed when it was not so; purge one, its
 * pending jobs cancelled, *cancelled how many.
 */
#define WQ_QUEUE_PAUSE		0
#define WQ_QUEUE_RESUME		1
int		 wq_queue_set(struct wq *, const char *, int, int *);
int		 wq_queue_purge(struct wq *, const char *, long *);

/* Lists of ids by state. */
int		 wq_list(struct wq *, const char *, const char *, long, jv *);

/*
 * Queue depths, by name:
 * {"queue":{"pending":n,"delayed":n,"dead":n,"paused":bool}}, and
 * "limits":{"concurrency","rate","period_ms","group_concurrency"} for a
 * queue that has.
 */
int		 wq_queues(struct wq *, jv *);

/*
 * A queue's limits (queues.c), enforced by the claim: at most concurrency
 * jobs working, at most rate started per period_ms, at most
 * group_concurrency of one group working (0: unchanged).  With
 * clear, every limit is removed first.
 */
#define WQ_LIMIT_MAX		100000
#define WQ_LIMIT_PERIOD_MIN_MS	10
#define WQ_LIMIT_PERIOD_MAX_MS	86400000
struct wq_limits {
	long		 concurrency;
	long		 rate;
	long		 period_ms;
	long		 group_concurrency;	/* of each group */
	int		 clear;
};
int		 wq_queue_limit(struct wq *, const char *,
		    const struct wq_limits *);
/* "N/PERIOD" (50/s, 100/10s, 5/500ms): N and the period in ms. */
int		 wq_limit_rate(struct wq *, const char *, long *, long *);

/*
 * The worker's side.  A claimed job carries the token (its attempt number)
 * under which it must be completed; a completion under an old token is
 * refused by the script (fencing).
 */
struct wq_claim {
	char		 id[WQ_ID_LEN + 1];
	jv		 data;
	long		 token;
	long		 timeout;
	long		 max_attempts;
	char		*traceparent;	/* the job's, or NULL */
};

struct wq_outcome {
	char		 id[WQ_ID_LEN + 1];
	long		 token;
	int		 kind;		/* WQ_DONE_* */
	jv		 result;	/* WQ_DONE_OK: the result */
	char		*error;		/* WQ_DONE_FAIL: why */
	long		 retry_ms;	/* WQ_DONE_FAIL: backoff if retried */
	char		*state;		/* after the call: worked, pending,
					   failed, stale (fenced off) */
	char		*traceparent;	/* the claim's, for the caller's log;
					   not sent */
	int		 children;	/* after the call: it ended and has
					   children to tell (wq_deps_release) */
};
#define WQ_DONE_OK	0
#define WQ_DONE_FAIL	1
#define WQ_DONE_BACK	2	/* hand back unfinished (drain) */

struct wq_worker_opts {
	const char	**queues;
	size_t		 nqueues;
	long		 max_attempts;
	long		 timeout;
	long		 node_timeout_ms;
	long		 heartbeat_ms;
	long		 concurrency;
};

void		 wq_claim_clear(struct wq_claim *);
int		 wq_complete(struct wq *, struct wq_outcome *, size_t);
/* Outcomes and a claim in one round trip; the return is the claim's.  An
 * error answered to the outcomes leaves their state NULL: not recorded. */
int		 wq_complete_claim(struct wq *, struct wq_outcome *, size_t,
		    struct wq_worker_opts *, size_t, struct wq_claim *,
		    size_t *);
void		 wq_outcome_clear(struct wq_outcome *);
/* The delay of a retry: attempt, base ms -> ms. */
long		 wq_backoff_retry_ms(long, long);
int		 wq_recover(struct wq *, const char **, size_t, long *);
/*
 * Queue the jobs of o->queues whose time has come (promote.lua): *moved
 * of them; *next_ms until the next one is due (-1: none).
 */
int		 wq_promote(struct wq *, struct wq_worker_opts *, long *,
		    int64_t *);
/*
 * Dependencies (deps.c).  A job that ended and has children (an outcome
 * answered with a '!') tells them: wq_deps_release().  The sweeper
 * finishes what a process that died left in deps: wq_deps_sweep().
 */
int		 wq_deps_release(struct wq *, const char *);
/*
 * Progress of running jobs (progress.lua): ids[i] under tokens[i] said
 * progress[i] (JSON text); fenced like an outcome.  A line a job wrote:
 * "42" or {"progress":42,"message":"..."}, made the JSON text to record
 * (malloc'd), or NULL when it is neither.
 */
int		 wq_progress(struct wq *, const char **, const long *,
		    const char **, size_t);
char		*wq_progress_parse(const char *, size_t);
int		 wq_deps_sweep(struct wq *, size_t *);

/* Membership. */
struct wq_msg;
int		 wq_node_register(struct wq *, struct wq_worker_opts *, jv);
/*
 * A heartbeat, in one round trip: the node beats; sweeps the cluster
 * (removes dead nodes, putting their jobs back, and moves due retries to
 * their queues) unless another node did a moment ago; takes up to
 * max_msgs messages from its inbox; and with want_work says whether one
 * of o->queues holds jobs, so that an idle worker claims only when there
 * is something to claim.  The fields (an object) are written to the
 * node's hash only when they differ from those it has.  member 0: the
 * node was reaped meanwhile and must register again; nothing else was
 * done.
 */
struct wq_beat {
	struct wq_msg	*msgs;		/* in: room for max_msgs messages */
	size_t		 max_msgs;	/* in: 0 leaves the inbox alone */
	int		 want_work;	/* in: look at o->queues */
	int		 member;	/* out */
	size_t		 nmsgs;		/* out: taken (expired ones dropped) */
	int		 more;		/* out: the inbox may hold more */
	int		 work;		/* out: one of o->queues holds jobs */
	long		 reaped;	/* out: dead nodes this beat removed */
	long		 reclaimed;	/* out: the jobs they held, put back */
	long		 promoted;	/* out: retries moved to their queues */
	int		 deps;		/* out: this beat swept, and deps has
					   steps left by a process that died
					   (wq_deps_sweep) */
	int		 cron;		/* out: this beat swept, and a schedule
					   is due: wq_schedule_sweep() */
	int		 sweep_err;	/* out: several partitions: their sweep
					   or the look at the queues failed
					   (wq_error() says why); the beat
					   itself counted */
};
int		 wq_node_heartbeat(struct wq *, struct wq_worker_opts *, jv,
		    struct wq_beat *);
/*
 * When a beat says so (cron, deps), the rest of its sweep: the due
 * schedules fired (*more: it was a full sweep, another is due at once;
 * left alone without cron), the steps of dependencies that a process
 * that died left finished.  What each did, or why it failed, goes to the
 * node's log: log(arg, "cron" or "deps", {"jobs":N} or {"steps":N} or
 * null for a failure (log owns it), a line to say).
 */
void		 wq_node_sweep_rest(struct wq *, int, int, int *,
		    void (*)(void *, const char *, jv, const char *), void *);
int		 wq_node_leave(struct wq *);
/*
 * The live nodes as an array of objects sorted by name; with all, also
 * the dead ("alive":false, "gone":"dead"|"left").  Reads the zset of
 * members and one hash per node, never scans keys.
 */
int		 wq_peers(struct wq *, int, jv *);
/* Totals of stats:* with the server's time in ms:
 * {"time","submitted","worked","failed","retried","reclaimed"}. */
int		 wq_stats(struct wq *, jv *);

/*
 * Schedule expressions (cron.c): 5 cron fields, a macro or "@every D".
 * Parse (WQ_EUSAGE with the column of the error); check a zone ("UTC" or
 * a tz database name); the next n times (Unix seconds) after a time, in
 * the zone (fewer when it never fires again); a time as RFC 3339 in it.
 */
#define WQ_CRON_SPEC_MAX	256
struct wq_cron {
	uint64_t	 min, hour, dom, mon, dow;	/* bit sets */
	int		 dom_star, dow_star;	/* the field began with * */
	long		 every;			/* seconds, or 0: cron */
};
int		 wq_cron_parse(struct wq *, const char *, struct wq_cron *);
int		 wq_cron_zone(struct wq *, const char *);
size_t		 wq_cron_times(const struct wq_cron *, const char *, int64_t,
		    int64_t *, size_t);
void		 wq_cron_format(const char *, int64_t, char *, size_t);

/*
 * Recurring jobs (schedule.c).  A schedule: its name, its expression, a
 * zone, a job object {"data","queue","timeout","max_attempts","ttl"} and
 * how many missed times to catch up.  add answers {"name","status":
 * "added"|"replaced","next"}; rm, pause and resume {"name","status":
 * "removed"|"paused"|"resumed"}, or WQ_NO for an unknown name; list
 * gives every schedule, sorted by name, with its next times.  The sweep
 * fires the due ones (the sweeper calls it when its beat says so:
 * struct wq_beat's cron); *fired: the jobs it submitted.
 */
#define WQ_SCHEDULE_NAME_MAX	128	/* of A-Z a-z 0-9 . _ - */
struct wq_schedule {
	const char	*name;
	const char	*spec;
	const char	*tz;		/* NULL: UTC */
	jv		 job;		/* borrowed */
	long		 catch_up;
};
int		 wq_schedule_add(struct wq *, const struct wq_schedule *,
		    jv *);
int		 wq_schedule_list(struct wq *, jv *);
#define WQ_SCHEDULE_RM		0
#define WQ_SCHEDULE_PAUSE	1
#define WQ_SCHEDULE_RESUME	2
#define WQ_SCHEDULE_ADD		3
#define WQ_SCHEDULE_LIST	4
int		 wq_schedule_set(struct wq *, const char *, int, jv *);
int		 wq_schedule_sweep(struct wq *, long *, int *);

/* Messages. */
struct wq_msg {
	char		*id;
	char		*from;
	char		*type;
	jv		 body;
	int		 reply_wanted;
};
void		 wq_msg_clear(struct wq_msg *);
int		 wq_msg_send(struct wq *, const char *, const char *, jv,
		    int, char **);
/* Send wanting a reply within the timeout (s); dropped unread after it. */
int		 wq_msg_ask(struct wq *, const char *, const char *, jv,
		    double, char **);
int		 wq_msg_take(struct wq *, struct wq_msg *, size_t, size_t *);
/* Reply to m (body consumed); nothing is sent when m wants no reply. */
int		 wq_msg_reply(struct wq *, struct wq_msg *, const char *, jv);
int		 wq_msg_wait_reply(struct wq *, const char *, double, jv *);

/*
 * The built-in message types, ping, info and drain, answered the same way
 * by every node (builtin.c): ping and info with info(arg), the node's
 * description; drain with draining(arg) (NULL: {}), what it is still
 * finishing, after which drain(arg, m) starts the drain.  Any other type
 * goes to other(arg, m), which says whether it took it; else it is
 * refused as unknown.  Replies go through reply(arg, m, type, body).
 * cancel (a worker's; NULL: the node runs no jobs) kills the job the
 * body names, and says what it did.
 */
struct wq_builtin {
	void	*arg;
	jv	(*info)(void *);
	jv	(*draining)(void *);
	void	(*drain)(void *, struct wq_msg *);
	int	(*other)(void *, struct wq_msg *);
	void	(*reply)(void *, struct wq_msg *, const char *, jv);
	jv	(*cancel)(void *, struct wq_msg *);
};
void		 wq_builtin_answer(const struct wq_builtin *, struct wq_msg *);
/* Whether the n bytes name a built-in type. */
int		 wq_builtin_type(const char *, size_t);

/*
 * Hints for a worker: a subscriber connection (several on a Redis Cluster
 * with several partitions: wq_hints_fds()) that fires when work is
 * queued on one of its queues or a message arrives in its inbox.
 */
struct wq_hints;
int		 wq_hints_open(struct wq *, struct wq_worker_opts *,
		    struct wq_hints **);
void		 wq_hints_close(struct wq_hints *);
const int	*wq_hints_fds(struct wq_hints *, size_t *);
/* Returns WQ_OK and sets *work / *msg, or WQ_EUNAVAIL. */
int		 wq_hints_read(struct wq_hints *, int *, int *);
/* Since the last call: a job to run later was queued (due:<q>). */
int		 wq_hints_due(struct wq_hints *);

/*
 * The service manager (notify.c): systemd's notification protocol, for
 * Type=notify units.  wq_notify_init() reads NOTIFY_SOCKET, WATCHDOG_USEC
 * and WATCHDOG_PID once and removes them from the environment (the
 * processes a node starts do not speak for it); it returns 1 when there
 * is a socket to tell, 0 when not, -1 when NOTIFY_SOCKET is malformed.
 * wq_notify() sends "READY=1", "STOPPING=1", "WATCHDOG=1"...: 1 sent, 0
 * nobody to tell, -1 failed (errno).  wq_notify_watchdog_ms() is the
 * watchdog's timeout, 0 when there is none for this process.
 */
int		 wq_notify_init(void);
int		 wq_notify(const char *);
long		 wq_notify_watchdog_ms(void);

/* JSON text. */
char		*wq_dump(jv);		/* consumes; compact text, malloc'd */
jv		 wq_parse(const char *, size_t, char *, size_t);

struct wq_jq;
int		 wq_jq_compile(const char *, struct wq_jq **, char *, size_t);
void		 wq_jq_free(struct wq_jq *);
/* Run on input (consumed); outputs appended to *out (a jv array). */
int		 wq_jq_run(struct wq_jq *, jv, jv *, char *, size_t);

/*
 * HTTP API client (libcurl), for --api: several requests in flight on
 * kept-alive connections, for streams.  A request is started with a tag;
 * wq_api_pool_run() waits (up to ms, and for fd to be readable when
 * fd >= 0: *ready) and calls fn(arg, tag, rc, answer) for each one that
 * is done.  answer, owned by fn: a submission's answer; a record, or
 * jv_null() when the id is unknown (a read with wait > 0 is held by the
 * API until the job ends).
 */
struct wq_api_pool;
int		 wq_api_pool_open(struct wq *, size_t, struct wq_api_pool **);
void		 wq_api_pool_close(struct wq_api_pool *);
size_t		 wq_api_pool_idle(struct wq_api_pool *);
int		 wq_api_pool_submit(struct wq_api_pool *, struct wq_spec *,
		    size_t);
int		 wq_api_pool_status(struct wq_api_pool *, const char *, double,
		    size_t);
int		 wq_api_pool_run(struct wq_api_pool *, int, int, int *,
		    void (*)(void *, size_t, int, jv), void *);
/*
 * Job control through the API, one request at a time on a pool with
 * none in flight: as wq_control(), wq_retry_dead(), wq_queues(),
 * wq_queue_set(), wq_queue_purge() and wq_queue_limit(), with the same
 * callbacks, answers and return codes.
 */
int		 wq_api_control(struct wq_api_pool *, int, const char **,
		    size_t, void (*)(void *, const char *, int, jv), void *);
int		 wq_api_retry_dead(struct wq_api_pool *, const char *,
		    void (*)(void *, const char *, int, jv), void *);
int		 wq_api_queues(struct wq_api_pool *, jv *);
int		 wq_api_queue_set(struct wq_api_pool *, const char *, int);
int		 wq_api_queue_purge(struct wq_api_pool *, const char *,
		    long *);
int		 wq_api_queue_limit(struct wq_api_pool *, const char *,
		    const struct wq_limits *);

/*
 * The event stream (events.c): what happened to jobs, in order, each
 * event an object {"id" (its stream id), "type", "callback", "queue",
 * "node", "time" (ms), and by type "attempt", "error", "progress",
 * "retry_at"}.  wq_events_since() turns --since (a stream id, or a time:
 * RFC 3339 or epoch seconds; NULL: from the start) into the id to read
 * after, WQ_EUSAGE when malformed or ahead of the server's clock.
 * wq_events_read() reads up to max events after it, waiting up to
 * block_ms for one (0: not), and moves it past them.
 */
#define WQ_EVENT_ID_LEN	48
int		 wq_events_since(struct wq *, const char *,
		    char [WQ_EVENT_ID_LEN]);
int		 wq_events_read(struct wq *, char [WQ_EVENT_ID_LEN], long,
		    size_t, jv *);
/* 1 when events after an id may have been trimmed (the stream's first id
 * in the buffer), 0 when not, -WQ_* on an error. */
int		 wq_events_lost(struct wq *, const char *,
		    char [WQ_EVENT_ID_LEN]);

/* Small utilities shared by the commands. */
int		 wq_parse_seconds(const char *, double *);
int		 wq_parse_long(const char *, long, long, long *);
/* "1.5s", "10m"... and epoch seconds or RFC 3339, in ms (util.c). */
int		 wq_parse_duration_ms(const char *, int64_t *);
int		 wq_parse_time_ms(const char *, int64_t *);
/* A number read from elsewhere (JSON, another node's hash) as an integer:
 * -1 when it is not finite or beyond 2^53 either way (a cast would be
 * undefined, or lose the units). */
int		 wq_num_ll(double, long long *);
int64_t		 wq_now_ms(void);
char		*wq_unctrl(char *);	/* control characters to '?' */
char		*wq_hostname(void);
void		*wq_calloc(size_t, size_t);
void		*wq_realloc(void *, size_t);
void		*wq_reallocarray(void *, size_t, size_t);
char		*wq_strdup(const char *);
char		*wq_strndup(const char *, size_t);

#endif
