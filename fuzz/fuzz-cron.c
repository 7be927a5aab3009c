/*
 * fuzz-cron.c -- schedule expressions (wq-cron add SPEC): the parser,
 * then the next times in a zone.  The first byte picks a zone (some with
 * DST changes, one that moves by 30 minutes), the next four a start time
 * between 1970 and 2106; the rest is the expression.
 *
 * Promised: an expression is accepted or refused with the column of the
 * error; an accepted one's times come strictly after the start, in
 * order, and each formats as RFC 3339.
 */
#include <string.h>

#include "fuzz.h"

static const char *const zones[] = { "UTC", "America/New_York",
    "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kathmandu" };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct wq	*wq;
	struct wq_cron		 c;
	const char		*tz;
	char			 spec[WQ_CRON_SPEC_MAX + 2], buf[40];
	int64_t			 t[4], after;
	size_t			 i, n;

	if (wq == NULL)
		wq = fuzz_wq();
	if (size < 5)
		return 0;
	tz = zones[data[0] % (sizeof(zones) / sizeof(zones[0]))];
	after = (int64_t)data[1] << 24 | data[2] << 16 | data[3] << 8 |
	    data[4];
	n = size - 5 < sizeof(spec) - 1 ? size - 5 : sizeof(spec) - 1;
	memcpy(spec, data + 5, n);
	spec[n] = '\0';

	if (wq_cron_parse(wq, spec, &c) != WQ_OK) {
		FUZZ_CHECK(strstr(wq_error(wq), "bad schedule") != NULL);
		FUZZ_CHECK(strstr(wq_error(wq), ": column ") != NULL ||
		    strstr(wq_error(wq), "longer than") != NULL);
		return 0;
	}
	FUZZ_CHECK(wq_cron_zone(wq, tz) == WQ_OK);
	n = wq_cron_times(&c, tz, after, t, 4);
	for (i = 0; i < n; i++) {
		FUZZ_CHECK(t[i] > (i ? t[i - 1] : after));
		wq_cron_format(tz, t[i], buf, sizeof(buf));
		FUZZ_CHECK(strlen(buf) >= 20 && buf[10] == 'T');
	}
	return 0;
}
