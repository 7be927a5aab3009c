/*
 * wq-int.h -- what the files of libwq share and nobody else sees: the
 * context structure, the argument builder for Redis commands, the table of
 * embedded Lua scripts and the key builder.  Only libwq builds key names.
 */
#ifndef WQ_INT_H
#define WQ_INT_H

#include <hiredis/hiredis.h>

#include "wq.h"

struct wq {
	struct wq_config	 cfg;
	char			*role;
	char			*name;
	redisContext		*rc;
	int			 backoff_ms;
	int			 env_bad;
	int			 too_big;
	void			*curl;
	/* wq_api_close, set by api.c with curl: so that wq_free() does not
	 * pull api.c, and libcurl with its TLS and Kerberos libraries,
	 * into the commands that never use the API (the worker). */
	void			(*api_close)(struct wq *);
	int			 api_wait_ms;
	char			 instance[25];	/* this process as a node (node.c) */
	char			*name_json;	/* wq_name() as JSON (job.c) */
	const char		*name_json_of;	/* the name it was made from */
	int64_t			 skew_ms;	/* server clock - ours, from beats */
	int			 skew_known;
	char			 err[512];
};

/* struct wq_argv (in wq.h): a growable argv owning copies of its strings. */
void		 wq_argv_init(struct wq_argv *);
void		 wq_argv_add(struct wq_argv *, const char *, size_t);
void		 wq_argv_adds(struct wq_argv *, const char *);
void		 wq_argv_addf(struct wq_argv *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
void		 wq_argv_addl(struct wq_argv *, long long);
/* Append a key: NS:fmt... */
void		 wq_argv_key(struct wq_argv *, struct wq *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
char		*wq_key(struct wq *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

/* Embedded scripts (the .lua files of lib/lua, generated into scripts.c). */
enum wq_script_id {
	WQ_SCRIPT_SUBMIT,
	WQ_SCRIPT_CLAIM,
	WQ_SCRIPT_COMPLETE,
	WQ_SCRIPT_PROMOTE,
	WQ_SCRIPT_REGISTER,
	WQ_SCRIPT_BEAT,
	WQ_SCRIPT_REAP,
	WQ_SCRIPT_LEAVE,
	WQ_SCRIPT_SEND,
	WQ_SCRIPT_RECOVER,
	WQ_SCRIPT_COUNT
};

struct wq_script {
	const char	*name;
	const char	*body;
	char		 sha[41];
};

extern struct wq_script wq_scripts[WQ_SCRIPT_COUNT];

/*
 * Build the EVALSHA of a script: "EVALSHA sha nkeys"; the caller appends
 * the keys then the arguments and fixes nkeys with wq_argv_setnkeys().
 */
void		 wq_script_argv(struct wq_argv *, enum wq_script_id);
void		 wq_argv_setnkeys(struct wq_argv *, int);
/* Run it: EVALSHA, falling back to EVAL on NOSCRIPT. */
redisReply	*wq_script_run(struct wq *, struct wq_argv *);

/* Append a command to the output buffer, without sending it. */
int		 wq_append(struct wq *, struct wq_argv *);
/* Send one command; NULL means the connection broke (see wq_error()). */
redisReply	*wq_command(struct wq *, struct wq_argv *);
/* Pipeline: append all, then read n replies into replies[]. */
int		 wq_pipeline(struct wq *, struct wq_argv *, size_t,
		    redisReply **);
int		 wq_reply_error(struct wq *, redisReply *, const char *);

redisContext	*wq_redis_open(struct wq *, char *, size_t);

jv		 wq_record_from_reply(const char *, redisReply *);
/* A node's hash as JSON; *alive from its last beat (node.c). */
jv		 wq_node_from_reply(const char *, redisReply *, int, double,
		    long long, int *);
long long	 wq_reply_ll(redisReply *);
/* One inbox message (msg.c); exposed for the fuzzer in fuzz/. */
int		 wq_msg_decode(const char *, size_t, long long, struct wq_msg *);


#endif
