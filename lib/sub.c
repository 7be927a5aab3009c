/*
 * sub.c -- subscriber connections: hints, never the source of truth.
 *
 * A job that ends publishes on done:<id>; work queued on a queue publishes
 * on wake:<q>; a message for a node publishes on msg:<name>.  Waiters
 * (wq-status --wait) and workers keep a second connection subscribed to
 * what concerns them and poll its descriptor with their other work, so
 * they block without polling Redis.  A hint only says "look again": the
 * truth is re-read from the keys, and since a hint can be lost (the link
 * broke, the publish happened before the subscribe), callers also look
 * again now and then, and always right after subscribing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wq-int.h"

struct wq_sub {
	struct wq	*wq;
	redisContext	*c;
	size_t		 prefix_len;	/* of "NS:" */
};

static int
sub_open(struct wq *wq, struct wq_sub *s)
{
	char	err[256];

	s->wq = wq;
	s->prefix_len = strlen(wq->cfg.ns) + 1;
	if ((s->c = wq_redis_open(wq, err, sizeof(err))) == NULL)
		return wq_seterr(wq, WQ_EUNAVAIL, "%s", err);
	return WQ_OK;
}

static void
sub_close(struct wq_sub *s)
{
	if (s->c != NULL)
		redisFree(s->c);
	s->c = NULL;
}

static int
sub_flush(struct wq_sub *s)
{
	int	done = 0;

	while (!done)
		if (redisBufferWrite(s->c, &done) != REDIS_OK)
			return wq_seterr(s->wq, WQ_EUNAVAIL, "Redis connection "
			    "lost: %s", s->c->errstr);
	return WQ_OK;
}

static void
sub_cmd(struct wq_sub *s, const char *cmd, const char *fmt, const char *arg)
{
	char	*ch;

	if (asprintf(&ch, fmt, s->wq->cfg.ns, arg) < 0)
		abort();
	redisAppendCommand(s->c, "%s %s", cmd, ch);
	free(ch);
}

/*
 * Read what has arrived; call fn for each published message with the
 * channel name less "NS:".  Returns WQ_EUNAVAIL when the link broke.
 */
static int
sub_read(struct wq_sub *s, void (*fn)(void *, const char *), void *arg)
{
	redisReply	*r;
	void		*p;

	if (redisBufferRead(s->c) != REDIS_OK)
		return wq_seterr(s->wq, WQ_EUNAVAIL, "Redis connection lost: %s",
		    s->c->errstr[0] ? s->c->errstr : "closed");
	for (;;) {
		if (redisGetReplyFromReader(s->c, &p) != REDIS_OK)
			return wq_seterr(s->wq, WQ_EUNAVAIL, "Redis protocol "
			    "error");
		if ((r = p) == NULL)
			break;
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
		    r->element[0]->type == REDIS_REPLY_STRING &&
		    strcmp(r->element[0]->str, "message") == 0 &&
		    r->element[1]->len > s->prefix_len)
			fn(arg, r->element[1]->str + s->prefix_len);
		freeReplyObject(r);
	}
	return WQ_OK;
}

/* Waiters. */
struct wq_waiter {
	struct wq_sub	 s;
	char		**ids;
	size_t		 n, cap;
	size_t		 max;
};

int
wq_waiter_open(struct wq *wq, struct wq_waiter **out)
{
	struct wq_waiter	*w;
	int			 rc;

	w = wq_calloc(1, sizeof(*w));
	if ((rc = sub_open(wq, &w->s)) != WQ_OK) {
		free(w);
		return rc;
	}
	*out = w;
	return WQ_OK;
}

void
wq_waiter_close(struct wq_waiter *w)
{
	size_t	i;

	if (w == NULL)
		return;
	sub_close(&w->s);
	for (i = 0; i < w->n; i++)
		free(w->ids[i]);
	free(w->ids);
	free(w);
}

int
wq_waiter_fd(struct wq_waiter *w)
{
	return w->s.c->fd;
}

int
wq_waiter_add(struct wq_waiter *w, const char **ids, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		sub_cmd(&w->s, "SUBSCRIBE", "%s:done:%s", ids[i]);
	return sub_flush(&w->s);
}

int
wq_waiter_remove(struct wq_waiter *w, const char *id)
{
	sub_cmd(&w->s, "UNSUBSCRIBE", "%s:done:%s", id);
	return sub_flush(&w->s);
}

static void
waiter_hint(void *arg, const char *chan)
{
	struct wq_waiter	*w = arg;

	if (strncmp(chan, "done:", 5) != 0 || w->n >= w->max)
		return;
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 64;
		w->ids = wq_realloc(w->ids, w->cap * sizeof(*w->ids));
	}
	w->ids[w->n++] = wq_strdup(chan + 5);
}

int
wq_waiter_read(struct wq_waiter *w, char **ids, size_t max, size_t *n)
{
	size_t	i;
	int	rc;

	for (i = 0; i < w->n; i++)
		free(w->ids[i]);
	w->n = 0;
	w->max = max;
	rc = sub_read(&w->s, waiter_hint, w);
	for (i = 0; i < w->n; i++)
		ids[i] = w->ids[i];
	*n = w->n;
	return rc;
}

/* Workers' hints. */
struct wq_hints {
	struct wq_sub	 s;
	int		 work, msg;
};

int
wq_hints_open(struct wq *wq, struct wq_worker_opts *o, struct wq_hints **out)
{
	struct wq_hints	*h;
	size_t		 i;
	int		 rc;

	h = wq_calloc(1, sizeof(*h));
	if ((rc = sub_open(wq, &h->s)) != WQ_OK) {
		free(h);
		return rc;
	}
	for (i = 0; i < o->nqueues; i++)
		sub_cmd(&h->s, "SUBSCRIBE", "%s:wake:%s", o->queues[i]);
	sub_cmd(&h->s, "SUBSCRIBE", "%s:msg:%s", wq_name(wq));
	if ((rc = sub_flush(&h->s)) != WQ_OK) {
		wq_hints_close(h);
		return rc;
	}
	*out = h;
	return WQ_OK;
}

void
wq_hints_close(struct wq_hints *h)
{
	if (h == NULL)
		return;
	sub_close(&h->s);
	free(h);
}

int
wq_hints_fd(struct wq_hints *h)
{
	return h->s.c->fd;
}

static void
hints_hint(void *arg, const char *chan)
{
	struct wq_hints	*h = arg;

	if (strncmp(chan, "wake:", 5) == 0)
		h->work = 1;
	else if (strncmp(chan, "msg:", 4) == 0)
		h->msg = 1;
}

int
wq_hints_read(struct wq_hints *h, int *work, int *msg)
{
	int	rc;

	h->work = h->msg = 0;
	rc = sub_read(&h->s, hints_hint, h);
	*work = h->work;
	*msg = h->msg;
	return rc;
}
