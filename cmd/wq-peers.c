/*
 * wq-peers -- the cluster: one NDJSON line per live node; --all adds the
 * nodes that died or left in the last minutes ("alive":false).
 *
 * --watch is the system monitor.  Every interval it reads the members,
 * the queue depths and the stats counters (three or four round trips,
 * whatever else the database holds) and shows them: on a terminal as a
 * full-screen view redrawn in place (q or ^C quits), otherwise as one
 * NDJSON snapshot per interval.  Throughput is the difference of the
 * stats:worked counter between two readings over the server's clock
 * (nodes report their own counts only when they beat, too coarse for a
 * rate).  When Redis goes away the
 * view says so, keeps the last members it saw, and tries again every
 * interval until Redis is back.
 */
#include <sys/ioctl.h>

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"

enum { OPT_ALL = WQ_OPT_FIRST_PRIVATE, OPT_WATCH, OPT_INTERVAL, OPT_TABLE };

static const struct option own[] = {
	{ "all",	no_argument,		NULL, OPT_ALL },
	{ "watch",	no_argument,		NULL, OPT_WATCH },
	{ "interval",	required_argument,	NULL, OPT_INTERVAL },
	{ "table",	no_argument,		NULL, OPT_TABLE },
	{ NULL, 0, NULL, 0 }
};

/* One reading of the cluster, and what the view keeps between them. */
struct view {
	struct wq	*wq;
	int		 all;
	double		 interval;
	int		 tty;
	int		 ok;		/* the last reading worked */
	char		 err[256];	/* why it did not */
	jv		 peers;		/* last good reading (array) */
	jv		 queues;
	jv		 stats;
	double		 throughput;	/* jobs/s, or -1 when unknown */
	int64_t		 last_ok;	/* local ms of the last good reading */
	int		 rows, cols;	/* terminal size */
	int		 line;		/* lines drawn this frame */
};

static volatile sig_atomic_t stop, resized;
static struct termios saved_tio;
static int	tio_saved;

static void
usage(FILE *f)
{
	fprintf(f,
"usage: wq-peers [options]\n"
"Print one NDJSON line per live node of the cluster.\n"
"  --all              also nodes that died or left recently (alive false)\n"
"  --watch            the system monitor: members, queues, throughput,\n"
"                     redrawn in place on a terminal (q quits), else one\n"
"                     NDJSON snapshot per interval\n"
"  --interval S       --watch refresh interval (default 1)\n"
"  --table            a table instead of NDJSON\n"
"%s", wq_common_usage);
}

static void
on_signal(int sig)
{
	if (sig == SIGWINCH)
		resized = 1;
	else
		stop = 1;
}

/* o.k, or invalid when o is not an object (yet). */
static jv
get(jv o, const char *k)
{
	if (jv_get_kind(o) != JV_KIND_OBJECT)
		return jv_invalid();
	return jv_object_get(jv_copy(o), jv_string(k));
}

static double
num(jv o, const char *k)
{
	jv	v = get(o, k);
	double	d = jv_get_kind(v) == JV_KIND_NUMBER ? jv_number_value(v) : 0;

	jv_free(v);
	return d;
}

static const char *
str(jv o, const char *k, char *buf, size_t len)
{
	jv	v = get(o, k);

	if (jv_get_kind(v) == JV_KIND_STRING)
		snprintf(buf, len, "%s", jv_string_value(v));
	else if (jv_get_kind(v) == JV_KIND_NUMBER)
		snprintf(buf, len, "%.0f", jv_number_value(v));
	else if (jv_get_kind(v) == JV_KIND_NULL ||
	    jv_get_kind(v) == JV_KIND_INVALID)
		snprintf(buf, len, "-");
	else if (jv_get_kind(v) == JV_KIND_TRUE ||
	    jv_get_kind(v) == JV_KIND_FALSE)
		snprintf(buf, len, "%s", jv_get_kind(v) == JV_KIND_TRUE ?
		    "yes" : "no");
	else {
		char *s = wq_dump(jv_copy(v));

		snprintf(buf, len, "%s", s);
		free(s);
	}
	jv_free(v);
	return wq_unctrl(buf);
}

static int
live(jv p)
{
	jv	v = get(p, "alive");
	int	yes = jv_get_kind(v) == JV_KIND_TRUE;

	jv_free(v);
	return yes;
}

/* 42s, 3m07s, 5h02m, 12d03h. */
static const char *
duration(double s, char *buf, size_t len)
{
	long	t = s < 0 ? 0 : (long)s;

	if (t < 60)
		snprintf(buf, len, "%lds", t);
	else if (t < 3600)
		snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
	else if (t < 86400)
		snprintf(buf, len, "%ldh%02ldm", t / 3600, t % 3600 / 60);
	else
		snprintf(buf, len, "%ldd%02ldh", t / 86400, t % 86400 / 3600);
	return buf;
}

/*
 * The job ids a node is running, as "N: id id..." cut to len.  Ids are
 * shortened to 8 characters, enough to tell them apart on a screen.
 */
static const char *
current(jv p, char *buf, size_t len)
{
	jv	cur, id;
	int	i, n;
	size_t	off;

	cur = get(p, "current");
	n = jv_get_kind(cur) == JV_KIND_ARRAY ? jv_array_length(jv_copy(cur)) :
	    0;
	off = (size_t)snprintf(buf, len, "%d", n);
	for (i = 0; i < n && off + 10 < len; i++) {
		id = jv_array_get(jv_copy(cur), i);
		if (jv_get_kind(id) == JV_KIND_STRING)
			off += (size_t)snprintf(buf + off, len - off, "%s%.8s",
			    i == 0 ? ": " : " ", jv_string_value(id));
		jv_free(id);
	}
	if (i < n && off + 4 < len)
		snprintf(buf + off, len - off, " ...");
	jv_free(cur);
	return wq_unctrl(buf);
}

static void
print_table(jv peers)
{
	char	b[9][256];
	int	i, n;
	jv	p;

	printf("%-28s %-7s %-5s %-12s %7s %6s %9s %6s %s\n", "NAME", "ROLE",
	    "ALIVE", "HOST", "PID", "AGE", "PROCESSED", "FAILED", "CURRENT");
	n = jv_array_length(jv_copy(peers));
	for (i = 0; i < n; i++) {
		p = jv_array_get(jv_copy(peers), i);
		printf("%-28s %-7s %-5s %-12s %7s %6s %9s %6s %s\n",
		    str(p, "name", b[0], sizeof(b[0])),
		    str(p, "role", b[1], sizeof(b[1])),
		    str(p, "alive", b[2], sizeof(b[2])),
		    str(p, "host", b[3], sizeof(b[3])),
		    str(p, "pid", b[4], sizeof(b[4])),
		    duration(num(p, "age"), b[5], sizeof(b[5])),
		    str(p, "processed", b[6], sizeof(b[6])),
		    str(p, "failed", b[7], sizeof(b[7])),
		    live(p) ? current(p, b[8], sizeof(b[8])) : "-");
		jv_free(p);
	}
}

/* The terminal ------------------------------------------------------------ */

static void
term_size(struct view *v)
{
	struct winsize	ws;

	v->rows = 24;
	v->cols = 80;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 &&
	    ws.ws_col > 0) {
		v->rows = ws.ws_row;
		v->cols = ws.ws_col;
	}
}

static void
term_restore(void)
{
	if (tio_saved)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
	/* cursor back, main screen back */
	printf("\033[?25h\033[?1049l");
	fflush(stdout);
}

/*
 * The alternate screen, no cursor; keys read one at a time, unechoed.
 * Only from the terminal's foreground process group: from any other
 * (under timeout(1) started by a shell that forks, say) tcsetattr()
 * would stop the monitor with SIGTTOU, for good.  There, no keys.
 */
static void
term_setup(void)
{
	struct termios	t;

	if (isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgrp() &&
	    tcgetattr(STDIN_FILENO, &saved_tio) == 0) {
		tio_saved = 1;
		t = saved_tio;
		t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		t.c_cc[VMIN] = 0;
		t.c_cc[VTIME] = 0;
		tcsetattr(STDIN_FILENO, TCSANOW, &t);
	}
	printf("\033[?1049h\033[?25l");
	atexit(term_restore);
}

/* One line of the frame: cut to the width, the rest of the line cleared. */
__attribute__((format(printf, 2, 3)))
static void
line(struct view *v, const char *fmt, ...)
{
	va_list	 ap;
	char	 buf[1024];

	if (v->line >= v->rows - 1)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if ((int)strlen(buf) > v->cols)
		buf[v->cols] = '\0';
	/* attributes end with the line, even a cut one */
	printf("%s\033[0m\033[K\n", buf);
	v->line++;
}

/* The view's first lines: when, where, whether Redis answers. */
static void
draw_head(struct view *v)
{
	char	 when[32], *url;
	time_t	 t;

	t = time(NULL);
	strftime(when, sizeof(when), "%H:%M:%S", localtime(&t));
	url = wq_url_safe(wq_setting(v->wq, WQ_OPT_REDIS));
	line(v, "wq system monitor  %s  %s  every %gs  (q quits)", when, url,
	    v->interval);
	free(url);
	if (!v->ok) {
		t = (time_t)(v->last_ok / 1000);
		strftime(when, sizeof(when), "%H:%M:%S", localtime(&t));
		line(v, "\033[7mredis unreachable\033[0m: %s; retrying every "
		    "%gs", v->err, v->interval);
		if (v->last_ok > 0)
			line(v, "what follows is as of %s", when);
	} else
		line(v, "redis ok");
}

/* The totals line; *wn, *wh: the widths of the NAME and HOST columns. */
static void
draw_totals(struct view *v, int n, int *wn, int *wh)
{
	char	b[256];
	int	i, running, alive, w;
	jv	p, k;

	*wn = *wh = 4;
	for (i = running = alive = 0; i < n; i++) {
		p = jv_array_get(jv_copy(v->peers), i);
		if ((w = (int)strlen(str(p, "name", b, sizeof(b)))) > *wn)
			*wn = w < 40 ? w : 40;
		if ((w = (int)strlen(str(p, "host", b, sizeof(b)))) > *wh)
			*wh = w < 24 ? w : 24;
		if (live(p)) {
			alive++;
			k = get(p, "current");
			if (jv_get_kind(k) == JV_KIND_ARRAY)
				running += jv_array_length(jv_copy(k));
			jv_free(k);
		}
		jv_free(p);
	}
	if (v->throughput >= 0)
		snprintf(b, sizeof(b), "%.1f jobs/s", v->throughput);
	else
		snprintf(b, sizeof(b), "- jobs/s");
	line(v, "nodes %d alive%s  running %d  throughput %s  worked %.0f  "
	    "failed %.0f  retried %.0f  reclaimed %.0f", alive,
	    v->all && n > alive ? " (+dead)" : "", running, b,
	    num(v->stats, "worked"), num(v->stats, "failed"),
	    num(v->stats, "retried"), num(v->stats, "reclaimed"));
	line(v, "%s", "");
}

/* A line a node, as many as fit above the queues. */
static void
draw_nodes(struct view *v, int n, int wn, int wh)
{
	char	b[10][256];
	int	i;
	jv	p;

	line(v, "%-*s %-6s %-*s %7s %7s %5s %8s %9s %6s  %s", wn, "NAME",
	    "ROLE", wh, "HOST", "PID", "AGE", "BEAT", "STATE", "PROCESSED",
	    "FAILED", "CURRENT");
	/* keep room for the queues below */
	for (i = 0; i < n; i++) {
		if (v->line >= v->rows - 6 && i < n - 1) {
			line(v, "... %d more", n - i);
			break;
		}
		p = jv_array_get(jv_copy(v->peers), i);
		snprintf(b[5], sizeof(b[5]), "%.1fs", num(p, "beat_ago"));
		/* a dead node's jobs are someone else's business now */
		if (live(p)) {
			str(p, "state", b[6], sizeof(b[6]));
			current(p, b[9], sizeof(b[9]));
		} else {
			str(p, "gone", b[6], sizeof(b[6]));
			snprintf(b[9], sizeof(b[9]), "-");
		}
		line(v, "%-*.*s %-6s %-*.*s %7s %7s %5s %8s %9s %6s  %s",
		    wn, wn, str(p, "name", b[0], sizeof(b[0])),
		    str(p, "role", b[1], sizeof(b[1])),
		    wh, wh, str(p, "host", b[2], sizeof(b[2])),
		    str(p, "pid", b[3], sizeof(b[3])),
		    duration(num(p, "age"), b[4], sizeof(b[4])), b[5], b[6],
		    str(p, "processed", b[7], sizeof(b[7])),
		    str(p, "failed", b[8], sizeof(b[8])), b[9]);
		jv_free(p);
	}
	if (n == 0)
		line(v, "(no live nodes)");
	line(v, "%s", "");
}

/*
 * A queue's limits, short: "  3 at once, 50/1000ms, 2 a group", or ""
 * (none).
 */
static const char *
limits_text(jv q, char *buf, size_t len)
{
	char	c[32], r[32], p[32], g[32];
	jv	l = get(q, "limits");
	int	hc, hr, hg;

	if (jv_get_kind(l) != JV_KIND_OBJECT) {
		snprintf(buf, len, "%s", "");
		jv_free(l);
		return buf;
	}
	hc = jv_object_has(jv_copy(l), jv_string("concurrency"));
	hr = jv_object_has(jv_copy(l), jv_string("rate"));
	hg = jv_object_has(jv_copy(l), jv_string("group_concurrency"));
	snprintf(buf, len, "  %s%s%s%s%s%s%s%s%s%s",
	    hc ? str(l, "concurrency", c, sizeof(c)) : "",
	    hc ? " at once" : "", hc && hr ? ", " : "",
	    hr ? str(l, "rate", r, sizeof(r)) : "", hr ? "/" : "",
	    hr ? str(l, "period_ms", p, sizeof(p)) : "", hr ? "ms" : "",
	    (hc || hr) && hg ? ", " : "",
	    hg ? str(l, "group_concurrency", g, sizeof(g)) : "",
	    hg ? " a group" : "");
	jv_free(l);
	return buf;
}

static void
draw_queues(struct view *v)
{
	char	b[5][256];
	int	i, nq;
	jv	k, q, names;

	line(v, "%-24s %9s %9s %9s  %s", "QUEUE", "PENDING", "DELAYED", "DEAD",
	    "LIMITS");
	if (jv_get_kind(v->queues) != JV_KIND_OBJECT)
		return;
	names = jv_keys(jv_copy(v->queues));	/* sorted */
	nq = jv_array_length(jv_copy(names));
	for (i = 0; i < nq; i++) {
		k = jv_array_get(jv_copy(names), i);
		q = jv_object_get(jv_copy(v->queues), jv_copy(k));
		snprintf(b[3], sizeof(b[3]), "%s", jv_string_value(k));
		line(v, "%-24s %9s %9s %9s%s", wq_unctrl(b[3]),
		    str(q, "pending", b[0], sizeof(b[0])),
		    str(q, "delayed", b[1], sizeof(b[1])),
		    str(q, "dead", b[2], sizeof(b[2])),
		    limits_text(q, b[4], sizeof(b[4])));
		jv_free(k);
		jv_free(q);
	}
	jv_free(names);
}

static void
draw(struct view *v)
{
	int	n, wn, wh;

	term_size(v);
	v->line = 0;
	printf("\033[H");
	draw_head(v);
	if (jv_get_kind(v->peers) == JV_KIND_ARRAY) {
		n = jv_array_length(jv_copy(v->peers));
		draw_totals(v, n, &wn, &wh);
		draw_nodes(v, n, wn, wh);
		draw_queues(v);
	}
	printf("\033[J");
	fflush(stdout);
}

/* Reading and snapshots ---------------------------------------------------- */

/* Read the cluster; on success the reading replaces the last one. */
static void
refresh(struct view *v)
{
	jv	peers, queues, stats;
	double	dt, d;
	int	rc;

	rc = wq_peers(v->wq, v->all, &peers);
	if (rc == WQ_OK && (rc = wq_queues(v->wq, &queues)) != WQ_OK)
		jv_free(peers);
	if (rc == WQ_OK && (rc = wq_stats(v->wq, &stats)) != WQ_OK) {
		jv_free(peers);
		jv_free(queues);
	}
	if (rc != WQ_OK) {
		snprintf(v->err, sizeof(v->err), "%s", wq_error(v->wq));
		v->ok = 0;
		v->throughput = -1;
		wq_disconnect(v->wq);
		return;
	}
	/* No rate across an outage: the Redis that came back may be new. */
	dt = (num(stats, "time") - num(v->stats, "time")) / 1000;
	d = num(stats, "worked") - num(v->stats, "worked");
	v->throughput = v->ok && dt > 0 && d >= 0 ? d / dt : -1;
	jv_free(v->peers);
	jv_free(v->queues);
	jv_free(v->stats);
	v->peers = peers;
	v->queues = queues;
	v->stats = stats;
	v->ok = 1;
	v->last_ok = wq_now_ms();
}

static void
snapshot(struct view *v)
{
	jv	s;

	s = jv_object();
	if (!v->ok) {
		s = jv_object_set(s, jv_string("ts"),
		    jv_number((double)wq_now_ms()));
		s = jv_object_set(s, jv_string("redis"),
		    jv_string("unreachable"));
		s = jv_object_set(s, jv_string("error"), jv_string(v->err));
		cmd_print(s);
		cmd_flush();
		return;
	}
	s = jv_object_set(s, jv_string("ts"), jv_number(num(v->stats,
	    "time")));
	s = jv_object_set(s, jv_string("redis"), jv_string("ok"));
	s = jv_object_set(s, jv_string("nodes"), jv_copy(v->peers));
	s = jv_object_set(s, jv_string("queues"), jv_copy(v->queues));
	s = jv_object_set(s, jv_string("stats"), jv_copy(v->stats));
	s = jv_object_set(s, jv_string("throughput"), v->throughput >= 0 ?
	    jv_number((double)(long)(v->throughput * 10) / 10) : jv_null());
	cmd_print(s);
	cmd_flush();
}

/* The reader of the snapshots went away (| head): done. */
static void
check_stdout(void)
{
	if (fflush(stdout) == EOF || ferror(stdout))
		stop = 1;
}

/* Wait for the next refresh; a key q (on a terminal) stops. */
static void
pause_(struct view *v)
{
	struct pollfd	pfd;
	int64_t		end, now;
	char		c;

	end = wq_now_ms() + (int64_t)(v->interval * 1000);
	while (!stop && !resized && (now = wq_now_ms()) < end) {
		pfd.fd = STDIN_FILENO;
		pfd.events = POLLIN;
		if (poll(&pfd, tio_saved ? 1 : 0, (int)(end - now)) > 0 &&
		    read(STDIN_FILENO, &c, 1) == 1 && (c == 'q' || c == 'Q'))
			stop = 1;
	}
}

static void
watch(struct view *v)
{
	struct sigaction	sa;
	long			connect_ms, command_ms;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGWINCH, &sa, NULL);
	/* A dead or frozen server must not hold the view for long. */
	connect_ms = wq_setting_num(v->wq, WQ_SET_CONNECT_MS);
	command_ms = wq_setting_num(v->wq, WQ_SET_COMMAND_MS);
	wq_set_timeouts(v->wq, connect_ms > 1000 ? 1000 : (int)connect_ms,
	    command_ms > 2000 ? 2000 : (int)command_ms);
	if (v->tty)
		term_setup();
	while (!stop) {
		if (resized) {
			resized = 0;
			draw(v);
		}
		refresh(v);
		if (v->tty)
			draw(v);
		else
			snapshot(v);
		check_stdout();
		pause_(v);
	}
}

int
main(int argc, char **argv)
{
	struct option	*opts;
	struct view	 v;
	int		 c, watching = 0, table = 0, rc, i, n;
	jv		 peers;

	memset(&v, 0, sizeof(v));
	v.wq = cmd_start("peers", own, &opts);
	v.interval = 1;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_ALL:
			v.all = 1;
			break;
		case OPT_WATCH:
			watching = 1;
			break;
		case OPT_INTERVAL:
			v.interval = cmd_seconds("--interval", optarg);
			if (v.interval < 0.1)
				cmd_die(WQ_EUSAGE, "bad --interval: at least "
				    "0.1");
			break;
		case OPT_TABLE:
			table = 1;
			break;
		default:
			cmd_common(v.wq, c, optarg, argv, usage);
		}
	}
	free(opts);
	if (optind < argc)
		cmd_die(WQ_EUSAGE, "unexpected argument '%s' (try --help)",
		    argv[optind]);
	if (wq_setting(v.wq, WQ_OPT_API) != NULL)
		cmd_die(WQ_EUSAGE, "wq-peers reads Redis, not --api");
	if (watching) {
		v.tty = isatty(STDOUT_FILENO);
		v.peers = v.queues = v.stats = jv_null();
		v.throughput = -1;
		watch(&v);
		jv_free(v.peers);
		jv_free(v.queues);
		jv_free(v.stats);
		wq_free(v.wq);
		return 0;
	}
	if ((rc = wq_peers(v.wq, v.all, &peers)) != WQ_OK)
		cmd_die(rc, "%s", wq_error(v.wq));
	if (table)
		print_table(peers);
	else {
		n = jv_array_length(jv_copy(peers));
		for (i = 0; i < n; i++)
			cmd_print(jv_array_get(jv_copy(peers), i));
	}
	jv_free(peers);
	cmd_flush();
	wq_free(v.wq);
	return 0;
}
