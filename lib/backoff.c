/*
 * backoff.c -- waiting longer after each failure, in one way for all:
 * the n-th wait in a row is base ms doubled n - 1 times, at most cap, and
 * spread by a random factor so that the nodes that failed together do not
 * come back together.  Its users: a command or the API reconnecting to
 * Redis (wq_backoff_ms), a job's next attempt (wq_backoff_retry_ms), and
 * the API's async connections (kore-api/redis.c, without the spread).
 */
#include <stdlib.h>

#include "wq-int.h"

/* A reconnect: 100 ms doubling to 5 s, each wait 50 to 100 % of it. */
#define RECONNECT_BASE_MS	100
#define RECONNECT_CAP_MS	5000
/* A job's retry: --backoff doubling to 1 h, each 50 to 150 % of it. */
#define RETRY_CAP_MS		(3600L * 1000)

/*
 * The n-th wait (n from 1): base doubled n - 1 times, at most cap, then
 * scaled by a factor drawn from [lo, hi) percent (lo == hi: exactly).
 */
long
wq_backoff(long n, long base, long cap, int lo, int hi)
{
	double	d;

	if (n < 1)
		n = 1;
	d = (double)base;
	while (--n > 0 && d < (double)cap)
		d *= 2;
	if (d > (double)cap)
		d = (double)cap;
	if (hi > lo)
		d *= ((double)lo + (double)(hi - lo) * (double)random() /
		    ((double)RAND_MAX + 1)) / 100;
	else
		d *= (double)lo / 100;
	return (long)d;
}

/* The wait before the next reconnect; reset once connected. */
int
wq_backoff_ms(struct wq *wq)
{
	wq->failures++;
	return (int)wq_backoff(wq->failures, RECONNECT_BASE_MS,
	    RECONNECT_CAP_MS, 50, 100);
}

void
wq_backoff_reset(struct wq *wq)
{
	wq->failures = 0;
}

/* The delay of the next attempt of a job that failed attempt. */
long
wq_backoff_retry_ms(long attempt, long base_ms)
{
	return wq_backoff(attempt, base_ms, RETRY_CAP_MS, 50, 150);
}
