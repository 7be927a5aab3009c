/*
 * wq-async.h -- the halves of libwq's operations, for a caller that does
 * its own I/O on hiredis's async interface: the Kore API, whose event
 * loop must never wait for Redis.  Only kore-api/ includes this.
 *
 * Each operation is built (its command, as a struct wq_argv) and decoded
 * (its reply) by the same code as the blocking functions of wq.h, so
 * that the API names no key and parses no reply itself.  The commands
 * use wq.h alone.
 */
#ifndef WQ_ASYNC_H
#define WQ_ASYNC_H

#include "wq.h"

struct redisReply;
struct redisAsyncContext;

/* A command's argv, owned. */
struct wq_argv {
	int		 argc;
	int		 cap;
	char		**argv;
	size_t		*len;
};
void		 wq_argv_free(struct wq_argv *);
void		 wq_argv_copy(struct wq_argv *, const struct wq_argv *);
/* EVALSHA -> EVAL, after a NOSCRIPT reply. */
void		 wq_script_to_eval(struct wq_argv *);
int		 wq_reply_noscript(struct redisReply *);
/* A server that cannot serve now (a replica, a cluster node that does
 * not hold the namespace's slot, ...): reconnect, which finds it again. */
int		 wq_reply_unavailable(const struct redisReply *);

/* A submission of n specs that share their settings (one script call). */
void		 wq_submit_argv(struct wq *, struct wq_spec *, size_t,
		    struct wq_argv *);
int		 wq_submit_decode(struct wq *, struct wq_spec *, size_t,
		    struct redisReply *, jv *);
void		 wq_status_argv(struct wq *, const char *, struct wq_argv *);
int		 wq_status_decode(struct wq *, const char *,
		    struct redisReply *, jv *);
/* --wait-replicas: WAIT on the connection that wrote (wq_wait_replicas) */
void		 wq_wait_argv(struct wq *, struct wq_argv *);
int		 wq_wait_decode(struct wq *, struct redisReply *,
		    const char *);

/*
 * Connections (async.c).  wq_async_prepare() resolves host names: call
 * it before a sandbox that forbids DNS.  wq_async_connect() starts a
 * connection with AUTH and SELECT queued first; when one is refused,
 * the callback gets why and the connection closes.
 */
int		 wq_async_prepare(struct wq *);
struct redisAsyncContext *wq_async_connect(struct wq *,
		    void (*)(void *, const char *), void *);
void		 wq_async_ping_argv(struct wq_argv *);

/*
 * A Redis Cluster at P > 1 partitions (kore-api/cluster.c):
 * wq_async_routed() says whether the command connections go one per
 * primary (1), or one to one server (0), or -1 when P cannot be read
 * now.  The slot map is read with the blocking cluster client (open,
 * refresh: WQ_EUNAVAIL when no node can say); each command goes to the
 * primary of wq_async_slot() (-1: a command without a key), by
 * wq_async_connect_node(), which queues AUTH as wq_async_connect() does.
 */
struct wq_rcluster;
int		 wq_async_routed(struct wq *);
int		 wq_async_map_open(struct wq *, struct wq_rcluster **);
int		 wq_async_map_refresh(struct wq_rcluster *);
const char	*wq_async_map_primary(struct wq_rcluster *, unsigned, int *);
void		 wq_async_map_free(struct wq_rcluster *);
int		 wq_async_slot(const struct wq_argv *);
unsigned	 wq_async_ns_slot(struct wq *);
/* MOVED or ASK's slot, host (hlen 0: the node that answered), port. */
int		 wq_async_redirect(const char *, int *, const char **, size_t *,
		    int *);
struct redisAsyncContext *wq_async_connect_node(struct wq *, const char *,
		    int, void (*)(void *, const char *), void *);
/*
 * A read in rounds (read.c): wq_read_next() gives the commands of the
 * next round (0 when done), wq_read_feed() takes their replies, in order.
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

/*
 * The event stream (events.c): the XREAD of wq_events_read() and its
 * reply; where to start, with the server's time (ms) known (-1: not
 * checked).
 */
void		 wq_events_argv(struct wq *, const char *, long, size_t,
		    struct wq_argv *);
int		 wq_events_decode(struct wq *, struct redisReply *,
		    char [WQ_EVENT_ID_LEN], jv *);
int		 wq_events_start(struct wq *, const char *, long long,
		    char [WQ_EVENT_ID_LEN]);
/*
 * At P > 1 partitions: a reader's place in each partition's stream, the
 * XREADs of all of them after last (P commands, none blocking) and their
 * replies merged in id order, last moved on.
 */
struct wq_evcur;
struct wq_evcur	*wq_evcur_new(struct wq *);
void		 wq_evcur_free(struct wq_evcur *);
size_t		 wq_evcur_argv(struct wq *, struct wq_evcur *, const char *,
		    size_t, struct wq_argv **);
int		 wq_evcur_decode(struct wq *, struct wq_evcur *,
		    struct redisReply **, size_t, size_t,
		    char [WQ_EVENT_ID_LEN], jv *);

/*
 * Schedules (schedule.c): an operation of wq-cron, in rounds.
 * wq_cronop_new() checks its input (op WQ_SCHEDULE_*; s the schedule of
 * an add, the name of the others, NULL for a list): WQ_EUSAGE, and
 * nothing to send, for a bad one.  wq_schedule_body() makes an add of
 * the API's body {"spec","tz","catch_up","job"}.  wq_read_cron() runs
 * one as a read, which it then owns; its wq_read_feed() fails with
 * WQ_NO for a schedule that does not exist, WQ_EUSAGE for one that
 * never fires from now on.
 */
struct wq_cronop;
int		 wq_cronop_new(struct wq *, int, const struct wq_schedule *,
		    struct wq_cronop **);
int		 wq_schedule_body(struct wq *, const char *, const char *,
		    size_t, struct wq_cronop **);
void		 wq_cronop_free(struct wq_cronop *);
struct wq_read	*wq_read_cron(struct wq *, struct wq_cronop *);

/*
 * Job control for the API (control.c): cancel or retry a job (arg its
 * id), retry a queue's dead list, pause, resume or purge a queue (arg
 * the queue), set its limits (wq_ctlop_limits(), from a JSON body), run
 * as a read in rounds by wq_read_control(), which then owns it.  A job's
 * answers its record, else WQ_NO from wq_read_feed(): the id unknown,
 * or, when wq_read_conflict(), its job not in a state for it.  A dead
 * list's retry answers {"queue","retried"} (after wq_ctlop_max(o, N):
 * one round of N ids, and "taken", "jobs": the records put back), a
 * pause or resume {"name","paused"}, a purge {"name","cancelled"}, a
 * limit {"name","limits"} (the limits after it, or null).
 */
#define WQ_CTL_CANCEL		0
#define WQ_CTL_RETRY		1
#define WQ_CTL_RETRY_DEAD	2
#define WQ_CTL_PAUSE		3
#define WQ_CTL_RESUME		4
#define WQ_CTL_PURGE		5
#define WQ_CTL_LIMIT		6
#define WQ_CTL_MAX		500	/* ids a call of a dead list, purge */
struct wq_ctlop;
int		 wq_ctlop_new(struct wq *, int, const char *,
		    struct wq_ctlop **);
int		 wq_ctlop_limits(struct wq *, const char *, const char *,
		    size_t, struct wq_ctlop **);
void		 wq_ctlop_max(struct wq_ctlop *, long);
void		 wq_ctlop_free(struct wq_ctlop *);
struct wq_read	*wq_read_control(struct wq *, struct wq_ctlop *);
int		 wq_read_conflict(struct wq_read *);
/*
 * WQ_EUSAGE, "<what> need a namespace of one partition; ...", when the
 * namespace has several: limits and groups are exact within one only.
 */
int		 wq_parts_one(struct wq *, const char *);

#endif
