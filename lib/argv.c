/*
 * argv.c -- a Redis command as it is built: a growable argv that owns
 * copies of its strings, the keys of the namespace appended to it (the
 * only place where a key's name is put together: NS:rest), and the RESP
 * text it becomes on the wire.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* A copy of src into dst (made anew). */
void
wq_argv_copy(struct wq_argv *dst, const struct wq_argv *src)
{
	int	i;

	wq_argv_init(dst);
	for (i = 0; i < src->argc; i++)
		wq_argv_addn(dst, src->argv[i], src->len[i]);
}

static void
argv_add(struct wq_argv *a, const char *s, size_t n)
{
	if (a->argc == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 16;
		a->argv = wq_reallocarray(a->argv, (size_t)a->cap,
		    sizeof(*a->argv));
		a->len = wq_reallocarray(a->len, (size_t)a->cap,
		    sizeof(*a->len));
	}
	a->argv[a->argc] = wq_calloc(1, n + 1);
	memcpy(a->argv[a->argc], s, n);
	a->len[a->argc] = n;
	a->argc++;
}

void
wq_argv_adds(struct wq_argv *a, const char *s)
{
	argv_add(a, s, strlen(s));
}

void
wq_argv_addn(struct wq_argv *a, const char *s, size_t n)
{
	argv_add(a, s, n);
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
	argv_add(a, s, (size_t)n);
	free(s);
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
	argv_add(a, buf, (size_t)(p - buf));
}

void
wq_argv_setnkeys(struct wq_argv *a, int n)
{
	char	buf[24];
	size_t	len;

	len = (size_t)(put_size(buf, (unsigned)n) - buf);
	free(a->argv[2]);
	a->argv[2] = wq_calloc(1, len + 1);
	memcpy(a->argv[2], buf, len);
	a->len[2] = len;
}

/* Append "NS:", n after it when n > 0, then "s" if sharded (a script's
 * first argument, wq_script_prefix(); not printf: every script call has
 * one). */
void
wq_argv_prefix(struct wq_argv *a, const char *ns, long n, int sharded)
{
	char	buf[256], *p;
	size_t	len;

	len = strlen(ns);
	if (len + 24 > sizeof(buf)) {
		if (n > 0)
			wq_argv_addf(a, "%s:%ld%s", ns, n, sharded ? "s" : "");
		else
			wq_argv_addf(a, "%s:%s", ns, sharded ? "s" : "");
		return;
	}
	memcpy(buf, ns, len);
	p = buf + len;
	*p++ = ':';
	if (n > 0)
		p = put_size(p, (unsigned long long)n);
	if (sharded)
		*p++ = 's';
	argv_add(a, buf, (size_t)(p - buf));
}

static void	argv_vpkey(struct wq_argv *, struct wq *, int, const char *,
		    va_list) __attribute__((format(printf, 4, 0)));

/* Append a key, NS:fmt... (the control partition's) */
void
wq_argv_key(struct wq_argv *a, struct wq *wq, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	argv_vpkey(a, wq, -1, fmt, ap);
	va_end(ap);
}

void
wq_argv_vpkey(struct wq_argv *a, struct wq *wq, int p, const char *fmt,
    va_list ap)
{
	argv_vpkey(a, wq, p, fmt, ap);
}

/* Append a key of partition p (-1: the control partition's). */
void
wq_argv_pkey(struct wq_argv *a, struct wq *wq, int p, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	argv_vpkey(a, wq, p, fmt, ap);
	va_end(ap);
}

/*
 * The same, the arguments in ap (for functions that take a key's).
 * Formatted once, in place when it fits: two asprintf() calls a key were
 * a third of a submission's time in the client.
 */
static void
argv_vpkey(struct wq_argv *a, struct wq *wq, int p, const char *fmt,
    va_list ap)
{
	va_list		 aq;
	char		 buf[256], *key;
	const char	*pre = wq_part_prefix(wq, p);
	size_t		 ns;
	int		 n;

	ns = strlen(pre);
	if (ns + 1 < sizeof(buf)) {
		memcpy(buf, pre, ns);
		buf[ns] = ':';
		va_copy(aq, ap);
		n = vsnprintf(buf + ns + 1, sizeof(buf) - ns - 1, fmt, aq);
		va_end(aq);
		if (n < 0)
			abort();
		if ((size_t)n < sizeof(buf) - ns - 1) {
			argv_add(a, buf, ns + 1 + (size_t)n);
			return;
		}
	}
	if (vasprintf(&key, fmt, ap) < 0)
		abort();
	wq_argv_addf(a, "%s:%s", pre, key);
	free(key);
}

/* Room for n more bytes in r. */
static void
resp_room(struct wq_resp *r, size_t n)
{
	if (r->cap - r->n < n) {
		while (r->cap - r->n < n)
			r->cap = r->cap ? r->cap * 2 : 65536;
		r->p = wq_realloc(r->p, r->cap);
	}
}

/* Append the pieces s[0..k) as one RESP bulk string. */
static void
resp_bulk(struct wq_resp *r, const char **s, const size_t *n, int k)
{
	char	*p;
	size_t	 len = 0;
	int	 i;

	for (i = 0; i < k; i++)
		len += n[i];
	resp_room(r, len + 32);
	p = r->p + r->n;
	*p++ = '$';
	p = put_size(p, len);
	*p++ = '\r';
	*p++ = '\n';
	for (i = 0; i < k; i++) {
		memcpy(p, s[i], n[i]);
		p += n[i];
	}
	*p++ = '\r';
	*p++ = '\n';
	r->n = (size_t)(p - r->p);
}

/*
 * Append "CMD NS:job:<id> [ARG]" to r as RESP.  For the pipelined reads of
 * many records (job.c): built as a struct wq_argv each, with its copies
 * and the key made by two printfs, a read cost the client as much as
 * decoding its reply.
 */
void
wq_resp_job(struct wq_resp *r, struct wq *wq, const char *cmd,
    const char *id, const char *arg)
{
	const char	*pre = wq_part_prefix(wq, wq_part_of(wq, id));
	const char	*key[3] = { pre, ":job:", id };
	size_t		 klen[3] = { strlen(pre), 5, strlen(id) };
	size_t		 n;

	resp_room(r, 4);
	memcpy(r->p + r->n, arg != NULL ? "*3\r\n" : "*2\r\n", 4);
	r->n += 4;
	n = strlen(cmd);
	resp_bulk(r, &cmd, &n, 1);
	resp_bulk(r, key, klen, 3);
	if (arg != NULL) {
		n = strlen(arg);
		resp_bulk(r, &arg, &n, 1);
	}
}

/*
 * The command as RESP, malloc'd, its length in *len.  It is put together
 * here in one piece: hiredis's redisAppendCommandArgv() formats every
 * argument with sdscatfmt(), a tenth of wq-submit's time.
 */
char *
wq_argv_resp(struct wq_argv *a, size_t *len)
{
	char	*buf, *p;
	size_t	 n, i;

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
	*len = (size_t)(p - buf);
	return buf;
}
