/*
 * fuzz-url.c -- the settings: Redis URLs (wq_url_parse), their
 * masked form for messages (wq_url_safe) and wq_setopt() with each
 * option code.  The first byte picks the option, the rest (up to a NUL)
 * is its value.
 *
 * The promise checked beyond memory safety is that of docs/DESIGN.md,
 * "Settings": a password never appears in a message.  The masked URL
 * must parse to the same place with no password but "***".
 */
#include <string.h>

#include "fuzz.h"

static const int opts[] = {
	WQ_OPT_REDIS, WQ_OPT_API, WQ_OPT_TOKEN, WQ_OPT_NAMESPACE,
	WQ_OPT_QUEUE, WQ_OPT_TTL, WQ_OPT_NAME, WQ_OPT_MAX_DATA,
	WQ_OPT_VERSION, WQ_OPT_HELP, 0, -1
};

static int
same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void
check_url(const char *url)
{
	struct wq_url		 a, b;
	char			 err[256], err2[256];
	char			*safe;

	safe = wq_url_safe(url);
	FUZZ_CHECK(safe != NULL);
	if (wq_url_parse(url, &a, err, sizeof(err)) == -1) {
		FUZZ_CHECK(err[0] != '\0');
		FUZZ_CHECK(a.host == NULL && a.path == NULL &&
		    a.password == NULL && a.user == NULL &&
		    a.sentinels == NULL && a.master == NULL &&
		    a.cluster == NULL);
		free(safe);
		return;
	}
	FUZZ_CHECK(a.unix_socket ? a.path != NULL && a.path[0] == '/' :
	    a.host != NULL || (a.sentinels != NULL && a.master != NULL) ||
	    a.cluster != NULL);
	FUZZ_CHECK(a.port >= 0 && a.port <= 65535);
	FUZZ_CHECK(a.db >= 0 && a.db <= 100000);
	if (wq_url_parse(safe, &b, err2, sizeof(err2)) == -1) {
		fprintf(stderr, "masked URL does not parse: %s\n", err2);
		FUZZ_CHECK(!"the masked URL parses");
	}
	FUZZ_CHECK(b.password == NULL || strcmp(b.password, "***") == 0);
	FUZZ_CHECK((a.password == NULL) == (b.password == NULL));
	FUZZ_CHECK(a.unix_socket == b.unix_socket && a.port == b.port &&
	    a.db == b.db && same(a.host, b.host) && same(a.path, b.path) &&
	    same(a.sentinels, b.sentinels) && same(a.master, b.master) &&
	    same(a.cluster, b.cluster));
	wq_url_clear(&b);
	wq_url_clear(&a);
	free(safe);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct wq	*wq;
	char			*arg;
	int			 opt, rc;

	if (size == 0)
		return 0;
	if (wq == NULL)
		wq = fuzz_wq();
	opt = opts[data[0] % (sizeof(opts) / sizeof(opts[0]))];
	arg = wq_strndup((const char *)data + 1, size - 1);

	check_url(arg);
	rc = wq_setopt(wq, opt, arg);
	FUZZ_CHECK(rc == WQ_OK || rc == WQ_EUSAGE);
	if (rc == WQ_EUSAGE)
		FUZZ_CHECK(wq_error(wq)[0] != '\0');
	else if (opt == WQ_OPT_REDIS)
		FUZZ_CHECK(strcmp(wq->cfg.redis_url, arg) == 0);
	FUZZ_CHECK(wq_check_queue(wq, wq->cfg.queue) == WQ_OK);
	FUZZ_CHECK(wq->cfg.max_data >= 1 && wq->cfg.ttl >= 1);
	free(arg);
	return 0;
}
