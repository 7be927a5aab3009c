/*
 * body.c -- what POST /api/v1/work does with its body before Redis: the
 * size limits, the JSON and the job object, each refusal with its HTTP
 * status (docs/DESIGN.md, "Errors and exit codes": 400 for what is
 * malformed, 413 for what is too big).  It knows nothing of Kore, so
 * fuzz/fuzz-body.c runs it on its own.
 */
#include <stdio.h>
#include <string.h>

#include "body.h"

int
api_submit_body(struct wq *wq, const void *body, size_t len, size_t max,
    struct wq_spec *spec, char *err, size_t errlen)
{
	jv	v;

	memset(spec, 0, sizeof(*spec));
	spec->data = jv_invalid();
	if (len > max) {
		snprintf(err, errlen, "body is %zu bytes, over the limit of "
		    "%zu", len, max);
		return 413;
	}
	if (body == NULL || len == 0) {
		snprintf(err, errlen, "empty body: expected a JSON object with "
		    "\"data\"");
		return 400;
	}
	v = wq_parse(body, len, err, errlen);
	if (!jv_is_valid(v)) {
		jv_free(v);
		return 400;
	}
	if (wq_spec_from_json(wq, v, spec) != WQ_OK) {
		snprintf(err, errlen, "%s", wq_error(wq));
		return wq_spec_too_big(wq) ? 413 : 400;
	}
	return 0;
}
