/*
 * wq-const.h -- the numbers that the C side and the Lua scripts share,
 * each written once: lib/lua/embed.sh turns every #define of this file
 * into a Lua local of the same name at the head of each script (a list
 * of numbers becomes a Lua table), so that a script and the code that
 * calls it cannot disagree.  Only integers and lists of integers here,
 * alone after their name (no comment on the line: embed.sh refuses what
 * it cannot read).
 */
#ifndef WQ_CONST_H
#define WQ_CONST_H

/* Seconds a finished record is kept, unless --ttl says otherwise. */
#define WQ_TTL_DEFAULT		3600

/*
 * A node beats this often and is dead after this long without a beat,
 * unless told otherwise; its hash says what it was told.  The hash
 * outlives the node timeout by WQ_NODE_KEEP_MS; a node that died or left
 * stays listed (wq-peers --all) for WQ_GONE_KEEP_MS.
 */
#define WQ_HEARTBEAT_MS		1000
#define WQ_NODE_TIMEOUT_MS	5000
/* No node timeout is shorter (the sweep relies on it). */
#define WQ_NODE_TIMEOUT_MIN_MS	1000
#define WQ_NODE_KEEP_MS		60000
#define WQ_GONE_KEEP_MS		300000

/* A node's inbox: at most this many messages, dropped when unread. */
#define WQ_INBOX_MAX		1000
#define WQ_INBOX_KEEP_MS	300000

/* The length of dead:<q>, and of recent (the console's last jobs). */
#define WQ_DEAD_MAX		10000
#define WQ_RECENT_MAX		100

/*
 * A job cancelled or retried by id leaves its queue or dead list when it
 * is among this many entries at either end (lib/lua/common.lua).
 */
#define WQ_LREM_NEAR		1000

/* The upper bounds (ms) of the submit-to-worked latency histogram. */
#define WQ_LATENCY_BOUNDS	1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, \
				2500, 5000, 10000, 30000, 60000

/*
 * Queues: at most WQ_MAX_QUEUES_DEFAULT unless --max-queues says (a new
 * queue past it is refused); one empty and unused for WQ_QUEUE_IDLE_MS
 * leaves the set "queues" (the sweep looks at one at random).
 */
#define WQ_MAX_QUEUES_DEFAULT	1000
#define WQ_QUEUE_IDLE_MS	86400000

/*
 * The event stream (events, a Redis stream): trimmed to about
 * WQ_EVENTS_DEFAULT entries unless --events says (0: no events written),
 * at most WQ_EVENTS_MAX.
 */
#define WQ_EVENTS_DEFAULT	100000
#define WQ_EVENTS_MAX		100000000
/* A follower of the streams of P > 1 partitions asks again this often
 * (ms) while none has an event (a blocking read waits on one stream). */
#define WQ_EVENTS_POLL_MS	100

/*
 * Priorities: 0 (the default) to WQ_PRIORITY_MAX, higher first.  A job
 * above 0 waits in urgent:<q>, scored by (WQ_PRIORITY_MAX + 1 - p)
 * * WQ_PRIORITY_SPAN + its sequence number, and a marker in queue:<q>.
 */
#define WQ_PRIORITY_MAX		9
#define WQ_PRIORITY_SPAN	1099511627776

/*
 * Dependencies: an entry of deps (a job ended whose children must be
 * told, or a child to link to its parents) older than this was left by
 * a process that died; the sweep finishes it.
 */
#define WQ_DEPS_GRACE_MS	2000

#endif
