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

/* One NDJSON line on stdout: a value (consumed), a submission answer. */
int		 cmd_print(jv);
int		 cmd_print_answer(struct wq *, struct wq_spec *, jv);
int		 cmd_flush(void);
/* A duration in seconds for an option, or exit 2. */
double		 cmd_seconds(const char *, const char *);
long		 cmd_long(const char *, const char *, long, long);

#endif
