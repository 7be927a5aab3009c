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

int
wq_sub_open(struct wq *wq, struct wq_sub *s)
{
	char	err[256];

	s->wq = wq;
	s->prefix_len = strlen(wq->cfg.prefix) + 1;
	if ((s->c = wq_redis_open(wq, err, sizeof(err))) == NULL)
		return wq_seterr(wq, WQ_EUNAVAIL, "%s", err);
	return WQ_OK;
}

void
wq_sub_close(struct wq_sub *s)
{
	if (s->c != NULL)
		redisFree(s->c);
	s->c = NULL;
}

int
wq_sub_flush(struct wq_sub *s)
{
	int	done = 0;

	while (!done)
		if (redisBufferWrite(s->c, &done) != REDIS_OK)
			return wq_seterr(s->wq, WQ_EUNAVAIL, "Redis connection "
			    "lost: %s", s->c->errstr);
	return WQ_OK;
}

void
wq_sub_cmd(struct wq_sub *s, const char *cmd, const char *fmt, const char *arg)
{
	char	*ch;

	if (asprintf(&ch, fmt, s->wq->cfg.prefix, arg) < 0)
		abort();
	/* (fails only out of memory: abort, as wq_calloc does) */
	if (redisAppendCommand(s->c, "%s %s", cmd, ch) != REDIS_OK)
		abort();
	free(ch);
}

/*
 * One command for many channels: SUBSCRIBE (or UNSUBSCRIBE) NS:done:<id>
 * for up to 256 ids at a time.  Redis confirms each channel apart, in
 * order, on the same connection as the messages.
 */
void
wq_sub_cmd_many(struct wq_sub *s, const char *cmd, const char *fmt,
    const char **ids, size_t n)
{
	const char	**argv;
	size_t		 *lens, i, k, m;

	argv = wq_calloc(257, sizeof(*argv));
	lens = wq_calloc(257, sizeof(*lens));
	for (i = 0; i < n; i += m) {
		m = n - i < 256 ? n - i : 256;
		argv[0] = cmd;
		lens[0] = strlen(cmd);
		for (k = 0; k < m; k++) {
			if (asprintf((char **)&argv[k + 1], fmt,
			    s->wq->cfg.prefix, ids[i + k]) < 0)
				abort();
			lens[k + 1] = strlen(argv[k + 1]);
		}
		if (redisAppendCommandArgv(s->c, (int)m + 1, argv, lens) !=
		    REDIS_OK)
			abort();
		for (k = 0; k < m; k++)
			free((char *)argv[k + 1]);
	}
	free(argv);
	free(lens);
}

/*
 * Read what has arrived; call fn for each published message ('m', with
 * its text) and each confirmed subscription ('s', text NULL) with the
 * channel name less "NS:", and for each error ('e', channel "": a
 * (UN)SUBSCRIBE refused, as an ACL refuses a channel).
 * Returns WQ_EUNAVAIL when the link broke.
 */
int
wq_sub_read(struct wq_sub *s,
    void (*fn)(void *, int, const char *, const char *), void *arg)
{
	redisReply	*r;
	const char	*chan;
	void		*p;

	if (redisBufferRead(s->c) != REDIS_OK)
		return wq_seterr(s->wq, WQ_EUNAVAIL, "Redis connection "
		    "lost: %s", s->c->errstr[0] ? s->c->errstr : "closed");
	for (;;) {
		if (redisGetReplyFromReader(s->c, &p) != REDIS_OK)
			return wq_seterr(s->wq, WQ_EUNAVAIL, "Redis protocol "
			    "error");
		if ((r = p) == NULL)
			break;
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
		    r->element[0]->type == REDIS_REPLY_STRING &&
		    r->element[1]->type == REDIS_REPLY_STRING &&
		    r->element[1]->len > s->prefix_len) {
			chan = r->element[1]->str + s->prefix_len;
			if (strcmp(r->element[0]->str, "message") == 0 &&
			    r->element[2]->type == REDIS_REPLY_STRING)
				fn(arg, 'm', chan, r->element[2]->str);
			else if (strcmp(r->element[0]->str, "subscribe") == 0)
				fn(arg, 's', chan, NULL);
		} else if (r->type == REDIS_REPLY_ERROR)
			fn(arg, 'e', "", r->str);
		freeReplyObject(r);
	}
	return WQ_OK;
}
