/*
 * hints.c -- a worker's hints: a subscriber connection (sub.c) on the
 * wake:<q> and due:<q> channels of each of its queues and on its
 * msg:<name>, so that an idle worker sleeps until work is queued, a job
 * to run later is submitted (the worker then asks when it is due and
 * wakes then: promote.lua) or a message arrives.
 */
#include <stdlib.h>
#include <string.h>

#include "wq-int.h"

struct wq_hints {
	struct wq_sub	 s;
	int		 work, msg, due;
};

int
wq_hints_open(struct wq *wq, struct wq_worker_opts *o, struct wq_hints **out)
{
	struct wq_hints	*h;
	size_t		 i;
	int		 rc;

	h = wq_calloc(1, sizeof(*h));
	if ((rc = wq_sub_open(wq, &h->s)) != WQ_OK) {
		free(h);
		return rc;
	}
	for (i = 0; i < o->nqueues; i++) {
		wq_sub_cmd(&h->s, "SUBSCRIBE", "%s:wake:%s", o->queues[i]);
		wq_sub_cmd(&h->s, "SUBSCRIBE", "%s:due:%s", o->queues[i]);
	}
	wq_sub_cmd(&h->s, "SUBSCRIBE", "%s:msg:%s", wq_name(wq));
	if ((rc = wq_sub_flush(&h->s)) != WQ_OK) {
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
	wq_sub_close(&h->s);
	free(h);
}

int
wq_hints_fd(struct wq_hints *h)
{
	return h->s.c->fd;
}

static void
hints_hint(void *arg, int kind, const char *chan, const char *msg)
{
	struct wq_hints	*h = arg;
	int		 p;

	if (kind != 'm')
		return;
	if (strncmp(chan, "wake:", 5) == 0) {
		/* the message: the prefix of the partition with work */
		if ((p = wq_part_by_prefix(h->s.wq, msg)) >= 0)
			h->s.wq->part_work[p] = 1;
		h->work = 1;
	} else if (strncmp(chan, "msg:", 4) == 0)
		h->msg = 1;
	else if (strncmp(chan, "due:", 4) == 0)
		h->due = 1;
}

int
wq_hints_read(struct wq_hints *h, int *work, int *msg)
{
	int	rc;

	h->work = h->msg = 0;
	rc = wq_sub_read(&h->s, hints_hint, h);
	*work = h->work;
	*msg = h->msg;
	return rc;
}

int
wq_hints_due(struct wq_hints *h)
{
	int	due = h->due;

	h->due = 0;
	return due;
}
