/*
 * trace.c -- W3C trace context (https://www.w3.org/TR/trace-context/).
 *
 * A submission may carry a traceparent: the HTTP header of POST
 * /api/v1/work, a "traceparent" field of the job object, or wq-submit
 * --traceparent.  The job keeps it in its record and its --exec command
 * gets it as TRACEPARENT, so that the work joins the trace of the request
 * that caused it.  wq makes no spans of its own: the value is checked
 * here, then kept and passed on as it came.
 */
#include <string.h>

#include "wq-int.h"

/* n lower-case hex digits from s, not all zero when nonzero is set. */
static int
hex_field(const char *s, size_t n, int nonzero)
{
	size_t	i;
	int	any = 0;

	for (i = 0; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
		any |= s[i] != '0';
	}
	return any || !nonzero;
}

/*
 * version "-" trace-id "-" parent-id "-" trace-flags: 2, 32, 16 and 2
 * lower-case hex digits; version ff is invalid, and so are an all-zero
 * trace-id or parent-id.  Version 00 is exactly that; a later version may
 * add fields after another "-", kept as they are (printable ASCII, at
 * most WQ_TRACE_MAX bytes in all).
 */
int
wq_trace_valid(const char *s, size_t n)
{
	size_t	i;

	if (n < 55 || n > WQ_TRACE_MAX)
		return 0;
	if (!hex_field(s, 2, 0) || strncmp(s, "ff", 2) == 0 || s[2] != '-' ||
	    !hex_field(s + 3, 32, 1) || s[35] != '-' ||
	    !hex_field(s + 36, 16, 1) || s[52] != '-' ||
	    !hex_field(s + 53, 2, 0))
		return 0;
	if (strncmp(s, "00", 2) == 0)
		return n == 55;
	if (n > 55 && s[55] != '-')
		return 0;
	for (i = 55; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return 0;
	return 1;
}
