/*
 * fuzz-record.c -- a job's record as wq-status prints it: the line
 * wq_record_line() puts together without jv must be, byte for byte, what
 * jv makes of the record (wq_dump() of wq_record_from_reply()), for any
 * hash a job's key may hold: any field names, any values (JSON text that
 * is not, numbers that are not, bytes that are not UTF-8).
 *
 * The input is the hash: fields and values in turn, separated by 0x01.
 */
#include <string.h>

#include "fuzz.h"

#define MAX_ELEMS	64

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char	 id[] = "ACBD18DB4CC2F85CEDEF654FCCC4A4D8";
	redisReply		 r, elems[MAX_ELEMS], *ep[MAX_ELEMS];
	const char		*p = (const char *)data, *end, *sep;
	char			*fast, *slow, *copy[MAX_ELEMS];
	size_t			 n = 0, i;

	memset(&r, 0, sizeof(r));
	memset(elems, 0, sizeof(elems));
	end = p + size;
	while (p <= end && n < MAX_ELEMS) {
		if ((sep = memchr(p, 0x01, (size_t)(end - p))) == NULL)
			sep = end;
		/* hiredis ends every string with a NUL */
		copy[n] = wq_calloc(1, (size_t)(sep - p) + 1);
		memcpy(copy[n], p, (size_t)(sep - p));
		elems[n].type = REDIS_REPLY_STRING;
		elems[n].str = copy[n];
		elems[n].len = (size_t)(sep - p);
		ep[n] = &elems[n];
		n++;
		p = sep + 1;
	}
	r.type = REDIS_REPLY_ARRAY;
	r.elements = n - n % 2;		/* a hash has pairs */
	r.element = ep;
	fast = wq_record_line(id, &r);
	if (r.elements == 0)
		FUZZ_CHECK(fast == NULL);
	else {
		slow = wq_dump(wq_record_from_reply(id, &r));
		FUZZ_CHECK(fast != NULL);
		if (strcmp(fast, slow) != 0) {
			fprintf(stderr, "fast: %s\nslow: %s\n", fast, slow);
			FUZZ_CHECK(strcmp(fast, slow) == 0);
		}
		free(slow);
	}
	free(fast);
	for (i = 0; i < n; i++)
		free(copy[i]);
	return 0;
}
