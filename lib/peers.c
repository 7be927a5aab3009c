/*
 * peers.c -- the cluster as its members see it: the live nodes (and the
 * dead and gone, for wq-peers --all), read in two rounds: the server's
 * clock and the zsets of members (wq_peers_argv, then
 * wq_peers_members), then each one's hash (wq_peers_hashes_argv), which
 * wq_peers_decode() turns into the array wq_peers() answers.  wq_peers()
 * puts them around two round trips; the API's reads (read.c) around its
 * own.  Readers do not wait for a reaper: a member whose beat has lapsed
 * is shown dead at once.
 */
#include <stdlib.h>
#include <string.h>

#include "wq-int.h"

/*
 * A node's hash as typed JSON.  score is its last beat in the zset it was
 * found in; member says which zset: "nodes" (alive while the beat is
 * within its timeout) or "gone".
 */
static jv
node_from_reply(const char *name, redisReply *r, int member, double score,
    long long now, int *alivep)
{
	static const char *nums[] = { "pid", "concurrency", "processed",
	    "failed", "started_at", "last_seen", "timeout_ms", "gone_at",
	    NULL };
	jv		 o, v;
	size_t		 i;
	int		 k, isnum, alive;
	char		*end, err[8];
	const char	*f, *val;
	double		 d, timeout, last;
	long long	 t;

	o = jv_object();
	o = jv_object_set(o, jv_string("name"), jv_string(name));
	timeout = WQ_NODE_TIMEOUT_MS;
	for (i = 0; r && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements;
	    i += 2) {
		f = r->element[i]->str;
		val = r->element[i + 1]->str;
		if (strcmp(f, "name") == 0 || strcmp(f, "alive") == 0 ||
		    strcmp(f, "instance") == 0)
			continue;
		for (isnum = 0, k = 0; nums[k] != NULL; k++)
			if (strcmp(f, nums[k]) == 0)
				isnum = 1;
		if (isnum) {
			d = strtod(val, &end);
			v = *end == '\0' ? jv_number(d) : jv_string(val);
			if (strcmp(f, "timeout_ms") == 0 && *end == '\0')
				timeout = d;
		} else if (val[0] == '[' || val[0] == '{') {
			v = wq_parse(val, r->element[i + 1]->len, err,
			    sizeof(err));
			if (!jv_is_valid(v))
				v = jv_string(val);
		} else
			v = jv_string(val);
		o = jv_object_set(o, jv_string(f), v);
	}
	*alivep = alive = member && score + timeout >= (double)now;
	o = jv_object_set(o, jv_string("alive"), jv_bool(alive));
	if (member && !alive)
		o = jv_object_set(o, jv_string("gone"), jv_string("dead"));
	/* (numbers another node wrote: checked before they are cast) */
	v = jv_object_get(jv_copy(o), jv_string("started_at"));
	if (jv_get_kind(v) == JV_KIND_NUMBER &&
	    wq_num_ll(jv_number_value(v), &t) == 0)
		o = jv_object_set(o, jv_string("age"),
		    jv_number((double)((now - t) / 1000)));
	jv_free(v);
	/*
	 * Seconds since the last beat, on the server's clock.  A member's is
	 * its score (beats do not write it in the hash); a gone node's hash
	 * kept it.
	 */
	last = 0;
	if (member) {
		last = score;
		o = jv_object_set(o, jv_string("last_seen"), jv_number(score));
	} else {
		v = jv_object_get(jv_copy(o), jv_string("last_seen"));
		if (jv_get_kind(v) == JV_KIND_NUMBER)
			last = jv_number_value(v);
		jv_free(v);
	}
	if (last > 0 && wq_num_ll(last, &t) == 0)
		o = jv_object_set(o, jv_string("beat_ago"),
		    jv_number((double)((long long)now - t) / 1000));
	return o;
}

/*
 * The members, read in two rounds: the server's clock and the zsets of
 * members (wq_peers_argv, then wq_peers_members), then each one's hash
 * (wq_peers_hashes_argv), which wq_peers_decode() turns into the array
 * wq_peers() answers.  wq_peers() puts them around two round trips; the
 * API's reads (async.c) around its own.
 */
size_t
wq_peers_argv(struct wq *wq, int all, struct wq_argv *a)
{
	static const char *sets[] = { "nodes", "gone" };
	size_t	i, n;

	wq_argv_init(&a[0]);
	wq_argv_adds(&a[0], "TIME");
	n = all ? 3 : 2;
	for (i = 1; i < n; i++) {
		wq_argv_init(&a[i]);
		wq_argv_adds(&a[i], "ZRANGE");
		wq_argv_key(&a[i], wq, "%s", sets[i - 1]);
		wq_argv_adds(&a[i], "0");
		wq_argv_adds(&a[i], "-1");
		wq_argv_adds(&a[i], "WITHSCORES");
	}
	return n;
}

/* The replies to wq_peers_argv(): TIME, "nodes", and perhaps "gone". */
int
wq_peers_members(struct wq *wq, redisReply **r, size_t n,
    struct wq_members *m)
{
	redisReply	*set;
	size_t		 i, k, len;
	int		 rc;

	memset(m, 0, sizeof(*m));
	for (i = 0; i < n; i++) {
		if ((rc = wq_reply_error(wq, r[i], "peers")) != WQ_OK)
			return rc;
		if (r[i]->type != REDIS_REPLY_ARRAY)
			return wq_seterr(wq, WQ_EREDIS, "peers: unexpected "
			    "reply");
	}
	m->now = wq_reply_time_ms(r[0]);
	for (i = 1, len = 0; i < n; i++)
		len += r[i]->elements / 2;
	m->names = wq_calloc(len, sizeof(*m->names));
	m->beats = wq_calloc(len, sizeof(*m->beats));
	m->member = wq_calloc(len, sizeof(*m->member));
	for (i = 1; i < n; i++)
		for (k = 0, set = r[i]; k + 1 < set->elements; k += 2) {
			m->names[m->n] = wq_strdup(set->element[k]->str);
			m->beats[m->n] = strtod(set->element[k + 1]->str, NULL);
			m->member[m->n++] = i == 1;
		}
	return WQ_OK;
}

void
wq_peers_members_clear(struct wq_members *m)
{
	wq_strs_free(m->names, m->n);
	free(m->beats);
	free(m->member);
	memset(m, 0, sizeof(*m));
}

/* The commands of round two, into a[0 .. m->n). */
void
wq_peers_hashes_argv(struct wq *wq, struct wq_members *m, struct wq_argv *a)
{
	size_t	i;

	for (i = 0; i < m->n; i++) {
		wq_argv_init(&a[i]);
		wq_argv_adds(&a[i], "HGETALL");
		wq_argv_key(&a[i], wq, "node:%s", m->names[i]);
	}
}

int
wq_peers_decode(struct wq *wq, struct wq_members *m, int all, redisReply **r,
    jv *out)
{
	size_t	i;
	jv	arr, names, node;
	int	rc, alive;

	for (i = 0; i < m->n; i++)
		if ((rc = wq_reply_error(wq, r[i], "peers")) != WQ_OK)
			return rc;
	arr = jv_array();
	names = jv_array();
	for (i = 0; i < m->n; i++) {
		node = node_from_reply(m->names[i], r[i], m->member[i],
		    m->beats[i], m->now, &alive);
		if (!all && !alive) {
			jv_free(node);
			continue;
		}
		arr = jv_array_append(arr, node);
		names = jv_array_append(names, jv_string(m->names[i]));
	}
	*out = jv_sort(arr, names);
	return WQ_OK;
}

/*
 * The live members (and with all, the dead: members whose beat lapsed and
 * the recently gone) as an array sorted by name.  Two round trips.
 */
int
wq_peers(struct wq *wq, int all, jv *out)
{
	struct wq_argv		 a[WQ_PEERS_CMDS], *cmds;
	struct wq_members	 m;
	redisReply		*rs[WQ_PEERS_CMDS], **nr;
	size_t			 na;
	int			 rc;

	na = wq_peers_argv(wq, all, a);
	if ((rc = wq_redis_pipeline(wq, a, na, rs)) == WQ_OK)
		rc = wq_peers_members(wq, rs, na, &m);
	wq_redis_pipeline_free(a, rs, na);
	if (rc != WQ_OK)
		return rc;
	cmds = wq_calloc(m.n, sizeof(*cmds));
	nr = wq_calloc(m.n, sizeof(*nr));
	wq_peers_hashes_argv(wq, &m, cmds);
	rc = m.n ? wq_redis_pipeline(wq, cmds, m.n, nr) : WQ_OK;
	if (rc == WQ_OK)
		rc = wq_peers_decode(wq, &m, all, nr, out);
	wq_redis_pipeline_free(cmds, nr, m.n);
	free(cmds);
	free(nr);
	wq_peers_members_clear(&m);
	return rc;
}
