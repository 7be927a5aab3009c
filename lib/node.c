/*
 * node.c -- membership without a coordinator.
 *
 * A node (a worker, an API instance) registers in the zset "nodes" (name
 * -> last heartbeat, server time) and describes itself in the hash
 * node:<name>, which keeps its own timeout.  It heartbeats every second or
 * so; any node, when it heartbeats, also reaps: a member whose last beat is
 * older than its timeout is dead, its claimed jobs are put back and it
 * leaves the list.  Nobody scans keys: discovery is a read of one zset,
 * bounded by the number of nodes, whatever else the database holds.
 * Nodes that died or left stay in the zset "gone" for five minutes, for
 * wq-peers --all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wq-int.h"

/* Append the fields of a JSON object as field/value pairs of strings. */
static void
add_fields(struct wq_argv *a, jv fields)
{
	int	 it;
	jv	 k, v;
	char	*s;

	if (jv_get_kind(fields) != JV_KIND_OBJECT) {
		jv_free(fields);
		return;
	}
	for (it = jv_object_iter(fields); jv_object_iter_valid(fields, it);
	    it = jv_object_iter_next(fields, it)) {
		k = jv_object_iter_key(fields, it);
		v = jv_object_iter_value(fields, it);
		wq_argv_adds(a, jv_string_value(k));
		if (jv_get_kind(v) == JV_KIND_STRING)
			wq_argv_adds(a, jv_string_value(v));
		else {
			s = wq_dump(jv_copy(v));
			wq_argv_adds(a, s);
			free(s);
		}
		jv_free(k);
		jv_free(v);
	}
	jv_free(fields);
}

static int
node_script(struct wq *wq, enum wq_script_id id, struct wq_worker_opts *o,
    jv fields, long long *res)
{
	struct wq_argv	 a;
	redisReply	*r;
	int		 rc;

	wq_script_argv(&a, id);
	wq_argv_key(&a, wq, "nodes");
	wq_argv_key(&a, wq, "node:%s", wq_name(wq));
	wq_argv_setnkeys(&a, 2);
	wq_argv_addf(&a, "%s:", wq->cfg.ns);
	wq_argv_adds(&a, wq_name(wq));
	wq_argv_addl(&a, o->node_timeout_ms);
	add_fields(&a, fields);
	r = wq_script_run(wq, &a);
	wq_argv_free(&a);
	if (r != NULL && r->type == REDIS_REPLY_ERROR &&
	    strncmp(r->str, "NAMETAKEN", 9) == 0) {
		rc = wq_seterr(wq, WQ_EUSAGE, "node name %s is taken by a live "
		    "node", wq_name(wq));
		freeReplyObject(r);
		return rc;
	}
	if ((rc = wq_reply_error(wq, r, "node")) != WQ_OK) {
		if (r)
			freeReplyObject(r);
		return rc;
	}
	*res = wq_reply_ll(r);
	freeReplyObject(r);
	return WQ_OK;
}

int
wq_node_register(struct wq *wq, struct wq_worker_opts *o, jv fields)
{
	long long	res;

	return node_script(wq, WQ_SCRIPT_REGISTER, o, fields, &res);
}

/* *member is 0 when the node had been reaped and must register again. */
int
wq_node_beat(struct wq *wq, struct wq_worker_opts *o, jv fields, int *member)
{
	long long	res = 0;
	int		rc;

	rc = node_script(wq, WQ_SCRIPT_BEAT, o, fields, &res);
	*member = res != 0;
	return rc;
}

int
wq_node_reap(struct wq *wq, long default_timeout_ms, long *nodes, long *jobs)
{
	struct wq_argv	 a;
	redisReply	*r;
	int		 rc;

	wq_script_argv(&a, WQ_SCRIPT_REAP);
	wq_argv_key(&a, wq, "nodes");
	wq_argv_setnkeys(&a, 1);
	wq_argv_addf(&a, "%s:", wq->cfg.ns);
	wq_argv_addl(&a, default_timeout_ms);
	wq_argv_adds(&a, "100");
	wq_argv_addl(&a, wq->cfg.ttl);
	r = wq_script_run(wq, &a);
	wq_argv_free(&a);
	if ((rc = wq_reply_error(wq, r, "reap")) != WQ_OK) {
		if (r)
			freeReplyObject(r);
		return rc;
	}
	*nodes = *jobs = 0;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
		*nodes = (long)wq_reply_ll(r->element[0]);
		*jobs = (long)wq_reply_ll(r->element[1]);
	}
	freeReplyObject(r);
	return WQ_OK;
}

int
wq_node_leave(struct wq *wq)
{
	struct wq_argv	 a;
	redisReply	*r;
	int		 rc;

	wq_script_argv(&a, WQ_SCRIPT_LEAVE);
	wq_argv_key(&a, wq, "nodes");
	wq_argv_setnkeys(&a, 1);
	wq_argv_addf(&a, "%s:", wq->cfg.ns);
	wq_argv_adds(&a, wq_name(wq));
	r = wq_script_run(wq, &a);
	wq_argv_free(&a);
	rc = wq_reply_error(wq, r, "leave");
	if (r)
		freeReplyObject(r);
	return rc;
}

/* A node's hash as typed JSON. */
static jv
node_from_reply(const char *name, redisReply *r, int alive, long long now)
{
	static const char *nums[] = { "pid", "concurrency", "processed",
	    "failed", "started_at", "last_seen", "timeout_ms", "gone_at",
	    NULL };
	jv		 o, v;
	size_t		 i;
	int		 k, isnum;
	char		*end, err[8];
	const char	*f, *val;
	double		 d;

	o = jv_object();
	o = jv_object_set(o, jv_string("name"), jv_string(name));
	o = jv_object_set(o, jv_string("alive"), jv_bool(alive));
	for (i = 0; r && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements;
	    i += 2) {
		f = r->element[i]->str;
		val = r->element[i + 1]->str;
		if (strcmp(f, "name") == 0 || strcmp(f, "alive") == 0)
			continue;
		for (isnum = 0, k = 0; nums[k] != NULL; k++)
			if (strcmp(f, nums[k]) == 0)
				isnum = 1;
		if (isnum) {
			d = strtod(val, &end);
			v = *end == '\0' ? jv_number(d) : jv_string(val);
		} else if (val[0] == '[' || val[0] == '{') {
			v = wq_parse(val, r->element[i + 1]->len, err,
			    sizeof(err));
			if (!jv_is_valid(v))
				v = jv_string(val);
		} else
			v = jv_string(val);
		o = jv_object_set(o, jv_string(f), v);
	}
	v = jv_object_get(jv_copy(o), jv_string("started_at"));
	if (jv_get_kind(v) == JV_KIND_NUMBER)
		o = jv_object_set(o, jv_string("age"),
		    jv_number((double)((now - (long long)jv_number_value(v)) /
		    1000)));
	jv_free(v);
	return o;
}

/* The members (and with all, the recently gone) as an array. */
int
wq_peers(struct wq *wq, int all, jv *out)
{
	struct wq_argv	 a[3], *cmds;
	redisReply	*rs[3] = { NULL, NULL, NULL }, **nr, *sets[2];
	size_t		 i, n, k, set, nsets, na;
	long long	 now;
	jv		 arr;
	int		 rc;

	/* TIME, the members, and with --all the recently gone. */
	na = 0;
	wq_argv_init(&a[na]);
	wq_argv_adds(&a[na++], "TIME");
	wq_argv_init(&a[na]);
	wq_argv_adds(&a[na], "ZRANGE");
	wq_argv_key(&a[na++], wq, "nodes");
	if (all) {
		wq_argv_init(&a[na]);
		wq_argv_adds(&a[na], "ZRANGE");
		wq_argv_key(&a[na++], wq, "gone");
	}
	for (i = 1; i < na; i++) {
		wq_argv_adds(&a[i], "0");
		wq_argv_adds(&a[i], "-1");
	}
	rc = wq_pipeline(wq, a, na, rs);
	for (i = 0; i < na; i++)
		wq_argv_free(&a[i]);
	for (i = 1; rc == WQ_OK && i < na; i++)
		rc = wq_reply_error(wq, rs[i], "peers");
	if (rc != WQ_OK) {
		for (i = 0; i < na; i++)
			if (rs[i])
				freeReplyObject(rs[i]);
		return rc;
	}
	now = rs[0]->type == REDIS_REPLY_ARRAY && rs[0]->elements == 2 ?
	    wq_reply_ll(rs[0]->element[0]) * 1000 +
	    wq_reply_ll(rs[0]->element[1]) / 1000 : wq_now_ms();
	nsets = na - 1;
	for (set = 0, n = 0; set < nsets; set++) {
		sets[set] = rs[set + 1];
		n += sets[set]->elements;
	}
	cmds = wq_calloc(n, sizeof(*cmds));
	nr = wq_calloc(n, sizeof(*nr));
	for (set = 0, k = 0; set < nsets; set++)
		for (i = 0; i < sets[set]->elements; i++, k++) {
			wq_argv_init(&cmds[k]);
			wq_argv_adds(&cmds[k], "HGETALL");
			wq_argv_key(&cmds[k], wq, "node:%s",
			    sets[set]->element[i]->str);
		}
	rc = n ? wq_pipeline(wq, cmds, n, nr) : WQ_OK;
	arr = jv_array();
	for (set = 0, k = 0; rc == WQ_OK && set < nsets; set++)
		for (i = 0; i < sets[set]->elements; i++, k++)
			arr = jv_array_append(arr, node_from_reply(
			    sets[set]->element[i]->str, nr[k], set == 0, now));
	for (k = 0; k < n; k++) {
		if (nr[k])
			freeReplyObject(nr[k]);
		wq_argv_free(&cmds[k]);
	}
	free(cmds);
	free(nr);
	for (i = 0; i < na; i++)
		freeReplyObject(rs[i]);
	if (rc != WQ_OK) {
		jv_free(arr);
		return rc;
	}
	*out = arr;
	return WQ_OK;
}
