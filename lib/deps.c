/*
 * deps.c -- dependencies between jobs (--after): a change that spans
 * jobs, made of steps that each touch one job's keys and can be done
 * twice (docs/DESIGN.md, Dependencies):
 *
 *   submit.lua   the child, waiting, its parents in wait:<child>, and
 *                c:<child> in deps
 *   link.lua     on each parent: the child joins children:<parent>, or
 *                the parent's end is answered if it has one
 *   release.lua  on the child: a parent's end; pending after the last
 *                parent worked, failed (or cancelled) at once otherwise
 *   ZREM deps    the entry, once its steps are done
 *
 * A job with children that ends is noted p:<id> in deps by its script;
 * the worker that ended it tells the children at once (release.lua for
 * each, then the ZREM).  An entry older than WQ_DEPS_GRACE_MS was left
 * by a process that died between the steps: the sweeper does them again
 * (wq_deps_sweep), and since each is idempotent, doing one twice is
 * harmless.
 *
 * In a namespace of several partitions (docs/DESIGN.md, section 25) each
 * key is of the partition of the job it belongs to: job:<parent> and
 * children:<parent> of the parent's, job:<child> and wait:<child> of the
 * child's; an entry of deps is in the partition of the job whose step it
 * is (p:<parent> the parent's, c:<child> the child's), and the sweeper
 * looks in every partition.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wq-int.h"

/* Run n script calls in one pipeline; a NOSCRIPT one again by EVAL. */
static int
deps_run(struct wq *wq, struct wq_argv *cmds, size_t n, redisReply **r)
{
	size_t	i;
	int	rc;

	if ((rc = wq_redis_pipeline(wq, cmds, n, r)) != WQ_OK)
		return rc;
	for (i = 0; i < n; i++) {
		if (wq_reply_noscript(r[i])) {
			freeReplyObject(r[i]);
			if ((r[i] = wq_script_run(wq, &cmds[i])) == NULL)
				return WQ_EUNAVAIL;
		}
		if ((rc = wq_reply_error(wq, r[i], "dependencies")) != WQ_OK)
			return rc;
	}
	return WQ_OK;
}

static void
release_argv(struct wq *wq, struct wq_argv *a, const char *child,
    const char *parent, const char *how)
{
	int	p = wq_part_of(wq, child);

	wq_script_argv(a, WQ_SCRIPT_RELEASE);
	wq_argv_pkey(a, wq, p, "job:%s", child);
	wq_argv_pkey(a, wq, p, "wait:%s", child);
	wq_argv_setnkeys(a, 2);
	wq_script_pprefix(a, wq, p);
	wq_argv_adds(a, child);
	wq_argv_adds(a, parent);
	wq_argv_adds(a, how);
}

/*
 * The entry KIND:ID of deps is done, in the partition of job id (kind
 * NULL: id is the entry, in partition p).
 */
static int
deps_zrem(struct wq *wq, int p, const char *kind, const char *id)
{
	struct wq_argv	 a;
	redisReply	*r;
	int		 rc;

	wq_argv_init(&a);
	wq_argv_adds(&a, "ZREM");
	wq_argv_pkey(&a, wq, kind != NULL ? wq_part_of(wq, id) : p, "deps");
	if (kind != NULL)
		wq_argv_addf(&a, "%s:%s", kind, id);
	else
		wq_argv_adds(&a, id);
	r = wq_redis_command(wq, &a);
	wq_argv_free(&a);
	rc = wq_reply_error(wq, r, "dependencies");
	if (r)
		freeReplyObject(r);
	return rc;
}

/* A list of ids to work through (the children that ended in turn). */
struct idlist {
	char	**v;
	size_t	  n, cap;
};

static void
idlist_add(struct idlist *l, const char *id)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = wq_reallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n++] = wq_strdup(id);
}

static void
idlist_free(struct idlist *l)
{
	while (l->n > 0)
		free(l->v[--l->n]);
	free(l->v);
}

/*
 * Tell the children of parent of its end; a child that ends for it
 * (failed, cancelled) and has children of its own goes on todo.
 */
static int
release_children(struct wq *wq, const char *parent, struct idlist *todo)
{
	struct wq_argv	 a[2], *cmds;
	redisReply	*r[2], **rr;
	const char	*how;
	size_t		 i, n;
	int		 rc;

	wq_argv_init(&a[0]);
	wq_argv_adds(&a[0], "SMEMBERS");
	wq_argv_pkey(&a[0], wq, wq_part_of(wq, parent), "children:%s",
	    parent);
	wq_argv_init(&a[1]);
	wq_argv_adds(&a[1], "HGET");
	wq_argv_pkey(&a[1], wq, wq_part_of(wq, parent), "job:%s", parent);
	wq_argv_adds(&a[1], "s");
	rc = wq_redis_pipeline(wq, a, 2, r);
	if (rc == WQ_OK && (rc = wq_reply_error(wq, r[0], "dependencies")) ==
	    WQ_OK)
		rc = wq_reply_error(wq, r[1], "dependencies");
	if (rc != WQ_OK) {
		wq_redis_pipeline_free(a, r, 2);
		return rc;
	}
	how = r[1]->type == REDIS_REPLY_STRING ? r[1]->str : "unknown";
	n = r[0]->type == REDIS_REPLY_ARRAY ? r[0]->elements : 0;
	if (strcmp(how, "worked") && strcmp(how, "failed") &&
	    strcmp(how, "cancelled") && strcmp(how, "unknown"))
		n = 0;	/* not ended (retried since): nothing to tell */
	cmds = wq_calloc(n, sizeof(*cmds));
	rr = wq_calloc(n, sizeof(*rr));
	for (i = 0; i < n; i++)
		release_argv(wq, &cmds[i], r[0]->element[i]->str, parent, how);
	rc = n > 0 ? deps_run(wq, cmds, n, rr) : WQ_OK;
	for (i = 0; rc == WQ_OK && i < n; i++)
		if (wq_reply_ll(rr[i]) == 3)
			idlist_add(todo, r[0]->element[i]->str);
	wq_redis_pipeline_free(cmds, rr, n);
	free(cmds);
	free(rr);
	wq_redis_pipeline_free(a, r, 2);
	if (rc == WQ_OK)
		rc = deps_zrem(wq, 0, "p", parent);
	return rc;
}

int
wq_deps_release(struct wq *wq, const char *parent)
{
	struct idlist	todo = { NULL, 0, 0 };
	size_t		i;
	int		rc;

	idlist_add(&todo, parent);
	for (i = 0, rc = WQ_OK; rc == WQ_OK && i < todo.n; i++)
		rc = release_children(wq, todo.v[i], &todo);
	idlist_free(&todo);
	return rc;
}

/*
 * The links of children just submitted (ids[i], fresh ones only) to
 * their parents: link.lua on every parent, then release.lua for the
 * parents that had ended, then the entries c:<child> removed.
 */
static int
link_children(struct wq *wq, struct wq_spec **specs, size_t n)
{
	struct wq_argv	 *cmds, *rel;
	redisReply	**r, **rr;
	const char	**relid;
	struct idlist	  todo = { NULL, 0, 0 };
	size_t		  i, j, k, m, nrel = 0;
	int		  rc;

	for (i = 0, m = 0; i < n; i++)
		m += specs[i]->nafter;
	cmds = wq_calloc(m, sizeof(*cmds));
	r = wq_calloc(m, sizeof(*r));
	rel = wq_calloc(m, sizeof(*rel));
	rr = wq_calloc(m, sizeof(*rr));
	relid = wq_calloc(m, sizeof(*relid));
	for (i = 0, k = 0; i < n; i++)
		for (j = 0; j < specs[i]->nafter; j++, k++) {
			int	p = wq_part_of(wq, specs[i]->after[j]);

			wq_script_argv(&cmds[k], WQ_SCRIPT_LINK);
			wq_argv_pkey(&cmds[k], wq, p, "job:%s",
			    specs[i]->after[j]);
			wq_argv_pkey(&cmds[k], wq, p, "children:%s",
			    specs[i]->after[j]);
			wq_argv_setnkeys(&cmds[k], 2);
			wq_script_pprefix(&cmds[k], wq, p);
			wq_argv_adds(&cmds[k], specs[i]->id);
		}
	rc = deps_run(wq, cmds, m, r);
	for (i = 0, k = 0; rc == WQ_OK && i < n; i++)
		for (j = 0; j < specs[i]->nafter; j++, k++)
			if (r[k]->type == REDIS_REPLY_STRING &&
			    (strcmp(r[k]->str, "worked") == 0 ||
			    strcmp(r[k]->str, "failed") == 0 ||
			    strcmp(r[k]->str, "cancelled") == 0 ||
			    strcmp(r[k]->str, "unknown") == 0)) {
				relid[nrel] = specs[i]->id;
				release_argv(wq, &rel[nrel++], specs[i]->id,
				    specs[i]->after[j], r[k]->str);
			}
	if (rc == WQ_OK && nrel > 0)
		rc = deps_run(wq, rel, nrel, rr);
	for (k = 0; rc == WQ_OK && k < nrel; k++)
		if (wq_reply_ll(rr[k]) == 3)
			idlist_add(&todo, relid[k]);
	for (i = 0; rc == WQ_OK && i < n; i++)
		rc = deps_zrem(wq, 0, "c", specs[i]->id);
	for (i = 0; rc == WQ_OK && i < todo.n; i++)
		rc = wq_deps_release(wq, todo.v[i]);
	idlist_free(&todo);
	wq_redis_pipeline_free(cmds, r, m);
	wq_redis_pipeline_free(rel, rr, nrel);
	free(cmds);
	free(r);
	free(rel);
	free(rr);
	free(relid);
	return rc;
}

/* Whether id is that of one of specs[0..n). */
static int
deps_earlier(struct wq_spec *specs, size_t n, const char *id)
{
	size_t	i;

	for (i = n; i > 0; i--)
		if (strcmp(specs[i - 1].id, id) == 0)
			return 1;
	return 0;
}

/*
 * Before a submission: every parent is a job that exists, or one queued
 * earlier by this submission, and no job names itself.
 */
int
wq_deps_check(struct wq *wq, struct wq_spec *specs, size_t n)
{
	struct wq_argv	 *cmds;
	redisReply	**r;
	size_t		  i, j, k, m;
	int		  rc = WQ_OK;

	for (i = 0, m = 0; i < n; i++)
		for (j = 0; j < specs[i].nafter; j++) {
			if (strcmp(specs[i].after[j], specs[i].id) == 0)
				return wq_seterr(wq, WQ_EUSAGE, "job %s: "
				    "--after names the job itself",
				    specs[i].id);
			m++;
		}
	if (m == 0)
		return WQ_OK;
	cmds = wq_calloc(m, sizeof(*cmds));
	r = wq_calloc(m, sizeof(*r));
	for (i = 0, k = 0; i < n; i++)
		for (j = 0; j < specs[i].nafter; j++, k++) {
			wq_argv_init(&cmds[k]);
			wq_argv_adds(&cmds[k], "EXISTS");
			wq_argv_pkey(&cmds[k], wq, wq_part_of(wq,
			    specs[i].after[j]), "job:%s", specs[i].after[j]);
		}
	rc = wq_redis_pipeline(wq, cmds, m, r);
	for (i = 0, k = 0; rc == WQ_OK && i < n; i++)
		for (j = 0; rc == WQ_OK && j < specs[i].nafter; j++, k++) {
			rc = wq_reply_error(wq, r[k], "submit");
			if (rc != WQ_OK || wq_reply_ll(r[k]) == 1 ||
			    deps_earlier(specs, i, specs[i].after[j]))
				continue;
			rc = wq_seterr(wq, WQ_EUSAGE, "job %s: --after %s: "
			    "unknown id", specs[i].id, specs[i].after[j]);
		}
	wq_redis_pipeline_free(cmds, r, m);
	free(cmds);
	free(r);
	return rc;
}

int
wq_deps_link(struct wq *wq, struct wq_spec *specs, size_t n, jv *answers)
{
	struct wq_spec	**fresh;
	size_t		  i, m = 0;
	int		  rc;

	fresh = wq_calloc(n, sizeof(*fresh));
	for (i = 0; i < n; i++)
		if (specs[i].nafter > 0 && !specs[i].link_later &&
		    jv_get_kind(answers[i]) == JV_KIND_NULL)
			fresh[m++] = &specs[i];
	rc = m > 0 ? link_children(wq, fresh, m) : WQ_OK;
	free(fresh);
	return rc;
}

/* The parents of a record read into s->data (which it replaces). */
static void
deps_parents(struct wq *wq, struct wq_spec *s)
{
	jv	after, p;
	int	i, n;

	after = jv_get_kind(s->data) == JV_KIND_OBJECT ?
	    jv_object_get(s->data, jv_string("after")) : (jv_free(s->data),
	    jv_null());
	s->data = jv_null();
	n = jv_get_kind(after) == JV_KIND_ARRAY ?
	    jv_array_length(jv_copy(after)) : 0;
	for (i = 0; i < n; i++) {
		p = jv_array_get(jv_copy(after), i);
		if (jv_get_kind(p) == JV_KIND_STRING)
			wq_spec_add_after(wq, s, jv_string_value(p));
		jv_free(p);
	}
	jv_free(after);
}

/* One entry e of deps of partition p, done again. */
static int
deps_redo(struct wq *wq, int p, const char *e)
{
	struct wq_spec	 s, *sp = &s;
	const char	*cid;
	int		 rc;

	if (strncmp(e, "p:", 2) == 0)
		return wq_deps_release(wq, e + 2);
	if (strncmp(e, "c:", 2) != 0 || !wq_id_valid(e + 2))
		return deps_zrem(wq, p, NULL, e);
	/* a child to link: its parents are in its record */
	memset(&s, 0, sizeof(s));
	cid = e + 2;
	snprintf(s.id, sizeof(s.id), "%s", cid);
	if ((rc = wq_status(wq, &cid, 1, &s.data)) == WQ_OK) {
		deps_parents(wq, &s);
		rc = s.nafter > 0 ? link_children(wq, &sp, 1) :
		    deps_zrem(wq, 0, "c", s.id);
	}
	wq_spec_clear(&s);
	return rc;
}

/*
 * The sweeper: the entries of deps older than the grace, each done again
 * (a child linked, a parent's end told), up to 100 of each partition's
 * (one pipeline reads them all).  *done: how many.
 */
static int
deps_sweep_build(struct wq *wq, int p, struct wq_argv *a, void *arg)
{
	(void)arg;
	wq_argv_adds(a, "ZRANGEBYSCORE");
	wq_argv_pkey(a, wq, p, "deps");
	wq_argv_adds(a, "-inf");
	wq_argv_addl(a, (long long)(wq_now_ms() + wq->skew_ms -
	    WQ_DEPS_GRACE_MS));
	wq_argv_adds(a, "LIMIT");
	wq_argv_adds(a, "0");
	wq_argv_adds(a, "100");
	return 1;
}

static int
deps_sweep_decode(struct wq *wq, int p, redisReply *r, void *arg)
{
	size_t	*done = arg, i;
	int	 rc = WQ_OK;

	for (i = 0; rc == WQ_OK && i < r->elements; i++, (*done)++)
		rc = deps_redo(wq, p, r->element[i]->str);
	return rc;
}

int
wq_deps_sweep(struct wq *wq, size_t *done)
{
	*done = 0;
	return wq_parts_run(wq, "dependencies", deps_sweep_build,
	    deps_sweep_decode, done);
}
