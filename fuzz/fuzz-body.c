/*
 * fuzz-body.c -- what POST /api/v1/work does with its body before Redis
 * (api_submit_body, kore-api/body.c), then the command and the answer it
 * builds.  Byte 0 picks the body limit (--max-body), byte 1 --max-data,
 * both small enough for the fuzzer's inputs to cross them; the rest is
 * the body.
 */
#include <string.h>

#include "fuzz.h"
#include "body.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct wq	*wq;
	struct wq_spec		 spec;
	struct wq_argv		 argv;
	char			 err[256], num[32];
	size_t			 max_body;
	int			 status;
	jv			 ans;

	if (size < 2)
		return 0;
	if (wq == NULL)
		wq = fuzz_wq();
	max_body = data[0] == 0xff ? 1024 * 1024 : (size_t)data[0] * 16;
	snprintf(num, sizeof(num), "%d", data[1] == 0xff ? 1024 * 1024 :
	    data[1] * 8 + 1);
	FUZZ_CHECK(wq_setopt(wq, WQ_OPT_MAX_DATA, num) == WQ_OK);
	data += 2;
	size -= 2;

	memset(err, 0, sizeof(err));
	status = api_submit_body(wq, size > 0 ? data : NULL, size, max_body,
	    &spec, err, sizeof(err));
	switch (status) {
	case 0:
		FUZZ_CHECK(size > 0 && size <= max_body);
		FUZZ_CHECK(wq_id_valid(spec.id) && jv_is_valid(spec.data));
		wq_submit_argv(wq, &spec, 1, &argv);
		FUZZ_CHECK(argv.argc > 3);
		wq_argv_free(&argv);
		ans = wq_answer_accepted(wq, &spec);
		free(wq_dump(ans));
		break;
	case 413:
		FUZZ_CHECK(size > max_body || wq_spec_too_big(wq));
		FUZZ_CHECK(err[0] != '\0');
		break;
	case 400:
		FUZZ_CHECK(size <= max_body && err[0] != '\0');
		break;
	default:
		FUZZ_CHECK(!"a status of 0, 400 or 413");
	}
	FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	wq_spec_clear(&spec);
	return 0;
}
