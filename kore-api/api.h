/*
 * api.h -- what the files of the Kore application share.
 *
 * The application is one Kore module.  Each Kore worker process runs an
 * event loop; the module adds to it a hiredis async connection for
 * commands (on a Redis Cluster at P > 1 partitions, one per primary),
 * libwq's waiter subscribed to the done:<id> channels of the requests
 * that wait for a job, a timer that reconnects and watches for a Redis
 * that stopped answering, and, in the first worker, the node's heartbeat.
 *
 *   api.c      hooks, settings, the node (heartbeat, messages)
 *   routes.c   routing and the handlers
 *   rq.c       answers, and the requests that wait for Redis
 *   redis.c    the async connections on Kore's event loop
 *   cluster.c  on a Redis Cluster at P > 1: one per primary, routed
 *   wait.c     GET /api/v1/work/<id>?wait=S: waiting for a job to end
 *   metrics.c  GET /metrics in Prometheus's text format
 *   sse.c      GET /api/v1/events: the event stream, Server-Sent Events
 *   console.c  the web console's pages and the OpenAPI description
 *              (generated from console.html, login.html, openapi.json)
 *
 * A request that needs Redis keeps its state in a struct rq, allocated
 * apart from the request (Kore frees a request, and its state, when the
 * client goes away, while replies may still be on their way): each reply
 * expected holds a reference, and the request's free callback only
 * detaches it, so a late reply finds rq->req NULL and drops the answer.
 */
#ifndef API_H
#define API_H

#include <sys/queue.h>

#include <kore/kore.h>
#include <kore/http.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "wq-async.h"

struct api_settings {
	const char	*token;		/* NULL: no token required */
	size_t		 token_len;
	size_t		 max_body;
	char		*listen;
	char		*listen_host;	/* its address, for Host */
	char		*allow_hosts;	/* WQ_API_ALLOW_HOSTS: a,b,c */
	char		*host;
	long		 pid;		/* the parent's */
	long		 workers;
	long		 stall_ms;	/* a reply overdue: drop the link */
	long		 connect_ms;	/* an async connect overdue */
	long		 wait_max_s;
};

extern struct wq		*api_wq;
extern struct api_settings	 api;

struct rq;
typedef void	(*rq_reply_fn)(struct rq *, redisReply *);

struct wchan;

struct rq {
	struct http_request	*req;		/* NULL once the client left */
	int			 refs;		/* replies still expected */
	int			 answered;
	int			 status;
	char			*body;
	size_t			 len;
	const char		*ctype;
	const char		*allow;		/* for a 405 */
	int			 retry_after;	/* for a 503 */

	rq_reply_fn		 on_reply;
	struct wq_argv		 argv;		/* kept to resend as EVAL */
	int			 evaled;
	struct wq_spec		 spec;
	struct wq_read		*read;
	int			 read_kind;
	size_t			 nsent;		/* commands in the batch out */
	int			 slot;		/* its last key's (cluster.c) */
	int			 has_spec;
	jv			 answer;	/* held over a WAIT */
	char			 id[WQ_ID_LEN + 1];

	/* Waiting for a job to end (wait.c). */
	u_int64_t		 deadline;
	int			 waiting;
	int			 reading;
	int			 again;
	int			 last_read;
	struct wchan		*chan;
	TAILQ_ENTRY(rq)		 chan_link;
	TAILQ_ENTRY(rq)		 wait_link;
};

TAILQ_HEAD(rq_list, rq);

/* rq.c: answers now, and requests that wait for Redis. */
int		 rq_respond(struct http_request *, int, const char *,
		    const void *, size_t);
int		 rq_respond_json(struct http_request *, int, jv);
int		 rq_respond_error(struct http_request *, int, const char *);
int		 rq_respond_method(struct http_request *, const char *);
int		 rq_respond_page(struct http_request *, int, const char *,
		    size_t, int);
jv		 rq_not_found(void);
struct rq	*rq_new(struct http_request *);
int		 rq_yield(struct http_request *, struct rq *);
void		 rq_answer_json(struct rq *, int, jv);
void		 rq_answer_text(struct rq *, int, const char *, char *, size_t);
void		 rq_answer_unavailable(struct rq *);
void		 rq_answer_error(struct rq *, int, const char *);
void		 rq_answer_failed(struct rq *, int);
int		 rq_send(struct rq *, struct wq_argv *, size_t, rq_reply_fn);

/* routes.c */
int		 wq_api_http(struct http_request *);

/* redis.c: an async connection on Kore's event loop */
#define CONN_DOWN		0
#define CONN_CONNECTING		1
#define CONN_UP			2

struct aconn {
	/* first: the event loop hands this back */
	struct kore_event	 evt;
	const char		*name;
	char			*host;		/* NULL: the configured Redis */
	int			 port;
	redisAsyncContext	*ac;
	int			 state;
	int			 fd;
	int			 reading;
	int			 writing;
	int			 registered;	/* the epoll events asked for */
	u_int64_t		 since;		/* connect started */
	u_int64_t		 retry_at;
	long			 failures;	/* connects in a row */
	int			 pending;	/* replies owed (API_CMD) */
	u_int64_t		 progress;	/* last reply, or first owed */
	int			 complained;	/* said it was down */
	void			(*up)(void);
	void			(*down)(void);
};

void		 aconn_init(struct aconn *, const char *, const char *, int);
int		 aconn_command(struct aconn *, struct wq_argv *, int,
		    redisCallbackFn *, void *);
void		 aconn_tick(struct aconn *, u_int64_t);
void		 aconn_close(struct aconn *);

/* redis.c: the connections of a worker */
#define API_CMD		0
#define API_NCONN	1
void		 api_redis_init(void);
void		 api_redis_tick(u_int64_t);
int		 api_redis_up(int);
int		 api_redis_send(int, struct wq_argv *, size_t,
		    redisCallbackFn *, void *);
int		 api_redis_send_at(struct wq_argv *, size_t,
		    redisCallbackFn *, void *, int *);
void		 api_redis_close(void);
void		 api_redis_replied(void *);

/* cluster.c: the command connections on a Redis Cluster at P > 1 */
void		 cluster_init(void);
void		 cluster_tick(u_int64_t);
int		 cluster_up(void);
int		 cluster_send(struct wq_argv *, size_t, redisCallbackFn *,
		    void *, int *);
void		 cluster_close(void);

/* wait.c */
void		 wait_init(void);
void		 wait_status_reply(struct rq *, redisReply *);
void		 wait_leave(struct rq *);
void		 wait_tick(u_int64_t);
void		 wait_close(void);

/* sse.c: a stream after since, of queue (NULL: all); the tick. */
int		 sse_start(struct http_request *, const char *, const char *);
void		 sse_tick(u_int64_t);

/* metrics.c */
void		 metrics_text(jv, struct kore_buf *);

/* console.c (generated) */
extern const char	 console_html[];
extern const size_t	 console_html_len;
extern const char	 login_html[];
extern const size_t	 login_html_len;
extern const char	 console_html_script[];	/* their blocks' hashes */
extern const char	 console_html_style[];
extern const char	 login_html_script[];
extern const char	 login_html_style[];
extern const char	 openapi_json[];
extern const size_t	 openapi_json_len;

#endif
