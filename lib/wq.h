/*
 * wq.h -- the public interface of libwq.
 *
 * libwq is the one place of wq that knows the Redis keyspace, the Lua
 * scripts that change it, the JSON of a job record and the settings every
 * command shares.  The commands in cmd/ and the Kore application in
 * kore-api/ are thin: they parse their options, call the functions below
 * and print what they get back.  Nothing here prints to stdout or exits:
 * every function returns one of the WQ_* codes below and leaves a one-line
 * message in wq_error(), which the caller reports.
 *
 * The pieces, one file each:
 *   config.c   settings (flag over environment over default), Redis URLs
 *   redis.c    one Redis connection: timeouts, reconnect with backoff,
 *              Lua scripts by EVALSHA with the NOSCRIPT fallback
 *   job.c      submit, status, claim, complete, retry, lists
 *   node.c     membership: register, heartbeat (reaping dead nodes and
 *              promoting retries on the way), leave
 *   msg.c      messages between nodes (inbox and replies)
 *   json.c     the jv helpers: records, job lines, jq programs
 *   api.c      the HTTP client (libcurl) behind --api
 *   md5.c      the callback id
 */
#ifndef WQ_H
#define WQ_H

#include <stddef.h>
#include <stdint.h>
#include <getopt.h>

#include <jv.h>

#define WQ_VERSION		"0.1.0"

/* Return codes, which are also the exit codes of every command. */
#define WQ_OK			0	/* success */
#define WQ_NO			1	/* a negative answer: unknown, failed, timed out */
#define WQ_EUSAGE		2	/* usage or bad input */
#define WQ_EUNAVAIL		3	/* Redis or the API unreachable */

#define WQ_ID_LEN		32
#define WQ_MAX_DATA		(1024 * 1024)

/* Option codes of the shared settings (DESIGN §2), for getopt_long. */
enum {
	WQ_OPT_REDIS = 0x1000,
	WQ_OPT_API,
	WQ_OPT_TOKEN,
	WQ_OPT_NAMESPACE,
	WQ_OPT_QUEUE,
	WQ_OPT_TTL,
	WQ_OPT_NAME,
	WQ_OPT_MAX_DATA,
	WQ_OPT_VERSION,
	WQ_OPT_HELP = 'h',
	WQ_OPT_FIRST_PRIVATE = 0x2000	/* commands number their own from here */
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
	{ "version",	no_argument,	   NULL, WQ_OPT_VERSION },	\
	{ "help",	no_argument,	   NULL, WQ_OPT_HELP }

/* The usage lines of the shared settings, for every command's --help. */
extern const char wq_common_usage[];

/* A parsed Redis address. */
struct wq_redis_addr {
	int		 unix_socket;	/* 1: path is a unix socket */
	char		*host;
	int		 port;
	char		*path;
	int		 db;
	char		*user;		/* ACL user, or NULL */
	char		*password;	/* never printed */
	char		*sentinels;	/* "host:port,host:port" or NULL */
	char		*master;	/* sentinel master name */
};

struct wq_config {
	char		*redis_url;
	char		*api_url;
	char		*token;
	char		*ns;		/* key prefix without the colon */
	char		*queue;
	char		*name;		/* node name, or NULL for the default */
	long		 ttl;		/* seconds */
	size_t		 max_data;	/* bytes */
	int		 connect_timeout_ms;
	int		 command_timeout_ms;
	struct wq_redis_addr addr;
};

struct wq;

/* Context: settings, a lazily opened Redis connection, the last error. */
struct wq	*wq_new(const char *role);
void		 wq_free(struct wq *);
struct wq_config *wq_config(struct wq *);
const char	*wq_error(struct wq *);
int		 wq_seterr(struct wq *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
const char	*wq_role(struct wq *);
const char	*wq_name(struct wq *);	/* ROLE-PID@HOSTNAME unless --name */

/*
 * Apply one shared option (a WQ_OPT_* code).  Returns WQ_OK, or WQ_EUSAGE
 * with the reason in wq_error().  Settings are validated as they are set,
 * so a bad --redis URL is a usage error before anything connects.
 */
int		 wq_setopt(struct wq *, int, const char *);
/* WQ_EUSAGE when an environment variable held a bad value. */
int		 wq_env_error(struct wq *);
int		 wq_check_queue(struct wq *, const char *);
/* After a WQ_EUSAGE from a spec parser: was the data over --max-data? */
int		 wq_too_big(struct wq *);
int		 wq_redis_url_parse(const char *, struct wq_redis_addr *,
		    char *, size_t);
void		 wq_redis_addr_clear(struct wq_redis_addr *);
/* The URL with any password replaced by "***", for messages. */
char		*wq_redis_url_safe(const char *);
int		 wq_parse_seconds(const char *, double *);
int		 wq_parse_long(const char *, long, long, long *);

/* Connection.  wq_connect() is a no-op while connected. */
int		 wq_connect(struct wq *);
void		 wq_disconnect(struct wq *);
int		 wq_connected(struct wq *);
/* Wait for the next reconnect attempt (capped exponential backoff). */
int		 wq_backoff_ms(struct wq *);
void		 wq_backoff_reset(struct wq *);

/* The callback id: MD5 of the data (or of the key), upper-case hex. */
void		 wq_md5_hex(const void *, size_t, char out[WQ_ID_LEN + 1]);
int		 wq_job_id(jv data, const char *key, char out[WQ_ID_LEN + 1]);
int		 wq_id_valid(const char *);

/* A submission. */
struct wq_spec {
	jv		 data;		/* owned */
	char		*key;		/* idempotency key, or NULL */
	char		 id[WQ_ID_LEN + 1];
	char		*queue;		/* NULL: the configured queue */
	long		 timeout;	/* seconds, 0: the worker's */
	long		 max_attempts;	/* 0: the worker's */
	long		 ttl;		/* seconds, 0: the configured one */
};

void		 wq_spec_clear(struct wq_spec *);
/* Parse a JSON job object {"data",...}; fills spec (id computed). */
int		 wq_spec_from_json(struct wq *, jv, struct wq_spec *);
int		 wq_spec_from_text(struct wq *, const char *, size_t, int,
		    struct wq_spec *);
#define WQ_TEXT_STRING	0	/* the text is the data string */
#define WQ_TEXT_JSON	1	/* the text is a JSON job object */

/*
 * Submit n jobs in pipelined batches.  answers[i] receives the existing
 * record, with "duplicate": true, when spec i's id has one, and jv_null()
 * when the job was queued: its answer is wq_answer_accepted() (made only
 * when it is wanted: building it was a third of a bulk submission's CPU).
 * The answers are owned by the caller.
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
 * Waiting for jobs to end without polling: a second connection subscribes
 * to each job's done channel; the caller polls wq_waiter_fd() and calls
 * wq_waiter_read() when it is readable.  The channel is only a hint: the
 * caller re-reads the record, and re-checks everything now and then.
 */
struct wq_waiter;
int		 wq_waiter_open(struct wq *, struct wq_waiter **);
void		 wq_waiter_close(struct wq_waiter *);
int		 wq_waiter_fd(struct wq_waiter *);
int		 wq_waiter_add(struct wq_waiter *, const char **, size_t);
int		 wq_waiter_remove(struct wq_waiter *, const char *);
/* Read hints; ids[] receives up to max ids (owned by the waiter until
 * the next call).  Returns WQ_OK, or WQ_EUNAVAIL when the link broke. */
int		 wq_waiter_read(struct wq_waiter *, char **, size_t, size_t *);

/* Lists of ids by state. */
int		 wq_list(struct wq *, const char *, const char *, long, jv *);

/* Queue depths, by name: {"queue":{"pending":n,"delayed":n,"dead":n}} */
int		 wq_queues(struct wq *, jv *);

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
};
#define WQ_DONE_OK	0
#define WQ_DONE_FAIL	1
#define WQ_DONE_BACK	2	/* hand back unfinished (drain) */

struct wq_worker_opts {
	char		**queues;
	size_t		 nqueues;
	long		 max_attempts;
	long		 timeout;
	long		 node_timeout_ms;
	long		 heartbeat_ms;
	long		 concurrency;
};

int		 wq_claim(struct wq *, struct wq_worker_opts *, size_t,
		    struct wq_claim *, size_t *);
void		 wq_claim_clear(struct wq_claim *);
int		 wq_complete(struct wq *, struct wq_outcome *, size_t);
int		 wq_complete_claim(struct wq *, struct wq_outcome *, size_t,
		    struct wq_worker_opts *, size_t, struct wq_claim *, size_t *);
void		 wq_outcome_clear(struct wq_outcome *);
long		 wq_backoff_retry_ms(long, long);	/* attempt, base ms -> delay */
int		 wq_recover(struct wq *, const char **, size_t, long *);

/* Membership. */
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
};
int		 wq_node_heartbeat(struct wq *, struct wq_worker_opts *, jv,
		    struct wq_beat *);
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
int		 wq_msg_reply(struct wq *, struct wq_msg *, const char *, jv);
int		 wq_msg_wait_reply(struct wq *, const char *, double, jv *);

/*
 * Hints for a worker: a subscriber connection that fires when work is
 * queued on one of its queues or a message arrives in its inbox.
 */
struct wq_hints;
int		 wq_hints_open(struct wq *, struct wq_worker_opts *,
		    struct wq_hints **);
void		 wq_hints_close(struct wq_hints *);
int		 wq_hints_fd(struct wq_hints *);
/* Returns WQ_OK and sets *work / *msg, or WQ_EUNAVAIL. */
int		 wq_hints_read(struct wq_hints *, int *, int *);

/* JSON helpers. */
char		*wq_dump(jv);		/* consumes; compact text, malloc'd */
jv		 wq_parse(const char *, size_t, char *, size_t);
int		 wq_id_from_line(const char *, size_t, char *, size_t);

struct wq_jq;
int		 wq_jq_compile(const char *, struct wq_jq **, char *, size_t);
void		 wq_jq_free(struct wq_jq *);
/* Run on input (consumed); outputs appended to *out (a jv array). */
int		 wq_jq_run(struct wq_jq *, jv, jv *, char *, size_t);

/* HTTP API client (libcurl), for --api. */
int		 wq_api_submit(struct wq *, struct wq_spec *, jv *);
/* The record, or jv_null() when unknown; wait > 0 holds until it ends. */
int		 wq_api_status(struct wq *, const char *, double, jv *);
void		 wq_api_close(struct wq *);

/*
 * The two halves of each operation, for callers that do their own I/O
 * (the Kore API, on hiredis's async interface): build the command, then
 * decode its reply.  A struct wq_argv is a command's argv, owned.
 */
struct redisReply;
struct wq_argv {
	int		 argc;
	int		 cap;
	char		**argv;
	size_t		*len;
};
void		 wq_argv_free(struct wq_argv *);
/* EVALSHA -> EVAL, after a NOSCRIPT reply. */
void		 wq_script_to_eval(struct wq_argv *);
int		 wq_reply_noscript(struct redisReply *);
void		 wq_submit_argv(struct wq *, struct wq_spec *, size_t,
		    struct wq_argv *);
int		 wq_submit_decode(struct wq *, struct wq_spec *, size_t,
		    struct redisReply *, jv *);
void		 wq_status_argv(struct wq *, const char *, struct wq_argv *);
int		 wq_status_decode(struct wq *, const char *,
		    struct redisReply *, jv *);
jv		 wq_answer_accepted(struct wq *, struct wq_spec *);

/* Small utilities shared by the commands. */
int64_t		 wq_now_ms(void);
char		*wq_hostname(void);
char		*wq_random_id(void);
void		*wq_calloc(size_t, size_t);
void		*wq_realloc(void *, size_t);
char		*wq_strdup(const char *);

/*
 * The asynchronous side (async.c), for the Kore API: hiredis async
 * connections, and the commands of what the API reads, built here so that
 * the API names no key.  wq_async_prepare() resolves host names: call it
 * before a sandbox that forbids DNS.
 */
struct redisAsyncContext;
int		 wq_async_prepare(struct wq *);
struct redisAsyncContext *wq_async_connect(struct wq *,
		    void (*)(void *, const char *), void *);
void		 wq_ping_argv(struct wq_argv *);
void		 wq_done_argv(struct wq *, const char *, int,
		    struct wq_argv *);
int		 wq_done_id(struct wq *, const char *, size_t,
		    char [WQ_ID_LEN + 1]);

/*
 * A read in rounds: wq_read_next() gives the commands of the next round
 * (0 when done), wq_read_feed() takes their replies, in order.
 *   WQ_READ_QUEUES   as wq_queues()
 *   WQ_READ_METRICS  {"time","totals":{submitted,...},"queues":{...},
 *                    "latency":{"buckets":[{"le","count"}...],"sum_ms",
 *                    "count"},"nodes":{ROLE:n},"working":n}
 *   WQ_READ_RECENT   the records of the last (arg) jobs submitted
 *   WQ_READ_PEERS    as wq_peers(), arg as its all
 */
#define WQ_READ_QUEUES	1
#define WQ_READ_METRICS	2
#define WQ_READ_RECENT	3
#define WQ_READ_PEERS	4
struct wq_read;
struct wq_read	*wq_read_new(struct wq *, int, long);
size_t		 wq_read_next(struct wq_read *, struct wq_argv **);
int		 wq_read_feed(struct wq_read *, struct redisReply **, size_t);
jv		 wq_read_result(struct wq_read *);
void		 wq_read_free(struct wq_read *);

#endif
