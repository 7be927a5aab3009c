/*
 * cmd.h -- what the commands share on their side of libwq: the program
 * name, one-line errors on stderr, option tables with the shared settings,
 * and reading arguments-or-stdin.  libwq never prints or exits; this does.
 */
#ifndef CMD_H
#define CMD_H

#include <stdio.h>

#include "wq.h"

extern const char *cmd_name;
/* The usage lines of --wait-replicas and --wait-timeout. */
extern const char cmd_wait_usage[];

/*
 * The opening of every command's main(): sets cmd_name to wq-ROLE, makes
 * the context (exit 2 on a bad setting in the environment), sets *opts
 * to own followed by WQ_COMMON_LONGOPTS (malloc'd) and opterr to 0.
 */
struct option;
struct wq	*cmd_start(const char *, const struct option *,
		    struct option **);
__attribute__((noreturn, format(printf, 2, 3)))
void		 cmd_die(int, const char *, ...);
__attribute__((format(printf, 1, 2)))
void		 cmd_warn(const char *, ...);

/*
 * Handle a getopt_long result that is not the command's own: a shared
 * setting, --help, --version, or an unknown option (exit 2).
 */
void		 cmd_common(struct wq *, int, const char *, char **,
		    void (*)(FILE *));

/*
 * The input items: argv[optind..] when there are any, else the lines of
 * stdin (refused when stdin is a terminal).  Returns a NULL-terminated
 * malloc'd array of malloc'd strings and their lengths in *lens.
 */
char		**cmd_inputs(int, char **, size_t *, size_t **);
void		 cmd_inputs_free(char **);

/*
 * Standard input as a stream of lines, for the commands that act on each
 * line as it comes (wq-submit, wq-status): cmd_lines_fill() does one
 * read(2), which does not block once poll(2) said the descriptor is
 * readable; cmd_lines_next() then hands out the complete lines, in place
 * (without the newline, nor a CR before it), valid until the next fill.
 * At the end of the input an unfinished last line is a line too.
 */
struct cmd_lines {
	int		 fd;
	char		*buf;
	size_t		 off;		/* the next line starts here */
	size_t		 len;		/* bytes in buf */
	size_t		 cap;
	size_t		 scan;		/* no newline in buf[off, scan) */
	int		 eof;
	size_t		 lineno;	/* lines handed out */
};
void		 cmd_lines_init(struct cmd_lines *, int);
/* Heap and stdout set for a batch at a time (before any output). */
void		 cmd_batched(void);
int		 cmd_lines_fill(struct cmd_lines *);
char		*cmd_lines_next(struct cmd_lines *, size_t *);
/* Every line has been handed out and no more will come. */
int		 cmd_lines_end(struct cmd_lines *);
void		 cmd_lines_free(struct cmd_lines *);
/* The time until deadline (ms since the epoch, -1: none) for poll(2). */
int		 cmd_poll_ms(int64_t);

/*
 * wq-cancel, wq-retry (control.c): op (WQ_CONTROL_*) on the ids of the
 * arguments or stdin, or on a queue's dead list (retry), each record
 * printed; returns the exit status.
 */
int		 cmd_control(struct wq *, int, const char *, const char *, int,
		    char **);

/* One NDJSON line on stdout: a value (consumed), a submission answer. */
int		 cmd_print(jv);
int		 cmd_print_answer(struct wq *, struct wq_spec *, jv);
/* Flush stdout: -1 when its reader has gone (EPIPE), exit 2 on an error. */
int		 cmd_flush(void);
/*
 * Flush stdout; when its reader has gone (wq-status --wait | head), end
 * as a filter does, by SIGPIPE: on an endless input nothing else would.
 */
void		 cmd_flush_filter(void);
/* A duration in seconds for an option, or exit 2. */
double		 cmd_seconds(const char *, const char *);
long		 cmd_long(const char *, const char *, long, long);

#endif
