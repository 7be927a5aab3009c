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

/*
 * A duration: a number (a fraction allowed) and an optional unit, ms, s
 * (the default), m, h or d: "90", "1.5s", "10m", "250ms".  Milliseconds
 * in *out; -1 when it is not one or is negative.
 */
int
wq_parse_duration_ms(const char *s, int64_t *out)
{
	static const struct {
		const char	*unit;
		double		 ms;
	} units[] = {
		{ "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 },
		{ "h", 3600000 }, { "d", 86400000 },
	};
	char	*end;
	double	 v;
	size_t	 i;

	if (s == NULL || *s == '\0' || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || !isfinite(v) || v < 0 || v > 1e12)
		return -1;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].unit) == 0) {
			*out = (int64_t)llround(v * units[i].ms);
			return 0;
		}
	return -1;
}

/* n decimal digits of s as a number, or -1. */
static int
digits(const char *s, int n)
{
	int	v = 0, i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/*
 * A time: seconds since the epoch (a fraction allowed), or RFC 3339,
 * "2026-12-04T10:30:00Z", "2026-12-04T10:30:00.250+01:00" (a space for
 * the T, a lower-case t or z allowed, as the RFC does).  Milliseconds
 * since the epoch in *out; -1 when it is not one.
 */
int
wq_parse_time_ms(const char *s, int64_t *out)
{
	struct tm	 tm;
	const char	*p;
	char		*end;
	double		 v, frac = 0;
	time_t		 t;
	int		 off = 0, oh, om;

	if (s == NULL || *s == '\0')
		return -1;
	if (strchr(s, '-') == NULL || s[0] == '-') {
		errno = 0;
		v = strtod(s, &end);
		if (errno != 0 || end == s || *end != '\0' || !isfinite(v) ||
		    v < 0 || v > 1e11 || s[0] == '+')
			return -1;
		*out = (int64_t)llround(v * 1000);
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	if (strlen(s) < 20 || (tm.tm_year = digits(s, 4)) < 0 ||
	    s[4] != '-' || (tm.tm_mon = digits(s + 5, 2)) < 1 ||
	    s[7] != '-' || (tm.tm_mday = digits(s + 8, 2)) < 1 ||
	    strchr("Tt ", s[10]) == NULL ||
	    (tm.tm_hour = digits(s + 11, 2)) < 0 || s[13] != ':' ||
	    (tm.tm_min = digits(s + 14, 2)) < 0 || s[16] != ':' ||
	    (tm.tm_sec = digits(s + 17, 2)) < 0)
		return -1;
	if (tm.tm_mon > 12 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
	    tm.tm_min > 59 || tm.tm_sec > 60)
		return -1;
	p = s + 19;
	if (*p == '.') {
		frac = strtod(p, &end);
		if (end == p + 1)
			return -1;
		p = end;
	}
	if (*p == 'Z' || *p == 'z')
		p++;
	else if ((*p == '+' || *p == '-') && (oh = digits(p + 1, 2)) >= 0 &&
	    oh < 24 && p[3] == ':' && (om = digits(p + 4, 2)) >= 0 &&
	    om < 60) {
		off = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
		p += 6;
	} else
		return -1;
	if (*p != '\0')
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	/* a day that the month does not have (Feb 30) is refused */
	t = timegm(&tm);
	if (t == (time_t)-1 || tm.tm_mday != digits(s + 8, 2))
		return -1;
	*out = ((int64_t)t - off) * 1000 + (int64_t)llround(frac * 1000);
	return *out < 0 ? -1 : 0;
}

int
wq_num_ll(double d, long long *out)
{
	/* false for NaN too */
	if (!(d >= -9007199254740992.0 && d <= 9007199254740992.0))
		return -1;
	*out = (long long)d;
	return 0;
}
