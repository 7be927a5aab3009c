/*
 * wq-peers -- the cluster: one NDJSON line per live node; --all adds the
 * nodes that died or left in the last minutes ("alive":false).
 * --watch is the system monitor: a live view of members and queues,
 * redrawn in place on a terminal, NDJSON snapshots otherwise.  It
 * survives Redis going away and recovers when it returns.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static volatile sig_atomic_t stop;

static void
usage(FILE *f)
{
	fprintf(f,
"usage: wq-peers [options]\n"
"Print one NDJSON line per live node of the cluster.\n"
"  --all              also nodes that died or left recently (alive false)\n"
"  --watch            the system monitor: redraw members and queues\n"
"  --interval S       --watch redraw interval (default 1)\n"
"  --table            a table instead of NDJSON (on a terminal)\n"
"%s", wq_common_usage);
}

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static const char *
str(jv o, const char *k, char *buf, size_t len)
{
	jv	v = jv_object_get(jv_copy(o), jv_string(k));

	if (jv_get_kind(v) == JV_KIND_STRING)
		snprintf(buf, len, "%s", jv_string_value(v));
	else if (jv_get_kind(v) == JV_KIND_NUMBER)
		snprintf(buf, len, "%.0f", jv_number_value(v));
	else if (jv_get_kind(v) == JV_KIND_NULL ||
	    jv_get_kind(v) == JV_KIND_INVALID)
		snprintf(buf, len, "-");
	else {
		char *s = wq_dump(jv_copy(v));

		snprintf(buf, len, "%s", s);
		free(s);
	}
	jv_free(v);
	return buf;
}

static void
print_table(jv peers, int64_t now)
{
	char	b[8][256];
	int	i, n;
	jv	p, cur;
	double	last;

	printf("%-32s %-7s %-5s %-8s %6s %6s %9s %6s %s\n", "NAME", "ROLE",
	    "ALIVE", "PID", "AGE", "BEAT", "PROCESSED", "FAILED", "CURRENT");
	n = jv_array_length(jv_copy(peers));
	for (i = 0; i < n; i++) {
		p = jv_array_get(jv_copy(peers), i);
		cur = jv_object_get(jv_copy(p), jv_string("current"));
		last = atof(str(p, "last_seen", b[0], sizeof(b[0])));
		printf("%-32s %-7s %-5s %-8s %5ss %5.1fs %9s %6s %d\n",
		    str(p, "name", b[1], sizeof(b[1])),
		    str(p, "role", b[2], sizeof(b[2])),
		    str(p, "alive", b[3], sizeof(b[3])),
		    str(p, "pid", b[4], sizeof(b[4])),
		    str(p, "age", b[5], sizeof(b[5])),
		    last > 0 ? (double)(now - (int64_t)last) / 1000 : 0.0,
		    str(p, "processed", b[6], sizeof(b[6])),
		    str(p, "failed", b[7], sizeof(b[7])),
		    jv_get_kind(cur) == JV_KIND_ARRAY ?
		    jv_array_length(jv_copy(cur)) : 0);
		jv_free(cur);
		jv_free(p);
	}
}

static void
print_queues(jv queues)
{
	int	it;
	jv	k, v;
	char	b[3][64];

	printf("\n%-24s %9s %9s %9s\n", "QUEUE", "PENDING", "DELAYED", "DEAD");
	for (it = jv_object_iter(queues); jv_object_iter_valid(queues, it);
	    it = jv_object_iter_next(queues, it)) {
		k = jv_object_iter_key(queues, it);
		v = jv_object_iter_value(queues, it);
		printf("%-24s %9s %9s %9s\n", jv_string_value(k),
		    str(v, "pending", b[0], sizeof(b[0])),
		    str(v, "delayed", b[1], sizeof(b[1])),
		    str(v, "dead", b[2], sizeof(b[2])));
		jv_free(k);
		jv_free(v);
	}
}

static void
watch(struct wq *wq, int all, double interval)
{
	int	tty = isatty(STDOUT_FILENO), rc, i, n;
	jv	peers, queues, snap;
	int64_t	now;
	char	tbuf[32];
	time_t	t;

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	while (!stop) {
		now = wq_now_ms();
		rc = wq_peers(wq, all, &peers);
		if (rc == WQ_OK && (rc = wq_queues(wq, &queues)) != WQ_OK)
			jv_free(peers);
		t = time(NULL);
		strftime(tbuf, sizeof(tbuf), "%H:%M:%S", localtime(&t));
		if (tty) {
			printf("\033[H\033[2J");
			printf("wq system monitor  %s  (redis %s)\n\n", tbuf,
			    rc == WQ_OK ? "ok" : "unreachable");
			if (rc == WQ_OK) {
				print_table(peers, now);
				print_queues(queues);
			} else
				printf("redis unreachable: %s\nretrying every "
				    "%.1f s\n", wq_error(wq), interval);
		} else {
			snap = jv_object();
			snap = jv_object_set(snap, jv_string("ts"),
			    jv_number((double)now));
			if (rc == WQ_OK) {
				snap = jv_object_set(snap, jv_string("redis"),
				    jv_string("ok"));
				snap = jv_object_set(snap, jv_string("nodes"),
				    jv_copy(peers));
				snap = jv_object_set(snap, jv_string("queues"),
				    jv_copy(queues));
			} else {
				snap = jv_object_set(snap, jv_string("redis"),
				    jv_string("unreachable"));
				snap = jv_object_set(snap, jv_string("error"),
				    jv_string(wq_error(wq)));
			}
			wq_print(snap);
		}
		if (rc == WQ_OK) {
			jv_free(peers);
			jv_free(queues);
		} else
			wq_disconnect(wq);
		fflush(stdout);
		for (i = 0, n = (int)(interval * 10); i < n && !stop; i++)
			usleep(100000);
	}
}

int
main(int argc, char **argv)
{
	struct option	*opts;
	struct wq	*wq;
	int		 c, all = 0, watching = 0, table = 0, rc, i, n;
	double		 interval = 1;
	jv		 peers;

	cmd_init("wq-peers");
	wq = wq_new("peers");
	cmd_check_env(wq);
	opts = cmd_longopts(own);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_ALL:
			all = 1;
			break;
		case OPT_WATCH:
			watching = 1;
			break;
		case OPT_INTERVAL:
			interval = cmd_seconds("--interval", optarg);
			if (interval < 0.1)
				cmd_die(WQ_EUSAGE, "bad --interval: at least 0.1");
			break;
		case OPT_TABLE:
			table = 1;
			break;
		default:
			cmd_common(wq, c, optarg, argv, usage);
		}
	}
	free(opts);
	if (optind < argc)
		cmd_die(WQ_EUSAGE, "unexpected argument '%s' (try --help)",
		    argv[optind]);
	if (wq_config(wq)->api_url != NULL)
		cmd_die(WQ_EUSAGE, "wq-peers reads Redis, not --api");
	if (watching) {
		watch(wq, all, interval);
		wq_free(wq);
		return 0;
	}
	if ((rc = wq_peers(wq, all, &peers)) != WQ_OK)
		cmd_die(rc, "%s", wq_error(wq));
	if (table)
		print_table(peers, wq_now_ms());
	else {
		n = jv_array_length(jv_copy(peers));
		for (i = 0; i < n; i++)
			wq_print(jv_array_get(jv_copy(peers), i));
	}
	jv_free(peers);
	cmd_flush();
	wq_free(wq);
	return 0;
}
