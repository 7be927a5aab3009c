/*
 * wq-int.h -- what the files of libwq share and nobody else sees: the
 * context structure and its settings, the argument builder for Redis
 * commands and the key builder (only libwq builds key names), the table
 * of embedded Lua scripts, the connection, and the halves of the reads
 * that both the blocking functions and the API's rounds use.
 */
#ifndef WQ_INT_H
#define WQ_INT_H

#include <stdarg.h>

#include <hiredis/hiredis.h>

#include "wq.h"
#include "wq-async.h"

/* A parsed Redis address (url.c). */
struct wq_url {
	int		 unix_socket;	/* 1: path is a unix socket */
	char		*host;
	int		 port;
	char		*path;
	int		 db;
	char		*user;		/* ACL user, or NULL */
	char		*password;	/* never printed */
	char		*sentinels;	/* "host:port,host:port" or NULL */
	char		*master;	/* sentinel master name */
	char		*cluster;	/* seeds "host:port,host:port" or
					   NULL (rcluster.c) */
};

/* The settings (settings.c); callers outside read them by function. */
struct wq_settings {
	char		*redis_url;
	char		*api_url;
	char		*token;
	char		*ns;		/* the namespace, as set */
	char		*prefix;	/* its keys' prefix without the colon:
					   ns, or {ns} on a Redis Cluster
					   (one hash slot; settings.c) */
	char		*queue;
	char		*name;		/* node name, or NULL for the default */
	long		 ttl;		/* seconds */
	size_t		 max_data;	/* bytes */
	long		 max_queues;	/* a new queue past it is refused */
	long		 events;	/* the event stream's length, 0: off */
	long		 wait_replicas;	/* WAIT for them after writes, 0: off */
	long		 wait_timeout_ms;	/* WAIT's timeout */
	long		 partitions;	/* --partitions, 0: not given */
	int		 connect_timeout_ms;
	int		 command_timeout_ms;
	struct wq_url	 addr;
};

struct wq_rcluster;

struct wq {
	struct wq_settings	 cfg;
	char			*role;
	char			*name;
	redisContext		*rc;
	struct wq_rcluster	*rcl;		/* on a cluster at P > 1: every
						   command routed (redis.c) */
	long			 failures;	/* in a row, for backoff.c */
	int			 env_bad;
	int			 too_big;
	char			 instance[25];	/* this process as a node
						   (node.c) */
	char			*name_json;	/* wq_name() as JSON (job.c) */
	const char		*name_json_of;	/* the name it was made from */
	int64_t			 skew_ms;	/* server clock - ours, from
						   beats */
	int			 skew_known;
	unsigned		 conn_gen;	/* connections made (redis.c) */
	/* The namespace's partitions (part.c): 0 until read from Redis. */
	int			 nparts;
	char			**part_prefix;	/* each one's prefix, no ':' */
	unsigned char		*part_work;	/* a claim may find work
						   there (job.c) */
	int			 part_next;	/* where claims go on */
	long long		 gen;		/* this node's generation, in
						   a namespace of several */
	int			 parts_bad;	/* their number disagrees with
						   --partitions: no command */
	struct wq_evcur		*evcur;		/* wq_events_read()'s places
						   at P > 1 (events.c) */
	/* What the node's hash holds, as far as its beats know (node.c). */
	char			*beat_fields;	/* the fields last sent, as
						   JSON */
	unsigned		 beat_gen;	/* the connection of the last
						   full beat */
	int64_t			 beat_full_at;	/* its time, our clock */
	char			 err[512];
};

/* util.c */
int		 wq_seterr(struct wq *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
char		*wq_random_id(void);
void		 wq_strs_free(char **, size_t);
int		 wq_cloexec(int);	/* FD_CLOEXEC on; -1 (errno) */

/* url.c */
int		 wq_url_parse(const char *, struct wq_url *, char *, size_t);
void		 wq_url_clear(struct wq_url *);

/*
 * part.c: the partitions of the namespace (docs/DESIGN.md, section 25).
 * wq_parts_load() reads their number from Redis (setting it at the
 * namespace's first use); until then, and for P = 1, partition 0's
 * prefix is the control prefix.  wq_part_of() is a job's partition.
 */
int		 wq_parts_load(struct wq *);
int		 wq_parts(struct wq *);	/* P, once loaded; else as set */
void		 wq_parts_clear(struct wq *);
int		 wq_part_of(struct wq *, const char *id);
const char	*wq_part_prefix(struct wq *, int);
/* The partition of a prefix "NS:N:" (a wake hint's message); -1: none. */
int		 wq_part_by_prefix(struct wq *, const char *);
/* One call in each partition, one pipeline: build each, decode each. */
int		 wq_parts_run(struct wq *, const char *,
		    int (*)(struct wq *, int, struct wq_argv *, void *),
		    int (*)(struct wq *, int, redisReply *, void *), void *);

/* md5.c */
void		 wq_md5_hex(const void *, size_t, char out[WQ_ID_LEN + 1]);

/* argv.c: struct wq_argv (in wq-async.h) owns copies of its strings. */
void		 wq_argv_init(struct wq_argv *);
void		 wq_argv_adds(struct wq_argv *, const char *);
void		 wq_argv_addn(struct wq_argv *, const char *, size_t);
void		 wq_argv_addf(struct wq_argv *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
void		 wq_argv_addl(struct wq_argv *, long long);
/* Append a key: NS:fmt... */
void		 wq_argv_key(struct wq_argv *, struct wq *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
/* A key of partition p (-1: the control partition's), fmt's arguments
 * in a va_list. */
void		 wq_argv_vpkey(struct wq_argv *, struct wq *, int,
		    const char *, va_list)
		    __attribute__((format(printf, 4, 0)));
/* Append a key of partition p: its prefix, then fmt... */
void		 wq_argv_pkey(struct wq_argv *, struct wq *, int, const char *,
		    ...) __attribute__((format(printf, 4, 5)));
void		 wq_argv_setnkeys(struct wq_argv *, int);
void		 wq_argv_prefix(struct wq_argv *, const char *, long, int);
char		*wq_argv_resp(struct wq_argv *, size_t *);
/*
 * Many commands of one shape, "CMD NS:job:<id> [ARG]", as the RESP text
 * of a pipeline, in one buffer (for the reads of many records).
 */
struct wq_resp {
	char		*p;
	size_t		 n, cap;
};
void		 wq_resp_job(struct wq_resp *, struct wq *, const char *,
		    const char *, const char *);

/* Embedded scripts (the .lua files of lib/lua, generated into scripts.c). */
enum wq_script_id {
	WQ_SCRIPT_SUBMIT,
	WQ_SCRIPT_CLAIM,
	WQ_SCRIPT_COMPLETE,
	WQ_SCRIPT_REGISTER,
	WQ_SCRIPT_HEARTBEAT,
	WQ_SCRIPT_LEAVE,
	WQ_SCRIPT_SEND,
	WQ_SCRIPT_RECOVER,
	WQ_SCRIPT_SCHEDULE,
	WQ_SCRIPT_FIRE,
	WQ_SCRIPT_CANCEL,
	WQ_SCRIPT_RETRY,
	WQ_SCRIPT_PROMOTE,
	WQ_SCRIPT_QUEUE,
	WQ_SCRIPT_LINK,
	WQ_SCRIPT_RELEASE,
	WQ_SCRIPT_PROGRESS,
	WQ_SCRIPT_SWEEP,
	WQ_SCRIPT_COUNT
};

struct wq_script {
	const char	*name;
	const char	*body;
	char		 sha[41];
};

extern struct wq_script wq_scripts[WQ_SCRIPT_COUNT];

/*
 * script.c: build the EVALSHA of a script: "EVALSHA sha nkeys"; the
 * caller appends the keys then the arguments and fixes nkeys with
 * wq_argv_setnkeys().  Run it: EVALSHA, falling back to EVAL on NOSCRIPT.
 */
void		 wq_script_argv(struct wq_argv *, enum wq_script_id);
/*
 * A script's first argument: the key prefix "NS:", followed by the event
 * stream's length when events are on ("wq:100000"; common.lua splits it).
 */
void		 wq_script_prefix(struct wq_argv *, struct wq *);
/* The same for partition p's keys (the control prefix: p = -1). */
void		 wq_script_pprefix(struct wq_argv *, struct wq *, int);
redisReply	*wq_script_run(struct wq *, struct wq_argv *);
/* n script calls in one pipeline, each NOSCRIPT run again by EVAL. */
int		 wq_script_pipeline(struct wq *, struct wq_argv *, size_t,
		    redisReply **);

/* redis.c */
redisContext	*wq_redis_open(struct wq *, char *, size_t);
/* One server by address, with wq's timeouts and a's credentials. */
redisContext	*wq_redis_open_tcp(struct wq *, const char *, int,
		    struct wq_url *, char *, size_t);
int		 wq_redis_is_master(redisContext *);	/* ROLE */
/* Append a command to the output buffer, without sending it. */
int		 wq_redis_append(struct wq *, struct wq_argv *);
/* Send one command; NULL means the connection broke (see wq_error()). */
redisReply	*wq_redis_command(struct wq *, struct wq_argv *);
/* Pipeline: append all, then read n replies into replies[]. */
int		 wq_redis_pipeline(struct wq *, struct wq_argv *, size_t,
		    redisReply **);
/* Free the n commands and replies of a pipeline (not the arrays). */
void		 wq_redis_pipeline_free(struct wq_argv *, redisReply **,
		    size_t);
/*
 * A pipeline of n commands given as RESP text, its replies made in an
 * arena (no malloc per element), all freed by wq_arena_free().
 */
struct wq_arena;
redisReply	*wq_redis_control_command(struct wq *, struct wq_argv *);
int		 wq_redis_pipeline_arena(struct wq *, struct wq_resp *,
		    size_t, redisReply **, struct wq_arena **);
void		 wq_arena_free(struct wq_arena *);

/* reply.c */
int		 wq_reply_error(struct wq *, redisReply *, const char *);
long long	 wq_reply_ll(redisReply *);
long long	 wq_reply_time_ms(redisReply *);	/* of TIME, else ours */

/* sub.c: subscriber connections, for waiter.c and hints.c: one, or at
 * several partitions on a Redis Cluster one per primary of a channel. */
struct wq_subconn;
struct wq_sub {
	struct wq		*wq;
	size_t			 prefix_len;	/* of "NS:" */
	int			 sharded;	/* P > 1: SSUBSCRIBE */
	struct wq_rcluster	*rcl;		/* its slot map, on a cluster */
	struct wq_subconn	*conns;
	size_t			 nconns;
	int			*fds;		/* wq_sub_fds()'s */
	char			 err[256];	/* a connection not opened */
};
int		 wq_sub_open(struct wq *, struct wq_sub *);
void		 wq_sub_close(struct wq_sub *);
int		 wq_sub_flush(struct wq_sub *);
void		 wq_sub_chans(struct wq_sub *, int, int, const char **,
		    size_t);
void		 wq_sub_every(struct wq_sub *, int, const char *);
void		 wq_sub_ids(struct wq_sub *, int, const char **, size_t);
const int	*wq_sub_fds(struct wq_sub *, size_t *);
int		 wq_sub_read(struct wq_sub *,
		    void (*)(void *, int, const char *, const char *), void *);

/* json.c: members of a JSON object, found without parsing it. */
int		 wq_json_members(const char *, size_t, const char *const *,
		    size_t, const char **, size_t *, char *, size_t);

/* record.c */
jv		 wq_record_from_reply(const char *, redisReply *);
/* Its NDJSON line (malloc'd), NULL for an empty reply. */
char		*wq_record_line(const char *, redisReply *);
/* A reply to HGETALL as a struct wq_rec, WQ_REC_LINE or WQ_REC_JV. */
void		 wq_record_decode(const char *, redisReply *, int,
		    struct wq_rec *);
int		 wq_record_status_final(const char *);

/*
 * job.c: which of the jobs have ended or are unknown, from their status
 * alone: ended[i] is 1 when a read of the whole record of ids[i] is worth
 * it (for watch.c).
 */
int		 wq_status_ended(struct wq *, const char **, size_t, int *);

/* job.c */
jv		 wq_answer_accepted(struct wq *, struct wq_spec *);

/* schedule.c: an operation's rounds, as wq_read's (read.c drives them). */
size_t		 wq_cronop_next(struct wq_cronop *, struct wq_argv **);
int		 wq_cronop_feed(struct wq_cronop *, redisReply **, size_t);
jv		 wq_cronop_result(struct wq_cronop *);
/* msg.c: the call that sends a message (send.lua). */
void		 wq_msg_argv(struct wq *, const char *, const char *, jv,
		    int, long, const char *, struct wq_argv *);
/* control.c: the rounds of a job-control operation (wq-async.h). */
size_t		 wq_ctlop_next(struct wq_ctlop *, struct wq_argv **);
int		 wq_ctlop_feed(struct wq_ctlop *, redisReply **, size_t);
jv		 wq_ctlop_result(struct wq_ctlop *);
int		 wq_ctlop_conflict(struct wq_ctlop *);
/* queues.c: a queue's limits set, for wq_queue_limit() and the API. */
#define WQ_LIMIT_CMDS	4
int		 wq_queue_limit_check(struct wq *, const char *,
		    const struct wq_limits *);
size_t		 wq_queue_limit_argv(struct wq *, const char *,
		    const struct wq_limits *, struct wq_argv *);
int		 wq_queue_limit_decode(struct wq *, redisReply **, size_t,
		    jv *);

/*
 * The reads that take two rounds, each built and decoded once, for the
 * blocking wq_queues() and wq_peers() and for the API's reads (read.c).
 * Queue depths (queues.c): SMEMBERS of the queues, one a partition (P
 * commands), then wq_queues_depths_ncmds() commands: WQ_DEPTH_CMDS counts
 * of each queue at P = 1, more at P > 1.
 */
#define WQ_DEPTH_CMDS	5
size_t		 wq_queues_argv(struct wq *, struct wq_argv *);
/* The queue names of its reply, sorted, malloc'd; returns how many. */
size_t		 wq_queues_names(redisReply *, char ***);
/* The same of n replies: their union. */
size_t		 wq_queues_names_n(redisReply **, size_t, char ***);
size_t		 wq_queues_depths_ncmds(struct wq *, size_t);
void		 wq_queues_depths_argv(struct wq *, char *const *, size_t,
		    struct wq_argv *);
int		 wq_queues_depths_decode(struct wq *, char *const *, size_t,
		    redisReply **, jv *);

/*
 * The members (peers.c): TIME and the zsets "nodes" (and with all,
 * "gone"), up to WQ_PEERS_CMDS commands, then one HGETALL a member.
 */
#define WQ_PEERS_CMDS		3
struct wq_members {
	char		**names;
	double		 *beats;	/* the last beat, ms */
	int		 *member;	/* found in "nodes", not "gone" */
	size_t		  n;
	long long	  now;		/* the server's clock, ms */
};
size_t		 wq_peers_argv(struct wq *, int, struct wq_argv *);
int		 wq_peers_members(struct wq *, redisReply **, size_t,
		    struct wq_members *);
void		 wq_peers_members_clear(struct wq_members *);
void		 wq_peers_hashes_argv(struct wq *, struct wq_members *,
		    struct wq_argv *);
int		 wq_peers_decode(struct wq *, struct wq_members *, int,
		    redisReply **, jv *);

/* stats.c: MGET of the stats:* totals; the decoder sets them on an
 * object.  The latency hash as a histogram. */
size_t		 wq_stats_totals_argv(struct wq *, struct wq_argv *);
int		 wq_stats_totals_decode(struct wq *, redisReply **, size_t,
		    jv *);
jv		 wq_stats_latency(redisReply **, size_t);

/* msg.c: one inbox message; exposed for the fuzzer in fuzz/. */
/* deps.c: before a submission, and after it for the fresh jobs. */
int		 wq_deps_check(struct wq *, struct wq_spec *, size_t);
int		 wq_deps_link(struct wq *, struct wq_spec *, size_t, jv *);
int		 wq_msg_decode(const char *, size_t, long long,
		    struct wq_msg *);

#endif
