/*
 * cron.c -- schedule expressions: a 5-field cron expression, a macro
 * (@hourly...) or "@every DURATION", parsed strictly (an error says the
 * column), and the next time one fires after a given time in a time
 * zone.  No Redis here: schedule.c keeps the schedules.
 *
 * Times in a zone: a cron expression names wall-clock times.  The next
 * one is found on the wall clock (a civil time, counted as if it were
 * UTC), then turned into an instant with the zone's offsets just before
 * and just after it (the C library's tz database, through TZ=).  A wall
 * time that occurs twice (the clock goes back) fires once, at its first
 * occurrence; the wall times of the repeated hour are not fired again.
 * One that does not exist (the clock goes forward) fires as mktime(3)
 * reads it, at the same distance after the jump: 02:30 on a night that
 * skips from 02:00 to 03:00 fires at 03:30.  @every ignores the zone: it
 * fires at the multiples of its period since the epoch.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wq-int.h"

#define EVERY_MAX	(366L * 86400)
#define SEARCH_YEARS	30	/* a Feb 29 that is a Monday: 28 years */

enum { F_MIN, F_HOUR, F_DOM, F_MON, F_DOW, NFIELDS };

static const struct {
	const char	*what;
	int		 lo, hi;
} fields[NFIELDS] = {
	{ "minute",	   0, 59 },
	{ "hour",	   0, 23 },
	{ "day of month",  1, 31 },
	{ "month",	   1, 12 },
	{ "day of week",   0, 7 },
};

static const char *const months[] = { "JAN", "FEB", "MAR", "APR", "MAY",
    "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC" };
static const char *const days[] = { "SUN", "MON", "TUE", "WED", "THU",
    "FRI", "SAT" };

static const struct {
	const char	*name;
	const char	*expr;
} macros[] = {
	{ "@yearly",	"0 0 1 1 *" },
	{ "@annually",	"0 0 1 1 *" },
	{ "@monthly",	"0 0 1 * *" },
	{ "@weekly",	"0 0 * * 0" },
	{ "@daily",	"0 0 * * *" },
	{ "@midnight",	"0 0 * * *" },
	{ "@hourly",	"0 * * * *" },
};

/* A parse in progress: the text, where we are, the first error. */
struct cp {
	struct wq	*wq;
	const char	*spec;		/* as given, for messages */
	const char	*s;		/* the text parsed (a macro's own) */
	size_t		 i;
};

static int __attribute__((format(printf, 2, 3)))
cp_err(struct cp *p, const char *fmt, ...)
{
	va_list	ap;
	char	what[160];

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return wq_seterr(p->wq, WQ_EUSAGE, "bad schedule \"%.64s\": column "
	    "%zu: %s", p->spec, p->i + 1, what);
}

/* A number or, in fields that have them, a name: *v, or an error. */
static int
cp_value(struct cp *p, int f, int *v)
{
	const char	*s = p->s + p->i;
	size_t		 k;
	long		 n = 0;

	if (isalpha((unsigned char)*s) && (f == F_MON || f == F_DOW)) {
		for (k = 0; k < (f == F_MON ? 12u : 7u); k++)
			if (strncasecmp(s, f == F_MON ? months[k] : days[k],
			    3) == 0 && !isalpha((unsigned char)s[3])) {
				*v = (int)k + (f == F_MON);
				p->i += 3;
				return WQ_OK;
			}
		return cp_err(p, "unknown name in the %s field",
		    fields[f].what);
	}
	if (!isdigit((unsigned char)*s))
		return cp_err(p, "expected a number in the %s field",
		    fields[f].what);
	for (k = 0; isdigit((unsigned char)s[k]) && n <= 1000; k++)
		n = n * 10 + (s[k] - '0');
	if (n < fields[f].lo || n > fields[f].hi) {
		return cp_err(p, "%s out of range %d-%d", fields[f].what,
		    fields[f].lo, fields[f].hi);
	}
	*v = (int)n;
	p->i += k;
	return WQ_OK;
}

/* One item of a list: * or a value or a range, and maybe /step. */
static int
cp_item(struct cp *p, int f, uint64_t *bits)
{
	int	lo, hi, step = 1, v, rc;
	size_t	at = p->i;

	if (p->s[p->i] == '*') {
		lo = fields[f].lo;
		hi = f == F_DOW ? 6 : fields[f].hi;
		p->i++;
	} else {
		if ((rc = cp_value(p, f, &lo)) != WQ_OK)
			return rc;
		hi = lo;
		if (p->s[p->i] == '-') {
			p->i++;
			if ((rc = cp_value(p, f, &hi)) != WQ_OK)
				return rc;
			if (hi < lo) {
				p->i = at;
				return cp_err(p, "a range goes from low to "
				    "high");
			}
		}
	}
	if (p->s[p->i] == '/') {
		if (p->s[at] != '*' && lo == hi) {
			p->i = at;
			return cp_err(p, "a step follows * or a range");
		}
		p->i++;
		at = p->i;
		if ((rc = cp_value(p, F_MIN, &step)) != WQ_OK ||
		    step == 0) {
			p->i = at;
			return cp_err(p, "a step is a number from 1 to 59");
		}
	}
	for (v = lo; v <= hi; v += step)
		*bits |= 1ULL << (f == F_DOW && v == 7 ? 0 : v);
	return WQ_OK;
}

/* The 5 fields of an expression from p->s. */
static int
cp_fields(struct cp *p, struct wq_cron *c)
{
	uint64_t	*bits[NFIELDS] = { &c->min, &c->hour, &c->dom, &c->mon,
			    &c->dow };
	int		 f, rc;

	for (f = 0; f < NFIELDS; f++) {
		while (p->s[p->i] == ' ' || p->s[p->i] == '\t')
			p->i++;
		if (p->s[p->i] == '\0')
			return cp_err(p, "missing the %s field (a cron "
			    "expression has 5)", fields[f].what);
		if (f == F_DOM)
			c->dom_star = p->s[p->i] == '*';
		if (f == F_DOW)
			c->dow_star = p->s[p->i] == '*';
		for (;;) {
			if ((rc = cp_item(p, f, bits[f])) != WQ_OK)
				return rc;
			if (p->s[p->i] != ',')
				break;
			p->i++;
		}
		if (p->s[p->i] != '\0' && p->s[p->i] != ' ' &&
		    p->s[p->i] != '\t')
			return cp_err(p, "unexpected character in the %s "
			    "field", fields[f].what);
	}
	while (p->s[p->i] == ' ' || p->s[p->i] == '\t')
		p->i++;
	if (p->s[p->i] != '\0')
		return cp_err(p, "more than 5 fields");
	return WQ_OK;
}

/* "@every DURATION": whole seconds from 1 s, in units d h m s. */
static int
cp_every(struct cp *p, struct wq_cron *c)
{
	const char	*units = "dhms";
	long		 mult[] = { 86400, 3600, 60, 1 }, n, total = 0;
	int		 last = -1;
	char		*u;

	while (p->s[p->i] == ' ')
		p->i++;
	if (p->s[p->i] == '\0')
		return cp_err(p, "@every needs a duration such as 30s, 5m, "
		    "1h30m");
	while (p->s[p->i] != '\0') {
		if (!isdigit((unsigned char)p->s[p->i]))
			return cp_err(p, "expected a number in the "
			    "duration");
		for (n = 0; isdigit((unsigned char)p->s[p->i]) &&
		    n <= EVERY_MAX; p->i++)
			n = n * 10 + (p->s[p->i] - '0');
		if (p->s[p->i] == '\0' || (u = strchr(units,
		    p->s[p->i])) == NULL || u - units <= last)
			return cp_err(p, "expected a unit: d, h, m or s, in "
			    "that order");
		last = (int)(u - units);
		total += n * mult[last];
		if (n > EVERY_MAX || total > EVERY_MAX)
			return cp_err(p, "over the longest period, 366d");
		p->i++;
	}
	if (total < 1)
		return cp_err(p, "the shortest period is 1s");
	c->every = total;
	return WQ_OK;
}

int
wq_cron_parse(struct wq *wq, const char *spec, struct wq_cron *c)
{
	struct cp	p;
	size_t		k, n;

	memset(c, 0, sizeof(*c));
	memset(&p, 0, sizeof(p));
	p.wq = wq;
	p.spec = p.s = spec;
	if (strlen(spec) > WQ_CRON_SPEC_MAX) {
		p.i = WQ_CRON_SPEC_MAX;
		return cp_err(&p, "longer than %d characters",
		    WQ_CRON_SPEC_MAX);
	}
	while (spec[p.i] == ' ' || spec[p.i] == '\t')
		p.i++;
	if (spec[p.i] != '@')
		return cp_fields(&p, c);
	if (strncmp(spec + p.i, "@every", 6) == 0 &&
	    (spec[p.i + 6] == ' ' || spec[p.i + 6] == '\0')) {
		p.i += 6;
		return cp_every(&p, c);
	}
	for (k = 0; k < sizeof(macros) / sizeof(macros[0]); k++) {
		n = strlen(macros[k].name);
		if (strncmp(spec + p.i, macros[k].name, n) == 0 &&
		    spec[p.i + n + strspn(spec + p.i + n, " \t")] == '\0') {
			p.s = macros[k].expr;
			p.i = 0;
			return cp_fields(&p, c);
		}
	}
	return cp_err(&p, "unknown macro (@every, @hourly, @daily, "
	    "@weekly, @monthly, @yearly)");
}

/*
 * A zone: "UTC", or a name of the tz database that has a file.  glibc
 * reads a name it cannot find as UTC without a word: that would fire a
 * mistyped zone at the wrong hours, so the file is looked for here.
 */
int
wq_cron_zone(struct wq *wq, const char *tz)
{
	const char	*dir;
	char		 path[512], magic[4];
	size_t		 i, n = strlen(tz);
	FILE		*f;
	int		 ok;

	if (strcmp(tz, "UTC") == 0)
		return WQ_OK;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)tz[i]) &&
		    strchr("_+-/", tz[i]) == NULL)
			break;
	if (n == 0 || n > 64 || i < n || tz[0] == '/' || tz[0] == '-' ||
	    strstr(tz, "//") != NULL)
		return wq_seterr(wq, WQ_EUSAGE, "bad time zone \"%.64s\": "
		    "expected a name such as Europe/Paris", tz);
	if ((dir = getenv("TZDIR")) == NULL || *dir == '\0')
		dir = "/usr/share/zoneinfo";
	snprintf(path, sizeof(path), "%s/%s", dir, tz);
	ok = 0;
	if ((f = fopen(path, "re")) != NULL) {
		ok = fread(magic, 1, 4, f) == 4 && memcmp(magic, "TZif",
		    4) == 0;
		fclose(f);
	}
	if (!ok)
		return wq_seterr(wq, WQ_EUSAGE, "unknown time zone "
		    "\"%.64s\" (not in %s)", tz, dir);
	return WQ_OK;
}

/*
 * The zone's rules for localtime_r(): TZ= for the time of a call, then
 * back to what it was (the process may print times of its own).
 */
struct zone {
	int	 utc;
	char	*saved;
	int	 had;
};

static void
zone_enter(struct zone *z, const char *tz)
{
	const char	*old;

	memset(z, 0, sizeof(*z));
	if ((z->utc = tz == NULL || strcmp(tz, "UTC") == 0))
		return;
	if ((old = getenv("TZ")) != NULL) {
		z->had = 1;
		z->saved = wq_strdup(old);
	}
	if (setenv("TZ", tz, 1) == 0)
		tzset();
	else {
		free(z->saved);
		z->saved = NULL;
		z->utc = 1;
	}
}

static void
zone_leave(struct zone *z)
{
	if (z->utc)
		return;
	if (z->had)
		(void)setenv("TZ", z->saved, 1);
	else
		(void)unsetenv("TZ");
	tzset();
	free(z->saved);
}

/* The zone's offset from UTC at instant t, in seconds. */
static long
zone_offset(struct zone *z, int64_t t)
{
	struct tm	tm;
	time_t		tt = (time_t)t;

	if (z->utc || localtime_r(&tt, &tm) == NULL)
		return 0;
	return tm.tm_gmtoff;
}

/* Does the civil day of tm match?  (docs/DESIGN.md, Schedules) */
static int
day_matches(const struct wq_cron *c, const struct tm *tm)
{
	int	dom = (c->dom >> tm->tm_mday) & 1;
	int	dow = (c->dow >> tm->tm_wday) & 1;

	if (c->dom_star || c->dow_star)
		return dom && dow;
	return dom || dow;
}

/* Normalize tm (fields out of range carried over) and return it. */
static int64_t
civil_norm(struct tm *tm)
{
	time_t	t;

	tm->tm_isdst = 0;
	t = timegm(tm);
	gmtime_r(&t, tm);
	return (int64_t)t;
}

/* The first civil minute after civil time w that matches, or -1. */
static int64_t
civil_next(const struct wq_cron *c, int64_t w)
{
	struct tm	tm;
	time_t		t = (time_t)((w - (w % 60 + 60) % 60) + 60);
	int		year;

	gmtime_r(&t, &tm);
	year = tm.tm_year;
	while (tm.tm_year - year <= SEARCH_YEARS) {
		if (!((c->mon >> (tm.tm_mon + 1)) & 1)) {
			tm.tm_mon++;
			tm.tm_mday = 1;
			tm.tm_hour = tm.tm_min = 0;
		} else if (!day_matches(c, &tm)) {
			tm.tm_mday++;
			tm.tm_hour = tm.tm_min = 0;
		} else if (!((c->hour >> tm.tm_hour) & 1)) {
			tm.tm_hour++;
			tm.tm_min = 0;
		} else if (!((c->min >> tm.tm_min) & 1))
			tm.tm_min++;
		else
			return civil_norm(&tm);
		civil_norm(&tm);
	}
	return -1;
}

/*
 * The first instant after `after` whose wall time in the zone is w, if
 * there is one: of the offsets before and after w (they differ only near
 * a change), the earliest reading that the zone confirms.  A wall time
 * that the zone skips reads with the offset before the jump.
 */
static int64_t
zone_instant(struct zone *z, int64_t w, int64_t after)
{
	long	off[2];
	int64_t	t, best = -1;
	int	k;

	off[0] = zone_offset(z, w - 86400);
	off[1] = zone_offset(z, w + 86400);
	for (k = 0; k < 2; k++) {
		t = w - off[k];
		if (zone_offset(z, t) == off[k] && t > after &&
		    (best < 0 || t < best))
			best = t;
	}
	if (best < 0 && zone_offset(z, w - off[0]) != off[0] &&
	    zone_offset(z, w - off[1]) != off[1] && w - off[0] > after)
		best = w - off[0];
	return best;
}

static int64_t
cron_next(const struct wq_cron *c, struct zone *z, int64_t after)
{
	int64_t	w, t;
	int	n;

	if (c->every > 0)
		return (after / c->every + 1) * c->every;
	w = after + zone_offset(z, after);
	for (n = 0; n < 4; n++) {
		if ((w = civil_next(c, w)) < 0)
			return -1;
		if ((t = zone_instant(z, w, after)) >= 0)
			return t;
	}
	return -1;
}

/*
 * The next n times after `after` into t[] (fewer when it never fires
 * again); returns how many.  One change of TZ for all of them.
 */
size_t
wq_cron_times(const struct wq_cron *c, const char *tz, int64_t after,
    int64_t *t, size_t n)
{
	struct zone	z;
	size_t		i;

	zone_enter(&z, tz);
	for (i = 0; i < n; i++) {
		if ((t[i] = cron_next(c, &z, after)) < 0)
			break;
		after = t[i];
	}
	zone_leave(&z);
	return i;
}

/* RFC 3339, in the zone: 2026-03-29T03:00:00+02:00 (Z in UTC). */
void
wq_cron_format(const char *tz, int64_t t, char *buf, size_t len)
{
	struct zone	z;
	struct tm	tm;
	time_t		tt = (time_t)t;
	long		off;
	char		sign;

	zone_enter(&z, tz);
	if (z.utc)
		gmtime_r(&tt, &tm);
	else
		localtime_r(&tt, &tm);
	zone_leave(&z);
	off = z.utc ? 0 : tm.tm_gmtoff;
	sign = off < 0 ? '-' : '+';
	off = off < 0 ? -off : off;
	if (z.utc)
		snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02dZ",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec);
	else
		snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d%c%02ld:"
		    "%02ld", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		    tm.tm_hour, tm.tm_min, tm.tm_sec, sign, off / 3600,
		    off / 60 % 60);
}
