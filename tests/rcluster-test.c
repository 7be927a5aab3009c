/*
 * rcluster-test -- drives libwq's Redis Cluster client (lib/rcluster.c)
 * for tests/rcluster.bats.  `rcluster-test URL` opens a client on the
 * redis-cluster:// URL (a bad URL: exit 2; no seed answers: exit 3, the
 * error on stderr as wq's commands say it), then runs the lines of its
 * standard input, in order, on that one client:
 *
 *   !COMMAND        a shell command (exit 1 if it fails)
 *   keyslots FILE   the client's slot of each line of FILE against the
 *                   cluster's CLUSTER KEYSLOT: "keyslots N differ M",
 *                   then each key that differs
 *   fill N P        one pipeline of N SET P:i and N GET P:i, interleaved:
 *                   "fill 2N in order on K primaries" when every reply
 *                   is the right one
 *   evalsha N       a script loaded on one primary, then N EVALSHA of it
 *                   over keys on every primary: "evalsha N ok"
 *   addr KEY        the primary of KEY's slot in the client's map
 *   slot WORD...    the slot the client sends that command to (-1: any)
 *   stats           the client's counts (struct wq_rcluster_stats)
 *   WORD...         a command, sent by the client; its reply printed
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rcluster.h"

static void
print_reply(redisReply *r)
{
	size_t	i;

	switch (r->type) {
	case REDIS_REPLY_INTEGER:
		printf("%lld", r->integer);
		break;
	case REDIS_REPLY_NIL:
		printf("(nil)");
		break;
	case REDIS_REPLY_ERROR:
		printf("(error) %s", r->str);
		break;
	case REDIS_REPLY_ARRAY:
		printf("[");
		for (i = 0; i < r->elements; i++) {
			if (i > 0)
				printf(" ");
			print_reply(r->element[i]);
		}
		printf("]");
		break;
	default:
		printf("%s", r->str);
	}
}

/* Send n commands; on failure, say why and exit with its code. */
static redisReply **
pipeline(struct wq *wq, struct wq_rcluster *rc, struct wq_argv *cmds,
    size_t n)
{
	redisReply	**out;
	int		  code;

	out = wq_calloc(n + 1, sizeof(*out));
	if ((code = wq_rcluster_pipeline(rc, cmds, n, out)) != WQ_OK) {
		fprintf(stderr, "rcluster-test: %s\n", wq_error(wq));
		exit(code);
	}
	return out;
}

static void
done(struct wq_argv *cmds, redisReply **out, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (out[i] != NULL)
			freeReplyObject(out[i]);
		wq_argv_free(&cmds[i]);
	}
	free(out);
	free(cmds);
}

static void
keyslots(struct wq *wq, struct wq_rcluster *rc, const char *file)
{
	FILE		 *f;
	struct wq_argv	 *cmds = NULL;
	redisReply	**out;
	char		**keys = NULL, *line = NULL;
	size_t		  n = 0, cap = 0, i, differ = 0;
	ssize_t		  len;

	if ((f = fopen(file, "r")) == NULL) {
		perror(file);
		exit(1);
	}
	while ((len = getline(&line, &cap, f)) > 0) {
		if (line[len - 1] == '\n')
			line[--len] = '\0';
		keys = wq_reallocarray(keys, n + 1, sizeof(*keys));
		cmds = wq_reallocarray(cmds, n + 1, sizeof(*cmds));
		keys[n] = wq_strdup(line);
		wq_argv_init(&cmds[n]);
		wq_argv_adds(&cmds[n], "CLUSTER");
		wq_argv_adds(&cmds[n], "KEYSLOT");
		wq_argv_adds(&cmds[n++], line);
	}
	fclose(f);
	free(line);
	out = pipeline(wq, rc, cmds, n);
	for (i = 0; i < n; i++)
		if (out[i]->type != REDIS_REPLY_INTEGER || out[i]->integer !=
		    (long long)wq_rcluster_slot(keys[i], strlen(keys[i])))
			differ++;
	printf("keyslots %zu differ %zu\n", n, differ);
	for (i = 0; i < n; i++) {
		if (out[i]->type != REDIS_REPLY_INTEGER || out[i]->integer !=
		    (long long)wq_rcluster_slot(keys[i], strlen(keys[i])))
			printf("differs: %s\n", keys[i]);
		free(keys[i]);
	}
	free(keys);
	done(cmds, out, n);
}

/* The number of primaries that serve the slots of n keys P:i. */
static size_t
primaries(struct wq_rcluster *rc, const char *prefix, size_t n)
{
	const char	*seen[64];
	const char	*addr;
	char		 key[128];
	size_t		 i, j, k = 0;

	for (i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "%s:%zu", prefix, i);
		addr = wq_rcluster_addr(rc, wq_rcluster_slot(key,
		    strlen(key)));
		for (j = 0; j < k && addr != seen[j]; j++)
			;
		if (j == k && k < 64)
			seen[k++] = addr;
	}
	return k;
}

static void
fill(struct wq *wq, struct wq_rcluster *rc, size_t n, const char *prefix)
{
	struct wq_argv	 *cmds;
	redisReply	**out;
	char		  v[64];
	size_t		  i;

	cmds = wq_calloc(2 * n + 1, sizeof(*cmds));
	for (i = 0; i < n; i++) {
		wq_argv_init(&cmds[2 * i]);
		wq_argv_adds(&cmds[2 * i], "SET");
		wq_argv_addf(&cmds[2 * i], "%s:%zu", prefix, i);
		wq_argv_addf(&cmds[2 * i], "v%zu", i);
		wq_argv_init(&cmds[2 * i + 1]);
		wq_argv_adds(&cmds[2 * i + 1], "GET");
		wq_argv_addf(&cmds[2 * i + 1], "%s:%zu", prefix, i);
	}
	out = pipeline(wq, rc, cmds, 2 * n);
	for (i = 0; i < n; i++) {
		snprintf(v, sizeof(v), "v%zu", i);
		if (out[2 * i]->type != REDIS_REPLY_STATUS ||
		    out[2 * i + 1]->type != REDIS_REPLY_STRING ||
		    strcmp(out[2 * i + 1]->str, v) != 0) {
			printf("fill: reply %zu is not that of %s:%zu\n",
			    2 * i + 1, prefix, i);
			break;
		}
	}
	if (i == n)
		printf("fill %zu in order on %zu primaries\n", 2 * n,
		    primaries(rc, prefix, n));
	done(cmds, out, 2 * n);
}

static void
evalsha(struct wq *wq, struct wq_rcluster *rc, size_t n)
{
	struct wq_argv	 *cmds;
	redisReply	**out;
	char		  sha[41];
	size_t		  i, bad = 0;
	int		  code;

	code = wq_rcluster_script(rc, "return redis.call('INCR', KEYS[1])",
	    sha);
	if (code != WQ_OK) {
		fprintf(stderr, "rcluster-test: %s\n", wq_error(wq));
		exit(code);
	}
	cmds = wq_calloc(n + 1, sizeof(*cmds));
	for (i = 0; i < n; i++) {
		wq_argv_init(&cmds[i]);
		wq_argv_adds(&cmds[i], "EVALSHA");
		wq_argv_adds(&cmds[i], sha);
		wq_argv_adds(&cmds[i], "1");
		wq_argv_addf(&cmds[i], "es:%zu", i);
	}
	out = pipeline(wq, rc, cmds, n);
	for (i = 0; i < n; i++)
		if (out[i]->type != REDIS_REPLY_INTEGER)
			bad++;
	if (bad == 0)
		printf("evalsha %zu ok on %zu primaries\n", n,
		    primaries(rc, "es", n));
	else
		printf("evalsha %zu: %zu not integers\n", n, bad);
	done(cmds, out, n);
}

static void
stats(struct wq_rcluster *rc)
{
	struct wq_rcluster_stats *s = wq_rcluster_stats(rc);

	printf("moved=%lu ask=%lu tryagain=%lu clusterdown=%lu noscript=%lu "
	    "lost=%lu refreshes=%lu connects=%lu rounds=%lu\n", s->moved,
	    s->ask, s->tryagain, s->clusterdown, s->noscript, s->lost,
	    s->refreshes, s->connects, s->rounds);
}

/* The words of a line as a command. */
static struct wq_argv *
words(char *line)
{
	struct wq_argv	*a;
	char		*w, *save;

	a = wq_calloc(1, sizeof(*a));
	wq_argv_init(a);
	for (w = strtok_r(line, " ", &save); w != NULL;
	    w = strtok_r(NULL, " ", &save))
		wq_argv_adds(a, w);
	return a;
}

/* A line of words: a command for the cluster. */
static void
command(struct wq *wq, struct wq_rcluster *rc, char *line)
{
	struct wq_argv	*a;
	redisReply	*r;

	a = words(line);
	if ((r = wq_rcluster_command(rc, a)) == NULL) {
		fprintf(stderr, "rcluster-test: %s\n", wq_error(wq));
		exit(WQ_EUNAVAIL);
	}
	print_reply(r);
	printf("\n");
	freeReplyObject(r);
	wq_argv_free(a);
	free(a);
}

/* "slot WORD...": the slot the client routes that command by. */
static void
slot(char *line)
{
	struct wq_argv	*a;

	a = words(line);
	printf("%d\n", wq_rcluster_argv_slot(a));
	wq_argv_free(a);
	free(a);
}

static void
run(struct wq *wq, struct wq_rcluster *rc, char *line)
{
	const char	*addr;
	char		 arg[256];
	size_t		 n;

	if (line[0] == '!') {
		fflush(stdout);
		if (system(line + 1) != 0) {
			fprintf(stderr, "rcluster-test: failed: %s\n",
			    line + 1);
			exit(1);
		}
	} else if (sscanf(line, "keyslots %255s", arg) == 1)
		keyslots(wq, rc, arg);
	else if (sscanf(line, "fill %zu %255s", &n, arg) == 2)
		fill(wq, rc, n, arg);
	else if (sscanf(line, "evalsha %zu", &n) == 1)
		evalsha(wq, rc, n);
	else if (sscanf(line, "addr %255s", arg) == 1) {
		addr = wq_rcluster_addr(rc, wq_rcluster_slot(arg,
		    strlen(arg)));
		printf("%s\n", addr ? addr : "(none)");
	} else if (strncmp(line, "slot ", 5) == 0)
		slot(line + 5);
	else if (strcmp(line, "stats") == 0)
		stats(rc);
	else
		command(wq, rc, line);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	struct wq		*wq;
	struct wq_rcluster	*rc;
	char			*line = NULL;
	size_t			 cap = 0;
	ssize_t			 len;
	int			 code;

	if (argc != 2) {
		fprintf(stderr, "usage: rcluster-test URL < lines\n");
		return 2;
	}
	wq = wq_new("test");
	if ((code = wq_rcluster_open(wq, argv[1], &rc)) != WQ_OK) {
		fprintf(stderr, "rcluster-test: %s\n", wq_error(wq));
		wq_free(wq);
		return code;
	}
	while ((len = getline(&line, &cap, stdin)) > 0) {
		if (line[len - 1] == '\n')
			line[--len] = '\0';
		if (len > 0)
			run(wq, rc, line);
	}
	free(line);
	wq_rcluster_free(rc);
	wq_free(wq);
	return 0;
}
