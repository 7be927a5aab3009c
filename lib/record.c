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
static const struct {
	const char	*json;
	char		 hash;
	int		 kind;
} record_fields[] = {
	{ "callback",	 0,  F_STR },
	{ "status",	's', F_STR },
	{ "data",	'd', F_JSON },
	{ "queue",	'q', F_STR },
	{ "group",	'n', F_STR },
	{ "accepted_by", 'b', F_STR },
	{ "worker",	'w', F_STR },
	{ "attempts",	'a', F_NUM },
	{ "max_attempts", 'm', F_NUM },
	{ "result",	'r', F_JSON },
	{ "error",	'e', F_STR },
	{ "created_at",	'c', F_NUM },
	{ "started_at",	't', F_AFTER },
	{ "finished_at", 'f', F_AFTER },
	{ "retry_at",	'y', F_NUM },
	{ "run_at",	'u', F_NUM },
	{ "priority",	'p', F_NUM },
	{ "after",	'h', F_JSON },
	{ "progress",	'g', F_JSON },
	{ "timeout",	'o', F_NUM },
	{ "ttl",	'l', F_NUM },
	{ "traceparent", 'x', F_STR },
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

/*
 * The values of a record's hash by their one-letter names, into at[256];
 * returns created_at (0 when it is not a number), which the times after
 * it are kept relative to.
 */
static double
record_index(redisReply *r, redisReply **at)
{
	size_t	 i;
	double	 created = 0;
	char	*end;

	memset(at, 0, 256 * sizeof(*at));
	for (i = 0; i + 1 < r->elements; i += 2)
		if (r->element[i]->type == REDIS_REPLY_STRING &&
		    r->element[i]->len == 1 &&
		    r->element[i + 1]->type == REDIS_REPLY_STRING)
			at[(unsigned char)r->element[i]->str[0]] =
			    r->element[i + 1];
	if (at['c'] != NULL) {
		created = strtod(at['c']->str, &end);
		if (*end != '\0')
			created = 0;
	}
	return created;
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
	created = record_index(r, at);
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

static void
line_put(struct line *l, const char *s, size_t n)
{
	if (l->cap - l->n < n + 1) {
		while (l->cap - l->n < n + 1)
			l->cap = l->cap ? l->cap * 2 : 512;
		l->p = wq_realloc(l->p, l->cap);
	}
	memcpy(l->p + l->n, s, n);
	l->n += n;
	l->p[l->n] = '\0';
}

static void
line_puts(struct line *l, const char *s)
{
	line_put(l, s, strlen(s));
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

/* Append v (consumed) as jv prints it. */
static void
line_put_jv(struct line *l, jv v)
{
	char	*d;

	d = wq_dump(v);
	line_puts(l, d);
	free(d);
}

char *
wq_record_line(const char *id, redisReply *r)
{
	redisReply	*at[256], *v, *c;
	struct line	 l = { NULL, 0, 0 };
	const char	*vs;
	size_t		 f, vn;
	long long	 x, base;
	char		 num[24], err[8];
	double		 created;
	jv		 j;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements == 0)
		return NULL;
	created = record_index(r, at);
	c = at['c'];
	line_puts(&l, "{\"callback\":");
	if (ascii_plain(id, strlen(id))) {
		line_puts(&l, "\"");
		line_puts(&l, id);
		line_puts(&l, "\"");
	} else
		line_put_jv(&l, jv_string(id));
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
		line_puts(&l, ",\"");
		line_puts(&l, record_fields[f].json);
		line_puts(&l, "\":");
		switch (record_fields[f].kind) {
		case F_STR:
			if (ascii_plain(vs, vn)) {
				line_puts(&l, "\"");
				line_put(&l, vs, vn);
				line_puts(&l, "\"");
			} else
				line_put_jv(&l, jv_string_sized(vs, (int)vn));
			break;
		case F_JSON:
			if (plain_int(vs, vn, &x) || (vn >= 2 && vs[0] == '"' &&
			    vs[vn - 1] == '"' && ascii_plain(vs + 1, vn - 2)))
				line_put(&l, vs, vn);
			else {
				j = wq_parse(vs, vn, err, sizeof(err));
				if (!jv_is_valid(j))
					j = jv_string_sized(vs, (int)vn);
				line_put_jv(&l, j);
			}
			break;
		case F_NUM:
			if (plain_int(vs, vn, &x))
				line_put(&l, vs, vn);
			else
				line_put_jv(&l, record_number(vs, 0));
			break;
		default:	/* F_AFTER */
			base = 0;
			if (plain_int(vs, vn, &x) && (c == NULL ||
			    plain_int(c->str, c->len, &base)) &&
			    x + base > -1000000000000000LL &&
			    x + base < 1000000000000000LL) {
				snprintf(num, sizeof(num), "%lld", x + base);
				line_puts(&l, num);
			} else
				line_put_jv(&l, record_number(vs, created));
			break;
		}
	}
	line_puts(&l, "}");
	return l.p;
}
