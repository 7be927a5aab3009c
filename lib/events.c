/*
 * events.c -- the event stream: what happened to jobs, in the Redis
 * stream events, written by the scripts that make each change
 * (common.lua, wq_event) and read here in order, from where a reader
 * stopped (docs/DESIGN.md, Events).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wq-int.h"
#include "wq-async.h"

/* The stream's fields (common.lua, wq_event) and their JSON names. */
static const struct {
	char		 field;
	const char	*name;
	int		 number;	/* 1 a number, 2 JSON, 0 a string */
} event_fields[] = {
	{ 't', "type", 0 },
	{ 'c', "callback", 0 },
	{ 'q', "queue", 0 },
	{ 'n', "node", 0 },
	{ 'a', "attempt", 1 },
	{ 'e', "error", 0 },
	{ 'g', "progress", 2 },
	{ 'y', "retry_at", 1 },
};

/*
 * An event's id: MS-SEQ, the stream id of its entry, both whole numbers
 * (a bare MS is a time), then .K when the entry holds many events, K
 * from 1 (the K-th of them).
 */
static int
is_stream_id(const char *s, unsigned long long *ms)
{
	char	*end;

	if (*s < '0' || *s > '9')
		return 0;
	*ms = strtoull(s, &end, 10);
	if (*end != '-' || end[1] < '0' || end[1] > '9' ||
	    strlen(s) >= WQ_EVENT_ID_LEN)
		return 0;
	(void)strtoull(end + 1, &end, 10);
	if (*end == '.' && end[1] >= '1' && end[1] <= '9')
		(void)strtoull(end + 1, &end, 10);
	return *end == '\0';
}

/*
 * A reader's place, last: the id of the last event it was given, MS-SEQ
 * (all of that entry) or MS-SEQ.K (the first K of its events).  The
 * entry in *entry, K in *skip (0 for all of it).
 */
static void
place(const char *last, char entry[WQ_EVENT_ID_LEN], unsigned long *skip)
{
	const char	*dot;

	snprintf(entry, WQ_EVENT_ID_LEN, "%s", last);
	*skip = 0;
	if ((dot = strchr(last, '.')) != NULL) {
		entry[dot - last] = '\0';
		*skip = strtoul(dot + 1, NULL, 10);
	}
}

/*
 * Where to read from for --since: a stream id (the last one a reader
 * printed: what follows it), or a time (RFC 3339 or seconds since the
 * epoch: the events from it on).  One ahead of now (ms, the server's
 * clock) is refused, as are ids and times that are neither (WQ_EUSAGE).
 * NULL: the whole stream.
 */
int
wq_events_start(struct wq *wq, const char *arg, long long now,
    char last[WQ_EVENT_ID_LEN])
{
	unsigned long long	 ms;
	int64_t			 t;
	int			 id;

	snprintf(last, WQ_EVENT_ID_LEN, "0-0");
	if (arg == NULL)
		return WQ_OK;
	if ((id = is_stream_id(arg, &ms)) == 0) {
		if (wq_parse_time_ms(arg, &t) == -1)
			return wq_seterr(wq, WQ_EUSAGE, "--since: \"%.64s\" is "
			    "neither a stream id (MS-SEQ) nor a time (RFC "
			    "3339, as 2026-12-04T10:30:00Z, or epoch seconds)",
			    arg);
		ms = (unsigned long long)t;
	}
	if (now >= 0 && ms > (unsigned long long)now)
		return wq_seterr(wq, WQ_EUSAGE, "--since: \"%.64s\" is in "
		    "the future (%llu ms ahead of the server's clock)", arg,
		    ms - (unsigned long long)now);
	if (id)
		snprintf(last, WQ_EVENT_ID_LEN, "%s", arg);
	else if (ms > 0)
		/* the last id that can come before the time */
		snprintf(last, WQ_EVENT_ID_LEN, "%llu-18446744073709551615",
		    ms - 1);
	return WQ_OK;
}

/* wq_events_start() against the server's clock (TIME). */
int
wq_events_since(struct wq *wq, const char *arg, char last[WQ_EVENT_ID_LEN])
{
	struct wq_argv		 a;
	redisReply		*r;
	long long		 now;
	int			 rc;

	if (arg == NULL)
		return wq_events_start(wq, arg, -1, last);
	wq_argv_init(&a);
	wq_argv_adds(&a, "TIME");
	r = wq_redis_command(wq, &a);
	wq_argv_free(&a);
	if ((rc = wq_reply_error(wq, r, "time")) != WQ_OK) {
		if (r != NULL)
			freeReplyObject(r);
		return rc;
	}
	now = wq_reply_time_ms(r);
	freeReplyObject(r);
	return wq_events_start(wq, arg, now, last);
}

/*
 * XREAD of up to max entries after last, waiting up to block_ms for one
 * (0: not at all).  After MS-SEQ.K: from the entry MS-SEQ on (XREAD
 * starts after the id it is given: the one before), whose first K
 * events wq_events_decode() passes over.
 */
void
wq_events_argv(struct wq *wq, const char *last, long block_ms, size_t max,
    struct wq_argv *a)
{
	unsigned long long	 ms, seq;
	unsigned long		 skip;
	char			 from[WQ_EVENT_ID_LEN], *end;

	place(last, from, &skip);
	if (skip > 0) {
		ms = strtoull(from, &end, 10);
		seq = *end == '-' ? strtoull(end + 1, NULL, 10) : 0;
		if (seq > 0)
			snprintf(from, sizeof(from), "%llu-%llu", ms, seq - 1);
		else if (ms > 0)
			snprintf(from, sizeof(from),
			    "%llu-18446744073709551615", ms - 1);
	}
	wq_argv_init(a);
	wq_argv_adds(a, "XREAD");
	wq_argv_adds(a, "COUNT");
	wq_argv_addl(a, (long long)max);
	if (block_ms > 0) {
		wq_argv_adds(a, "BLOCK");
		wq_argv_addl(a, block_ms);
	}
	wq_argv_adds(a, "STREAMS");
	wq_argv_key(a, wq, "events");
	wq_argv_adds(a, from);
}

/* A field's value, p of len bytes, as the JSON of event field k. */
static int
event_value(size_t k, const char *p, size_t len, jv *v)
{
	char	err[64], num[32];

	if (event_fields[k].number == 1) {
		if (len >= sizeof(num))
			return -1;
		memcpy(num, p, len);
		num[len] = '\0';
		*v = jv_number((double)strtoll(num, NULL, 10));
	} else if (event_fields[k].number == 2) {
		*v = wq_parse(p, len, err, sizeof(err));
		if (!jv_is_valid(*v)) {
			jv_free(*v);
			return -1;
		}
	} else
		*v = jv_string_sized(p, (int)len);
	return 0;
}

/*
 * The n-th word (from 0) of the list s of len bytes, words between
 * spaces: its start, its length in *wlen; NULL when there are fewer.
 */
static const char *
word(const char *s, size_t len, size_t n, size_t *wlen)
{
	const char	*p = s, *e = s + len, *sp;

	for (; n > 0; n--) {
		if ((sp = memchr(p, ' ', (size_t)(e - p))) == NULL)
			return NULL;
		p = sp + 1;
	}
	sp = memchr(p, ' ', (size_t)(e - p));
	*wlen = (size_t)((sp != NULL ? sp : e) - p);
	return p;
}

/*
 * An entry [id, [field, value...]] as its events, appended to *out, from
 * the one after the first skip: one event (id: the entry's), or many when
 * its 'c' (and 'a') list many, joined by spaces (common.lua,
 * wq_batch_add), their ids ID.1, ID.2...; the other fields are all
 * of theirs.
 */
static void
entry_events(redisReply *e, unsigned long skip, jv *out)
{
	redisReply	*f, *v;
	const char	*p;
	jv		 o, val;
	char		 id[WQ_EVENT_ID_LEN];
	size_t		 i, k, n, j, len;
	int		 list;

	f = e->element[1];
	n = 1;
	for (i = 0; i + 1 < f->elements; i += 2)
		if (f->element[i]->len == 1 && f->element[i]->str[0] == 'c')
			for (p = f->element[i + 1]->str; (p = strchr(p, ' ')) !=
			    NULL; p++)
				n++;
	for (j = skip; j < n; j++) {
		if (n > 1)
			snprintf(id, sizeof(id), "%s.%zu",
			    e->element[0]->str, j + 1);
		else
			snprintf(id, sizeof(id), "%s", e->element[0]->str);
		o = jv_object_set(jv_object(), jv_string("id"),
		    jv_string(id));
		for (i = 0; i + 1 < f->elements; i += 2) {
			v = f->element[i + 1];
			if (f->element[i]->len != 1 || v->len == 0)
				continue;
			for (k = 0; k < sizeof(event_fields) /
			    sizeof(event_fields[0]); k++)
				if (event_fields[k].field ==
				    f->element[i]->str[0])
					break;
			if (k == sizeof(event_fields) /
			    sizeof(event_fields[0]))
				continue;
			list = n > 1 && (event_fields[k].field == 'c' ||
			    event_fields[k].field == 'a');
			p = v->str;
			len = v->len;
			if (list && (p = word(v->str, v->len, j, &len)) ==
			    NULL)
				continue;
			if (len == 0 || event_value(k, p, len, &val) == -1)
				continue;
			o = jv_object_set(o, jv_string(event_fields[k].name),
			    val);
		}
		/* when: the id's milliseconds, the server's clock at the
		 * change */
		o = jv_object_set(o, jv_string("time"),
		    jv_number((double)strtoull(e->element[0]->str, NULL, 10)));
		*out = jv_array_append(*out, o);
	}
}

/*
 * The reply of wq_events_argv(): the events in *out (an array, maybe
 * empty; the entries' events, those of an entry last named by MS-SEQ.K
 * from the one after the K-th), and last moved to the id of the last
 * entry (all of its events given).
 */
int
wq_events_decode(struct wq *wq, redisReply *r, char last[WQ_EVENT_ID_LEN],
    jv *out)
{
	redisReply	*s, *e;
	unsigned long	 skip;
	size_t		 i;
	int		 rc;
	char		 entry[WQ_EVENT_ID_LEN];

	*out = jv_array();
	place(last, entry, &skip);
	if ((rc = wq_reply_error(wq, r, "events")) != WQ_OK)
		return rc;
	if (r->type == REDIS_REPLY_NIL)
		return WQ_OK;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 1 ||
	    r->element[0]->type != REDIS_REPLY_ARRAY ||
	    r->element[0]->elements != 2 ||
	    r->element[0]->element[1]->type != REDIS_REPLY_ARRAY)
		return wq_seterr(wq, WQ_EREDIS, "events: an unexpected reply");
	s = r->element[0]->element[1];
	for (i = 0; i < s->elements; i++) {
		e = s->element[i];
		if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
		    e->element[0]->type != REDIS_REPLY_STRING ||
		    e->element[1]->type != REDIS_REPLY_ARRAY)
			continue;
		entry_events(e, strcmp(e->element[0]->str, entry) == 0 ?
		    skip : 0, out);
		snprintf(last, WQ_EVENT_ID_LEN, "%s", e->element[0]->str);
	}
	return WQ_OK;
}

/* Stream ids compared: <0, 0, >0. */
static int
id_cmp(const char *a, const char *b)
{
	unsigned long long	 ma, sa = 0, mb, sb = 0;
	char			*e;

	ma = strtoull(a, &e, 10);
	if (*e == '-')
		sa = strtoull(e + 1, NULL, 10);
	mb = strtoull(b, &e, 10);
	if (*e == '-')
		sb = strtoull(e + 1, NULL, 10);
	if (ma != mb)
		return ma < mb ? -1 : 1;
	return sa < sb ? -1 : sa > sb;
}

/* The value of a field of XINFO STREAM's reply, or NULL. */
static redisReply *
xinfo_field(redisReply *r, const char *name)
{
	size_t	i;

	for (i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements;
	    i += 2)
		if (r->element[i]->type == REDIS_REPLY_STRING &&
		    strcmp(r->element[i]->str, name) == 0)
			return r->element[i + 1];
	return NULL;
}

/*
 * Whether events after last may have been trimmed off the stream already
 * (a reader that resumes there has missed them): the stream was trimmed
 * (it holds fewer than were ever added) and its first entry comes after
 * last.  1 and that first entry's id in first, 0 when not, -WQ_* on an
 * error.
 */
int
wq_events_lost(struct wq *wq, const char *last, char first[WQ_EVENT_ID_LEN])
{
	struct wq_argv	 a;
	redisReply	*r, *added, *len, *f;
	int		 rc, lost;

	if (strcmp(last, "0-0") == 0)
		return 0;
	wq_argv_init(&a);
	wq_argv_adds(&a, "XINFO");
	wq_argv_adds(&a, "STREAM");
	wq_argv_key(&a, wq, "events");
	r = wq_redis_command(wq, &a);
	wq_argv_free(&a);
	if (r != NULL && r->type == REDIS_REPLY_ERROR &&
	    strncmp(r->str, "ERR no such key", 15) == 0) {
		freeReplyObject(r);
		return 0;
	}
	if ((rc = wq_reply_error(wq, r, "events")) != WQ_OK) {
		if (r != NULL)
			freeReplyObject(r);
		return -rc;
	}
	added = xinfo_field(r, "entries-added");
	len = xinfo_field(r, "length");
	f = xinfo_field(r, "recorded-first-entry-id");
	lost = added != NULL && len != NULL && f != NULL &&
	    f->type == REDIS_REPLY_STRING &&
	    wq_reply_ll(added) > wq_reply_ll(len) && id_cmp(last, f->str) < 0;
	if (lost)
		snprintf(first, WQ_EVENT_ID_LEN, "%s", f->str);
	freeReplyObject(r);
	return lost;
}

/*
 * Up to max events after last (moved on past them), waiting up to
 * block_ms for the first when there is none (0: not at all).
 */
int
wq_events_read(struct wq *wq, char last[WQ_EVENT_ID_LEN], long block_ms,
    size_t max, jv *out)
{
	struct wq_argv	 a;
	redisReply	*r;
	int		 rc;

	wq_events_argv(wq, last, block_ms, max, &a);
	r = wq_redis_command(wq, &a);
	wq_argv_free(&a);
	rc = wq_events_decode(wq, r, last, out);
	if (r != NULL)
		freeReplyObject(r);
	return rc;
}
