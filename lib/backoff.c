/*
 * backoff.c -- waiting longer after each failure: a reconnect to Redis,
 * and a job's next attempt.
 */
#include <math.h>
#include <stdlib.h>

#include "wq-int.h"

/* 100 ms doubling to 5 s, each wait jittered to 50..100 % of it. */
int
wq_backoff_ms(struct wq *wq)
{
	int	ms;

	wq->backoff_ms = wq->backoff_ms == 0 ? 100 : wq->backoff_ms * 2;
	if (wq->backoff_ms > 5000)
		wq->backoff_ms = 5000;
	ms = wq->backoff_ms / 2 + (int)(random() % (wq->backoff_ms / 2 + 1));
	return ms;
}

void
wq_backoff_reset(struct wq *wq)
{
	wq->backoff_ms = 0;
}

/* Exponential backoff with jitter: base, 2 base, 4 base ... capped at
 * 1 h, each scaled by a random factor in [0.5, 1.5). */
long
wq_backoff_retry_ms(long attempt, long base_ms)
{
	double	base;

	if (attempt < 1)
		attempt = 1;
	base = (double)base_ms * pow(2.0, (double)(attempt - 1 > 20 ? 20 : attempt - 1));
	if (base > 3600000.0)
		base = 3600000.0;
	return (long)(base * (0.5 + (double)random() / ((double)RAND_MAX + 1)));
}
