/*
 * util.c -- the helpers every file of wq uses and that belong to no
 * module, hence the bare wq_ prefix: allocation that never returns NULL
 * (an allocation failure aborts: nothing of wq can go on without
 * memory, and a NULL checked at every call is a path never tested), the
 * clock, the last error of a context, the host name, random ids, and
 * the numbers of options.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "wq-int.h"

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

/* realloc(p, n * size), refused (abort) when the product overflows. */
void *
wq_reallocarray(void *p, size_t n, size_t size)
{
	if ((p = reallocarray(p, n ? n : 1, size ? size : 1)) == NULL)
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

char *
wq_strndup(const char *s, size_t n)
{
	char	*p;

	if ((p = strndup(s, n)) == NULL)
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

/*
 * Text another node wrote, made safe for a terminal or a log line: a
 * control character (C0, DEL, or C1 as UTF-8, where an escape sequence
 * can start) becomes '?', in place.
 */
char *
wq_unctrl(char *s)
{
	unsigned char	*p = (unsigned char *)s;
	size_t		 i, j;

	for (i = j = 0; p[i] != '\0'; i++) {
		if (p[i] == 0xc2 && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f) {
			p[j++] = '?';
			i++;
		} else
			p[j++] = p[i] < 0x20 || p[i] == 0x7f ? '?' : p[i];
	}
	p[j] = '\0';
	return s;
}

/* A descriptor that a program the process runs does not inherit. */
int
wq_cloexec(int fd)
{
	int	flags;

	if ((flags = fcntl(fd, F_GETFD)) == -1)
		return -1;
	return fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
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

char *
wq_random_id(void)
{
	unsigned char	 b[12];
	char		*s;
	size_t		 i;

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		for (i = 0; i < sizeof(b); i++)
			b[i] = (unsigned char)random();
	s = wq_calloc(2, sizeof(b) + 1);
	for (i = 0; i < sizeof(b); i++)
		snprintf(s + i * 2, 3, "%02x", b[i]);
	return s;
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
