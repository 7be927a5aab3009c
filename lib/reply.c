/*
 * reply.c -- reading hiredis's replies: an error reply made the error of
 * the context (and told apart: a server that cannot serve now, or a
 * script the server does not know), numbers, and the server's clock.
 */
#include <stdlib.h>
#include <string.h>

#include "wq-int.h"

/* An error reply becomes the error of wq; returns non-zero for one. */
int
wq_reply_error(struct wq *wq, redisReply *r, const char *what)
{
	if (r == NULL)
		return WQ_EUNAVAIL;
	if (r->type != REDIS_REPLY_ERROR)
		return WQ_OK;
	/* A replica or a server still loading: try again later. */
	if (strncmp(r->str, "READONLY", 8) == 0 ||
	    strncmp(r->str, "LOADING", 7) == 0 ||
	    strncmp(r->str, "MASTERDOWN", 10) == 0 ||
	    strncmp(r->str, "BUSY", 4) == 0) {
		wq_seterr(wq, WQ_EUNAVAIL, "%s: Redis: %s", what, r->str);
		wq_disconnect(wq);
		return WQ_EUNAVAIL;
	}
	return wq_seterr(wq, WQ_EUNAVAIL, "%s: Redis: %s", what, r->str);
}

int
wq_reply_noscript(redisReply *r)
{
	return r != NULL && r->type == REDIS_REPLY_ERROR &&
	    strncmp(r->str, "NOSCRIPT", 8) == 0;
}

long long
wq_reply_ll(redisReply *r)
{
	if (r == NULL)
		return 0;
	if (r->type == REDIS_REPLY_INTEGER)
		return r->integer;
	if (r->type == REDIS_REPLY_STRING)
		return strtoll(r->str, NULL, 10);
	return 0;
}

/* The server's clock in ms from a TIME reply, else ours. */
long long
wq_reply_time_ms(redisReply *r)
{
	if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2)
		return wq_reply_ll(r->element[0]) * 1000 +
		    wq_reply_ll(r->element[1]) / 1000;
	return (long long)wq_now_ms();
}
