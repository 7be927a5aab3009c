/*
 * json.c -- JSON text in and out, on libjq's jv values: wq_parse() reads
 * one JSON text, checked against RFC 8259 first (jq's parser alone takes
 * too much, and leaks on some of it); wq_dump() writes a value as compact
 * text.  Everything wq reads or writes as JSON goes through these two.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wq-int.h"

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

/* The bytes a string holds as they are: ASCII, no control, '"' or '\'. */
#define P8	1, 1, 1, 1, 1, 1, 1, 1
#define Z8	0, 0, 0, 0, 0, 0, 0, 0
static const unsigned char json_plain[256] = {
	Z8, Z8, Z8, Z8,				/* 0x00-0x1f */
	1, 1, 0, 1, 1, 1, 1, 1, P8,		/* 0x20-0x2f: '"' */
	P8, P8, P8, P8, P8,			/* 0x30-0x57 */
	1, 1, 1, 1, 0, 1, 1, 1,			/* 0x58-0x5f: '\\' */
	P8, P8, P8, P8,				/* 0x60-0x7f */
};
#undef P8
#undef Z8

/* A string from s[*i] (its opening quote); *i ends past it. */
static const char *
json_check_string(const unsigned char *s, size_t n, size_t *i)
{
	size_t		j = *i + 1, k, len;
	unsigned int	cp;

	while (j < n) {
		/* the plain bytes at once: most strings are nothing else */
		while (j < n && json_plain[s[j]])
			j++;
		if (j == n)
			break;
		if (s[j] == '"') {
			*i = j + 1;
			return NULL;
		}
		if (s[j] < 0x20)
			return "control character in a string";
		if (s[j] == '\\') {
			if (j + 1 < n && s[j + 1] != '\0' &&
			    strchr("\"\\/bfnrt", s[j + 1]) != NULL) {
				j += 2;
				continue;
			}
			if (j + 5 >= n || s[j + 1] != 'u')
				return "bad escape in a string";
			for (k = 2, cp = 0; k < 6; k++) {
				if (!isxdigit(s[j + k]))
					return "bad \\u escape in a string";
				cp = cp * 16 + (isdigit(s[j + k]) ?
				    s[j + k] - '0' :
				    (tolower(s[j + k]) - 'a' + 10));
			}
			j += 6;
			/* jq wants a pair's second half after the first. */
			if (cp >= 0xd800 && cp <= 0xdbff && (j + 5 >= n ||
			    s[j] != '\\' || s[j + 1] != 'u' ||
			    tolower(s[j + 2]) != 'd' ||
			    s[j + 3] == '\0' ||
			    strchr("cdefCDEF", s[j + 3]) == NULL))
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
		while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' ||
		    s[i] == '\r'))
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

/* Past the string whose opening quote is at s[i], in checked JSON. */
static size_t
json_skip_string(const unsigned char *s, size_t n, size_t i)
{
	for (i++; i < n && s[i] != '"'; i++)
		if (s[i] == '\\')
			i++;
	return i + 1;
}

/* Past the value at s[i], in checked JSON. */
static size_t
json_skip(const unsigned char *s, size_t n, size_t i)
{
	size_t	depth = 0;

	do {
		if (s[i] == '"')
			i = json_skip_string(s, n, i);
		else if (s[i] == '{' || s[i] == '[') {
			depth++;
			i++;
		} else if (s[i] == '}' || s[i] == ']') {
			depth--;
			i++;
		} else if (depth > 0)
			i++;
		else	/* a number or a literal */
			while (i < n && s[i] != ',' && s[i] != '}' &&
			    s[i] != ']' && !isspace(s[i]))
				i++;
	} while (depth > 0 && i < n);
	return i;
}

static size_t
json_skip_space(const unsigned char *s, size_t n, size_t i)
{
	while (i < n && isspace(s[i]))
		i++;
	return i;
}

/*
 * The raw text of some members of the JSON object t[0..n), checked as
 * wq_parse() checks it, without building it: vals[k] and lens[k] for
 * keys[k] (the last member of that name, which is the one jq's parser
 * keeps), vals[k] NULL when there is none.  Returns 0; -1 with err when
 * t is no JSON; 1 when a key has an escape in it, to be read by jq.
 */
int
wq_json_members(const char *t, size_t n, const char *const *keys,
    size_t nkeys, const char **vals, size_t *lens, char *err, size_t errlen)
{
	const unsigned char	*s = (const unsigned char *)t;
	size_t			 i, k, kn, v, j;

	for (j = 0; j < nkeys; j++)
		vals[j] = NULL;
	if (json_check(s, n, err, errlen) == -1)
		return -1;
	if (n == 0 || s[0] != '{')
		return 0;
	i = json_skip_space(s, n, 1);
	while (i < n && s[i] == '"') {
		k = i + 1;
		i = json_skip_string(s, n, i);
		kn = i - 1 - k;
		if (memchr(s + k, '\\', kn) != NULL)
			return 1;
		v = json_skip_space(s, n, json_skip_space(s, n, i) + 1);
		i = json_skip(s, n, v);
		for (j = 0; j < nkeys; j++)
			if (strlen(keys[j]) == kn && memcmp(s + k, keys[j],
			    kn) == 0) {
				vals[j] = t + v;
				lens[j] = i - v;
			}
		i = json_skip_space(s, n, i);
		if (i < n && s[i] == ',')
			i = json_skip_space(s, n, i + 1);
	}
	return 0;
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
