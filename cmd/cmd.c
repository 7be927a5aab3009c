/*
 * cmd.c -- the shared scaffolding of the commands (see cmd.h).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"

const char *cmd_name = "wq";

const char cmd_wait_usage[] =
"  --wait-replicas N  return only once N replicas confirmed the writes\n"
"                     (Redis WAIT; exit 5 if fewer did in time; 0: off)\n"
"                     (WQ_WAIT_REPLICAS; default 0)\n"
"  --wait-timeout MS  how long to wait for them (WQ_WAIT_TIMEOUT; 1000)\n";

/* own options followed by WQ_COMMON_LONGOPTS, malloc'd. */
static struct option *
longopts(const struct option *own)
{
	static const struct option common[] = { WQ_COMMON_LONGOPTS,
	    { NULL, 0, NULL, 0 } };
	struct option	*all;
	size_t		 n, m;

	for (n = 0; own[n].name != NULL; n++)
		;
	m = sizeof(common) / sizeof(common[0]);
	all = wq_calloc(n + m, sizeof(*all));
	memcpy(all, own, n * sizeof(*all));
	memcpy(all + n, common, m * sizeof(*all));
	return all;
}

/* getopt keeps quiet: cmd_common() reports, as one line wq-CMD: ... */
struct wq *
cmd_start(const char *role, const struct option *own, struct option **opts)
{
	static char	 name[64];
	struct wq	*wq;

	snprintf(name, sizeof(name), "wq-%s", role);
	cmd_name = name;
	signal(SIGPIPE, SIG_IGN);
	srandom((unsigned)(getpid() ^ wq_now_ms()));
	wq = wq_new(role);
	if (wq_env_error(wq) != WQ_OK)
		cmd_die(WQ_EUSAGE, "%s", wq_error(wq));
	*opts = longopts(own);
	opterr = 0;
	return wq;
}

/*
 * For the commands that work a batch at a time and flush stdout after
 * each (cmd_flush()).  A batch allocates and frees the same few hundred
 * kB (the replies, the lines): glibc would give the heap's top back to
 * the system each time and fault it in again, a quarter of wq-status
 * --wait's time; keeping up to 64 MB of freed heap costs nothing more
 * than the largest batch.  And a batch's output goes out in one write
 * of up to 64 kB, not one each 4 kB.
 */
void
cmd_batched(void)
{
	static char	obuf[64 * 1024];

#ifdef M_TRIM_THRESHOLD
	mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
#endif
	setvbuf(stdout, obuf, _IOFBF, sizeof(obuf));
}

static void
vwarn_line(const char *fmt, va_list ap)
{
	fflush(stdout);
	fprintf(stderr, "%s: ", cmd_name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void
cmd_die(int code, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vwarn_line(fmt, ap);
	va_end(ap);
	exit(code);
}

void
cmd_warn(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vwarn_line(fmt, ap);
	va_end(ap);
}

void
cmd_common(struct wq *wq, int c, const char *arg, char **argv,
    void (*usage)(FILE *))
{
	switch (c) {
	case WQ_OPT_HELP:
		usage(stdout);
		exit(0);
	case WQ_OPT_VERSION:
		printf("%s %s\n", cmd_name, WQ_VERSION);
		exit(0);
	case '?':
	case ':':
		if (optopt != 0 && optopt < 256)
			cmd_die(WQ_EUSAGE, "%s option -%c (try --help)",
			    c == ':' ? "missing argument to" : "unknown",
			    optopt);
		cmd_die(WQ_EUSAGE, "%s option %s (try --help)",
		    c == ':' ? "missing argument to" : "unknown or incomplete",
		    argv[optind - 1]);
	}
	if (c >= WQ_OPT_REDIS && c < WQ_OPT_FIRST_PRIVATE &&
	    c != WQ_OPT_VERSION) {
		if (wq_setopt(wq, c, arg) != WQ_OK)
			cmd_die(WQ_EUSAGE, "%s", wq_error(wq));
		return;
	}
	cmd_die(WQ_EUSAGE, "unhandled option (try --help)");
}

char **
cmd_inputs(int argc, char **argv, size_t *n, size_t **lens)
{
	char	**items, *line = NULL;
	size_t	  cap = 0, lcap = 0, i;
	ssize_t	  len;

	*n = 0;
	if (argc > 0) {
		items = wq_calloc((size_t)argc + 1, sizeof(*items));
		*lens = wq_calloc((size_t)argc + 1, sizeof(**lens));
		for (i = 0; i < (size_t)argc; i++) {
			items[i] = wq_strdup(argv[i]);
			(*lens)[i] = strlen(argv[i]);
		}
		*n = (size_t)argc;
		return items;
	}
	if (isatty(STDIN_FILENO))
		cmd_die(WQ_EUSAGE, "nothing to do: give arguments or pipe "
		    "lines to stdin (try --help)");
	items = NULL;
	*lens = NULL;
	while ((len = getline(&line, &lcap, stdin)) != -1) {
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		if (*n + 1 >= cap) {
			cap = cap ? cap * 2 : 1024;
			items = wq_reallocarray(items, cap, sizeof(*items));
			*lens = wq_reallocarray(*lens, cap, sizeof(**lens));
		}
		items[*n] = wq_calloc(1, (size_t)len + 1);
		memcpy(items[*n], line, (size_t)len);
		(*lens)[*n] = (size_t)len;
		(*n)++;
	}
	if (ferror(stdin))
		cmd_die(WQ_EUSAGE, "reading stdin: %s", strerror(errno));
	free(line);
	if (items == NULL) {
		items = wq_calloc(1, sizeof(*items));
		*lens = wq_calloc(1, sizeof(**lens));
	}
	items[*n] = NULL;
	return items;
}

void
cmd_inputs_free(char **items)
{
	size_t	i;

	for (i = 0; items && items[i] != NULL; i++)
		free(items[i]);
	free(items);
}

void
cmd_lines_init(struct cmd_lines *in, int fd)
{
	if (isatty(fd))
		cmd_die(WQ_EUSAGE, "nothing to do: give arguments or pipe "
		    "lines to stdin (try --help)");
	memset(in, 0, sizeof(*in));
	in->fd = fd;
}

/* Returns 1 when something was read, 0 at the end of the input. */
int
cmd_lines_fill(struct cmd_lines *in)
{
	ssize_t	n;

	if (in->eof)
		return 0;
	if (in->off > 0 && (in->off == in->len || in->off >= in->cap / 2)) {
		/* what was handed out is done with: make room */
		memmove(in->buf, in->buf + in->off, in->len - in->off);
		in->len -= in->off;
		in->scan -= in->off;
		in->off = 0;
	}
	if (in->cap - in->len < 16384) {
		in->cap = in->cap ? in->cap * 2 : 65536;
		in->buf = wq_realloc(in->buf, in->cap);
	}
	do
		n = read(in->fd, in->buf + in->len, in->cap - in->len - 1);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		cmd_die(WQ_EUSAGE, "reading stdin: %s", strerror(errno));
	if (n == 0) {
		in->eof = 1;
		return 0;
	}
	in->len += (size_t)n;
	return 1;
}

char *
cmd_lines_next(struct cmd_lines *in, size_t *len)
{
	char	*line, *nl;
	size_t	 n;

	if (in->off == in->len)
		return NULL;
	nl = memchr(in->buf + in->scan, '\n', in->len - in->scan);
	if (nl == NULL && !in->eof) {
		in->scan = in->len;
		return NULL;
	}
	line = in->buf + in->off;
	n = nl != NULL ? (size_t)(nl - line) : in->len - in->off;
	in->off += n + (nl != NULL);
	in->scan = in->off;
	if (n > 0 && line[n - 1] == '\r')
		n--;
	line[n] = '\0';	/* the newline's place, or the spare byte */
	*len = n;
	in->lineno++;
	return line;
}

int
cmd_lines_end(struct cmd_lines *in)
{
	return in->eof && in->off == in->len;
}

void
cmd_lines_free(struct cmd_lines *in)
{
	free(in->buf);
	memset(in, 0, sizeof(*in));
}

int
cmd_poll_ms(int64_t deadline)
{
	int64_t	ms;

	if (deadline < 0)
		return -1;
	ms = deadline - wq_now_ms();
	if (ms <= 0)
		return 0;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* Print a malloc'd line, and free it. */
static int
put_line(char *s)
{
	int	rc;

	rc = puts(s);
	free(s);
	return rc < 0 ? -1 : 0;
}

int
cmd_print(jv v)
{
	return put_line(wq_dump(v));
}

int
cmd_print_answer(struct wq *wq, struct wq_spec *spec, jv answer)
{
	return put_line(wq_answer_line(wq, spec, answer));
}

int
cmd_flush(void)
{
	if (fflush(stdout) == EOF) {
		if (errno == EPIPE)
			return -1;
		cmd_die(WQ_EUSAGE, "writing stdout: %s", strerror(errno));
	}
	return 0;
}

void
cmd_flush_filter(void)
{
	if (cmd_flush() == -1) {
		signal(SIGPIPE, SIG_DFL);
		raise(SIGPIPE);
	}
}

double
cmd_seconds(const char *opt, const char *arg)
{
	double	v;

	if (wq_parse_seconds(arg, &v) == -1)
		cmd_die(WQ_EUSAGE, "bad %s: a number of seconds", opt);
	return v;
}

long
cmd_long(const char *opt, const char *arg, long min, long max)
{
	long	v;

	if (wq_parse_long(arg, min, max, &v) == -1)
		cmd_die(WQ_EUSAGE, "bad %s: a whole number from %ld to %ld",
		    opt, min, max);
	return v;
}
