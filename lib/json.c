/*
 * json.c -- every piece of JSON wq reads or writes goes through here, on
 * libjq's jv values: job lines and objects, the record a Redis hash holds,
 * the NDJSON lines commands print, and jq programs (wq-status --jq and
 * wq-worker --jq).
 *
 * In Redis a record is a flat hash of strings, under one-letter names
 * (record_fields below).  "data" and "result" hold compact JSON text; the
 * times and counters hold decimal numbers.  The record is turned back into
 * typed JSON, its fields in the order DESIGN §3 gives, by
 * wq_record_from_reply().
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jq.h>

#include "wq-int.h"

/*
 * How a record is kept in its hash, job:<id>.  The JSON field names are
 * the contract (DESIGN §3); the hash's are one letter each, because a
 * finished record stays in Redis for its TTL and its field names were
 * most of its size (see bench/README.md).  The callback id is not stored
 * (it is the key's suffix); a missing queue is "default", missing
 * attempts 0, a missing ttl 3600 (the built-in --ttl).  started_at and
 * finished_at are kept as milliseconds after created_at (a few bytes
 * instead of a 13-digit time).  The Lua scripts use the same letters
 * (lib/lua/common.lua lists them).
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
};
#define NFIELDS	(sizeof(record_fields) / sizeof(record_fields[0]))

/*
 * Whether the n bytes at p are a JSON string's contents as they are: no
 * quote, backslash or control character (nor DEL, which jv's dumper
 * escapes, when del).
 */
static int
plain_text(const unsigned char *p, size_t n, int del)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] == '"' || p[i] == '\\' ||
		    (del && p[i] == 0x7f))
			return 0;
	return 1;
}

/*
 * Compact JSON text of v (consumes v).  A string of printable characters
 * without quotes or backslashes is copied between quotes: that is what
 * jv's dumper makes of it (a jv string is valid UTF-8, which it leaves
 * as it is), and the dumper goes character by character through a
 * growing jv string, the dearest part of submitting a job or recording
 * a result.
 */
char *
wq_dump(jv v)
{
	const unsigned char	*p;
	jv			 s;
	char			*out;
	size_t			 n;

	if (jv_get_kind(v) == JV_KIND_STRING) {
		p = (const unsigned char *)jv_string_value(v);
		n = (size_t)jv_string_length_bytes(jv_copy(v));
		if (plain_text(p, n, 1)) {
			out = wq_calloc(1, n + 3);
			out[0] = '"';
			memcpy(out + 1, p, n);
			out[n + 1] = '"';
			jv_free(v);
			return out;
		}
	}
	s = jv_dump_string(v, 0);
	out = wq_strdup(jv_string_value(s));
	jv_free(s);
	return out;
}

/*
 * The check of JSON text before jq parses it.  jq 1.6 leaks the value it
 * has just read when no separator comes before it ('{"a" "b"}' loses
 * "b", which may be a whole request body), and it takes what RFC 8259
 * refuses (bytes that are not UTF-8, raw control characters in strings,
 * nan, 01, .5), changing the data behind the client's back.  So jq only
 * ever sees one JSON text as the RFC has it, within jq's own depth limit
 * (JSON_MAX_DEPTH on its stack, where an object's key counts as a level
 * while its value is read); the rest is refused here.
 */
#define JSON_MAX_DEPTH	256

/* The length of the UTF-8 sequence at s (shortest form, no surrogate), or 0. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	unsigned char	lo = 0x80, hi = 0xbf;
	size_t		len, k;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		if (s[0] == 0xe0)
			lo = 0xa0;
		else if (s[0] == 0xed)
			hi = 0x9f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (k = 2; k < len; k++)
		if (s[k] < 0x80 || s[k] > 0xbf)
			return 0;
	return len;
}

/* A string from s[*i] (its opening quote); *i ends past it. */
static const char *
json_check_string(const unsigned char *s, size_t n, size_t *i)
{
	size_t		j = *i + 1, k, len;
	unsigned int	cp;

	while (j < n) {
		if (s[j] == '"') {
			*i = j + 1;
			return NULL;
		}
		if (s[j] < 0x20)
			return "control character in a string";
		if (s[j] == '\\') {
			if (j + 1 < n && strchr("\"\\/bfnrt", s[j + 1]) != NULL &&
			    s[j + 1] != '\0') {
				j += 2;
				continue;
			}
			if (j + 5 >= n || s[j + 1] != 'u')
				return "bad escape in a string";
			for (k = 2, cp = 0; k < 6; k++) {
				if (!isxdigit(s[j + k]))
					return "bad \\u escape in a string";
				cp = cp * 16 + (isdigit(s[j + k]) ? s[j + k] - '0' :
				    (tolower(s[j + k]) - 'a' + 10));
			}
			j += 6;
			/* jq wants a pair's second half after the first. */
			if (cp >= 0xd800 && cp <= 0xdbff && (j + 5 >= n ||
			    s[j] != '\\' || s[j + 1] != 'u' ||
			    tolower(s[j + 2]) != 'd' ||
			    strchr("cdefCDEF", s[j + 3]) == NULL || s[j + 3] == '\0'))
				return "unpaired surrogate in a \\u escape";
		} else if (s[j] < 0x80)
			j++;
		else if ((len = utf8_len(s + j, n - j)) == 0)
			return "not UTF-8";
		else
			j += len;
	}
	return "unfinished string";
}

static const char *
json_check_number(const unsigned char *s, size_t n, size_t *i)
{
	size_t	j = *i;

	if (s[j] == '-')
		j++;
	if (j < n && s[j] == '0')
		j++;
	else if (j < n && s[j] >= '1' && s[j] <= '9')
		while (j < n && isdigit(s[j]))
			j++;
	else
		return "bad number";
	if (j < n && s[j] == '.') {
		if (++j >= n || !isdigit(s[j]))
			return "bad number";
		while (j < n && isdigit(s[j]))
			j++;
	}
	if (j < n && (s[j] == 'e' || s[j] == 'E')) {
		if (++j < n && (s[j] == '+' || s[j] == '-'))
			j++;
		if (j >= n || !isdigit(s[j]))
			return "bad number";
		while (j < n && isdigit(s[j]))
			j++;
	}
	*i = j;
	return NULL;
}

static int
json_check(const unsigned char *s, size_t n, char *err, size_t errlen)
{
	static const char	*lits[] = { "true", "false", "null" };
	enum { VALUE, FIRST_VALUE, KEY, FIRST_KEY, COLON, NEXT } st = VALUE;
	unsigned char		 stack[JSON_MAX_DEPTH], close;
	const char		*why = NULL;
	size_t			 i = 0, depth = 0, level = 0, k, len;

	while (why == NULL) {
		while (i < n && strchr(" \t\n\r", s[i]) != NULL && s[i] != '\0')
			i++;
		if (i == n) {
			if (st == NEXT && depth == 0)
				return 0;
			why = "unexpected end of the text";
			break;
		}
		close = depth > 0 && stack[depth - 1] == '{' ? '}' : ']';
		switch (st) {
		case FIRST_VALUE:
		case FIRST_KEY:
			if (s[i] == close) {
				depth--;
				level--;
				i++;
				st = NEXT;
				break;
			}
			st = st == FIRST_KEY ? KEY : VALUE;
			continue;
		case VALUE:
			if (s[i] == '{' || s[i] == '[') {
				if (level == JSON_MAX_DEPTH) {
					why = "nested too deep";
					break;
				}
				level++;
				stack[depth++] = s[i];
				st = s[i++] == '{' ? FIRST_KEY : FIRST_VALUE;
				break;
			}
			st = NEXT;
			if (s[i] == '"')
				why = json_check_string(s, n, &i);
			else if (s[i] == '-' || isdigit(s[i]))
				why = json_check_number(s, n, &i);
			else {
				why = "expected a value";
				for (k = 0; k < 3; k++) {
					len = strlen(lits[k]);
					if (n - i >= len &&
					    memcmp(s + i, lits[k], len) == 0) {
						i += len;
						why = NULL;
						break;
					}
				}
			}
			break;
		case KEY:
			st = COLON;
			if (s[i] != '"')
				why = "expected a string as key";
			else
				why = json_check_string(s, n, &i);
			break;
		case COLON:
			st = VALUE;
			if (s[i++] != ':')
				why = "expected ':'";
			else if (level == JSON_MAX_DEPTH)
				why = "nested too deep";
			else
				level++;
			break;
		case NEXT:
			if (depth == 0)
				why = "unexpected text after the value";
			else if (s[i] == ',') {
				i++;
				st = close == '}' ? KEY : VALUE;
				level -= close == '}';
			} else if (s[i] == close) {
				i++;
				depth--;
				level -= close == '}' ? 2 : 1;
			} else
				why = close == '}' ? "expected ',' or '}'" :
				    "expected ',' or ']'";
			break;
		}
	}
	snprintf(err, errlen, "malformed JSON: %s at byte %zu", why, i);
	return -1;
}

jv
wq_parse(const char *s, size_t n, char *err, size_t errlen)
{
	jv	v, msg;

	if (n > (size_t)0x7fffffff) {
		snprintf(err, errlen, "JSON text too long");
		return jv_invalid();
	}
	/*
	 * A string without escapes is its bytes between the quotes (jv makes
	 * bad UTF-8 U+FFFD, as its parser does): a worker parses every job's
	 * data, and jq's parser goes through a state machine per character.
	 */
	if (n >= 2 && s[0] == '"' && s[n - 1] == '"' &&
	    plain_text((const unsigned char *)s + 1, n - 2, 0))
		return jv_string_sized(s + 1, (int)(n - 2));
	if (json_check((const unsigned char *)s, n, err, errlen) == -1)
		return jv_invalid();
	v = jv_parse_sized(s, (int)n);
	if (!jv_is_valid(v)) {
		msg = jv_invalid_get_msg(v);
		snprintf(err, errlen, "malformed JSON: %s",
		    jv_get_kind(msg) == JV_KIND_STRING ?
		    jv_string_value(msg) : "parse error");
		jv_free(msg);
		return jv_invalid();
	}
	return v;
}

int
wq_id_valid(const char *s)
{
	int	i;

	for (i = 0; i < WQ_ID_LEN; i++)
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	return s[WQ_ID_LEN] == '\0';
}

/*
 * An id from one line of input: a plain id, or an NDJSON object with a
 * "callback" field (what wq-submit prints).  Returns 0, or -1 with err.
 */
int
wq_id_from_line(const char *line, size_t n, char *out, size_t errlen)
{
	char	 err[256];
	jv	 v, cb;
	size_t	 i;

	while (n > 0 && isspace((unsigned char)line[n - 1]))
		n--;
	while (n > 0 && isspace((unsigned char)*line)) {
		line++;
		n--;
	}
	if (n > 0 && *line == '{') {
		v = wq_parse(line, n, err, sizeof(err));
		if (!jv_is_valid(v)) {
			snprintf(out, errlen, "%s", err);
			return -1;
		}
		cb = jv_object_get(v, jv_string("callback"));
		if (jv_get_kind(cb) != JV_KIND_STRING ||
		    jv_string_length_bytes(jv_copy(cb)) != WQ_ID_LEN) {
			jv_free(cb);
			snprintf(out, errlen, "no callback id in JSON line");
			return -1;
		}
		memcpy(err, jv_string_value(cb), WQ_ID_LEN);
		jv_free(cb);
		line = err;
		n = WQ_ID_LEN;
	}
	if (n != WQ_ID_LEN) {
		snprintf(out, errlen, "not a callback id (32 hex digits)");
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (!isxdigit((unsigned char)line[i])) {
			snprintf(out, errlen, "not a callback id (32 hex digits)");
			return -1;
		}
		out[i] = (char)toupper((unsigned char)line[i]);
	}
	out[n] = '\0';
	return 0;
}

/* The bytes the callback id is the MD5 of. */
int
wq_job_id(jv data, const char *key, char out[WQ_ID_LEN + 1])
{
	char	*s;

	if (key != NULL) {
		wq_md5_hex(key, strlen(key), out);
		jv_free(data);
		return 0;
	}
	if (jv_get_kind(data) == JV_KIND_STRING) {
		wq_md5_hex(jv_string_value(data),
		    (size_t)jv_string_length_bytes(jv_copy(data)), out);
		jv_free(data);
		return 0;
	}
	s = wq_dump(data);
	wq_md5_hex(s, strlen(s), out);
	free(s);
	return 0;
}

void
wq_spec_clear(struct wq_spec *s)
{
	if (jv_is_valid(s->data) || jv_get_kind(s->data) != JV_KIND_INVALID)
		jv_free(s->data);
	s->data = jv_invalid();
	free(s->queue);
	s->queue = NULL;
	free(s->key);
	s->key = NULL;
}

static int
data_size(jv data, size_t *n)
{
	char	*s;

	if (jv_get_kind(data) == JV_KIND_STRING) {
		*n = (size_t)jv_string_length_bytes(jv_copy(data));
		return 0;
	}
	s = wq_dump(jv_copy(data));
	*n = strlen(s);
	free(s);
	return 0;
}

static int
check_size(struct wq *wq, jv data)
{
	size_t	n;

	data_size(data, &n);
	if (n > wq->cfg.max_data) {
		wq->too_big = 1;
		return wq_seterr(wq, WQ_EUSAGE, "data is %zu bytes, over the "
		    "limit of %zu (--max-data)", n, wq->cfg.max_data);
	}
	return WQ_OK;
}

static int
spec_number(struct wq *wq, jv v, const char *name, long min, long max,
    long *out)
{
	double	d;

	if (jv_get_kind(v) != JV_KIND_NUMBER) {
		jv_free(v);
		return wq_seterr(wq, WQ_EUSAGE, "\"%s\" must be a number", name);
	}
	d = jv_number_value(v);
	jv_free(v);
	/* The range first: a double beyond a long's is undefined as one. */
	if (!(d >= (double)min && d <= (double)max) || d != (double)(long)d)
		return wq_seterr(wq, WQ_EUSAGE, "\"%s\" must be a whole number "
		    "from %ld to %ld", name, min, max);
	*out = (long)d;
	return WQ_OK;
}

/* Take a job object {"data",...}; consumes obj. */
/*
 * A string with a NUL in it: as a C string (a key's MD5, a queue's Redis
 * key) it would be cut there, and name something else than was given.
 */
static int
has_nul(jv s)
{
	return strlen(jv_string_value(s)) !=
	    (size_t)jv_string_length_bytes(jv_copy(s));
}

int
wq_spec_from_json(struct wq *wq, jv obj, struct wq_spec *s)
{
	jv		 k, v, key = jv_null();
	int		 it, rc = WQ_OK;
	const char	*name;

	memset(s, 0, sizeof(*s));
	s->data = jv_invalid();
	wq->too_big = 0;
	if (jv_get_kind(obj) != JV_KIND_OBJECT) {
		jv_free(obj);
		return wq_seterr(wq, WQ_EUSAGE, "a job must be a JSON object "
		    "with \"data\"");
	}
	for (it = jv_object_iter(obj); jv_object_iter_valid(obj, it) &&
	    rc == WQ_OK; it = jv_object_iter_next(obj, it)) {
		k = jv_object_iter_key(obj, it);
		v = jv_object_iter_value(obj, it);
		name = jv_string_value(k);
		if (strcmp(name, "data") == 0) {
			jv_free(s->data);
			s->data = v;
		} else if (strcmp(name, "key") == 0) {
			if (jv_get_kind(v) != JV_KIND_STRING ||
			    jv_string_length_bytes(jv_copy(v)) == 0) {
				rc = wq_seterr(wq, WQ_EUSAGE,
				    "\"key\" must be a non-empty string");
				jv_free(v);
			} else if (has_nul(v)) {
				rc = wq_seterr(wq, WQ_EUSAGE,
				    "\"key\" must not contain \\u0000");
				jv_free(v);
			} else {
				jv_free(key);
				key = v;
			}
		} else if (strcmp(name, "queue") == 0) {
			if (jv_get_kind(v) != JV_KIND_STRING) {
				rc = wq_seterr(wq, WQ_EUSAGE,
				    "\"queue\" must be a string");
				jv_free(v);
			} else if (has_nul(v)) {
				rc = wq_seterr(wq, WQ_EUSAGE,
				    "\"queue\" must not contain \\u0000");
				jv_free(v);
			} else {
				char *q = wq_strdup(jv_string_value(v));

				jv_free(v);
				free(s->queue);
				s->queue = NULL;
				if ((rc = wq_check_queue(wq, q)) == WQ_OK)
					s->queue = q;
				else
					free(q);
			}
		} else if (strcmp(name, "timeout") == 0)
			rc = spec_number(wq, v, "timeout", 1, 86400 * 30,
			    &s->timeout);
		else if (strcmp(name, "max_attempts") == 0)
			rc = spec_number(wq, v, "max_attempts", 1, 1000,
			    &s->max_attempts);
		else if (strcmp(name, "ttl") == 0)
			rc = spec_number(wq, v, "ttl", 1, 100L * 365 * 86400,
			    &s->ttl);
		else {
			rc = wq_seterr(wq, WQ_EUSAGE, "unknown field \"%.64s\" "
			    "(expected data, key, queue, timeout, max_attempts, "
			    "ttl)", name);
			jv_free(v);
		}
		jv_free(k);
	}
	jv_free(obj);
	if (rc == WQ_OK && !jv_is_valid(s->data))
		rc = wq_seterr(wq, WQ_EUSAGE, "missing \"data\"");
	if (rc == WQ_OK)
		rc = check_size(wq, s->data);
	if (rc == WQ_OK && jv_get_kind(key) == JV_KIND_STRING)
		s->key = wq_strdup(jv_string_value(key));
	if (rc == WQ_OK)
		wq_job_id(jv_copy(s->data), s->key, s->id);
	jv_free(key);
	if (rc != WQ_OK)
		wq_spec_clear(s);
	return rc;
}

int
wq_spec_from_text(struct wq *wq, const char *text, size_t n, int mode,
    struct wq_spec *s)
{
	char	err[256];
	jv	v;

	if (mode == WQ_TEXT_JSON) {
		v = wq_parse(text, n, err, sizeof(err));
		if (!jv_is_valid(v)) {
			memset(s, 0, sizeof(*s));
			s->data = jv_invalid();
			return wq_seterr(wq, WQ_EUSAGE, "%s", err);
		}
		return wq_spec_from_json(wq, v, s);
	}
	memset(s, 0, sizeof(*s));
	wq->too_big = 0;
	if (n > wq->cfg.max_data) {
		wq->too_big = 1;
		s->data = jv_invalid();
		return wq_seterr(wq, WQ_EUSAGE, "data is %zu bytes, over the "
		    "limit of %zu (--max-data)", n, wq->cfg.max_data);
	}
	/* Bytes that are not UTF-8 become U+FFFD, 3 bytes each: check again. */
	s->data = jv_string_sized(text, (int)n);
	if (check_size(wq, s->data) != WQ_OK) {
		wq_spec_clear(s);
		return WQ_EUSAGE;
	}
	wq_job_id(jv_copy(s->data), NULL, s->id);
	return WQ_OK;
}

int
wq_too_big(struct wq *wq)
{
	return wq->too_big;
}

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

/* jq programs. */
struct wq_jq {
	jq_state	*jq;
	char		 err[512];
};

static void
jq_error_cb(void *p, jv msg)
{
	struct wq_jq	*j = p;
	jv		 s;

	if (jv_get_kind(msg) == JV_KIND_STRING)
		s = jv_copy(msg);
	else
		s = jv_dump_string(jv_copy(msg), 0);
	if (j->err[0] == '\0')
		snprintf(j->err, sizeof(j->err), "%s", jv_string_value(s));
	jv_free(s);
	jv_free(msg);
}

int
wq_jq_compile(const char *prog, struct wq_jq **out, char *err, size_t errlen)
{
	struct wq_jq	*j;
	char		*nl;

	j = wq_calloc(1, sizeof(*j));
	if ((j->jq = jq_init()) == NULL) {
		free(j);
		snprintf(err, errlen, "cannot start jq");
		return -1;
	}
	jq_set_error_cb(j->jq, jq_error_cb, j);
	if (!jq_compile(j->jq, prog)) {
		if ((nl = strchr(j->err, '\n')) != NULL)
			*nl = '\0';
		snprintf(err, errlen, "bad jq program: %s",
		    j->err[0] ? j->err : "compile error");
		jq_teardown(&j->jq);
		free(j);
		return -1;
	}
	*out = j;
	return 0;
}

void
wq_jq_free(struct wq_jq *j)
{
	if (j == NULL)
		return;
	jq_teardown(&j->jq);
	free(j);
}

int
wq_jq_run(struct wq_jq *j, jv in, jv *out, char *err, size_t errlen)
{
	jv	v, msg;
	int	rc = 0;

	j->err[0] = '\0';
	*out = jv_array();
	jq_start(j->jq, in, 0);
	while (jv_is_valid(v = jq_next(j->jq)))
		*out = jv_array_append(*out, v);
	if (jv_invalid_has_msg(jv_copy(v))) {
		msg = jv_invalid_get_msg(v);
		if (jv_get_kind(msg) == JV_KIND_STRING)
			snprintf(err, errlen, "jq: %s", jv_string_value(msg));
		else {
			jv s = jv_dump_string(jv_copy(msg), 0);

			snprintf(err, errlen, "jq: %s", jv_string_value(s));
			jv_free(s);
		}
		jv_free(msg);
		rc = -1;
	} else
		jv_free(v);
	return rc;
}
