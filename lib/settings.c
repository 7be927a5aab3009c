/*
 * settings.c -- the context of libwq and the settings every command and
 * the API share (docs/DESIGN.md, "Settings").
 *
 * A setting comes from its flag, else from its environment variable, else
 * from the default.  wq_new() reads the environment; wq_setopt() applies a
 * flag over it.  Each value is checked when it is set, so that a bad URL is
 * a usage error (exit 2) before anything tries to connect.  Callers read
 * the settings back with wq_setting() and wq_setting_num(): nobody outside
 * libwq holds the structure they live in.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wq-int.h"

/* A number's digits as a string literal. */
#define WQ_STR(n)	WQ_STR_(n)
#define WQ_STR_(n)	#n

const char wq_common_usage[] =
"Settings (flag, environment, default):\n"
"  --redis URL        WQ_REDIS      redis://127.0.0.1:6379/0"
    " (or unix:///path?db=N)\n"
"  --api URL          WQ_API        use the HTTP API instead of Redis\n"
"  --token T          WQ_TOKEN      bearer token for the API\n"
"  --namespace NS     WQ_NAMESPACE  wq\n"
"  --queue Q          WQ_QUEUE      default\n"
"  --ttl S            WQ_TTL        " WQ_STR(WQ_TTL_DEFAULT)
    " (seconds a finished record is kept)\n"
"  --name N           WQ_NODE       ROLE-PID@HOSTNAME\n"
"  --max-data BYTES   WQ_MAX_DATA   1048576\n"
"  --partitions P     WQ_PARTITIONS 1, " WQ_STR(WQ_PARTITIONS_CLUSTER)
    " on a Redis Cluster (fixed at first use)\n"
"  -h, --help, --version\n"
"Exit: 0 success, 1 negative answer, 2 usage or bad input, 3 Redis or API"
    " unreachable.\n";

const char *
wq_name(struct wq *wq)
{
	char	*host;
	size_t	 len;

	if (wq->cfg.name != NULL)
		return wq->cfg.name;
	if (wq->name == NULL) {
		host = wq_hostname();
		len = strlen(wq->role) + strlen(host) + 32;
		wq->name = wq_calloc(1, len);
		snprintf(wq->name, len, "%s-%ld@%s", wq->role, (long)getpid(),
		    host);
		free(host);
	}
	return wq->name;
}

static int
set_string(char **dst, const char *v)
{
	free(*dst);
	*dst = wq_strdup(v);
	return WQ_OK;
}

static int
valid_name(const char *s, size_t max)
{
	size_t	n;

	n = strlen(s);
	if (n == 0 || n > max)
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return 0;
	return 1;
}

int
wq_check_queue(struct wq *wq, const char *q)
{
	if (!valid_name(q, 128))
		return wq_seterr(wq, WQ_EUSAGE, "bad queue name: 1 to 128 "
		    "characters, no spaces or control characters");
	return WQ_OK;
}

/* A job's group names keys after its queue's: no ':' (the separator). */
int
wq_check_group(struct wq *wq, const char *g)
{
	if (!valid_name(g, 128) || strchr(g, ':') != NULL)
		return wq_seterr(wq, WQ_EUSAGE, "bad group: 1 to 128 "
		    "characters, no spaces, control characters or ':'");
	return WQ_OK;
}

/* The settings that are a whole number (a long of struct wq_settings). */
static const struct {
	int		 opt;
	long		 min, max;
	size_t		 off;
	const char	*bad;
} numbers[] = {
	{ WQ_OPT_TTL, 1, 100L * 365 * 86400, offsetof(struct wq_settings,
	    ttl), "bad TTL: a whole number of seconds, at least 1" },
	{ WQ_OPT_MAX_QUEUES, 1, 1000000, offsetof(struct wq_settings,
	    max_queues), "bad --max-queues: a whole number from 1 to 1000000" },
	{ WQ_OPT_EVENTS, 0, WQ_EVENTS_MAX, offsetof(struct wq_settings,
	    events), "bad --events: a whole number from 0 (off) to "
	    WQ_STR(WQ_EVENTS_MAX) },
	{ WQ_OPT_WAIT_REPLICAS, 0, WQ_WAIT_REPLICAS_MAX,
	    offsetof(struct wq_settings, wait_replicas), "bad "
	    "--wait-replicas: a whole number from 0 (off) to "
	    WQ_STR(WQ_WAIT_REPLICAS_MAX) },
	{ WQ_OPT_PARTITIONS, 1, WQ_PARTITIONS_MAX, offsetof(struct
	    wq_settings, partitions), "bad --partitions: a whole number from "
	    "1 to " WQ_STR(WQ_PARTITIONS_MAX) },
	{ WQ_OPT_WAIT_TIMEOUT, 1, WQ_WAIT_TIMEOUT_MAX,
	    offsetof(struct wq_settings, wait_timeout_ms), "bad "
	    "--wait-timeout: a whole number of milliseconds from 1 to "
	    WQ_STR(WQ_WAIT_TIMEOUT_MAX) },
};

static int
set_number(struct wq *wq, int opt, const char *arg)
{
	size_t	i;
	long	v;

	for (i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
		if (numbers[i].opt != opt)
			continue;
		if (wq_parse_long(arg, numbers[i].min, numbers[i].max,
		    &v) == -1)
			return wq_seterr(wq, WQ_EUSAGE, "%s", numbers[i].bad);
		*(long *)(void *)((char *)&wq->cfg + numbers[i].off) = v;
		return WQ_OK;
	}
	return wq_seterr(wq, WQ_EUSAGE, "unknown setting");
}

/*
 * The keys' prefix: the namespace, or on a Redis Cluster the namespace
 * as a hash tag, so that every key of it sits in one slot and each
 * script's keys are on one primary (docs/DESIGN.md, "wq on a Redis
 * Cluster").
 */
static void
set_prefix(struct wq_settings *c)
{
	size_t	n = strlen(c->ns);

	free(c->prefix);
	if (c->addr.cluster == NULL) {
		c->prefix = wq_strdup(c->ns);
		return;
	}
	c->prefix = wq_calloc(1, n + 3);
	c->prefix[0] = '{';
	memcpy(c->prefix + 1, c->ns, n);
	c->prefix[n + 1] = '}';
}

int
wq_setopt(struct wq *wq, int opt, const char *arg)
{
	struct wq_settings	*c = &wq->cfg;
	struct wq_url	 a;
	char			 err[256];
	long			 v;

	switch (opt) {
	case WQ_OPT_REDIS:
		if (wq_url_parse(arg, &a, err, sizeof(err)) == -1)
			return wq_seterr(wq, WQ_EUSAGE, "%s", err);
		wq_url_clear(&c->addr);
		c->addr = a;
		set_prefix(c);
		wq_parts_clear(wq);
		return set_string(&c->redis_url, arg);
	case WQ_OPT_API:
		if (strncmp(arg, "http://", 7) != 0 &&
		    strncmp(arg, "https://", 8) != 0)
			return wq_seterr(wq, WQ_EUSAGE,
			    "bad API URL: expected http:// or https://");
		return set_string(&c->api_url, arg);
	case WQ_OPT_TOKEN:
		return set_string(&c->token, arg);
	case WQ_OPT_NAMESPACE:
		/* no ':': "a" and "a:b" would share the keys of "a:b:" */
		if (!valid_name(arg, 64) || strchr(arg, ':') != NULL)
			return wq_seterr(wq, WQ_EUSAGE, "bad namespace: 1 to "
			    "64 characters, no spaces, colons or control "
			    "characters");
		set_string(&c->ns, arg);
		set_prefix(c);
		wq_parts_clear(wq);
		return WQ_OK;
	case WQ_OPT_QUEUE:
		if (wq_check_queue(wq, arg) != WQ_OK)
			return WQ_EUSAGE;
		return set_string(&c->queue, arg);
	case WQ_OPT_NAME:
		if (!valid_name(arg, 200))
			return wq_seterr(wq, WQ_EUSAGE, "bad node name: 1 to "
			    "200 characters, no spaces or control characters");
		return set_string(&c->name, arg);
	case WQ_OPT_MAX_DATA:
		if (wq_parse_long(arg, 1, 512L * 1024 * 1024, &v) == -1)
			return wq_seterr(wq, WQ_EUSAGE,
			    "bad --max-data: a number of bytes");
		c->max_data = (size_t)v;
		return WQ_OK;
	}
	return set_number(wq, opt, arg);
}

struct wq *
wq_new(const char *role)
{
	static const struct { const char *env; int opt; } envs[] = {
		{ "WQ_REDIS", WQ_OPT_REDIS },
		{ "WQ_API", WQ_OPT_API },
		{ "WQ_TOKEN", WQ_OPT_TOKEN },
		{ "WQ_NAMESPACE", WQ_OPT_NAMESPACE },
		{ "WQ_QUEUE", WQ_OPT_QUEUE },
		{ "WQ_TTL", WQ_OPT_TTL },
		{ "WQ_NODE", WQ_OPT_NAME },
		{ "WQ_MAX_DATA", WQ_OPT_MAX_DATA },
		{ "WQ_MAX_QUEUES", WQ_OPT_MAX_QUEUES },
		{ "WQ_EVENTS", WQ_OPT_EVENTS },
		{ "WQ_WAIT_REPLICAS", WQ_OPT_WAIT_REPLICAS },
		{ "WQ_WAIT_TIMEOUT", WQ_OPT_WAIT_TIMEOUT },
		{ "WQ_PARTITIONS", WQ_OPT_PARTITIONS },
	};
	struct wq	*wq;
	const char	*v;
	size_t		 i;

	wq = wq_calloc(1, sizeof(*wq));
	wq->role = wq_strdup(role);
	wq->cfg.ns = wq_strdup("wq");
	wq->cfg.prefix = wq_strdup("wq");
	wq->cfg.queue = wq_strdup("default");
	wq->cfg.ttl = WQ_TTL_DEFAULT;
	wq->cfg.max_data = WQ_MAX_DATA;
	wq->cfg.max_queues = WQ_MAX_QUEUES_DEFAULT;
	wq->cfg.events = WQ_EVENTS_DEFAULT;
	wq->cfg.wait_timeout_ms = WQ_WAIT_TIMEOUT_DEFAULT;
	wq->cfg.connect_timeout_ms = 2000;
	wq->cfg.command_timeout_ms = 10000;
	(void)wq_setopt(wq, WQ_OPT_REDIS, "redis://127.0.0.1:6379/0");
	for (i = 0; i < sizeof(envs) / sizeof(envs[0]); i++) {
		v = getenv(envs[i].env);
		if (v == NULL || *v == '\0')
			continue;
		if (wq_setopt(wq, envs[i].opt, v) != WQ_OK) {
			/* Keep the message; commands check wq_env_error(). */
			char msg[sizeof(wq->err)];

			memcpy(msg, wq->err, sizeof(msg));
			wq_seterr(wq, WQ_EUSAGE, "%s: %.480s", envs[i].env,
			    msg);
			wq->env_bad = 1;
		}
	}
	return wq;
}

int
wq_env_error(struct wq *wq)
{
	return wq->env_bad ? WQ_EUSAGE : WQ_OK;
}

void
wq_free(struct wq *wq)
{
	if (wq == NULL)
		return;
	wq_disconnect(wq);
	free(wq->cfg.redis_url);
	free(wq->cfg.api_url);
	if (wq->cfg.token != NULL)
		explicit_bzero(wq->cfg.token, strlen(wq->cfg.token));
	free(wq->cfg.token);
	free(wq->cfg.ns);
	free(wq->cfg.prefix);
	wq_parts_clear(wq);
	free(wq->cfg.queue);
	free(wq->cfg.name);
	wq_url_clear(&wq->cfg.addr);
	free(wq->role);
	free(wq->name);
	free(wq->name_json);
	free(wq->beat_fields);
	free(wq);
}

/*
 * A setting as text, by its WQ_OPT_* code: the Redis URL, the API's URL,
 * the token, the namespace, the queue, or the node name given by --name.
 * NULL when it is not set (the API, the token, the name).
 */
const char *
wq_setting(struct wq *wq, int opt)
{
	switch (opt) {
	case WQ_OPT_REDIS:
		return wq->cfg.redis_url;
	case WQ_OPT_API:
		return wq->cfg.api_url;
	case WQ_OPT_TOKEN:
		return wq->cfg.token;
	case WQ_OPT_NAMESPACE:
		return wq->cfg.ns;
	case WQ_OPT_QUEUE:
		return wq->cfg.queue;
	case WQ_OPT_NAME:
		return wq->cfg.name;
	}
	return NULL;
}

/*
 * A number: WQ_OPT_TTL (s), WQ_OPT_MAX_DATA (bytes), WQ_OPT_MAX_QUEUES,
 * WQ_OPT_EVENTS (the event stream's length), WQ_OPT_WAIT_REPLICAS,
 * WQ_OPT_WAIT_TIMEOUT (ms), or the timeouts
 * (ms) WQ_SET_CONNECT_MS and WQ_SET_COMMAND_MS; -1 for anything else.
 */
long
wq_setting_num(struct wq *wq, int opt)
{
	switch (opt) {
	case WQ_OPT_TTL:
		return wq->cfg.ttl;
	case WQ_OPT_MAX_DATA:
		return (long)wq->cfg.max_data;
	case WQ_OPT_MAX_QUEUES:
		return wq->cfg.max_queues;
	case WQ_OPT_EVENTS:
		return wq->cfg.events;
	case WQ_OPT_WAIT_REPLICAS:
		return wq->cfg.wait_replicas;
	case WQ_OPT_WAIT_TIMEOUT:
		return wq->cfg.wait_timeout_ms;
	case WQ_OPT_PARTITIONS:
		return wq_parts(wq);
	case WQ_SET_CONNECT_MS:
		return wq->cfg.connect_timeout_ms;
	case WQ_SET_COMMAND_MS:
		return wq->cfg.command_timeout_ms;
	}
	return -1;
}

/*
 * The timeouts of connects and commands, for connections made from now
 * on (a long-running caller shortens them where it must not hang).
 */
void
wq_set_timeouts(struct wq *wq, int connect_ms, int command_ms)
{
	wq->cfg.connect_timeout_ms = connect_ms;
	wq->cfg.command_timeout_ms = command_ms;
}
