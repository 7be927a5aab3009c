/*
 * wait.c -- GET /api/v1/work/<id>?wait=S: hold the answer until the job
 * is worked or failed, or S seconds pass, without polling Redis.
 *
 * The script that ends a job publishes "worked" or "failed" on
 * NS:done:<id>.  Each worker keeps one subscriber connection (API_SUB) and
 * a channel entry per id that requests wait for, with the list of those
 * requests; the channel is subscribed while the list is not empty.  A
 * message is only a hint to read the record again: it cannot be lost
 * between a first read and the subscription because every request reads
 * the record once more after it joined a subscribed channel (right away,
 * or when the SUBSCRIBE is confirmed), and once more when its time is up.
 * While the subscriber connection is down, requests still get that last
 * read; when it comes back, every channel is subscribed again (and read
 * again).
 *
 * hiredis keeps one callback per channel name, so a channel is never
 * subscribed twice nor subscribed again before its UNSUBSCRIBE is
 * confirmed: a channel entry remembers where it stands.
 */
#include <string.h>

#include "api.h"

static void	wait_sub_reply(redisAsyncContext *, void *, void *);

#define NBUCKETS	1024

#define CHAN_NONE		0	/* not subscribed */
#define CHAN_SUBSCRIBING	1
#define CHAN_SUBSCRIBED		2
#define CHAN_UNSUBSCRIBING	3

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
	struct wq_argv	a;
	int		rc;

	wq_async_done_argv(api_wq, ch->id, subscribe, &a);
	rc = api_redis_send(API_SUB, &a, 1, wait_sub_reply, NULL);
	wq_argv_free(&a);
	if (rc == -1)
		ch->state = CHAN_NONE;	/* down: wait_sub_up() retries */
	else
		ch->state = subscribe ? CHAN_SUBSCRIBING : CHAN_UNSUBSCRIBING;
}

void
wait_init(void)
{
	int	i;

	for (i = 0; i < NBUCKETS; i++)
		LIST_INIT(&buckets[i]);
	TAILQ_INIT(&waiting);
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
		if (api_redis_up(API_SUB))
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
	if (ch->state == CHAN_SUBSCRIBED)
		chan_command(ch, 0);
	if (ch->state == CHAN_NONE)
		chan_free(ch);
}

/* Time is up for some: one last read each, whose answer is final. */
void
wait_tick(u_int64_t now)
{
	struct rq	*rq, *next;

	for (rq = TAILQ_FIRST(&waiting); rq != NULL; rq = next) {
		next = TAILQ_NEXT(rq, wait_link);
		if (rq->last_read || now < rq->deadline)
			continue;
		rq->last_read = 1;
		wait_reread(rq);
	}
}

/* Every reply on the subscriber connection: confirmations, messages. */
static void
wait_sub_reply(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply	*r = reply, *kind, *chan;
	struct wchan	*ch;
	char		 id[WQ_ID_LEN + 1];

	(void)ac;
	(void)priv;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 3)
		return;		/* the link went: wait_sub_down() */
	kind = r->element[0];
	chan = r->element[1];
	if (kind->type != REDIS_REPLY_STRING || chan->type !=
	    REDIS_REPLY_STRING || wq_async_done_id(api_wq, chan->str, chan->len,
	    id) == -1 || (ch = chan_find(id)) == NULL)
		return;
	if (strcmp(kind->str, "message") == 0) {
		chan_reread(ch);
	} else if (strcmp(kind->str, "subscribe") == 0) {
		ch->state = CHAN_SUBSCRIBED;
		if (TAILQ_EMPTY(&ch->waiters))
			chan_command(ch, 0);
		else
			chan_reread(ch);
	} else if (strcmp(kind->str, "unsubscribe") == 0) {
		ch->state = CHAN_NONE;
		if (TAILQ_EMPTY(&ch->waiters))
			chan_free(ch);
		else
			chan_command(ch, 1);
	}
}

/* The subscriber connection is (back) up: subscribe all again. */
void
wait_sub_up(void)
{
	struct wchan	*ch;
	int		 i;

	for (i = 0; i < NBUCKETS; i++)
		LIST_FOREACH(ch, &buckets[i], link)
			if (ch->state == CHAN_NONE &&
			    !TAILQ_EMPTY(&ch->waiters))
				chan_command(ch, 1);
}

/* It went down: nothing is subscribed any more. */
void
wait_sub_down(void)
{
	struct wchan	*ch, *next;
	int		 i;

	for (i = 0; i < NBUCKETS; i++)
		for (ch = LIST_FIRST(&buckets[i]); ch != NULL; ch = next) {
			next = LIST_NEXT(ch, link);
			ch->state = CHAN_NONE;
			if (TAILQ_EMPTY(&ch->waiters))
				chan_free(ch);
		}
}
