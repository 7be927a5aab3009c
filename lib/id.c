/*
 * id.c -- callback ids: the MD5 of a job's data (or of its key), 32
 * upper-case hex digits (docs/DESIGN.md, "Jobs"), and the id read from a
 * line of input, plain or an NDJSON answer.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wq-int.h"

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
	return wq_id_from_input(line, n, out, errlen, NULL);
}

/*
 * The same, and *fresh (when not NULL) says whether the line is the answer
 * to a submission of new work ("status":"accepted"): a job queued a
 * moment ago, most likely still pending.  wq-status reads wq-submit's
 * answers as fast as a submission goes, so the object is only looked
 * through (wq_json_members()); jq parses a line whose keys or id have
 * escapes in them.
 */
int
wq_id_from_input(const char *line, size_t n, char *out, size_t errlen,
    int *fresh)
{
	static const char *const keys[] = { "callback", "status" };
	const char		*vals[2];
	char			 err[256];
	jv			 v, cb;
	size_t			 i, lens[2];
	int			 rc;

	if (fresh != NULL)
		*fresh = 0;
	while (n > 0 && isspace((unsigned char)line[n - 1]))
		n--;
	while (n > 0 && isspace((unsigned char)*line)) {
		line++;
		n--;
	}
	if (n > 0 && *line == '{') {
		if ((rc = wq_json_members(line, n, keys, 2, vals, lens, out,
		    errlen)) == -1)
			return -1;
		if (rc == 0 && (vals[0] == NULL ||
		    memchr(vals[0], '\\', lens[0]) == NULL)) {
			if (vals[0] == NULL || lens[0] != WQ_ID_LEN + 2 ||
			    *vals[0] != '"') {
				snprintf(out, errlen,
				    "no callback id in JSON line");
				return -1;
			}
			if (fresh != NULL)
				*fresh = vals[1] != NULL && lens[1] == 10 &&
				    memcmp(vals[1], "\"accepted\"", 10) == 0;
			line = vals[0] + 1;
			n = WQ_ID_LEN;
			goto hex;
		}
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
hex:
	if (n != WQ_ID_LEN) {
		snprintf(out, errlen, "not a callback id (32 hex digits)");
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (!isxdigit((unsigned char)line[i])) {
			snprintf(out, errlen, "not a callback id (32 hex "
			    "digits)");
			return -1;
		}
		out[i] = (char)toupper((unsigned char)line[i]);
	}
	out[n] = '\0';
	return 0;
}

/* The bytes the callback id is the MD5 of. */
int
wq_id_of(jv data, const char *key, char out[WQ_ID_LEN + 1])
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
