/*
 * api.c -- the HTTP API of wq, as a Kore module: the module's hooks, its
 * settings, and the instance as a node of the cluster (docs/DESIGN.md,
 * "The HTTP API").  routes.c routes the requests and handles them, rq.c
 * holds the requests that wait for Redis and their answers.
 *
 * Settings come from the environment (wq-api, the launcher, puts its
 * flags there) and are read once in the parent, which may resolve names,
 * ask for the host name and talk to Redis before the workers start under
 * Kore's seccomp sandbox.  The parent registers this instance as a node of
 * the cluster (role "api", named api-PID@HOST with the parent's PID unless
 * --name), the first worker heartbeats for it every second, and the
 * parent leaves the cluster when Kore stops.
 *
 * Under systemd (Type=notify, NotifyAccess=all: the first worker speaks
 * for the instance), the service manager is told READY=1 once the first
 * worker serves and its beat found the node a member, WATCHDOG=1 at the
 * heartbeat's pace when the unit sets WatchdogSec=, and STOPPING=1 when
 * Kore stops.  notify.c speaks the protocol with socket and sendto alone,
 * which the sandbox allows.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <kore/seccomp.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"

#define MAX_BODY_DEFAULT	(1024 * 1024)
#define STALL_MS		3000

/*
 * The sandbox of the workers: Kore's list lacks what a Redis client needs
 * (Debian's build only has socket and connect through its pgsql feature),
 * newfstatat, which glibc 2.36 uses for stat and fstat, and mremap, which
 * realloc uses on large blocks (a body of a megabyte, its JSON).
 */
KORE_SECCOMP_FILTER("wq-api",
	KORE_SYSCALL_ALLOW_ARG(socket, 0, AF_INET),
	KORE_SYSCALL_ALLOW_ARG(socket, 0, AF_INET6),
	KORE_SYSCALL_ALLOW_ARG(socket, 0, AF_UNIX),
	KORE_SYSCALL_ALLOW(connect),
	KORE_SYSCALL_ALLOW(getsockopt),
	KORE_SYSCALL_ALLOW(getsockname),
	KORE_SYSCALL_ALLOW(getpeername),
	KORE_SYSCALL_ALLOW(newfstatat),
	KORE_SYSCALL_ALLOW(fstat),
	KORE_SYSCALL_ALLOW(getppid),
	KORE_SYSCALL_ALLOW(mremap)
);

struct wq		*api_wq;
struct api_settings	 api;

static struct wq_worker_opts	node_opts;
static int			beat_failing;
static u_int64_t		beat_resume;
static long			watchdog_ms;	/* 0: no watchdog */
static u_int64_t		watchdog_next;
static int			ready;		/* READY=1 was sent */

static jv
node_fields(void)
{
	jv	o;

	o = jv_object();
	o = jv_object_set(o, jv_string("role"), jv_string("api"));
	o = jv_object_set(o, jv_string("host"), jv_string(api.host));
	o = jv_object_set(o, jv_string("pid"), jv_number((double)api.pid));
	o = jv_object_set(o, jv_string("listen"), jv_string(api.listen));
	o = jv_object_set(o, jv_string("concurrency"),
	    jv_number((double)api.workers));
	o = jv_object_set(o, jv_string("queues"), jv_array_append(jv_array(),
	    jv_string(wq_setting(api_wq, WQ_OPT_QUEUE))));
	o = jv_object_set(o, jv_string("version"), jv_string(WQ_VERSION));
	return o;
}

static long
env_long(const char *name, long def, long min, long max)
{
	const char	*s;
	long		 v;

	if ((s = getenv(name)) == NULL || *s == '\0')
		return def;
	if (wq_parse_long(s, min, max, &v) == -1)
		fatal("wq-api: bad %s: a whole number from %ld to %ld", name,
		    min, max);
	return v;
}

/* Once, in the parent, before the workers and their sandbox. */
void
kore_parent_configure(int argc, char **argv)
{
	const char		*s;
	char			*url;
	int			 rc;

	(void)argc;
	(void)argv;
	/* Before the workers: they keep the address, not the variables. */
	if (wq_notify_init() == -1)
		kore_log(LOG_NOTICE, "wq-api: NOTIFY_SOCKET is not a socket's "
		    "path or @name: systemd is not told anything");
	watchdog_ms = wq_notify_watchdog_ms();
	api_wq = wq_new("api");
	if (wq_env_error(api_wq) != WQ_OK)
		fatal("wq-api: %s", wq_error(api_wq));
	s = wq_setting(api_wq, WQ_OPT_TOKEN);
	if (s != NULL && s[0] != '\0') {
		api.token = s;
		api.token_len = strlen(api.token);
	}
	api.max_body = (size_t)env_long("WQ_API_MAX_BODY", MAX_BODY_DEFAULT,
	    1, 1024L * 1024 * 1024);
	api.workers = env_long("WQ_API_WORKERS", 0, 0, 1024);
	s = getenv("WQ_API_LISTEN");
	api.listen = wq_strdup(s != NULL ? s : "");
	/* [v6]:port or v4:port: the address alone */
	api.listen_host = wq_strndup(api.listen + (api.listen[0] == '['),
	    strcspn(api.listen, "]") < strlen(api.listen) ?
	    strcspn(api.listen, "]") - 1 : strcspn(api.listen, ":"));
	s = getenv("WQ_API_ALLOW_HOSTS");
	api.allow_hosts = wq_strdup(s != NULL ? s : "");
	/* a WAIT (--wait-replicas) holds its reply up to its timeout */
	api.stall_ms = STALL_MS + (wq_setting_num(api_wq,
	    WQ_OPT_WAIT_REPLICAS) > 0 ? wq_setting_num(api_wq,
	    WQ_OPT_WAIT_TIMEOUT) : 0);
	api.connect_ms = wq_setting_num(api_wq, WQ_SET_CONNECT_MS);
	api.host = wq_hostname();		/* the sandbox forbids uname */
	api.pid = (long)getpid();
	(void)wq_name(api_wq);			/* likewise: computed now */
	if (wq_async_prepare(api_wq) != WQ_OK)
		fatal("wq-api: %s", wq_error(api_wq));
	/* The launcher's conf file has been read: it can go. */
	if ((s = getenv("WQ_API_CONF")) != NULL && *s != '\0')
		(void)unlink(s);

	node_opts.node_timeout_ms = WQ_NODE_TIMEOUT_MS;
	node_opts.heartbeat_ms = WQ_HEARTBEAT_MS;
	rc = wq_node_register(api_wq, &node_opts, node_fields());
	if (rc == WQ_EUSAGE)
		fatal("wq-api: %s", wq_error(api_wq));
	if (rc != WQ_OK)
		kore_log(LOG_NOTICE, "wq-api: %s (serving 503 until Redis "
		    "answers)", wq_error(api_wq));
	/* The workers must not share the parent's connection. */
	wq_disconnect(api_wq);
	url = wq_url_safe(wq_setting(api_wq, WQ_OPT_REDIS));
	kore_log(LOG_NOTICE, "wq-api: node %s, Redis %s, namespace %s, "
	    "queue %s, token %s", wq_name(api_wq), url,
	    wq_setting(api_wq, WQ_OPT_NAMESPACE),
	    wq_setting(api_wq, WQ_OPT_QUEUE),
	    api.token != NULL ? "required" : "not required");
	free(url);
}

void
kore_parent_teardown(void)
{
	if (api_wq == NULL)
		return;
	(void)wq_notify("STOPPING=1");
	/* Stopping must not wait on a Redis that is gone. */
	wq_set_timeouts(api_wq, 500, 1000);
	if (wq_node_leave(api_wq) != WQ_OK)
		kore_log(LOG_NOTICE, "wq-api: leaving the cluster: %s",
		    wq_error(api_wq));
	wq_free(api_wq);
	api_wq = NULL;
	/*
	 * Kore would now remove its pidfile and exit(0), whose exit
	 * handlers can hang for good (p11-kit's destructor, which libpq
	 * pulls into kore, waits on a locale lock in sanitizer builds): do
	 * the one thing that matters and leave.
	 */
	if (kore_pidfile != NULL)
		(void)unlink(kore_pidfile);
	kore_log(LOG_NOTICE, "wq-api: stopped");
	fflush(NULL);
	_exit(0);
}

/* The failures of the sweep's rest: what the API logs of it. */
static void
api_sweep_log(void *arg, const char *kind, jv figure, const char *line)
{
	(void)arg;
	(void)kind;
	if (jv_get_kind(figure) == JV_KIND_NULL)
		kore_log(LOG_NOTICE, "wq-api: %s", line);
	jv_free(figure);
}

/*
 * This beat won the sweep, and schedules are due or a process that died
 * left steps of dependencies: the node that swept does them, whichever
 * kind it is (a worker's beat does the same).  Were it left to workers,
 * an API instance that wins the sweep would hold the schedules back
 * until a worker's beat happened to win it.
 */
static void
api_sweep_rest(const struct wq_beat *b)
{
	int	more;

	/* (a full sweep's rest waits for the next: a worker's loop goes on
	 * at once, Kore's timer would block the requests meanwhile) */
	if (b->cron || b->deps)
		wq_node_sweep_rest(api_wq, b->cron, b->deps, &more,
		    api_sweep_log, NULL);
}

/*
 * The heartbeat, in the first worker only (one node per instance): a
 * blocking call of libwq with short timeouts, once a second, one round
 * trip.  A node that was reaped (it froze, or Redis was away) registers
 * again; it also takes its turn at sweeping the cluster, like every node.
 * Its inbox is read by api_inbox(), more often.
 */
static void
api_beat(void *arg, u_int64_t now)
{
	struct wq_beat	b;
	int		rc;

	(void)arg;
	if (now < beat_resume)
		return;
	memset(&b, 0, sizeof(b));
	rc = wq_node_heartbeat(api_wq, &node_opts, jv_object(), &b);
	if (rc == WQ_OK && !b.member)
		rc = wq_node_register(api_wq, &node_opts, node_fields());
	if (rc == WQ_OK) {
		if (beat_failing)
			kore_log(LOG_NOTICE, "wq-api: heartbeat is back");
		beat_failing = 0;
		wq_backoff_reset(api_wq);
		if (!ready) {
			ready = 1;
			(void)wq_notify("READY=1\nSTATUS=serving, a member of "
			    "the cluster");
		}
		if (b.sweep_err != WQ_OK)
			kore_log(LOG_NOTICE, "wq-api: sweep: %s",
			    wq_error(api_wq));
		api_sweep_rest(&b);
		return;
	}
	if (!beat_failing)
		kore_log(LOG_NOTICE, "wq-api: heartbeat: %s", wq_error(api_wq));
	beat_failing = 1;
	wq_disconnect(api_wq);
	beat_resume = now + (u_int64_t)wq_backoff_ms(api_wq);
}

/* The callbacks of the built-in messages (struct wq_builtin). */
static jv
inbox_info(void *arg)
{
	(void)arg;
	return jv_object_set(node_fields(), jv_string("name"),
	    jv_string(wq_name(api_wq)));
}

/* drain stops the instance as SIGTERM does (Kore finishes what it
 * serves, then the node leaves). */
static void
inbox_drain(void *arg, struct wq_msg *m)
{
	char	from[256];

	(void)arg;
	snprintf(from, sizeof(from), "%s", m->from);
	kore_log(LOG_NOTICE, "wq-api: drain requested by %s", wq_unctrl(from));
	(void)kill((pid_t)api.pid, SIGTERM);
}

static void
inbox_reply(void *arg, struct wq_msg *m, const char *type, jv body)
{
	(void)arg;
	(void)wq_msg_reply(api_wq, m, type, body);
}

/*
 * Messages to this node (wq-send): read every tick by the first worker,
 * so a ping is answered within about 100 ms.  An API instance answers the
 * built-in types, as every node does, and no other.
 */
static void
api_inbox(void)
{
	static const struct wq_builtin	b = { NULL, inbox_info, NULL,
	    inbox_drain, NULL, inbox_reply, NULL };
	struct wq_msg			msgs[16];
	size_t				n, i;

	if (beat_failing || wq_msg_take(api_wq, msgs, 16, &n) != WQ_OK)
		return;
	for (i = 0; i < n; i++) {
		wq_builtin_answer(&b, &msgs[i]);
		wq_msg_clear(&msgs[i]);
	}
}

/* WATCHDOG=1 at the heartbeat's pace, within half the watchdog's time. */
static void
api_watchdog(u_int64_t now)
{
	long	every;

	if (watchdog_ms <= 0 || now < watchdog_next)
		return;
	every = node_opts.heartbeat_ms < watchdog_ms / 2 ?
	    node_opts.heartbeat_ms : watchdog_ms / 2;
	watchdog_next = now + (u_int64_t)(every > 0 ? every : 1);
	(void)wq_notify("WATCHDOG=1");
}

static void
api_tick(void *arg, u_int64_t now)
{
	(void)arg;
	/*
	 * Kore's parent was killed (SIGKILL: no teardown): its workers
	 * would go on serving, and the first one beating for a node that
	 * is gone.  Stop as Kore stops a worker.
	 */
	if (getppid() != (pid_t)api.pid) {
		kore_log(LOG_NOTICE, "wq-api: the parent process is gone, "
		    "stopping");
		(void)kill(getpid(), SIGTERM);
		return;
	}
	api_redis_tick(now);
	wait_tick(now);
	sse_tick(now);
	if (worker != NULL && worker->id == 1) {
		api_inbox();
		api_watchdog(now);
	}
}

void
kore_worker_configure(void)
{
	/*
	 * The heartbeat is blocking: on a sound link it costs one round
	 * trip a second, and when Redis hangs it must not hold this
	 * worker's other requests for long.
	 */
	wq_set_timeouts(api_wq, 250, 250);
	wait_init();
	api_redis_init();
	kore_timer_add(api_tick, 100, NULL, 0);
	/* Workers are numbered from 1. */
	if (worker != NULL && worker->id == 1) {
		api_beat(NULL, kore_time_ms());
		kore_timer_add(api_beat, (u_int64_t)node_opts.heartbeat_ms,
		    NULL, 0);
	}
}

/*
 * The worker is done.  It ends here, without the exit handlers that Kore's
 * exit(0) would run: a library's destructor (p11-kit's, which libpq pulls
 * into kore) can block for good on a locale lock (seen in sanitizer
 * builds), and the parent then waits for this worker forever.  Kore's own
 * cleanup after this hook only frees memory and tells the parent, which
 * is stopping.
 */
void
kore_worker_teardown(void)
{
	if (worker != NULL && worker->id == 1)
		(void)wq_notify("STOPPING=1");
	api_redis_close();
	wait_close();
	wq_disconnect(api_wq);
	fflush(NULL);
	_exit(0);
}
