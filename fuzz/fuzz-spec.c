/*
 * fuzz-spec.c -- the job parser: the same bytes as a JSON job object
 * (wq-submit --json, WQ_TEXT_JSON), as a data string (wq-submit --lines,
 * WQ_TEXT_STRING) and as a line of ids for wq-status (wq_id_from_input,
 * which must find what jq's parser finds).
 *
 * --max-data is small (1000 bytes) so that inputs of the fuzzer's sizes
 * reach the "too big" refusals too.
 */
#include <ctype.h>
#include <string.h>

#include "fuzz.h"

static struct wq	*wq;

/* What every accepted spec must be. */
static void
check_spec(struct wq_spec *s)
{
	char	id[WQ_ID_LEN + 1];
	char	*text;

	FUZZ_CHECK(jv_is_valid(s->data));
	FUZZ_CHECK(wq_id_valid(s->id));
	FUZZ_CHECK(s->queue == NULL || wq_check_queue(wq, s->queue) == WQ_OK);
	FUZZ_CHECK(s->key == NULL || s->key[0] != '\0');
	FUZZ_CHECK(s->timeout >= 0 && s->max_attempts >= 0 && s->ttl >= 0);
	/* The id is the MD5 of the key, else of the data. */
	wq_id_of(jv_copy(s->data), s->key, id);
	FUZZ_CHECK(strcmp(id, s->id) == 0);
	/* What goes to Redis can be read back. */
	text = wq_dump(jv_copy(s->data));
	if (jv_get_kind(s->data) == JV_KIND_STRING)
		FUZZ_CHECK((size_t)jv_string_length_bytes(jv_copy(s->data)) <=
		    wq->cfg.max_data);
	else
		FUZZ_CHECK(strlen(text) <= wq->cfg.max_data);
	free(text);
}

/* What every refused spec must be: nothing left to free. */
static void
check_refused(struct wq_spec *s)
{
	FUZZ_CHECK(s->key == NULL && s->queue == NULL);
	FUZZ_CHECK(jv_get_kind(s->data) == JV_KIND_INVALID);
	FUZZ_CHECK(wq_error(wq)[0] != '\0');
}

/*
 * An id taken from a JSON line (which wq_id_from_input() looks through
 * without jq) is the "callback" jq's parser finds there, and the line is
 * "fresh" when jq finds "status":"accepted".
 */
static void
check_json_id(const char *text, size_t n, const char *id, int fresh)
{
	char	 err[256];
	jv	 v, cb, st;
	size_t	 i;

	while (n > 0 && isspace((unsigned char)text[n - 1]))
		n--;
	while (n > 0 && isspace((unsigned char)*text)) {
		text++;
		n--;
	}
	if (n == 0 || *text != '{') {
		FUZZ_CHECK(!fresh);
		return;
	}
	v = wq_parse(text, n, err, sizeof(err));
	FUZZ_CHECK(jv_get_kind(v) == JV_KIND_OBJECT);
	cb = jv_object_get(jv_copy(v), jv_string("callback"));
	st = jv_object_get(v, jv_string("status"));
	FUZZ_CHECK(jv_get_kind(cb) == JV_KIND_STRING &&
	    jv_string_length_bytes(jv_copy(cb)) == WQ_ID_LEN);
	for (i = 0; i < WQ_ID_LEN; i++)
		FUZZ_CHECK(toupper((unsigned char)jv_string_value(cb)[i]) ==
		    id[i]);
	FUZZ_CHECK(fresh == (jv_get_kind(st) == JV_KIND_STRING &&
	    strcmp(jv_string_value(st), "accepted") == 0) ||
	    (!fresh && memchr(text, '\\', n) != NULL));
	jv_free(cb);
	jv_free(st);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wq_spec	 s;
	const char	*text = (const char *)data;
	char		 out[256];
	size_t		 i;
	int		 fresh;

	if (wq == NULL) {
		wq = fuzz_wq();
		FUZZ_CHECK(wq_setopt(wq, WQ_OPT_MAX_DATA, "1000") == WQ_OK);
	}

	if (wq_spec_from_text(wq, text, size, WQ_TEXT_JSON, &s) == WQ_OK)
		check_spec(&s);
	else {
		check_refused(&s);
		/*
		 * What wq_parse's check lets through, jq parses: a refusal
		 * of the JSON text is the check's (lower case), never
		 * jq's (upper case).
		 */
		if (strncmp(wq_error(wq), "malformed JSON: ", 16) == 0)
			FUZZ_CHECK(islower((unsigned char)wq_error(wq)[16]));
	}
	wq_spec_clear(&s);
	wq_spec_clear(&s);		/* twice: callers may */

	if (wq_spec_from_text(wq, text, size, WQ_TEXT_STRING, &s) == WQ_OK) {
		check_spec(&s);
		FUZZ_CHECK(jv_get_kind(s.data) == JV_KIND_STRING);
		FUZZ_CHECK(size <= wq->cfg.max_data);
	} else {
		check_refused(&s);
		/* Too big, maybe once each byte that is not UTF-8 is U+FFFD. */
		FUZZ_CHECK(wq_spec_too_big(wq) && size * 3 > wq->cfg.max_data);
	}
	wq_spec_clear(&s);

	memset(out, 'x', sizeof(out));
	if (wq_id_from_input(text, size, out, sizeof(out), &fresh) == 0) {
		FUZZ_CHECK(wq_id_valid(out));
		for (i = 0; i < WQ_ID_LEN; i++)
			FUZZ_CHECK(!islower((unsigned char)out[i]));
		check_json_id(text, size, out, fresh);
	} else
		FUZZ_CHECK(memchr(out, '\0', sizeof(out)) != NULL);
	return 0;
}
