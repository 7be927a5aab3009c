/*
 * reply.c -- reading hiredis's replies: an error reply made the error of
 * the context (and told apart: a server that cannot serve now, or a
 * script the server does not know), numbers, and the server's clock.
 */
#include <stdlib.h>
#include <string.h>

#include "wq-int.h"

/*
 * The error codes (the reply's first word) of a server that cannot serve
 * now but will: a replica, a server loading its data or cut off from its
 * master, a script running too long, memory or disk full, a cluster
 * reconfiguring, or a cluster node that no longer holds the namespace's
 * slot (MOVED, ASK; EXECABORT: a transaction whose commands were
 * answered so).  Redis passes them on unchanged from a script's
 * redis.call.  The caller retries them with backoff, on a new
 * connection, which finds the slot's primary again.
 */
static const char *const unavail_codes[] = {
	"READONLY", "LOADING", "MASTERDOWN", "BUSY", "OOM", "MISCONF",
	"NOREPLICAS", "TRYAGAIN", "CLUSTERDOWN", "NOAUTH", "MOVED", "ASK",
	"EXECABORT", NULL
};

/* What a cluster node says of a script (numkeys 0) run on the wrong node
 * or while the cluster is down: an ERR, told apart by its words. */
static const char *const unavail_words[] = {
	"Script attempted to access a non local key",
	"while the cluster is down", NULL
};

static int
reply_unavailable(const char *s)
{
	size_t	i, n;

	for (i = 0; unavail_codes[i] != NULL; i++) {
		n = strlen(unavail_codes[i]);
		if (strncmp(s, unavail_codes[i], n) == 0 &&
		    (s[n] == ' ' || s[n] == '\0'))
			return 1;
	}
	for (i = 0; unavail_words[i] != NULL; i++)
		if (strstr(s, unavail_words[i]) != NULL)
			return 1;
	return 0;
}

/* An error reply of a server that cannot serve now (see above). */
int
wq_reply_unavailable(const redisReply *r)
{
	return r != NULL && r->type == REDIS_REPLY_ERROR &&
	    reply_unavailable(r->str);
}

/*
 * An error reply becomes the error of wq; returns non-zero for one.
 * WQ_EUNAVAIL when Redis cannot serve now (and the connection is dropped,
 * so that the next one finds the master again), or when the reply never
 * came; WQ_EREDIS when Redis answered an error: a key of another type
 * (WRONGTYPE), a script's error, a refusal of an ACL.  That is bad data
 * or a bug, which a retry cannot mend: the operation fails, the link is
 * fine.
 */
int
wq_reply_error(struct wq *wq, redisReply *r, const char *what)
{
	if (r == NULL)
		return wq->parts_bad ? WQ_EUSAGE : WQ_EUNAVAIL;
	if (r->type != REDIS_REPLY_ERROR)
		return WQ_OK;
	if (reply_unavailable(r->str)) {
		wq_seterr(wq, WQ_EUNAVAIL, "%s: Redis: %s", what, r->str);
		wq_disconnect(wq);
		return WQ_EUNAVAIL;
	}
	return wq_seterr(wq, WQ_EREDIS, "%s: Redis answered an error: %s",
	    what, r->str);
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
