/*
 * fuzz-msg.c -- the decoder of inbox messages (wq_msg_decode, msg.c):
 * what a worker reads from Redis, which any client can push there.  The
 * first 8 bytes are the server's time, the rest the message.
 */
#include <string.h>

#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wq_msg	m;
	int64_t		now = 1700000000000LL;

	if (size >= sizeof(now)) {
		memcpy(&now, data, sizeof(now));
		data += sizeof(now);
		size -= sizeof(now);
	}
	if (wq_msg_decode((const char *)data, size, now, &m) == 0) {
		FUZZ_CHECK(m.id != NULL && m.type != NULL && m.from != NULL);
		FUZZ_CHECK(jv_is_valid(m.body));
		FUZZ_CHECK(m.reply_wanted == 0 || m.reply_wanted == 1);
		/* What a node does with it: answer with the body. */
		free(wq_dump(jv_copy(m.body)));
	} else
		FUZZ_CHECK(m.id == NULL && m.type == NULL && m.from == NULL &&
		    jv_get_kind(m.body) == JV_KIND_NULL);
	wq_msg_clear(&m);
	wq_msg_clear(&m);
	return 0;
}
