/*
 * hints.c -- a worker's hints: a subscriber connection (sub.c) on the
 * wake:<q> and due:<q> channels of each of its queues and on its
 * msg:<name>, so that an idle worker sleeps until work is queued, a job
 * to run later is submitted (the worker then asks when it is due and
 * wakes then: promote.lua) or a message arrives.  With several
 * partitions, wake:<q> and due:<q> of every partition (sharded: one
 * command a partition) and msg:<name> of the control partition.
 */
#include <stdio.h>
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
	char		**names, *msg;
	size_t		 i;
	int		 rc, p;

	h = wq_calloc(1, sizeof(*h));
	if ((rc = wq_sub_open(wq, &h->s)) != WQ_OK) {
		free(h);
		return rc;
	}
	/* wake:<q> and due:<q> of each queue, in every partition */
	names = wq_calloc(2 * o->nqueues + 1, sizeof(*names));
	for (i = 0; i < o->nqueues; i++) {
		if (asprintf(&names[2 * i], "wake:%s", o->queues[i]) < 0 ||
		    asprintf(&names[2 * i + 1], "due:%s", o->queues[i]) < 0)
			abort();
	}
	for (p = 0; p < wq_parts(wq); p++)
		wq_sub_chans(&h->s, 1, p, (const char **)names,
		    2 * o->nqueues);
	for (i = 0; i < 2 * o->nqueues; i++)
		free(names[i]);
	free(names);
	if (asprintf(&msg, "msg:%s", wq_name(wq)) < 0)
		abort();
	wq_sub_chans(&h->s, 1, -1, (const char **)&msg, 1);
	free(msg);
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

const int *
wq_hints_fds(struct wq_hints *h, size_t *n)
{
	return wq_sub_fds(&h->s, n);
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
