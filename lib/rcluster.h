/*
 * rcluster.h -- libwq's Redis Cluster client (rcluster.c): the slot of a
 * key, the slot map, one connection per primary, commands and pipelines
 * routed by their key's slot, redirections and retries.  Internal to
 * libwq (and its test driver, tests/rcluster-test.c).  The commands use
 * it to find the primary of their namespace's slot (redis.c), and, at
 * more than one partition, route every command through it
 * (docs/DESIGN.md, "The cluster client").
 */
#ifndef WQ_RCLUSTER_H
#define WQ_RCLUSTER_H

#include <hiredis/hiredis.h>

#include "wq-int.h"

#define WQ_RCLUSTER_SLOTS	16384

struct wq_rcluster;

/* What the client has done since it was opened (or the counts reset). */
struct wq_rcluster_stats {
	unsigned long	moved;		/* MOVED replies followed */
	unsigned long	ask;		/* ASK replies followed */
	unsigned long	tryagain;	/* TRYAGAIN replies, retried */
	unsigned long	clusterdown;	/* CLUSTERDOWN and the like */
	unsigned long	noscript;	/* scripts loaded on a node */
	unsigned long	lost;		/* connections that failed */
	unsigned long	refreshes;	/* slot maps read */
	unsigned long	connects;	/* connections opened */
	unsigned long	rounds;		/* rounds of sends beyond the first */
};

/* The slot of a key: CRC16 (XMODEM) of it, or of its hash tag, mod 16384. */
unsigned	 wq_rcluster_slot(const char *, size_t);
/* The slot of a command's key, or -1 for a command without one. */
int		 wq_rcluster_argv_slot(const struct wq_argv *);

/*
 * Open a client on the seed nodes of a redis-cluster:// URL and read the
 * slot map.  WQ_EUSAGE for a bad URL, WQ_EUNAVAIL when no seed answers
 * (or none is a cluster node); the message in wq_error().  The timeouts
 * are the connections' of wq.
 */
int		 wq_rcluster_open(struct wq *, const char *,
		    struct wq_rcluster **);
/* The same on the cluster of wq's settings (WQ_EUSAGE if it names none). */
int		 wq_rcluster_open_settings(struct wq *, struct wq_rcluster **);
void		 wq_rcluster_free(struct wq_rcluster *);

/*
 * Send n commands, each to the primary of its key's slot, and put their
 * replies in out[] in the order of cmds[].  Redirections, a cluster
 * reconfiguring and lost connections are retried, a bounded number of
 * rounds; then WQ_EUNAVAIL (out[] all NULL).  Error replies of other
 * kinds are replies.  One command: wq_rcluster_command (NULL: see
 * wq_error()).
 */
int		 wq_rcluster_pipeline(struct wq_rcluster *, struct wq_argv *,
		    size_t, redisReply **);
redisReply	*wq_rcluster_command(struct wq_rcluster *, struct wq_argv *);

/*
 * A script to be known by its SHA1: SCRIPT LOAD on one primary; another
 * that answers NOSCRIPT to its EVALSHA gets it loaded then (and so do
 * libwq's own scripts).  The SHA1 into sha; WQ_OK or an error.
 */
int		 wq_rcluster_script(struct wq_rcluster *, const char *,
		    char [41]);

/*
 * Once: a command whose connection broke while it was in flight (it may
 * have run) is not sent again; the pipeline fails with WQ_EUNAVAIL, as
 * on one server (libwq's routed commands: redis.c).
 */
void		 wq_rcluster_once(struct wq_rcluster *);
/* WAIT on each primary sent to since the last WAIT (rcluster.c). */
int		 wq_rcluster_wait(struct wq_rcluster *, struct wq_argv *, int,
		    redisReply **);

/* The primary of a slot as "host:port" (the map as last read), or NULL. */
const char	*wq_rcluster_addr(struct wq_rcluster *, unsigned);
/* The same as its host (an address without brackets) and port. */
const char	*wq_rcluster_primary(struct wq_rcluster *, unsigned, int *);
/* "MOVED slot host:port" or "ASK ...": -1 when it is not one (hlen 0:
 * no host, the node that answered). */
int		 wq_rcluster_redirect(const char *, int *, const char **,
		    size_t *, int *);
/* Read the map again (blocking); WQ_EUNAVAIL when no node can say. */
int		 wq_rcluster_refresh(struct wq_rcluster *);
struct wq_rcluster_stats *wq_rcluster_stats(struct wq_rcluster *);

#endif
