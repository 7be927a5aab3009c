/*
 * record.c -- a job's record: the hash job:<id> in Redis turned into the
 * JSON record of docs/DESIGN.md ("The record").
 *
 * In Redis a record is a flat hash of strings, under one-letter names
 * (record_fields below).  "data" and "result" hold compact JSON text; the
 * times and counters hold decimal numbers.  wq_record_from_reply() turns
 * it back into typed JSON, its fields in the order of record_fields.
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
	{ "timeout",	'o', F_NUM },
	{ "ttl",	'l', F_NUM },
	{ "traceparent", 'x', F_STR },
};
#define NFIELDS	(sizeof(record_fields) / sizeof(record_fields[0]))

int
wq_record_final(jv rec)
{
	jv	st;
	int	fin = 0;

	st = jv_object_get(jv_copy(rec), jv_string("status"));
	if (jv_get_kind(st) == JV_KIND_STRING)
		fin = strcmp(jv_string_value(st), "worked") == 0 ||
		    strcmp(jv_string_value(st), "failed") == 0;
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
 * The record of job id from its hash, a flat field/value reply (see
 * record_fields above); jv_null() for an empty one.
 */
jv
wq_record_from_reply(const char *id, redisReply *r)
{
	redisReply	*at[256], *v;
	jv		 rec, x;
	size_t		 i, f;
	char		 err[8], *end;
	double		 created = 0;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements == 0)
		return jv_null();
	memset(at, 0, sizeof(at));
	for (i = 0; i + 1 < r->elements; i += 2)
		if (r->element[i]->type == REDIS_REPLY_STRING &&
		    r->element[i]->len == 1 &&
		    r->element[i + 1]->type == REDIS_REPLY_STRING)
			at[(unsigned char)r->element[i]->str[0]] =
			    r->element[i + 1];
	if ((v = at['c']) != NULL) {
		created = strtod(v->str, &end);
		if (*end != '\0')
			created = 0;
	}
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
