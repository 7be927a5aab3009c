/*
 * url.c -- Redis URLs: parsed into a struct wq_url, and masked for
 * messages.
 *
 *   redis://[[user]:password@]host[:port][/db]
 *   unix:///path/to.sock[?db=N][&password=P][&user=U]
 *   redis-sentinel://host:port[,host:port...]/master[?db=N][&password=P]
 *   redis-cluster://[[user]:password@]host:port[,host:port...]
 *
 * A redis-cluster:// URL names seed nodes of a Redis Cluster (rcluster.c
 * discovers the rest); a cluster has one database, so it takes neither a
 * database nor a query.
 * The password is kept for AUTH and never shown: messages use
 * wq_url_safe(), which masks it.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wq-int.h"

void
wq_url_clear(struct wq_url *a)
{
	free(a->host);
	free(a->path);
	free(a->user);
	if (a->password != NULL)
		explicit_bzero(a->password, strlen(a->password));
	free(a->password);
	free(a->sentinels);
	free(a->master);
	free(a->cluster);
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

/* A database number, the n bytes at s. */
static int
parse_db(const char *s, size_t n, int *db, char *err, size_t errlen)
{
	char	num[16];
	long	v;

	if (n == 0 || n >= sizeof(num)) {
		snprintf(err, errlen, "bad database number in Redis URL");
		return -1;
	}
	memcpy(num, s, n);
	num[n] = '\0';
	if (wq_parse_long(num, 0, 100000, &v) == -1) {
		snprintf(err, errlen, "bad database number in Redis URL");
		return -1;
	}
	*db = (int)v;
	return 0;
}

/* The query string of a URL: db, password, user. */
static int
parse_query(const char *q, struct wq_url *a, char *err, size_t errlen)
{
	const char	*p, *amp, *eq;
	size_t		 klen, vlen;

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
			if (parse_db(eq + 1, vlen, &a->db, err, errlen) == -1)
				return -1;
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
parse_userinfo(const char *s, const char *end, struct wq_url *a)
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

/* unix:///path/to.sock[?query] */
static int
parse_unix(const char *p, struct wq_url *a, char *err, size_t errlen)
{
	const char	*q;
	size_t		 n;

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
		return -1;
	return 0;
}

/* Every address of a list "host:port,host:port" has a port; else -1. */
static int
check_hostports(const char *list)
{
	const char	*p, *end, *colon;
	int		 port;

	if (*list == '\0' || list[strlen(list) - 1] == ',')
		return -1;
	for (p = list; *p != '\0'; p = end + (*end == ',')) {
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		colon = end;
		while (colon > p && colon[-1] != ':')
			colon--;
		if (colon <= p + 1 || parse_port(colon, (size_t)(end - colon),
		    &port) == -1)
			return -1;
	}
	return 0;
}

/* redis-sentinel://[userinfo@]host:port[,host:port...]/master[?query] */
static int
parse_sentinel(const char *p, struct wq_url *a, char *err, size_t errlen)
{
	const char	*auth_end, *hp, *q;
	size_t		 n;

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
		snprintf(err, errlen, "bad Redis URL: no sentinel master "
		    "name");
		return -1;
	}
	a->master = url_decode(auth_end + 1, n);
	if (q != NULL && parse_query(q + 1, a, err, errlen) == -1)
		return -1;
	if (check_hostports(a->sentinels) == -1) {
		snprintf(err, errlen, "bad Redis URL: sentinel "
		    "addresses are host:port");
		return -1;
	}
	return 0;
}

/* redis-cluster://[userinfo@]host:port[,host:port...] */
static int
parse_cluster(const char *p, struct wq_url *a, char *err, size_t errlen)
{
	const char	*end, *hp;

	end = p + strcspn(p, "/?");
	if (*end != '\0') {
		snprintf(err, errlen, "bad Redis URL: redis-cluster:// takes "
		    "seed nodes only (host:port,host:port): no database, "
		    "no parameters");
		return -1;
	}
	hp = parse_userinfo(p, end, a);
	a->cluster = url_decode(hp, (size_t)(end - hp));
	if (check_hostports(a->cluster) == -1) {
		snprintf(err, errlen, "bad Redis URL: cluster seed nodes "
		    "are host:port,host:port");
		return -1;
	}
	return 0;
}

/* The host and port of redis://, from hp to end: [v6]:port or h:port. */
static int
parse_hostport(const char *hp, const char *end, struct wq_url *a,
    char *err, size_t errlen)
{
	const char	*colon;
	size_t		 n;

	if (*hp == '[') {
		colon = memchr(hp, ']', (size_t)(end - hp));
		if (colon == NULL) {
			snprintf(err, errlen, "bad Redis URL: unclosed [");
			return -1;
		}
		a->host = url_decode(hp + 1, (size_t)(colon - hp - 1));
		colon++;
		if (colon < end && *colon != ':') {
			snprintf(err, errlen, "bad Redis URL: bad host");
			return -1;
		}
	} else {
		colon = memchr(hp, ':', (size_t)(end - hp));
		n = colon ? (size_t)(colon - hp) : (size_t)(end - hp);
		if (n == 0)
			a->host = wq_strdup("127.0.0.1");
		else
			a->host = url_decode(hp, n);
	}
	if (colon != NULL && colon < end && parse_port(colon + 1,
	    (size_t)(end - colon - 1), &a->port) == -1) {
		snprintf(err, errlen, "bad Redis URL: bad port");
		return -1;
	}
	return 0;
}

/* redis://[userinfo@]host[:port][/db][?query] */
static int
parse_tcp(const char *p, struct wq_url *a, char *err, size_t errlen)
{
	const char	*auth_end, *q;

	auth_end = p + strcspn(p, "/?");
	a->port = 6379;
	if (parse_hostport(parse_userinfo(p, auth_end, a), auth_end, a, err,
	    errlen) == -1)
		return -1;
	if (*auth_end == '/' && auth_end[1] != '\0' && auth_end[1] != '?' &&
	    parse_db(auth_end + 1, strcspn(auth_end + 1, "?"), &a->db, err,
	    errlen) == -1)
		return -1;
	q = strchr(auth_end, '?');
	if (q != NULL && parse_query(q + 1, a, err, errlen) == -1)
		return -1;
	return 0;
}

int
wq_url_parse(const char *url, struct wq_url *a, char *err, size_t errlen)
{
	int	rc;

	memset(a, 0, sizeof(*a));
	if (url == NULL || *url == '\0') {
		snprintf(err, errlen, "empty Redis URL");
		return -1;
	}
	if (strncmp(url, "unix://", 7) == 0)
		rc = parse_unix(url + 7, a, err, errlen);
	else if (strncmp(url, "redis-sentinel://", 17) == 0)
		rc = parse_sentinel(url + 17, a, err, errlen);
	else if (strncmp(url, "redis-cluster://", 16) == 0)
		rc = parse_cluster(url + 16, a, err, errlen);
	else if (strncmp(url, "redis://", 8) == 0)
		rc = parse_tcp(url + 8, a, err, errlen);
	else {
		snprintf(err, errlen, "bad Redis URL: expected redis://, "
		    "unix://, redis-sentinel:// or redis-cluster://");
		rc = -1;
	}
	if (rc == -1)
		wq_url_clear(a);
	return rc;
}

char *
wq_url_safe(const char *url)
{
	const char	*p, *end, *at, *pw;
	char		*out;
	size_t		 n;

	if (url == NULL)
		return wq_strdup("(none)");
	/* Each "password=" may grow by 3 ("***" for a shorter value). */
	out = wq_calloc(strlen(url) + 4, 2);
	p = strstr(url, "://");
	p = p ? p + 3 : url;
	/* The authority ends where wq_url_parse() ends it. */
	if (strncmp(url, "redis-sentinel://", 17) == 0)
		end = p + strcspn(p, "/");
	else
		end = p + strcspn(p, "/?");
	for (at = end; at > p && at[-1] != '@'; at--)
		;
	if (at > p) {
		n = (size_t)(p - url);
		memcpy(out, url, n);
		memcpy(out + n, "***@", 4);
		memcpy(out + n + 4, at, strlen(at) + 1);
		n += 4 + (size_t)(end - at);
	} else {
		memcpy(out, url, strlen(url) + 1);
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
