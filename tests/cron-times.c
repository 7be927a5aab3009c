/*
 * cron-times -- the next times of a schedule expression, for
 * tests/cron.bats: cron-times SPEC ZONE FROM N prints the first N times
 * after FROM (Unix seconds), one a line, as RFC 3339 in ZONE.  A bad
 * expression or zone: its error on stderr, exit 2.
 */
#include <stdio.h>
#include <stdlib.h>

#include "wq.h"

int
main(int argc, char **argv)
{
	struct wq_cron	 c;
	struct wq	*wq;
	int64_t		*t;
	size_t		 i, n, got;
	char		 buf[40];

	if (argc != 5) {
		fprintf(stderr, "usage: cron-times SPEC ZONE FROM N\n");
		return 2;
	}
	wq = wq_new("test");
	if (wq_cron_parse(wq, argv[1], &c) != WQ_OK ||
	    wq_cron_zone(wq, argv[2]) != WQ_OK) {
		fprintf(stderr, "cron-times: %s\n", wq_error(wq));
		wq_free(wq);
		return 2;
	}
	n = (size_t)strtoul(argv[4], NULL, 10);
	t = wq_calloc(n, sizeof(*t));
	got = wq_cron_times(&c, argv[2], strtoll(argv[3], NULL, 10), t, n);
	for (i = 0; i < got; i++) {
		wq_cron_format(argv[2], t[i], buf, sizeof(buf));
		printf("%s\n", buf);
	}
	free(t);
	wq_free(wq);
	return 0;
}
