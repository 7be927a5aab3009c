/*
 * control.c -- what wq-cancel and wq-retry share: the ids of their
 * arguments or stdin (plain, or NDJSON lines with a "callback", so that
 * they read what wq-submit and wq-status print), every one checked
 * before anything is done, then one job-control call of libwq, and the
 * record after it printed per id.  Exit 1 when an id was unknown or its
 * job not in a state for the verb (its record is printed as it is).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

/* The ids of items[0..n), checked; blank lines are skipped. */
static char **
control_ids(char **items, size_t *lens, size_t n, size_t *nids)
{
	char	**ids, err[256];
	size_t	  i;

	ids = wq_calloc(n + 1, sizeof(*ids));
	*nids = 0;
	for (i = 0; i < n; i++) {
		if (strspn(items[i], " \t") == lens[i])
			continue;
		ids[*nids] = wq_calloc(1, WQ_ID_LEN + 1);
		if (wq_id_from_line(items[i], lens[i], ids[*nids],
		    sizeof(err)) == -1) {
			snprintf(err, sizeof(err), "%s", ids[*nids]);
			cmd_die(WQ_EUSAGE, "input %zu: %s", i + 1, err);
		}
		(*nids)++;
	}
	return ids;
}

/* Print the outcome of ids[0..n); returns the exit status so far. */
static int
control_print(const char *verb, char **ids, size_t n, int *codes, jv *recs)
{
	jv	st;
	size_t	i;
	int	rc = WQ_OK;

	for (i = 0; i < n; i++) {
		if (!jv_is_valid(recs[i]))
			continue;
		if (codes[i] < 0) {
			cmd_warn("%s: not found", ids[i]);
			rc = WQ_NO;
		} else if (codes[i] == 0) {
			st = jv_object_get(jv_copy(recs[i]),
			    jv_string("status"));
			cmd_warn("%s: not %s: the job is %s", ids[i], verb,
			    jv_get_kind(st) == JV_KIND_STRING ?
			    jv_string_value(st) : "?");
			jv_free(st);
			rc = WQ_NO;
		}
		if (jv_get_kind(recs[i]) == JV_KIND_OBJECT)
			cmd_print(jv_copy(recs[i]));
	}
	return rc;
}

/*
 * op (WQ_CONTROL_*) on the ids of argv[0..argc) or stdin; verb names
 * what was done ("cancelled"); returns the exit status.
 */
int
cmd_control(struct wq *wq, int op, const char *verb, int argc, char **argv)
{
	char	**items, **ids;
	size_t	 *lens, n, nids, i;
	int	 *codes, rc, st;
	jv	 *recs;

	items = cmd_inputs(argc, argv, &n, &lens);
	ids = control_ids(items, lens, n, &nids);
	cmd_inputs_free(items);
	free(lens);
	codes = wq_calloc(nids + 1, sizeof(*codes));
	recs = wq_calloc(nids + 1, sizeof(*recs));
	rc = wq_control(wq, op, (const char **)ids, nids, codes, recs);
	st = control_print(verb, ids, nids, codes, recs);
	cmd_flush();
	if (rc != WQ_OK)
		cmd_die(rc, "%s", wq_error(wq));
	for (i = 0; i < nids; i++) {
		jv_free(recs[i]);
		free(ids[i]);
	}
	free(ids);
	free(codes);
	free(recs);
	return st;
}
