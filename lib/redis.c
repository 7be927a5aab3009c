/*
 * redis.c -- the one Redis connection type of wq.
 *
 * wq_redis_open() connects to what the settings name: a TCP address, a
 * unix socket, or the master that a set of Sentinels reports; then it
 * authenticates (AUTH [user] password) and selects the database.  Connects
 * and commands have timeouts, so a command never hangs on a dead server:
 * it fails with WQ_EUNAVAIL and the caller decides whether to give up (the
 * one-shot commands exit 3) or to come back after wq_backoff_ms() (the
 * long-running ones: a capped exponential backoff with jitter).
 *
 * Scripts are sent as EVALSHA; when the server does not know one (after a
 * restart, a SCRIPT FLUSH or a failover) the reply is NOSCRIPT and the
 * same call is repeated as EVAL, which also loads it for next time.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "wq-int.h"

void
wq_argv_init(struct wq_argv *a)
{
	memset(a, 0, sizeof(*a));
}

void
wq_argv_free(struct wq_argv *a)
{
	int	i;

	for (i = 0; i < a->argc; i++)
		free(a->argv[i]);
	free(a->argv);
	free(a->len);
	memset(a, 0, sizeof(*a));
}

void
wq_argv_add(struct wq_argv *a, const char *s, size_t n)
{
	if (a->argc == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 16;
		a->argv = wq_realloc(a->argv, sizeof(*a->argv) * (size_t)a->cap);
		a->len = wq_realloc(a->len, sizeof(*a->len) * (size_t)a->cap);
	}
	a->argv[a->argc] = wq_calloc(1, n + 1);
	memcpy(a->argv[a->argc], s, n);
	a->len[a->argc] = n;
	a->argc++;
}

void
wq_argv_adds(struct wq_argv *a, const char *s)
{
	wq_argv_add(a, s, strlen(s));
}

void
wq_argv_addf(struct wq_argv *a, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	wq_argv_add(a, s, (size_t)n);
	free(s);
}


static char *
key_vfmt(struct wq *wq, const char *fmt, va_list ap)
{
	char	*rest, *key;

	if (vasprintf(&rest, fmt, ap) < 0)
		abort();
	if (asprintf(&key, "%s:%s", wq->cfg.ns, rest) < 0)
		abort();
	free(rest);
	return key;
}

char *
wq_key(struct wq *wq, const char *fmt, ...)
{
	va_list	 ap;
	char	*k;

	va_start(ap, fmt);
	k = key_vfmt(wq, fmt, ap);
	va_end(ap);
	return k;
}

void
wq_argv_key(struct wq_argv *a, struct wq *wq, const char *fmt, ...)
{
	va_list	 ap;
	char	*k;

	va_start(ap, fmt);
	k = key_vfmt(wq, fmt, ap);
	va_end(ap);
	wq_argv_adds(a, k);
	free(k);
}

static struct timeval
ms_tv(int ms)
{
	struct timeval	tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return tv;
}

static redisContext *
connect_tcp(const char *host, int port, int timeout_ms, char *err,
    size_t errlen)
{
	redisContext	*c;

	c = redisConnectWithTimeout(host, port, ms_tv(timeout_ms));
	if (c == NULL || c->err) {
		snprintf(err, errlen, "cannot connect to Redis at %s:%d: %s",
		    host, port, c ? c->errstr : "out of memory");
		if (c)
			redisFree(c);
		return NULL;
	}
	return c;
}

/* AUTH [user] password, when the settings have a password. */
static int
authenticate(redisContext *c, struct wq_redis_addr *a, char *err,
    size_t errlen)
{
	redisReply	*r;

	if (a->password == NULL)
		return 0;
	if (a->user != NULL)
		r = redisCommand(c, "AUTH %s %s", a->user, a->password);
	else
		r = redisCommand(c, "AUTH %s", a->password);
	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		/* Redis's message names no password; keep it short. */
		snprintf(err, errlen, "Redis refused the credentials%s%s",
		    r ? ": " : "", r ? r->str : "");
		if (r)
			freeReplyObject(r);
		return -1;
	}
	freeReplyObject(r);
	return 0;
}

/*
 * Ask the Sentinels, in turn, where the master is.  The master is
 * authenticated before it is asked for its ROLE, which a server with a
 * password refuses to say otherwise.
 */
static redisContext *
connect_sentinel(struct wq *wq, char *err, size_t errlen)
{
	struct wq_redis_addr	*a = &wq->cfg.addr;
	redisContext		*s, *c;
	redisReply		*r;
	char			*list, *tok, *save, *colon, host[256];
	int			 port;

	list = wq_strdup(a->sentinels);
	snprintf(err, errlen, "no sentinel answered for master %s", a->master);
	for (tok = strtok_r(list, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		colon = strrchr(tok, ':');
		*colon = '\0';
		s = connect_tcp(tok, atoi(colon + 1), wq->cfg.connect_timeout_ms,
		    err, errlen);
		if (s == NULL)
			continue;
		redisSetTimeout(s, ms_tv(wq->cfg.connect_timeout_ms));
		r = redisCommand(s, "SENTINEL get-master-addr-by-name %s",
		    a->master);
		if (r == NULL || r->type != REDIS_REPLY_ARRAY ||
		    r->elements != 2) {
			snprintf(err, errlen, "sentinel %s does not know master "
			    "%s", tok, a->master);
			if (r)
				freeReplyObject(r);
			redisFree(s);
			continue;
		}
		snprintf(host, sizeof(host), "%s", r->element[0]->str);
		port = atoi(r->element[1]->str);
		freeReplyObject(r);
		redisFree(s);
		c = connect_tcp(host, port, wq->cfg.connect_timeout_ms, err,
		    errlen);
		if (c == NULL)
			continue;
		redisSetTimeout(c, ms_tv(wq->cfg.command_timeout_ms));
		if (authenticate(c, a, err, errlen) == -1) {
			redisFree(c);
			continue;
		}
		/* A failover may be under way: insist on a master. */
		r = redisCommand(c, "ROLE");
		if (r && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
		    r->element[0]->type == REDIS_REPLY_STRING &&
		    strcmp(r->element[0]->str, "master") == 0) {
			freeReplyObject(r);
			free(list);
			return c;
		}
		if (r)
			freeReplyObject(r);
		redisFree(c);
		snprintf(err, errlen, "%s:%d is not a master yet", host, port);
	}
	free(list);
	{
		char last[256];

		snprintf(last, sizeof(last), "%s", err);
		snprintf(err, errlen, "no sentinel could name the master %s "
		    "(last: %s)", a->master, last);
	}
	return NULL;
}

/*
 * Open a new connection with the settings of wq: used for the main
 * connection and for the subscriber connections of waiters and workers.
 */
redisContext *
wq_redis_open(struct wq *wq, char *err, size_t errlen)
{
	struct wq_redis_addr	*a = &wq->cfg.addr;
	redisContext		*c;
	redisReply		*r;

	if (a->sentinels != NULL)
		c = connect_sentinel(wq, err, errlen);
	else if (a->unix_socket) {
		c = redisConnectUnixWithTimeout(a->path,
		    ms_tv(wq->cfg.connect_timeout_ms));
		if (c == NULL || c->err) {
			snprintf(err, errlen, "cannot connect to Redis at %s: %s",
			    a->path, c ? c->errstr : "out of memory");
			if (c)
				redisFree(c);
			c = NULL;
		}
	} else
		c = connect_tcp(a->host, a->port, wq->cfg.connect_timeout_ms,
		    err, errlen);
	if (c == NULL)
		return NULL;
	redisSetTimeout(c, ms_tv(wq->cfg.command_timeout_ms));
	if (a->unix_socket == 0)
		redisEnableKeepAlive(c);
	if (a->sentinels == NULL && authenticate(c, a, err, errlen) == -1) {
		redisFree(c);
		return NULL;
	}
	if (a->db != 0) {
		r = redisCommand(c, "SELECT %d", a->db);
		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			snprintf(err, errlen, "cannot select database %d: %s",
			    a->db, r ? r->str : c->errstr);
			if (r)
				freeReplyObject(r);
			redisFree(c);
			return NULL;
		}
		freeReplyObject(r);
	}
	return c;
}

int
wq_connect(struct wq *wq)
{
	char	err[256];

	if (wq->rc != NULL)
		return WQ_OK;
	if ((wq->rc = wq_redis_open(wq, err, sizeof(err))) == NULL)
		return wq_seterr(wq, WQ_EUNAVAIL, "%s", err);
	wq->conn_gen++;
	return WQ_OK;
}

void
wq_disconnect(struct wq *wq)
{
	if (wq->rc != NULL) {
		redisFree(wq->rc);
		wq->rc = NULL;
	}
}

int
wq_connected(struct wq *wq)
{
	return wq->rc != NULL;
}

/* 100 ms doubling to 5 s, each wait jittered to 50..100 % of it. */
int
wq_backoff_ms(struct wq *wq)
{
	int	ms;

	wq->backoff_ms = wq->backoff_ms == 0 ? 100 : wq->backoff_ms * 2;
	if (wq->backoff_ms > 5000)
		wq->backoff_ms = 5000;
	ms = wq->backoff_ms / 2 + (int)(random() % (wq->backoff_ms / 2 + 1));
	return ms;
}

void
wq_backoff_reset(struct wq *wq)
{
	wq->backoff_ms = 0;
}

static int
broken(struct wq *wq)
{
	const char	*why = wq->rc ? wq->rc->errstr : "not connected";

	if (wq->rc && wq->rc->err == REDIS_ERR_IO && errno == EAGAIN)
		why = "timed out";
	wq_seterr(wq, WQ_EUNAVAIL, "Redis connection lost: %s", why);
	wq_disconnect(wq);
	return WQ_EUNAVAIL;
}

/* Decimal digits of v at p; returns the end. */
static char *
put_size(char *p, unsigned long long v)
{
	char	d[24];
	int	n = 0;

	do
		d[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n > 0)
		*p++ = d[--n];
	return p;
}

/* (Not printf: a worker adds two numbers a job, and vasprintf() was a
 * tenth of its time.) */
void
wq_argv_addl(struct wq_argv *a, long long v)
{
	char	buf[24], *p = buf;

	if (v < 0)
		*p++ = '-';
	p = put_size(p, v < 0 ? 0 - (unsigned long long)v :
	    (unsigned long long)v);
	wq_argv_add(a, buf, (size_t)(p - buf));
}

/*
 * Append a command to the connection's output buffer.  The RESP is put
 * together here in one piece: hiredis's redisAppendCommandArgv() formats
 * every argument with sdscatfmt(), a tenth of wq-submit's time.
 */
int
wq_append(struct wq *wq, struct wq_argv *a)
{
	char	*buf, *p;
	size_t	 n, i;
	int	 rc;

	n = 24;
	for (i = 0; i < (size_t)a->argc; i++)
		n += a->len[i] + 24;
	p = buf = wq_calloc(1, n);
	*p++ = '*';
	p = put_size(p, (size_t)a->argc);
	*p++ = '\r';
	*p++ = '\n';
	for (i = 0; i < (size_t)a->argc; i++) {
		*p++ = '$';
		p = put_size(p, a->len[i]);
		*p++ = '\r';
		*p++ = '\n';
		memcpy(p, a->argv[i], a->len[i]);
		p += a->len[i];
		*p++ = '\r';
		*p++ = '\n';
	}
	rc = redisAppendFormattedCommand(wq->rc, buf, (size_t)(p - buf));
	free(buf);
	return rc == REDIS_OK ? WQ_OK : WQ_EUNAVAIL;
}

redisReply *
wq_command(struct wq *wq, struct wq_argv *a)
{
	void	*r = NULL;

	if (wq_connect(wq) != WQ_OK)
		return NULL;
	if (wq_append(wq, a) != WQ_OK ||
	    redisGetReply(wq->rc, &r) != REDIS_OK || r == NULL) {
		broken(wq);
		return NULL;
	}
	return r;
}

int
wq_pipeline(struct wq *wq, struct wq_argv *cmds, size_t n, redisReply **out)
{
	size_t	 i;
	void	*r;

	memset(out, 0, sizeof(*out) * n);
	if (wq_connect(wq) != WQ_OK)
		return WQ_EUNAVAIL;
	for (i = 0; i < n; i++)
		if (wq_append(wq, &cmds[i]) != WQ_OK)
			return broken(wq);
	for (i = 0; i < n; i++) {
		if (redisGetReply(wq->rc, &r) != REDIS_OK) {
			while (i > 0)
				freeReplyObject(out[--i]);
			memset(out, 0, sizeof(*out) * n);
			return broken(wq);
		}
		out[i] = r;
	}
	return WQ_OK;
}

/* Free the commands of a pipeline and the replies it read (not the arrays). */
void
wq_pipeline_free(struct wq_argv *cmds, redisReply **replies, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (replies[i] != NULL)
			freeReplyObject(replies[i]);
		replies[i] = NULL;
		wq_argv_free(&cmds[i]);
	}
}

/* An error reply becomes the error of wq; returns non-zero for one. */
int
wq_reply_error(struct wq *wq, redisReply *r, const char *what)
{
	if (r == NULL)
		return WQ_EUNAVAIL;
	if (r->type != REDIS_REPLY_ERROR)
		return WQ_OK;
	/* A replica or a server still loading: try again later. */
	if (strncmp(r->str, "READONLY", 8) == 0 ||
	    strncmp(r->str, "LOADING", 7) == 0 ||
	    strncmp(r->str, "MASTERDOWN", 10) == 0 ||
	    strncmp(r->str, "BUSY", 4) == 0) {
		wq_seterr(wq, WQ_EUNAVAIL, "%s: Redis: %s", what, r->str);
		wq_disconnect(wq);
		return WQ_EUNAVAIL;
	}
	return wq_seterr(wq, WQ_EUNAVAIL, "%s: Redis: %s", what, r->str);
}

/* The server's clock in ms from a TIME reply, else ours. */
long long
wq_reply_time_ms(redisReply *r)
{
	if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2)
		return wq_reply_ll(r->element[0]) * 1000 +
		    wq_reply_ll(r->element[1]) / 1000;
	return (long long)wq_now_ms();
}

long long
wq_reply_ll(redisReply *r)
{
	if (r == NULL)
		return 0;
	if (r->type == REDIS_REPLY_INTEGER)
		return r->integer;
	if (r->type == REDIS_REPLY_STRING)
		return strtoll(r->str, NULL, 10);
	return 0;
}

void
wq_script_argv(struct wq_argv *a, enum wq_script_id id)
{
	wq_argv_init(a);
	wq_argv_adds(a, "EVALSHA");
	wq_argv_adds(a, wq_scripts[id].sha);
	wq_argv_adds(a, "0");
}

void
wq_argv_setnkeys(struct wq_argv *a, int n)
{
	free(a->argv[2]);
	a->argv[2] = NULL;
	if (asprintf(&a->argv[2], "%d", n) < 0)
		abort();
	a->len[2] = strlen(a->argv[2]);
}

void
wq_script_to_eval(struct wq_argv *a)
{
	int	 i;

	for (i = 0; i < WQ_SCRIPT_COUNT; i++)
		if (strcmp(a->argv[1], wq_scripts[i].sha) == 0)
			break;
	if (i == WQ_SCRIPT_COUNT)
		return;
	free(a->argv[0]);
	free(a->argv[1]);
	a->argv[0] = wq_strdup("EVAL");
	a->len[0] = 4;
	a->argv[1] = wq_strdup(wq_scripts[i].body);
	a->len[1] = strlen(wq_scripts[i].body);
}

int
wq_reply_noscript(redisReply *r)
{
	return r != NULL && r->type == REDIS_REPLY_ERROR &&
	    strncmp(r->str, "NOSCRIPT", 8) == 0;
}

redisReply *
wq_script_run(struct wq *wq, struct wq_argv *a)
{
	redisReply	*r;

	r = wq_command(wq, a);
	if (wq_reply_noscript(r)) {
		freeReplyObject(r);
		wq_script_to_eval(a);
		r = wq_command(wq, a);
	}
	return r;
}
