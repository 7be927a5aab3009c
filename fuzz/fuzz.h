/*
 * fuzz.h -- what the libFuzzer targets of fuzz/ share.
 *
 * Each target feeds the bytes libFuzzer makes to one of wq's parsers and
 * checks what a caller relies on (an accepted job has a valid id, a
 * refused one leaves nothing to free, a masked URL shows no password...).
 * A broken promise aborts, which libFuzzer reports like a crash, with the
 * input saved; AddressSanitizer, UndefinedBehaviorSanitizer and
 * LeakSanitizer report the rest.  `make fuzz` and tests/fuzz.bats run
 * them (see fuzz/run).
 */
#ifndef WQ_FUZZ_H
#define WQ_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "wq-int.h"

#define FUZZ_CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: broken promise: %s\n",		\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/*
 * A context with the environment's settings out of the way (the suites
 * export WQ_REDIS and friends), so that a run depends on its input only.
 */
static inline struct wq *
fuzz_wq(void)
{
	static const char	*envs[] = { "WQ_REDIS", "WQ_API", "WQ_TOKEN",
	    "WQ_NAMESPACE", "WQ_QUEUE", "WQ_TTL", "WQ_NODE", "WQ_MAX_DATA",
	    NULL };
	struct wq		*wq;
	int			 i;

	for (i = 0; envs[i] != NULL; i++)
		unsetenv(envs[i]);
	wq = wq_new("fuzz");
	FUZZ_CHECK(wq_setopt(wq, WQ_OPT_NAME, "fuzz") == WQ_OK);
	return wq;
}

#endif
