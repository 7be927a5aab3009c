/*
 * wait.c -- GET /api/v1/work/<id>?wait=S: hold the answer until the job
 * is worked or failed, or S seconds pass, without polling Redis.
 *
 * The script that ends a job publishes "worked" or "failed" on the job's
 * done:<id> channel (NS:done:<id>, or sharded in the job's partition:
 * docs/DESIGN.md, section 10).  Each worker keeps one libwq waiter
 * (lib/waiter.c: one subscriber connection, or on a Redis Cluster with
 * several partitions one per primary of a channel) and a channel entry
 * per id that requests wait for, with the list of those requests; the
 * channel is subscribed while the list is not empty.  The waiter's
 * descriptors sit in Kore's epoll set (struct subfd) and are read, not
 * through hiredis's async context: hiredis 0.14 asserts on the pushes of
 * SSUBSCRIBE.  A message is only a hint to read the record again: it
 * cannot be lost between a first read and the subscription because every
 * request reads the record once more after it joined a subscribed
 * channel (right away, or when a SUBSCRIBE of it is confirmed), and once
 * more when its time is up.  While the subscriber is down, requests
 * still get that last read; when it comes back (wait_tick, with a
 * backoff), every channel is subscribed again (and read again).
 *
 * The connection is a plain one read as replies come: a channel
 * unsubscribed is forgotten at once, and a confirmation that comes for
 * an id subscribed again meanwhile only causes one more read.  Opening
 * the waiter is blocking (a connect, on a cluster the slot map), as the
 * heartbeat is, under the worker's short timeouts.
 */
#include <sys/epoll.h>

#include <string.h>

#include "api.h"

#define NBUCKETS	1024
#define NSUBFDS		64	/* primaries a waiter may speak to */
#define EVENT_TYPE_SUB	101	/* ours (redis.c's is 100) */

#define CHAN_NONE		0	/* not subscribed */
#define CHAN_SUBSCRIBING	1
#define CHAN_SUBSCRIBED		2

/* A descriptor of the waiter in Kore's epoll set; lives as long as the
 * worker, so that an event queued for a closed one finds fd -1. */
struct subfd {
	struct kore_event	 evt;	/* first: the loop hands it back */
	int			 fd;
};

static struct wq_waiter	*sub;
static struct subfd	 subfds[NSUBFDS];
static u_int64_t	 sub_retry_at;
static long		 sub_failures;
static int		 sub_complained;	/* said it was down */
static int		 sub_busy;	/* in a read of it */
static int		 sub_broken;	/* failed in a read: closed after */
static void		 sub_down(void);
static void		 sub_up(void);
static int		 sub_sync(void);

struct wchan {
	char			 id[WQ_ID_LEN + 1];
	int			 state;
	struct rq_list		 waiters;
	LIST_ENTRY(wchan)	 link;
};

LIST_HEAD(wchan_list, wchan);

static struct wchan_list	buckets[NBUCKETS];
static struct rq_list		waiting;	/* every waiting request */

static unsigned int
chan_hash(const char *id)
{
	unsigned int	h = 0;
	int		i;

	for (i = 0; i < 8; i++)		/* the id is hex MD5: well spread */
		h = h * 16 + (unsigned int)(id[i] <= '9' ? id[i] - '0' :
		    (id[i] | 0x20) - 'a' + 10);
	return h % NBUCKETS;
}

static struct wchan *
chan_find(const char *id)
{
	struct wchan	*ch;

	LIST_FOREACH(ch, &buckets[chan_hash(id)], link)
		if (strcmp(ch->id, id) == 0)
			return ch;
	return NULL;
}

static void
chan_free(struct wchan *ch)
{
	LIST_REMOVE(ch, link);
	free(ch);
}

static void
chan_command(struct wchan *ch, int subscribe)
{
	const char	*id = ch->id;
	int		 rc;

	ch->state = CHAN_NONE;
	if (sub == NULL || sub_broken)
		return;		/* down: wait_tick() opens and subscribes */
	rc = subscribe ? wq_waiter_add(sub, &id, 1) :
	    wq_waiter_remove(sub, id);
	if (rc != WQ_OK || sub_sync() == -1) {
		/* not closed under the read that called here */
		if (sub_busy)
			sub_broken = 1;
		else
			sub_down();
	} else if (subscribe)
		ch->state = CHAN_SUBSCRIBING;
}

void
wait_init(void)
{
	int	i;

	for (i = 0; i < NBUCKETS; i++)
		LIST_INIT(&buckets[i]);
	for (i = 0; i < NSUBFDS; i++)
		subfds[i].fd = -1;
	TAILQ_INIT(&waiting);
	sub_up();
}

/* Read the record again; at most one read in flight per request. */
static void
wait_reread(struct rq *rq)
{
	struct wq_argv	a;
	int		rc;

	if (rq->reading) {
		rq->again = 1;
		return;
	}
	wq_status_argv(api_wq, rq->id, &a);
	rc = rq_send(rq, &a, 1, wait_status_reply);
	wq_argv_free(&a);
	if (rc == -1) {
		rq_answer_unavailable(rq);
		return;
	}
	rq->reading = 1;
	rq->again = 0;
}

static void
chan_reread(struct wchan *ch)
{
	struct rq	*rq, *next;

	/* A read may answer and leave: take the next one first. */
	for (rq = TAILQ_FIRST(&ch->waiters); rq != NULL; rq = next) {
		next = TAILQ_NEXT(rq, chan_link);
		wait_reread(rq);
	}
}

static void	wait_start(struct rq *);

/*
 * The reply to a read of the record, first or again.  The answer is the
 * record when it is final, when the request does not wait (deadline 0),
 * or when its time is up; 404 when the id is unknown.
 */
void
wait_status_reply(struct rq *rq, redisReply *r)
{
	jv	rec;
	int	rc;

	rq->reading = 0;
	if (r == NULL) {
		rq_answer_unavailable(rq);
		return;
	}
	if ((rc = wq_status_decode(api_wq, rq->id, r, &rec)) != WQ_OK) {
		rq_answer_failed(rq, rc);
		return;
	}
	if (jv_get_kind(rec) == JV_KIND_NULL) {
		jv_free(rec);
		rq_answer_json(rq, 404, rq_not_found());
		return;
	}
	if (wq_record_final(rec) || rq->deadline == 0 || rq->last_read ||
	    kore_time_ms() >= rq->deadline) {
		rq_answer_json(rq, 200, rec);
		return;
	}
	jv_free(rec);
	if (!rq->waiting)
		wait_start(rq);
	else if (rq->again)
		wait_reread(rq);
}

/* A request read a record that is not final: wait for it to end. */
static void
wait_start(struct rq *rq)
{
	struct wchan	*ch;

	if ((ch = chan_find(rq->id)) == NULL) {
		ch = wq_calloc(1, sizeof(*ch));
		memcpy(ch->id, rq->id, sizeof(ch->id));
		ch->state = CHAN_NONE;
		TAILQ_INIT(&ch->waiters);
		LIST_INSERT_HEAD(&buckets[chan_hash(ch->id)], ch, link);
	}
	TAILQ_INSERT_TAIL(&ch->waiters, rq, chan_link);
	TAILQ_INSERT_TAIL(&waiting, rq, wait_link);
	rq->chan = ch;
	rq->waiting = 1;
	switch (ch->state) {
	case CHAN_NONE:
		chan_command(ch, 1);
		break;
	case CHAN_SUBSCRIBED:
		wait_reread(rq);
		break;
	default:
		break;	/* read once the (re)subscription is confirmed */
	}
}

/* The request answered or its client left. */
void
wait_leave(struct rq *rq)
{
	struct wchan	*ch = rq->chan;

	if (!rq->waiting)
		return;
	rq->waiting = 0;
	rq->chan = NULL;
	TAILQ_REMOVE(&waiting, rq, wait_link);
	TAILQ_REMOVE(&ch->waiters, rq, chan_link);
	if (!TAILQ_EMPTY(&ch->waiters))
		return;
	if (ch->state != CHAN_NONE)
		chan_command(ch, 0);
	chan_free(ch);
}

/* Time is up for some: one last read each, whose answer is final. */
void
wait_tick(u_int64_t now)
{
	struct rq	*rq, *next;

	if (sub == NULL && now >= sub_retry_at)
		sub_up();
	for (rq = TAILQ_FIRST(&waiting); rq != NULL; rq = next) {
		next = TAILQ_NEXT(rq, wait_link);
		if (rq->last_read || now < rq->deadline)
			continue;
		rq->last_read = 1;
		wait_reread(rq);
	}
}

/* What the waiter read: confirmations, hints. */
static void
sub_event(void *arg, int what, const char *id)
{
	struct wchan	*ch;

	(void)arg;
	if (id == NULL || (ch = chan_find(id)) == NULL)
		return;
	if (what == WQ_WAITER_SUBSCRIBED)
		ch->state = CHAN_SUBSCRIBED;
	if (what == WQ_WAITER_SUBSCRIBED || what == WQ_WAITER_ENDED)
		chan_reread(ch);
}

/* Once until it is back, as redis.c's connections say it. */
static void
sub_complain(void)
{
	if (sub_complained)
		return;
	sub_complained = 1;
	kore_log(LOG_NOTICE, "wq-api: Redis subscriber: %s",
	    wq_error(api_wq));
}

static void
sub_handle(void *arg, int error)
{
	struct subfd	*f = arg;
	int		 rc;

	(void)error;
	f->evt.flags = 0;
	if (f->fd == -1 || sub == NULL)
		return;
	/* a request answered meanwhile may unsubscribe (wait_leave) */
	sub_busy = 1;
	rc = wq_waiter_events(sub, sub_event, NULL);
	sub_busy = 0;
	if (rc != WQ_OK)
		sub_complain();
	if (rc != WQ_OK || sub_broken)
		sub_down();
}

/* The waiter's descriptors into Kore's epoll set (a cluster's grow as
 * channels of other primaries are subscribed).  -1: too many. */
static int
sub_sync(void)
{
	const int	*fds;
	size_t		 n, i, k;

	fds = wq_waiter_fds(sub, &n);
	for (i = 0; i < n; i++) {
		for (k = 0; k < NSUBFDS && subfds[k].fd != fds[i]; k++)
			;
		if (k < NSUBFDS)
			continue;
		for (k = 0; k < NSUBFDS && subfds[k].fd != -1; k++)
			;
		if (k == NSUBFDS)
			return -1;
		subfds[k].fd = fds[i];
		subfds[k].evt.type = EVENT_TYPE_SUB;
		subfds[k].evt.handle = sub_handle;
		kore_platform_event_schedule(fds[i], EPOLLIN, 0, &subfds[k]);
	}
	return 0;
}

/* The waiter is lost: nothing is subscribed any more; wait_tick()
 * opens it again after a backoff. */
static void
sub_down(void)
{
	struct wchan	*ch, *next;
	int		 i;

	/* (closing a descriptor takes it out of epoll) */
	wq_waiter_close(sub);
	sub = NULL;
	sub_broken = 0;
	for (i = 0; i < NSUBFDS; i++)
		subfds[i].fd = -1;
	sub_retry_at = kore_time_ms() + (u_int64_t)wq_backoff(
	    ++sub_failures, 100, 1000, 100, 100);
	for (i = 0; i < NBUCKETS; i++)
		for (ch = LIST_FIRST(&buckets[i]); ch != NULL; ch = next) {
			next = LIST_NEXT(ch, link);
			ch->state = CHAN_NONE;
			if (TAILQ_EMPTY(&ch->waiters))
				chan_free(ch);
		}
}

/* Open the waiter and subscribe every channel waited on again. */
static void
sub_up(void)
{
	struct wchan	*ch;
	int		 i;

	if (wq_waiter_open(api_wq, &sub) != WQ_OK) {
		sub_complain();
		sub = NULL;
		sub_retry_at = kore_time_ms() + (u_int64_t)wq_backoff(
		    ++sub_failures, 100, 1000, 100, 100);
		return;
	}
	sub_failures = 0;
	if (sub_complained)
		kore_log(LOG_NOTICE, "wq-api: Redis subscriber is back");
	sub_complained = 0;
	if (sub_sync() == -1) {
		sub_down();
		return;
	}
	for (i = 0; i < NBUCKETS && sub != NULL; i++)
		LIST_FOREACH(ch, &buckets[i], link)
			if (ch->state == CHAN_NONE &&
			    !TAILQ_EMPTY(&ch->waiters) && sub != NULL)
				chan_command(ch, 1);
}

/* At the worker's end. */
void
wait_close(void)
{
	wq_waiter_close(sub);
	sub = NULL;
}
