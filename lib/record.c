/*
 * record.c -- a job's record: the hash job:<id> in Redis turned into the
 * JSON record of docs/DESIGN.md ("The record").
 *
 * In Redis a record is a flat hash of strings, under one-letter names
 * (record_fields below).  "data" and "result" hold compact JSON text; the
 * times and counters hold decimal numbers.  wq_record_from_reply() turns
 * it back into typed JSON, its fields in the order of record_fields, and
 * wq_record_line() into the JSON text of that, without jv in between.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wq-int.h"

/*
 * How a record is kept in its hash, job:<id>.  The JSON field names are
 * the contract (docs/DESIGN.md, "The record"); the hash's are one letter
 * each, because a finished record stays in Redis for its TTL and its
 * field names were most of its size (see bench/README.md).  The callback
 * id is not stored (it is the key's suffix); a missing queue is
 * "default", missing attempts 0, a missing ttl WQ_TTL_DEFAULT (the
 * built-in --ttl).
 * started_at and finished_at are kept as milliseconds after created_at
 * (a few bytes instead of a 13-digit time).  The Lua scripts use the
 * same letters (lib/lua/common.lua lists them).
 */
enum { F_STR, F_JSON, F_NUM, F_AFTER };
/* pre: what comes before the value in a line, ,"name": (wq_record_line) */
#define FIELD(name, hash, kind)	{ name, ",\"" name "\":", hash, kind }
static const struct {
	const char	*json;
	const char	*pre;
	char		 hash;
	int		 kind;
} record_fields[] = {
	FIELD("callback",	 0,  F_STR),
	FIELD("status",		's', F_STR),
	FIELD("data",		'd', F_JSON),
	FIELD("queue",		'q', F_STR),
	FIELD("group",		'n', F_STR),
	FIELD("accepted_by",	'b', F_STR),
	FIELD("worker",		'w', F_STR),
	FIELD("attempts",	'a', F_NUM),
	FIELD("max_attempts",	'm', F_NUM),
	FIELD("result",		'r', F_JSON),
	FIELD("error",		'e', F_STR),
	FIELD("created_at",	'c', F_NUM),
	FIELD("started_at",	't', F_AFTER),
	FIELD("finished_at",	'f', F_AFTER),
	FIELD("retry_at",	'y', F_NUM),
	FIELD("run_at",		'u', F_NUM),
	FIELD("priority",	'p', F_NUM),
	FIELD("after",		'h', F_JSON),
	FIELD("progress",	'g', F_JSON),
	FIELD("timeout",	'o', F_NUM),
	FIELD("ttl",		'l', F_NUM),
	FIELD("traceparent",	'x', F_STR),
};
#define NFIELDS	(sizeof(record_fields) / sizeof(record_fields[0]))

/* The final statuses that are not a success: a waiter exits 1. */
static int
record_status_failed(const char *st)
{
	return strcmp(st, "failed") == 0 || strcmp(st, "cancelled") == 0;
}

/* The statuses a job does not leave (but for wq-retry). */
int
wq_record_status_final(const char *st)
{
	return strcmp(st, "worked") == 0 || record_status_failed(st);
}

int
wq_record_final(jv rec)
{
	jv	st;
	int	fin = 0;

	st = jv_object_get(jv_copy(rec), jv_string("status"));
	if (jv_get_kind(st) == JV_KIND_STRING)
		fin = wq_record_status_final(jv_string_value(st));
	jv_free(st);
	return fin;
}

/* A number field's value: a number, or the text if it is not one. */
static jv
record_number(const char *val, double base)
{
	char	*end;
	double	 d;

	d = strtod(val, &end);
	if (*end != '\0' || end == val)
		return jv_string(val);
	return jv_number(base + d);
}

/* The values of a record's hash by their one-letter names, into at[256]. */
static void
record_index(redisReply *r, redisReply **at)
{
	size_t	 i;

	memset(at, 0, 256 * sizeof(*at));
	for (i = 0; i + 1 < r->elements; i += 2)
		if (r->element[i]->type == REDIS_REPLY_STRING &&
		    r->element[i]->len == 1 &&
		    r->element[i + 1]->type == REDIS_REPLY_STRING)
			at[(unsigned char)r->element[i]->str[0]] =
			    r->element[i + 1];
}

/*
 * created_at, which the times after it are kept relative to: 0 when it
 * is missing or not a number.
 */
static double
record_created(redisReply **at)
{
	double	 created;
	char	*end;

	if (at['c'] == NULL)
		return 0;
	created = strtod(at['c']->str, &end);
	return *end != '\0' ? 0 : created;
}

/*
 * The record of job id from its hash, a flat field/value reply (see
 * record_fields above); jv_null() for an empty one.
 */
jv
wq_record_from_reply(const char *id, redisReply *r)
{
	redisReply	*at[256], *v;
	jv		 rec, x;
	size_t		 f;
	char		 err[8];
	double		 created;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements == 0)
		return jv_null();
	record_index(r, at);
	created = record_created(at);
	rec = jv_object();
	for (f = 0; f < NFIELDS; f++) {
		v = record_fields[f].hash ?
		    at[(unsigned char)record_fields[f].hash] : NULL;
		if (record_fields[f].hash == 0)
			x = jv_string(id);
		else if (v == NULL && record_fields[f].hash == 'q')
			x = jv_string("default");
		else if (v == NULL && record_fields[f].hash == 'a')
			x = jv_number(0);
		else if (v == NULL)
			continue;
		else if (record_fields[f].kind == F_JSON) {
			x = wq_parse(v->str, v->len, err, sizeof(err));
			if (!jv_is_valid(x))
				x = jv_string_sized(v->str, (int)v->len);
		} else if (record_fields[f].kind == F_NUM)
			x = record_number(v->str, 0);
		else if (record_fields[f].kind == F_AFTER)
			x = record_number(v->str, created);
		else
			x = jv_string_sized(v->str, (int)v->len);
		rec = jv_object_set(rec, jv_string(record_fields[f].json), x);
	}
	return rec;
}

void
wq_record_clear(struct wq_rec *r)
{
	free(r->line);
	r->line = NULL;
	jv_free(r->rec);
	r->rec = jv_invalid();
}

/* A record the API answered (consumed; jv_null(): an unknown id). */
void
wq_record_set(struct wq_rec *r, const char *id, jv rec, int how)
{
	jv	st;

	snprintf(r->id, sizeof(r->id), "%s", id);
	r->line = NULL;
	r->rec = jv_invalid();
	r->found = jv_get_kind(rec) == JV_KIND_OBJECT;
	r->final = r->found && wq_record_final(rec);
	st = r->found ? jv_object_get(jv_copy(rec), jv_string("status")) :
	    jv_null();
	r->failed = jv_get_kind(st) == JV_KIND_STRING &&
	    record_status_failed(jv_string_value(st));
	jv_free(st);
	if (!r->found)
		jv_free(rec);
	else if (how == WQ_REC_JV)
		r->rec = rec;
	else
		r->line = wq_dump(rec);
}

/* The status field of a record's reply, or "". */
static const char *
reply_status(redisReply *r)
{
	size_t	i;

	for (i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2)
		if (r->element[i]->len == 1 && r->element[i]->str[0] == 's' &&
		    r->element[i + 1]->type == REDIS_REPLY_STRING)
			return r->element[i + 1]->str;
	return "";
}

void
wq_record_decode(const char *id, redisReply *r, int how,
    struct wq_rec *out)
{
	const char	*st;
	size_t		 n;

	n = strnlen(id, WQ_ID_LEN);
	memcpy(out->id, id, n);
	out->id[n] = '\0';
	out->line = NULL;
	out->rec = jv_invalid();
	out->found = r->type == REDIS_REPLY_ARRAY && r->elements > 0;
	st = reply_status(r);
	out->final = wq_record_status_final(st);
	out->failed = record_status_failed(st);
	if (!out->found)
		return;
	if (how == WQ_REC_JV)
		out->rec = wq_record_from_reply(id, r);
	else
		out->line = wq_record_line(id, r);
}

/*
 * The record's NDJSON line, byte for byte what wq_dump() makes of
 * wq_record_from_reply(), without the jv values in between: jv builds an
 * object by hashing every key and dumps it a character at a time, and
 * that was nine tenths of what wq-status spent on a record it prints.
 * The values jv would print as they are stored (strings of printable
 * ASCII without quotes or backslashes, whole numbers of up to 15 digits,
 * JSON text that is such a string) are copied; any other value goes
 * through jv, alone.  NULL for an empty reply (an unknown id).
 */
struct line {
	char	*p;
	size_t	 n, cap;
};

/* Room for n more bytes at the end of l; where they go. */
static char *
line_room(struct line *l, size_t n)
{
	if (l->cap - l->n < n) {
		while (l->cap - l->n < n)
			l->cap = l->cap ? l->cap * 2 : 512;
		l->p = wq_realloc(l->p, l->cap);
	}
	return l->p + l->n;
}

static void
line_put(struct line *l, const char *s, size_t n)
{
	memcpy(line_room(l, n), s, n);
	l->n += n;
}

static void
line_puts(struct line *l, const char *s)
{
	line_put(l, s, strlen(s));
}

/* Append pre, then s[0..n) between quotes. */
static void
line_quoted(struct line *l, const char *pre, const char *s, size_t n)
{
	size_t	 k = strlen(pre);
	char	*p;

	p = line_room(l, k + n + 2);
	memcpy(p, pre, k);
	p[k] = '"';
	memcpy(p + k + 1, s, n);
	p[k + 1 + n] = '"';
	l->n += k + n + 2;
}

/* Printable ASCII but for the quote and the backslash. */
static int
ascii_plain(const char *s, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e ||
		    s[i] == '"' || s[i] == '\\')
			return 0;
	return 1;
}

/* A whole number jv prints digit for digit: -?(0|[1-9][0-9]{0,14}). */
static int
plain_int(const char *s, size_t n, long long *v)
{
	size_t	i = 0;

	if (n > 0 && s[0] == '-')
		i++;
	if (i == n || n - i > 15 || (s[i] == '0' && (n - i > 1 || i > 0)))
		return 0;
	for (*v = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		*v = *v * 10 + (s[i] - '0');
	}
	if (s[0] == '-')
		*v = -*v;
	return 1;
}

/* v in decimal (as %lld: not printf, a time or two each record). */
static void
line_ll(struct line *l, long long v)
{
	char			 d[24];
	unsigned long long	 u;
	size_t			 n = 0;
	char			*p;

	u = v < 0 ? 0 - (unsigned long long)v : (unsigned long long)v;
	do
		d[n++] = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	p = line_room(l, n + 1);
	if (v < 0)
		*p++ = '-';
	l->n += n + (v < 0);
	while (n > 0)
		*p++ = d[--n];
}

/* Append v (consumed) as jv prints it. */
static void
line_put_jv(struct line *l, jv v)
{
	char	*d;

	d = wq_dump(v);
	line_puts(l, d);
	free(d);
}

/* The value of a field of a record's line (see wq_record_line). */
static void
line_value(struct line *l, size_t f, const char *vs, size_t vn,
    redisReply **at)
{
	redisReply	*c = at['c'];
	long long	 x, base;
	char		 err[8];
	jv		 j;

	switch (record_fields[f].kind) {
	case F_STR:
		if (ascii_plain(vs, vn))
			line_quoted(l, record_fields[f].pre, vs, vn);
		else {
			line_puts(l, record_fields[f].pre);
			line_put_jv(l, jv_string_sized(vs, (int)vn));
		}
		return;
	case F_JSON:
		line_puts(l, record_fields[f].pre);
		if (plain_int(vs, vn, &x) || (vn >= 2 && vs[0] == '"' &&
		    vs[vn - 1] == '"' && ascii_plain(vs + 1, vn - 2)))
			line_put(l, vs, vn);
		else {
			j = wq_parse(vs, vn, err, sizeof(err));
			if (!jv_is_valid(j))
				j = jv_string_sized(vs, (int)vn);
			line_put_jv(l, j);
		}
		return;
	case F_NUM:
		line_puts(l, record_fields[f].pre);
		if (plain_int(vs, vn, &x))
			line_put(l, vs, vn);
		else
			line_put_jv(l, record_number(vs, 0));
		return;
	default:	/* F_AFTER */
		line_puts(l, record_fields[f].pre);
		base = 0;
		if (plain_int(vs, vn, &x) && (c == NULL ||
		    plain_int(c->str, c->len, &base)) &&
		    x + base > -1000000000000000LL &&
		    x + base < 1000000000000000LL)
			line_ll(l, x + base);
		else
			line_put_jv(l, record_number(vs, record_created(at)));
		return;
	}
}

char *
wq_record_line(const char *id, redisReply *r)
{
	redisReply	*at[256], *v;
	struct line	 l = { NULL, 0, 0 };
	const char	*vs;
	size_t		 f, vn;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements == 0)
		return NULL;
	record_index(r, at);
	line_put(&l, "{", 1);
	if (ascii_plain(id, strlen(id)))
		line_quoted(&l, record_fields[0].pre + 1, id, strlen(id));
	else {
		line_puts(&l, record_fields[0].pre + 1);
		line_put_jv(&l, jv_string(id));
	}
	for (f = 1; f < NFIELDS; f++) {
		v = at[(unsigned char)record_fields[f].hash];
		if (v != NULL) {
			vs = v->str;
			vn = v->len;
		} else if (record_fields[f].hash == 'q') {
			vs = "default";
			vn = 7;
		} else if (record_fields[f].hash == 'a') {
			vs = "0";
			vn = 1;
		} else
			continue;
		line_value(&l, f, vs, vn, at);
	}
	line_put(&l, "}", 2);	/* and the NUL */
	return l.p;
}
