/*
 * wq-api -- run the HTTP API: Kore with the wq-api module, in the
 * foreground.
 *
 * Kore takes its settings from a configuration file and knows nothing of
 * wq's, so this launcher checks the options, puts wq's settings in the
 * environment (where the module reads them, in its parent process),
 * writes a Kore configuration to a temporary file (the module removes it
 * once read) and becomes kore -f -n -r (foreground, no chroot, no
 * privilege drop), under stdbuf -oL so that Kore's log lines, which it
 * prints to stdout, arrive one by one.  Kore keeps this process's PID,
 * so the node's name api-PID@HOST names the process that was started,
 * and SIGTERM to it stops the API cleanly.
 */
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cmd.h"

enum { OPT_LISTEN = WQ_OPT_FIRST_PRIVATE, OPT_WORKERS, OPT_MAX_BODY,
    OPT_ALLOW_HOST, OPT_INSECURE };

static const struct option own[] = {
	{ "listen",	required_argument,	NULL, OPT_LISTEN },
	{ "workers",	required_argument,	NULL, OPT_WORKERS },
	{ "max-body",	required_argument,	NULL, OPT_MAX_BODY },
	{ "allow-host",	required_argument,	NULL, OPT_ALLOW_HOST },
	{ "insecure-no-token", no_argument,	NULL, OPT_INSECURE },
	{ "max-queues",	required_argument,	NULL, WQ_OPT_MAX_QUEUES },
	{ "events",	required_argument,	NULL, WQ_OPT_EVENTS },
	WQ_WAIT_LONGOPTS,
	{ NULL, 0, NULL, 0 }
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: wq-api [options]\n"
"Serve the HTTP API and the web console (Kore, in the foreground); the\n"
"instance joins the cluster as a node of role \"api\".\n"
"  --listen ADDR:PORT  where to listen (default 127.0.0.1:8080; [::1]:PORT\n"
"                      for IPv6)\n"
"  --workers N         Kore worker processes (default: one per CPU)\n"
"  --max-body BYTES    largest request body (default 1048576); more is 413\n"
"  --allow-host NAME   a host name requests may name in Host (beside the\n"
"                      listen address, localhost and IP addresses);\n"
"                      repeatable (WQ_API_ALLOW_HOSTS: NAME,NAME...)\n"
"  --insecure-no-token serve with no token on an address beyond loopback\n"
"  --max-queues N      a new queue is refused (422) when there are N\n"
"                      already (WQ_MAX_QUEUES; default 1000)\n"
"  --events N          keep about N events in the event stream, 0: write\n"
"                      none (WQ_EVENTS; default 100000)\n"
"%s"
"Environment: WQ_KORE (the kore program), WQ_API_MODULE (the module),\n"
"WQ_API_SECCOMP_TRACE=1 (log what the sandbox refuses instead of killing).\n"
"%s", cmd_wait_usage, wq_common_usage);
}

/* Split ADDR:PORT (or [ADDR]:PORT); exit 2 when it is not one. */
static void
parse_listen(const char *arg, char **host, long *port)
{
	const char	*colon;
	size_t		 n;

	if ((colon = strrchr(arg, ':')) == NULL)
		cmd_die(WQ_EUSAGE, "bad --listen %s: expected ADDR:PORT", arg);
	if (wq_parse_long(colon + 1, 1, 65535, port) == -1)
		cmd_die(WQ_EUSAGE, "bad --listen %s: the port is 1 to 65535",
		    arg);
	n = (size_t)(colon - arg);
	if (n >= 2 && arg[0] == '[' && arg[n - 1] == ']') {
		arg++;
		n -= 2;
	}
	if (n == 0 || strcspn(arg, " \t\n\r[]{};#") < n)
		cmd_die(WQ_EUSAGE, "bad --listen %s: expected ADDR:PORT", arg);
	*host = wq_calloc(1, n + 1);
	memcpy(*host, arg, n);
}

/* A loopback address (or localhost): no token needed there. */
static int
loopback(const char *host)
{
	struct in_addr	 a4;
	struct in6_addr	 a6;

	if (strcasecmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6)
		    && a6.s6_addr[12] == 127);
	return 0;
}

/* The module: $WQ_API_MODULE, the build tree's, or the installed one. */
static char *
module_path(void)
{
	const char	*env;
	char		 self[PATH_MAX], *slash, *path;
	ssize_t		 n;

	if ((env = getenv("WQ_API_MODULE")) != NULL && *env != '\0')
		return wq_strdup(env);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL) {
			*slash = '\0';
			if (asprintf(&path, "%s/../kore-api/wq-api.so",
			    self) < 0)
				abort();
			if (access(path, R_OK) == 0)
				return path;
			free(path);
		}
	}
	return wq_strdup(WQ_API_MODULE);
}

static void
env_set(const char *name, const char *value)
{
	if (value == NULL)
		unsetenv(name);
	else if (setenv(name, value, 1) == -1)
		cmd_die(WQ_EUSAGE, "setenv %s: %s", name, strerror(errno));
}

static void
env_setl(const char *name, long value)
{
	char	buf[32];

	snprintf(buf, sizeof(buf), "%ld", value);
	env_set(name, buf);
}

#if defined(__SANITIZE_ADDRESS__)
static int
find_asan(struct dl_phdr_info *info, size_t size, void *arg)
{
	char	**path = arg;

	(void)size;
	if (info->dlpi_name != NULL && strstr(info->dlpi_name, "/libasan.so"))
		*path = wq_strdup(info->dlpi_name);
	return *path != NULL;
}

/*
 * In an AddressSanitizer build the module needs the sanitizer's runtime,
 * which must be loaded before everything else: kore is not built with it,
 * so it is preloaded (the runtime this program was linked with).
 */
static void
preload_asan(void)
{
	const char	*old;
	char		*path = NULL, *v;

	dl_iterate_phdr(find_asan, &path);
	if (path == NULL)
		return;
	old = getenv("LD_PRELOAD");
	if (asprintf(&v, "%s%s%s", path, old && *old ? ":" : "",
	    old ? old : "") < 0)
		abort();
	env_set("LD_PRELOAD", v);
	free(v);
	free(path);
}
#endif

/* A file in $TMPDIR that nobody else can have made first. */
static char *
temp_file(const char *suffix, int *fd)
{
	const char	*dir;
	char		*path;

	if ((dir = getenv("TMPDIR")) == NULL || *dir == '\0')
		dir = "/tmp";
	if (asprintf(&path, "%s/wq-api.XXXXXX%s", dir, suffix) < 0)
		abort();
	if ((*fd = mkostemps(path, (int)strlen(suffix), O_CLOEXEC)) == -1)
		cmd_die(WQ_EUSAGE, "cannot create %s: %s", path,
		    strerror(errno));
	return path;
}

/* The launcher's settings, beside the shared ones. */
struct launch {
	struct wq	*wq;
	char		*host;
	long		 port;
	long		 workers;	/* 0: one per CPU */
	long		 max_body;
	char		*allow;		/* --allow-host, comma-separated */
	int		 insecure;	/* --insecure-no-token */
};

/* --allow-host NAME: one name more in the list (a comma separates). */
static void
allow_host(struct launch *l, const char *name)
{
	char	*s;

	if (*name == '\0' || strcspn(name, ", \t\r\n/") < strlen(name))
		cmd_die(WQ_EUSAGE, "bad --allow-host %s: a host name", name);
	if (asprintf(&s, "%s%s%s", l->allow ? l->allow : "",
	    l->allow ? "," : "", name) < 0)
		abort();
	free(l->allow);
	l->allow = s;
}

static void
parse_args(struct launch *l, int argc, char **argv)
{
	struct option	*opts;
	const char	*token;
	int		 c;

	l->wq = cmd_start("api", own, &opts);
	l->host = wq_strdup("127.0.0.1");
	l->port = 8080;
	l->max_body = 1048576;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_LISTEN:
			free(l->host);
			parse_listen(optarg, &l->host, &l->port);
			break;
		case OPT_WORKERS:
			l->workers = cmd_long("--workers", optarg, 1, 256);
			break;
		case OPT_MAX_BODY:
			l->max_body = cmd_long("--max-body", optarg, 1,
			    1024L * 1024 * 1024);
			break;
		case OPT_ALLOW_HOST:
			allow_host(l, optarg);
			break;
		case OPT_INSECURE:
			l->insecure = 1;
			break;
		case WQ_OPT_API:
			cmd_die(WQ_EUSAGE, "--api is for clients: wq-api is "
			    "the API (try --help)");
		default:
			cmd_common(l->wq, c, optarg, argv, usage);
		}
	}
	free(opts);
	if (optind < argc)
		cmd_die(WQ_EUSAGE, "unexpected argument %s (try --help)",
		    argv[optind]);
	token = wq_setting(l->wq, WQ_OPT_TOKEN);
	if ((token == NULL || *token == '\0') && !loopback(l->host)) {
		if (!l->insecure)
			cmd_die(WQ_EUSAGE, "listening on %s, beyond loopback, "
			    "needs a token (--token or WQ_TOKEN; "
			    "--insecure-no-token to serve without one)",
			    l->host);
		fprintf(stderr, "wq-api: WARNING: --insecure-no-token: "
		    "listening on %s with no token: anyone who can reach it "
		    "can submit jobs and read every record\n", l->host);
	}
}

/* The settings, in the environment of the module's parent process. */
static void
export_settings(struct launch *l)
{
	struct wq	*wq = l->wq;
	char		*listen;

	env_set("WQ_REDIS", wq_setting(wq, WQ_OPT_REDIS));
	env_set("WQ_TOKEN", wq_setting(wq, WQ_OPT_TOKEN));
	env_set("WQ_NAMESPACE", wq_setting(wq, WQ_OPT_NAMESPACE));
	env_set("WQ_QUEUE", wq_setting(wq, WQ_OPT_QUEUE));
	env_setl("WQ_TTL", wq_setting_num(wq, WQ_OPT_TTL));
	env_set("WQ_NODE", wq_setting(wq, WQ_OPT_NAME));
	env_setl("WQ_MAX_DATA", wq_setting_num(wq, WQ_OPT_MAX_DATA));
	env_setl("WQ_MAX_QUEUES", wq_setting_num(wq, WQ_OPT_MAX_QUEUES));
	env_setl("WQ_EVENTS", wq_setting_num(wq, WQ_OPT_EVENTS));
	env_setl("WQ_WAIT_REPLICAS", wq_setting_num(wq, WQ_OPT_WAIT_REPLICAS));
	env_setl("WQ_WAIT_TIMEOUT", wq_setting_num(wq, WQ_OPT_WAIT_TIMEOUT));
	env_set("WQ_API", NULL);
	env_setl("WQ_API_MAX_BODY", l->max_body);
	env_setl("WQ_API_WORKERS", l->workers > 0 ? l->workers :
	    sysconf(_SC_NPROCESSORS_ONLN));
	if (asprintf(&listen, strchr(l->host, ':') != NULL ? "[%s]:%ld" :
	    "%s:%ld", l->host, l->port) < 0)
		abort();
	env_set("WQ_API_LISTEN", listen);
	free(listen);
	if (l->allow != NULL)
		env_set("WQ_API_ALLOW_HOSTS", l->allow);
}

/*
 * Kore's configuration for this run, in a new file; returns its path,
 * and that of the (empty) pidfile it names in *pidfile.
 */
static char *
write_conf(struct launch *l, const char *module, char **pidfile)
{
	FILE	*f;
	char	*conf, *trace;
	long	 kore_max;
	int	 fd, pfd;

	/*
	 * Kore refuses larger bodies itself, with an empty 413 and before
	 * reading them; up to twice the limit the module reads them and
	 * answers a JSON 413.
	 */
	kore_max = l->max_body * 2 > l->max_body + 65536 ? l->max_body * 2 :
	    l->max_body + 65536;
	*pidfile = temp_file(".pid", &pfd);
	close(pfd);
	conf = temp_file(".conf", &fd);
	if ((f = fdopen(fd, "w")) == NULL)
		cmd_die(WQ_EUSAGE, "%s: %s", conf, strerror(errno));
	fprintf(f,
"# Written by wq-api for one run; the module removes it once read.\n"
"server wq {\n"
"\tbind %s %ld\n"
"\ttls no\n"
"}\n"
"load %s\n",
	    l->host, l->port, module);
	if (l->workers > 0)
		fprintf(f, "workers %ld\n", l->workers);
	/* Development: log system calls the sandbox refuses, do not kill. */
	if ((trace = getenv("WQ_API_SECCOMP_TRACE")) != NULL &&
	    strcmp(trace, "1") == 0)
		fprintf(f, "seccomp_tracing yes\n");
	fprintf(f,
"worker_max_connections 4096\n"
"worker_rlimit_nofiles 8192\n"
"pidfile %s\n"
"http_body_max %ld\n"
"http_hsts_enable 0\n"
"# Kore drops a request whose header outgrows this (4096 by default),\n"
"# which HAProxy, which takes up to 15 KB, turns into a 502.\n"
"http_header_max 16384\n"
"http_server_version wq-api/%s\n"
"http_request_limit 10000\n"
"domain * {\n"
"\tattach wq\n"
"\troute ^/ wq_api_http\n"
"}\n",
	    *pidfile, kore_max, WQ_VERSION);
	if (fclose(f) == EOF)
		cmd_die(WQ_EUSAGE, "%s: %s", conf, strerror(errno));
	return conf;
}

int
main(int argc, char **argv)
{
	struct launch	 l;
	char		*module, *conf, *pidfile, *kore;

	memset(&l, 0, sizeof(l));
	parse_args(&l, argc, argv);
	wq_disconnect(l.wq);
	module = module_path();
	if (access(module, R_OK) == -1)
		cmd_die(WQ_EUSAGE, "cannot read the API module %s: %s", module,
		    strerror(errno));
	if ((kore = getenv("WQ_KORE")) == NULL || *kore == '\0')
		kore = WQ_KORE;
	export_settings(&l);
	conf = write_conf(&l, module, &pidfile);
	env_set("WQ_API_CONF", conf);
#if defined(__SANITIZE_ADDRESS__)
	preload_asan();
#endif
	fflush(NULL);

	execlp("stdbuf", "stdbuf", "-oL", kore, "-f", "-n", "-r", "-c", conf,
	    (char *)NULL);
	execlp(kore, kore, "-f", "-n", "-r", "-c", conf, (char *)NULL);
	unlink(conf);
	unlink(pidfile);
	cmd_die(WQ_EUNAVAIL, "cannot run %s: %s", kore, strerror(errno));
}
