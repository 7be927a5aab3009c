/*
 * events.c -- the event stream: what happened to jobs, in the Redis
 * stream events, written by the scripts that make each change
 * (common.lua, wq_event) and read here in order, from where a reader
 * stopped (docs/DESIGN.md, Events).  With P > 1 partitions each
 * partition has its stream: a reader keeps its place in each (struct
 * wq_evcur), reads them all in one round and merges their entries in id
 * order (wq_evcur_argv, wq_evcur_decode).
 */
#include <poll.h>
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
 * from 1 (the K-th of them), then, with P > 1 partitions, @N: the
 * partition whose stream holds it (their ids are their own).
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
	if (*end == '@' && end[1] >= '0' && end[1] <= '9')
		(void)strtoul(end + 1, &end, 10);
	return *end == '\0';
}

/*
 * A reader's place, last: the id of the last event it was given, MS-SEQ
 * (all of that entry) or MS-SEQ.K (the first K of its events), and @N
 * (its partition's).  The entry in *entry, K in *skip (0 for all of it),
 * N in *part (-1 when none is said).
 */
static void
place_part(const char *last, char entry[WQ_EVENT_ID_LEN],
    unsigned long *skip, int *part)
{
	const char	*at;
	char		*dot;

	snprintf(entry, WQ_EVENT_ID_LEN, "%s", last);
	*skip = 0;
	*part = -1;
	if ((at = strchr(last, '@')) != NULL) {
		entry[at - last] = '\0';
		*part = (int)strtol(at + 1, NULL, 10);
	}
	if ((dot = strchr(entry, '.')) != NULL) {
		*skip = strtoul(dot + 1, NULL, 10);
		*dot = '\0';
	}
}

static void
place(const char *last, char entry[WQ_EVENT_ID_LEN], unsigned long *skip)
{
	int	part;

	place_part(last, entry, skip, &part);
}

/* The stream id just before the entry id e (MS-SEQ), into out. */
static void
id_before(const char *e, char out[WQ_EVENT_ID_LEN])
{
	unsigned long long	 ms, seq;
	char			*end;

	ms = strtoull(e, &end, 10);
	seq = *end == '-' ? strtoull(end + 1, NULL, 10) : 0;
	if (seq > 0)
		snprintf(out, WQ_EVENT_ID_LEN, "%llu-%llu", ms, seq - 1);
	else if (ms > 0)
		snprintf(out, WQ_EVENT_ID_LEN, "%llu-18446744073709551615",
		    ms - 1);
	else
		snprintf(out, WQ_EVENT_ID_LEN, "0-0");
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
static void	events_pargv(struct wq *, int, const char *, long, size_t,
		    struct wq_argv *);

void
wq_events_argv(struct wq *wq, const char *last, long block_ms, size_t max,
    struct wq_argv *a)
{
	events_pargv(wq, 0, last, block_ms, max, a);
}

/* The same in partition p's stream. */
static void
events_pargv(struct wq *wq, int p, const char *last, long block_ms,
    size_t max, struct wq_argv *a)
{
	unsigned long		 skip;
	char			 from[WQ_EVENT_ID_LEN], entry[WQ_EVENT_ID_LEN];

	place(last, entry, &skip);
	if (skip > 0 && strcmp(entry, "0-0") != 0)
		id_before(entry, from);
	else
		snprintf(from, sizeof(from), "%s", entry);
	wq_argv_init(a);
	wq_argv_adds(a, "XREAD");
	wq_argv_adds(a, "COUNT");
	wq_argv_addl(a, (long long)max);
	if (block_ms > 0) {
		wq_argv_adds(a, "BLOCK");
		wq_argv_addl(a, block_ms);
	}
	wq_argv_adds(a, "STREAMS");
	wq_argv_pkey(a, wq, p, "events");
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
entry_events(redisReply *e, unsigned long skip, int part, jv *out)
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
		if (part >= 0)
			snprintf(id + strlen(id), sizeof(id) - strlen(id),
			    "@%d", part);
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
/*
 * The entries of an XREAD's reply of one stream in *s (NULL: none), or
 * an error.
 */
static int
events_entries(struct wq *wq, redisReply *r, redisReply **s)
{
	int	rc;

	*s = NULL;
	if ((rc = wq_reply_error(wq, r, "events")) != WQ_OK)
		return rc;
	if (r->type == REDIS_REPLY_NIL)
		return WQ_OK;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 1 ||
	    r->element[0]->type != REDIS_REPLY_ARRAY ||
	    r->element[0]->elements != 2 ||
	    r->element[0]->element[1]->type != REDIS_REPLY_ARRAY)
		return wq_seterr(wq, WQ_EREDIS, "events: an unexpected reply");
	*s = r->element[0]->element[1];
	return WQ_OK;
}

/* Whether e is an entry [id, [field, value...]]. */
static int
is_entry(redisReply *e)
{
	return e->type == REDIS_REPLY_ARRAY && e->elements == 2 &&
	    e->element[0]->type == REDIS_REPLY_STRING &&
	    e->element[1]->type == REDIS_REPLY_ARRAY;
}

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
	if ((rc = events_entries(wq, r, &s)) != WQ_OK || s == NULL)
		return rc;
	for (i = 0; i < s->elements; i++) {
		e = s->element[i];
		if (!is_entry(e))
			continue;
		entry_events(e, strcmp(e->element[0]->str, entry) == 0 ?
		    skip : 0, -1, out);
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
static int	events_lost(struct wq *, int, const char *,
		    char [WQ_EVENT_ID_LEN]);

int
wq_events_lost(struct wq *wq, const char *last, char first[WQ_EVENT_ID_LEN])
{
	int	rc, p, np;

	if (strcmp(last, "0-0") == 0)
		return 0;
	if ((rc = wq_connect(wq)) != WQ_OK)
		return -rc;
	/* (any partition's stream: the first that was) */
	np = wq_parts(wq);
	for (p = 0, rc = 0; p < np && rc == 0; p++)
		rc = events_lost(wq, p, last, first);
	return rc;
}

/* The same of partition p's stream. */
static int
events_lost(struct wq *wq, int p, const char *last,
    char first[WQ_EVENT_ID_LEN])
{
	struct wq_argv	 a;
	redisReply	*r, *added, *len, *f;
	int		 rc, lost;

	wq_argv_init(&a);
	wq_argv_adds(&a, "XINFO");
	wq_argv_adds(&a, "STREAM");
	wq_argv_pkey(&a, wq, p, "events");
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
 * A reader's place in each partition's stream, at P > 1: where it is in
 * each (at), and the id it was last given (given).  A place other than
 * that one (a new reader, --since) is taken as every partition's.
 */
struct wq_evcur {
	char	  given[WQ_EVENT_ID_LEN];
	int	  np;
	char	(*at)[WQ_EVENT_ID_LEN];
};

/* A reader's places; NULL at P = 1 (it has one stream). */
struct wq_evcur *
wq_evcur_new(struct wq *wq)
{
	struct wq_evcur	*c;

	if (wq_parts(wq) <= 1)
		return NULL;
	c = wq_calloc(1, sizeof(*c));
	c->np = wq_parts(wq);
	c->at = wq_calloc((size_t)c->np, sizeof(*c->at));
	return c;
}

void
wq_evcur_free(struct wq_evcur *c)
{
	if (c == NULL)
		return;
	free(c->at);
	free(c);
}

/*
 * A reader's places from the id it was last given: the merged order is
 * that of (entry, partition, K), so after MS-SEQ[.K]@N come the entries
 * after MS-SEQ in the partitions before N, those from MS-SEQ on (with
 * the first K passed over) in N, and those from MS-SEQ on in the
 * partitions after N.  An id without @N (a time, or an id of P = 1): the
 * entries after it in every partition.
 */
static void
evcur_set(struct wq_evcur *c, const char *last)
{
	char		 entry[WQ_EVENT_ID_LEN];
	unsigned long	 skip;
	int		 p, part;

	place_part(last, entry, &skip, &part);
	for (p = 0; p < c->np; p++)
		if (part < 0 || p < part)
			snprintf(c->at[p], WQ_EVENT_ID_LEN, "%s", entry);
		else if (p == part && skip > 0) {
			/* (a place that is too long for it: the whole entry) */
			if (snprintf(c->at[p], WQ_EVENT_ID_LEN, "%s.%lu",
			    entry, skip) >= WQ_EVENT_ID_LEN)
				snprintf(c->at[p], WQ_EVENT_ID_LEN, "%s",
				    entry);
		} else if (p == part)
			snprintf(c->at[p], WQ_EVENT_ID_LEN, "%s", entry);
		else
			id_before(entry, c->at[p]);
	snprintf(c->given, WQ_EVENT_ID_LEN, "%s", last);
}

/* The XREADs of the P streams after last (none blocks), into *a
 * (malloc'd, P of them); returns P. */
size_t
wq_evcur_argv(struct wq *wq, struct wq_evcur *c, const char *last,
    size_t max, struct wq_argv **ap)
{
	struct wq_argv	*a;
	int		 p;

	*ap = a = wq_calloc((size_t)c->np, sizeof(*a));
	if (strcmp(last, c->given) != 0)
		evcur_set(c, last);
	for (p = 0; p < c->np; p++)
		events_pargv(wq, p, c->at[p], 0, max, &a[p]);
	return (size_t)c->np;
}

struct evcur_entry {
	redisReply	*e;
	int		 p;
};

static int
evcur_entry_cmp(const void *a, const void *b)
{
	const struct evcur_entry	*x = a, *y = b;
	int				 c;

	if ((c = id_cmp(x->e->element[0]->str, y->e->element[0]->str)) != 0)
		return c;
	return x->p - y->p;
}

/*
 * The replies r[0 .. n) of wq_evcur_argv(): the events in *out, the
 * streams' entries merged in id order, and last moved to the last
 * entry's id.  A stream that gave max entries may have more: the others'
 * entries after its last wait for the next read, so that the order holds.
 */
int
wq_evcur_decode(struct wq *wq, struct wq_evcur *c, redisReply **r, size_t n,
    size_t max, char last[WQ_EVENT_ID_LEN], jv *out)
{
	struct evcur_entry	*ents;
	redisReply		**s, *e;
	const char		*bound = NULL, *id;
	char			 entry[WQ_EVENT_ID_LEN];
	unsigned long		 skip;
	size_t			 i, k, ne = 0;
	int			 rc = WQ_OK, p;

	*out = jv_array();
	if (n != (size_t)c->np)
		return wq_seterr(wq, WQ_EREDIS, "events: %zu replies for %d "
		    "streams", n, c->np);
	s = wq_calloc(n, sizeof(*s));
	for (p = 0; p < c->np && rc == WQ_OK; p++) {
		if ((rc = events_entries(wq, r[p], &s[p])) != WQ_OK ||
		    s[p] == NULL)
			continue;
		ne += s[p]->elements;
		if (s[p]->elements >= max && max > 0 &&
		    is_entry(e = s[p]->element[s[p]->elements - 1]) &&
		    (bound == NULL || id_cmp(e->element[0]->str, bound) < 0))
			bound = e->element[0]->str;
	}
	ents = wq_calloc(ne + 1, sizeof(*ents));
	for (p = 0, k = 0; p < c->np && rc == WQ_OK; p++)
		for (i = 0; s[p] != NULL && i < s[p]->elements; i++)
			if (is_entry(e = s[p]->element[i]) && (bound == NULL ||
			    id_cmp(e->element[0]->str, bound) <= 0)) {
				ents[k].e = e;
				ents[k++].p = p;
			}
	if (rc == WQ_OK) {
		qsort(ents, k, sizeof(*ents), evcur_entry_cmp);
		for (i = 0; i < k; i++) {
			id = ents[i].e->element[0]->str;
			p = ents[i].p;
			place(c->at[p], entry, &skip);
			entry_events(ents[i].e, strcmp(id, entry) == 0 ?
			    skip : 0, p, out);
			snprintf(c->at[p], WQ_EVENT_ID_LEN, "%s", id);
			snprintf(last, WQ_EVENT_ID_LEN, "%s@%d", id, p);
		}
		snprintf(c->given, WQ_EVENT_ID_LEN, "%s", last);
	}
	free(ents);
	free(s);
	return rc;
}

/*
 * wq_events_read() at P > 1: the streams read in one round; when none
 * has an event, a follower (block_ms) waits a little and is given none
 * (a blocking XREAD waits on one stream only).
 */
static int
events_read_parts(struct wq *wq, char last[WQ_EVENT_ID_LEN], long block_ms,
    size_t max, jv *out)
{
	struct wq_argv	 *cmds;
	redisReply	**rs;
	size_t		  n;
	int		  rc;

	if (wq->evcur == NULL)
		wq->evcur = wq_evcur_new(wq);
	n = wq_evcur_argv(wq, wq->evcur, last, max, &cmds);
	rs = wq_calloc(n, sizeof(*rs));
	if ((rc = wq_redis_pipeline(wq, cmds, n, rs)) == WQ_OK)
		rc = wq_evcur_decode(wq, wq->evcur, rs, n, max, last, out);
	else
		*out = jv_array();
	wq_redis_pipeline_free(cmds, rs, n);
	free(cmds);
	free(rs);
	if (rc == WQ_OK && block_ms > 0 && jv_array_length(jv_copy(*out)) == 0)
		(void)poll(NULL, 0, (int)(block_ms < WQ_EVENTS_POLL_MS ?
		    block_ms : WQ_EVENTS_POLL_MS));
	return rc;
}

/*
 * Up to max events after last (moved on past them), waiting up to
 * block_ms for the first when there is none (0: not at all).  At P > 1,
 * the events of every partition, in id order, up to max from each.
 */
int
wq_events_read(struct wq *wq, char last[WQ_EVENT_ID_LEN], long block_ms,
    size_t max, jv *out)
{
	struct wq_argv	 a;
	redisReply	*r;
	int		 rc;

	if ((rc = wq_connect(wq)) != WQ_OK) {
		*out = jv_array();
		return rc;
	}
	if (wq_parts(wq) > 1)
		return events_read_parts(wq, last, block_ms, max, out);
	wq_events_argv(wq, last, block_ms, max, &a);
	r = wq_redis_command(wq, &a);
	wq_argv_free(&a);
	rc = wq_events_decode(wq, r, last, out);
	if (r != NULL)
		freeReplyObject(r);
	return rc;
}
