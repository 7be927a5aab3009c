/*
 * jq.c -- jq programs, on libjq: wq-status --jq reshapes records with
 * one, wq-worker --jq computes results with one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jq.h>

#include "wq-int.h"

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
