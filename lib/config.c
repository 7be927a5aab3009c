/*
 * config.c -- the settings every command and the API share (DESIGN §2).
 *
 * A setting comes from its flag, else from its environment variable, else
 * from the default.  wq_new() reads the environment; wq_setopt() applies a
 * flag over it.  Each value is checked when it is set, so that a bad URL is
 * a usage error (exit 2) before anything tries to connect.
 *
 * Redis URLs:
 *   redis://[[user]:password@]host[:port][/db]
 *   unix:///path/to.sock[?db=N][&password=P][&user=U]
 *   redis-sentinel://host:port[,host:port...]/master[?db=N][&password=P]
 * The password is kept for AUTH and never shown: messages use
 * wq_redis_url_safe(), which masks it.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "wq-int.h"

const char wq_common_usage[] =
"Settings (flag, environment, default):\n"
"  --redis URL        WQ_REDIS      redis://127.0.0.1:6379/0 (or unix:///path?db=N)\n"
"  --api URL          WQ_API        use the HTTP API instead of Redis\n"
"  --token T          WQ_TOKEN      bearer token for the API\n"
"  --namespace NS     WQ_NAMESPACE  wq\n"
"  --queue Q          WQ_QUEUE      default\n"
"  --ttl S            WQ_TTL        3600 (seconds a finished record is kept)\n"
"  --name N           WQ_NODE       ROLE-PID@HOSTNAME\n"
"  --max-data BYTES   WQ_MAX_DATA   1048576\n"
"  -h, --help, --version\n"
"Exit: 0 success, 1 negative answer, 2 usage or bad input, 3 Redis or API unreachable.\n";

void *
wq_calloc(size_t n, size_t sz)
{
	void	*p;

	if ((p = calloc(n ? n : 1, sz ? sz : 1)) == NULL)
		abort();
	return p;
}

void *
wq_realloc(void *p, size_t sz)
{
	if ((p = realloc(p, sz ? sz : 1)) == NULL)
		abort();
	return p;
}

char *
wq_strdup(const char *s)
{
	char	*p;

	if (s == NULL)
		return NULL;
	if ((p = strdup(s)) == NULL)
		abort();
	return p;
}

void
wq_strs_free(char **v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int64_t
wq_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *
wq_hostname(void)
{
	char	buf[256];

	if (gethostname(buf, sizeof(buf)) == -1)
		return wq_strdup("localhost");
	buf[sizeof(buf) - 1] = '\0';
	return wq_strdup(buf);
}

int
wq_seterr(struct wq *wq, int code, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(wq->err, sizeof(wq->err), fmt, ap);
	va_end(ap);
	return code;
}

const char *
wq_error(struct wq *wq)
{
	return wq->err[0] ? wq->err : "unknown error";
}

struct wq_config *
wq_config(struct wq *wq)
{
	return &wq->cfg;
}

const char *
wq_role(struct wq *wq)
{
	return wq->role;
}

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

int
wq_parse_long(const char *s, long min, long max, long *out)
{
	char	*end;
	long	 v;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int
wq_parse_seconds(const char *s, double *out)
{
	char	*end;
	double	 v;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !isfinite(v) || v < 0 ||
	    v > 1e9)
		return -1;
	*out = v;
	return 0;
}

void
wq_redis_addr_clear(struct wq_redis_addr *a)
{
	free(a->host);
	free(a->path);
	free(a->user);
	if (a->password != NULL)
		explicit_bzero(a->password, strlen(a->password));
	free(a->password);
	free(a->sentinels);
	free(a->master);
	memset(a, 0, sizeof(*a));
}

static char *
url_decode(const char *s, size_t n)
{
	char	*out, *o;
	size_t	 i;
	int	 hi, lo;

	out = o = wq_calloc(1, n + 1);
	for (i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n &&
		    isxdigit((unsigned char)s[i + 1]) &&
		    isxdigit((unsigned char)s[i + 2])) {
			hi = isdigit((unsigned char)s[i + 1]) ? s[i + 1] - '0' :
			    (tolower((unsigned char)s[i + 1]) - 'a' + 10);
			lo = isdigit((unsigned char)s[i + 2]) ? s[i + 2] - '0' :
			    (tolower((unsigned char)s[i + 2]) - 'a' + 10);
			*o++ = (char)(hi * 16 + lo);
			i += 2;
		} else
			*o++ = s[i];
	}
	*o = '\0';
	return out;
}

static int
parse_port(const char *s, size_t n, int *port)
{
	char	buf[8];
	long	v;

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (wq_parse_long(buf, 1, 65535, &v) == -1)
		return -1;
	*port = (int)v;
	return 0;
}

/* Query string of unix: and sentinel URLs: db, password, user. */
static int
parse_query(const char *q, struct wq_redis_addr *a, char *err, size_t errlen)
{
	const char	*p, *amp, *eq;
	size_t		 klen, vlen;
	char		 num[16];
	long		 v;

	for (p = q; p != NULL && *p != '\0'; p = amp ? amp + 1 : NULL) {
		amp = strchr(p, '&');
		eq = memchr(p, '=', amp ? (size_t)(amp - p) : strlen(p));
		if (eq == NULL) {
			snprintf(err, errlen, "bad parameter in Redis URL");
			return -1;
		}
		klen = (size_t)(eq - p);
		vlen = amp ? (size_t)(amp - eq - 1) : strlen(eq + 1);
		if (klen == 2 && strncmp(p, "db", 2) == 0) {
			if (vlen == 0 || vlen >= sizeof(num)) {
				snprintf(err, errlen, "bad database number in Redis URL");
				return -1;
			}
			memcpy(num, eq + 1, vlen);
			num[vlen] = '\0';
			if (wq_parse_long(num, 0, 100000, &v) == -1) {
				snprintf(err, errlen, "bad database number in Redis URL");
				return -1;
			}
			a->db = (int)v;
		} else if (klen == 8 && strncmp(p, "password", 8) == 0) {
			free(a->password);
			a->password = url_decode(eq + 1, vlen);
		} else if (klen == 4 && strncmp(p, "user", 4) == 0) {
			free(a->user);
			a->user = url_decode(eq + 1, vlen);
		} else {
			snprintf(err, errlen, "unknown parameter in Redis URL");
			return -1;
		}
	}
	return 0;
}

/* "[user]:password@" at the start of an authority. */
static const char *
parse_userinfo(const char *s, const char *end, struct wq_redis_addr *a)
{
	const char	*at, *colon;

	for (at = end; at > s && at[-1] != '@'; at--)
		;
	if (at == s)
		return s;
	at--;		/* points at '@' */
	colon = memchr(s, ':', (size_t)(at - s));
	if (colon != NULL) {
		if (colon > s)
			a->user = url_decode(s, (size_t)(colon - s));
		a->password = url_decode(colon + 1, (size_t)(at - colon - 1));
	} else
		a->password = url_decode(s, (size_t)(at - s));
	return at + 1;
}

int
wq_redis_url_parse(const char *url, struct wq_redis_addr *a, char *err,
    size_t errlen)
{
	const char	*p, *auth_end, *hp, *colon, *q;
	long		 v;
	char		 num[16];
	size_t		 n;

	memset(a, 0, sizeof(*a));
	if (url == NULL || *url == '\0') {
		snprintf(err, errlen, "empty Redis URL");
		return -1;
	}
	if (strncmp(url, "unix://", 7) == 0) {
		p = url + 7;
		q = strchr(p, '?');
		n = q ? (size_t)(q - p) : strlen(p);
		if (n == 0 || p[0] != '/') {
			snprintf(err, errlen, "bad Redis URL: a unix socket "
			    "needs an absolute path (unix:///path/to.sock)");
			return -1;
		}
		a->unix_socket = 1;
		a->path = url_decode(p, n);
		if (q != NULL && parse_query(q + 1, a, err, errlen) == -1)
			goto bad;
		return 0;
	}
	if (strncmp(url, "redis-sentinel://", 17) == 0) {
		p = url + 17;
		auth_end = strchr(p, '/');
		if (auth_end == NULL || auth_end == p) {
			snprintf(err, errlen, "bad Redis URL: sentinel URLs are "
			    "redis-sentinel://host:port[,host:port]/master");
			return -1;
		}
		hp = parse_userinfo(p, auth_end, a);
		a->sentinels = url_decode(hp, (size_t)(auth_end - hp));
		q = strchr(auth_end + 1, '?');
		n = q ? (size_t)(q - auth_end - 1) : strlen(auth_end + 1);
		if (n == 0) {
			snprintf(err, errlen, "bad Redis URL: no sentinel master name");
			goto bad;
		}
		a->master = url_decode(auth_end + 1, n);
		if (q != NULL && parse_query(q + 1, a, err, errlen) == -1)
			goto bad;
		/* Every sentinel must be host:port. */
		for (p = a->sentinels; *p != '\0'; p = hp + (*hp == ',')) {
			hp = strchr(p, ',');
			if (hp == NULL)
				hp = p + strlen(p);
			colon = memchr(p, ':', (size_t)(hp - p));
			if (colon == NULL || colon == p || parse_port(colon + 1,
			    (size_t)(hp - colon - 1), &a->port) == -1) {
				snprintf(err, errlen, "bad Redis URL: sentinel "
				    "addresses are host:port");
				goto bad;
			}
		}
		a->port = 0;
		return 0;
	}
	if (strncmp(url, "redis://", 8) != 0) {
		snprintf(err, errlen, "bad Redis URL: expected redis://, "
		    "unix:// or redis-sentinel://");
		return -1;
	}
	p = url + 8;
	auth_end = p + strcspn(p, "/?");
	hp = parse_userinfo(p, auth_end, a);
	a->port = 6379;
	if (*hp == '[') {
		colon = memchr(hp, ']', (size_t)(auth_end - hp));
		if (colon == NULL) {
			snprintf(err, errlen, "bad Redis URL: unclosed [");
			goto bad;
		}
		a->host = url_decode(hp + 1, (size_t)(colon - hp - 1));
		colon++;
		if (colon < auth_end && *colon != ':') {
			snprintf(err, errlen, "bad Redis URL: bad host");
			goto bad;
		}
		if (colon < auth_end && parse_port(colon + 1,
		    (size_t)(auth_end - colon - 1), &a->port) == -1) {
			snprintf(err, errlen, "bad Redis URL: bad port");
			goto bad;
		}
	} else {
		colon = memchr(hp, ':', (size_t)(auth_end - hp));
		n = colon ? (size_t)(colon - hp) : (size_t)(auth_end - hp);
		if (n == 0)
			a->host = wq_strdup("127.0.0.1");
		else
			a->host = url_decode(hp, n);
		if (colon != NULL && parse_port(colon + 1,
		    (size_t)(auth_end - colon - 1), &a->port) == -1) {
			snprintf(err, errlen, "bad Redis URL: bad port");
			goto bad;
		}
	}
	if (*auth_end == '/' && auth_end[1] != '\0' && auth_end[1] != '?') {
		q = auth_end + 1;
		n = strcspn(q, "?");
		if (n >= sizeof(num)) {
			snprintf(err, errlen, "bad database number in Redis URL");
			goto bad;
		}
		memcpy(num, q, n);
		num[n] = '\0';
		if (wq_parse_long(num, 0, 100000, &v) == -1) {
			snprintf(err, errlen, "bad database number in Redis URL");
			goto bad;
		}
		a->db = (int)v;
	}
	q = strchr(auth_end, '?');
	if (q != NULL && parse_query(q + 1, a, err, errlen) == -1)
		goto bad;
	return 0;
bad:
	wq_redis_addr_clear(a);
	return -1;
}

char *
wq_redis_url_safe(const char *url)
{
	const char	*p, *end, *at, *pw;
	char		*out;
	size_t		 n;

	if (url == NULL)
		return wq_strdup("(none)");
	/* Each "password=" may grow by 3 ("***" for a shorter value). */
	out = wq_calloc(1, strlen(url) * 2 + 8);
	p = strstr(url, "://");
	p = p ? p + 3 : url;
	/* The authority ends where wq_redis_url_parse() ends it. */
	if (strncmp(url, "redis-sentinel://", 17) == 0)
		end = p + strcspn(p, "/");
	else
		end = p + strcspn(p, "/?");
	for (at = end; at > p && at[-1] != '@'; at--)
		;
	if (at > p) {
		n = (size_t)(p - url);
		memcpy(out, url, n);
		strcat(out, "***@");
		strcat(out, at);
		n += 4 + (size_t)(end - at);
	} else {
		strcpy(out, url);
		n = (size_t)(end - url);
	}
	/* password=... in the query: every one, as the last one counts */
	pw = strchr(out + n, '?');
	for (pw = pw ? strstr(pw, "password=") : NULL; pw != NULL;
	    pw = strstr(pw + 12, "password=")) {
		n = strcspn(pw + 9, "&");
		memmove((char *)pw + 12, pw + 9 + n, strlen(pw + 9 + n) + 1);
		memcpy((char *)pw + 9, "***", 3);
	}
	return out;
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

int
wq_setopt(struct wq *wq, int opt, const char *arg)
{
	struct wq_config	*c = &wq->cfg;
	struct wq_redis_addr	 a;
	char			 err[256];
	long			 v;

	switch (opt) {
	case WQ_OPT_REDIS:
		if (wq_redis_url_parse(arg, &a, err, sizeof(err)) == -1)
			return wq_seterr(wq, WQ_EUSAGE, "%s", err);
		wq_redis_addr_clear(&c->addr);
		c->addr = a;
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
		if (!valid_name(arg, 64))
			return wq_seterr(wq, WQ_EUSAGE, "bad namespace: 1 to 64 "
			    "characters, no spaces or control characters");
		return set_string(&c->ns, arg);
	case WQ_OPT_QUEUE:
		if (wq_check_queue(wq, arg) != WQ_OK)
			return WQ_EUSAGE;
		return set_string(&c->queue, arg);
	case WQ_OPT_TTL:
		if (wq_parse_long(arg, 1, 100L * 365 * 86400, &v) == -1)
			return wq_seterr(wq, WQ_EUSAGE,
			    "bad TTL: a whole number of seconds, at least 1");
		c->ttl = v;
		return WQ_OK;
	case WQ_OPT_NAME:
		if (!valid_name(arg, 200))
			return wq_seterr(wq, WQ_EUSAGE, "bad node name: 1 to 200 "
			    "characters, no spaces or control characters");
		return set_string(&c->name, arg);
	case WQ_OPT_MAX_DATA:
		if (wq_parse_long(arg, 1, 512L * 1024 * 1024, &v) == -1)
			return wq_seterr(wq, WQ_EUSAGE,
			    "bad --max-data: a number of bytes");
		c->max_data = (size_t)v;
		return WQ_OK;
	}
	return wq_seterr(wq, WQ_EUSAGE, "unknown setting");
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
	};
	struct wq	*wq;
	const char	*v;
	size_t		 i;

	wq = wq_calloc(1, sizeof(*wq));
	wq->role = wq_strdup(role);
	wq->cfg.ns = wq_strdup("wq");
	wq->cfg.queue = wq_strdup("default");
	wq->cfg.ttl = 3600;
	wq->cfg.max_data = WQ_MAX_DATA;
	wq->cfg.connect_timeout_ms = 2000;
	wq->cfg.command_timeout_ms = 10000;
	wq->backoff_ms = 0;
	(void)wq_setopt(wq, WQ_OPT_REDIS, "redis://127.0.0.1:6379/0");
	for (i = 0; i < sizeof(envs) / sizeof(envs[0]); i++) {
		v = getenv(envs[i].env);
		if (v == NULL || *v == '\0')
			continue;
		if (wq_setopt(wq, envs[i].opt, v) != WQ_OK) {
			/* Keep the message; commands check wq_env_error(). */
			char msg[sizeof(wq->err)];

			memcpy(msg, wq->err, sizeof(msg));
			wq_seterr(wq, WQ_EUSAGE, "%s: %.480s", envs[i].env, msg);
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
	if (wq->api_close != NULL)
		wq->api_close(wq);
	free(wq->cfg.redis_url);
	free(wq->cfg.api_url);
	if (wq->cfg.token != NULL)
		explicit_bzero(wq->cfg.token, strlen(wq->cfg.token));
	free(wq->cfg.token);
	free(wq->cfg.ns);
	free(wq->cfg.queue);
	free(wq->cfg.name);
	wq_redis_addr_clear(&wq->cfg.addr);
	free(wq->role);
	free(wq->name);
	free(wq->name_json);
	free(wq->beat_fields);
	free(wq);
}
