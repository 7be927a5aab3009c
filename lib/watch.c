/*
 * watch.c -- waiting for a stream of jobs to end (wq-status --wait).
 *
 * Ids come in as the caller reads them, each one is followed until its
 * job has ended, and then its record is handed back and the id forgotten:
 * what is held is the ids in flight, never all the ids ever read, so a
 * pipeline of a million jobs keeps a waiter as small as one of a few.
 *
 * A job's end is known by reading its record; the done:<id> channel of
 * the waiter (sub.c) only says when to read it again.  The rule that no
 * end slips by is "subscribe, then read": a read made after Redis has
 * confirmed the subscription either sees the end or is followed by the
 * hint of it.  So each id goes through these states:
 *
 *   READ      its whole record is to be read (HGETALL): first of all for
 *             an id that may have ended long ago, or after a hint;
 *   SUB       to be subscribed to (its job had not ended, or it is fresh:
 *             accepted a moment ago, so most likely still pending, and
 *             read only once subscribed);
 *   SUBBING   subscribed, waiting for Redis to confirm it;
 *   CHECK     confirmed: its status alone is to be read (HGET), and its
 *             whole record only if that says it has ended;
 *   WAIT      subscribed and not ended: waiting for the hint.
 *
 * Whether a fresh id is most likely pending is learnt as it goes: the
 * first look at each fresh id (its check, or its first read) says
 * whether subscribing first was right, and when most such looks find the
 * job ended already (wq-submit's answers kept in a file and read an hour
 * later), fresh ids are read first like the others until that changes.
 *
 * With many ids in flight, one channel, ended, where each call of a
 * worker names every job it ended, stands for a channel per id: "SUB"
 * is then "wait for ended to be confirmed", and an id read after that
 * has its hint on the way (all_mode()).
 *
 * Reads are pipelined, many ids a round trip; SUBSCRIBE and UNSUBSCRIBE
 * take many channels a command.  When the subscriber link breaks, every
 * id is subscribed to and checked again on a new one.  And every few
 * seconds the ids that have waited longest are checked, in case a hint
 * was lost some other way (a failover).
 *
 * With wq_watch_progress(), the waiter also follows the channel progress,
 * where progress.lua says what running jobs wrote, and what concerns an
 * id in flight is handed over as it comes: a report, not a state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wq-int.h"

#define WATCH_BATCH	1024	/* ids a pipelined read */
#define SWEEP_MS	3000
#define SWEEP_MAX	1000	/* ids checked a sweep */
#define ALL_ON		256	/* in flight: on ended, not a channel each */
#define ALL_OFF		32	/* ... until as few are left */

enum { W_READ, W_SUB, W_SUBBING, W_CHECK, W_WAIT };
enum { A_OFF, A_SENT, A_ON, A_REFUSED };	/* the channel ended */

struct went {
	char		 id[WQ_ID_LEN + 1];
	unsigned char	 state;
	unsigned char	 subscribed;
	unsigned char	 probe;		/* fresh, not looked at yet */
	unsigned	 count;
	uint64_t	 hash;
	struct went	*prev, *next;	/* the W_WAIT list, oldest first */
};

struct wvec {			/* a queue: v[h, n) */
	struct went	**v;
	size_t		  h, n, cap;
};

struct wq_watch {
	struct wq		*wq;
	struct wq_waiter	*w;
	int			 how;
	struct went		**tab;	/* open addressing, linear probing */
	size_t			 tabcap;
	size_t			 count;
	struct wvec		 reads, checks, subs;
	const char		**drops;	/* ids to unsubscribe from */
	size_t			 ndrops, dropcap;
	struct went		*head, *tail;
	int			 fresh_score;	/* >= 0: subscribe first */
	int			 all;		/* A_OFF ... A_REFUSED */
	int64_t			 next_sweep;
	int64_t			 reopen_at;	/* the link broke: -1 if not */
	void			(*fn)(void *, struct wq_rec *);
	void			*arg;
	void			(*pfn)(void *, const char *, jv);
	void			*parg;
	/* a round's scratch, WATCH_BATCH each: kept, not made each run */
	struct went		**es;
	const char		**ids;
	int			 *ended;
	struct wq_rec		 *recs;
};

static uint64_t
id_hash(const char *id)
{
	uint64_t	h = 14695981039346656037ULL;

	while (*id)
		h = (h ^ (unsigned char)*id++) * 1099511628211ULL;
	return h;
}

static void
vec_push(struct wvec *v, struct went *e)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 256;
		v->v = wq_reallocarray(v->v, v->cap, sizeof(*v->v));
	}
	v->v[v->n++] = e;
}

/* Empty it, giving back what a burst made it grow to. */
static void
vec_reset(struct wvec *v)
{
	v->h = v->n = 0;
	if (v->cap > 4096) {
		free(v->v);
		v->v = NULL;
		v->cap = 0;
	}
}

static size_t
tab_slot(struct wq_watch *w, const char *id, uint64_t h)
{
	size_t	i, mask = w->tabcap - 1;

	for (i = h & mask; w->tab[i] != NULL; i = (i + 1) & mask)
		if (w->tab[i]->hash == h && strcmp(w->tab[i]->id, id) == 0)
			break;
	return i;
}

static void
tab_resize(struct wq_watch *w, size_t cap)
{
	struct went	**old = w->tab;
	size_t		  oldcap = w->tabcap, i;

	w->tab = wq_calloc(cap, sizeof(*w->tab));
	w->tabcap = cap;
	for (i = 0; i < oldcap; i++)
		if (old[i] != NULL)
			w->tab[tab_slot(w, old[i]->id, old[i]->hash)] = old[i];
	free(old);
}

/* Remove the entry at slot i, moving up those that probed past it. */
static void
tab_delete(struct wq_watch *w, size_t i)
{
	size_t	j, k, mask = w->tabcap - 1;

	w->tab[i] = NULL;
	for (j = (i + 1) & mask; w->tab[j] != NULL; j = (j + 1) & mask) {
		k = w->tab[j]->hash & mask;	/* its home */
		if ((j > i && (k <= i || k > j)) ||
		    (j < i && k <= i && k > j)) {
			w->tab[i] = w->tab[j];
			w->tab[j] = NULL;
			i = j;
		}
	}
	w->count--;
	if (w->tabcap > 1024 && w->count * 8 < w->tabcap)
		tab_resize(w, w->tabcap / 2);
}

static struct went *
ent_find(struct wq_watch *w, const char *id)
{
	return w->tab[tab_slot(w, id, id_hash(id))];
}

static void
wait_link(struct wq_watch *w, struct went *e)
{
	e->state = W_WAIT;
	e->next = NULL;
	e->prev = w->tail;
	if (w->tail != NULL)
		w->tail->next = e;
	else
		w->head = e;
	w->tail = e;
}

static void
wait_unlink(struct wq_watch *w, struct went *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		w->head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		w->tail = e->prev;
	e->prev = e->next = NULL;
}

int
wq_watch_open(struct wq *wq, int how, struct wq_watch **out)
{
	struct wq_watch	*w;
	int		 rc;

	w = wq_calloc(1, sizeof(*w));
	w->wq = wq;
	w->how = how;
	w->tabcap = 1024;
	w->tab = wq_calloc(w->tabcap, sizeof(*w->tab));
	w->reopen_at = -1;
	w->next_sweep = wq_now_ms() + SWEEP_MS;
	w->es = wq_calloc(WATCH_BATCH, sizeof(*w->es));
	w->ids = wq_calloc(WATCH_BATCH, sizeof(*w->ids));
	w->ended = wq_calloc(WATCH_BATCH, sizeof(*w->ended));
	w->recs = wq_calloc(WATCH_BATCH, sizeof(*w->recs));
	if ((rc = wq_waiter_open(wq, &w->w)) != WQ_OK) {
		wq_watch_close(w);
		return rc;
	}
	*out = w;
	return WQ_OK;
}

void
wq_watch_close(struct wq_watch *w)
{
	size_t	i;

	if (w == NULL)
		return;
	wq_waiter_close(w->w);
	for (i = 0; i < w->tabcap; i++)
		free(w->tab[i]);
	free(w->tab);
	free(w->reads.v);
	free(w->checks.v);
	free(w->subs.v);
	for (i = 0; i < w->ndrops; i++)
		free((char *)w->drops[i]);
	free(w->drops);
	free(w->es);
	free(w->ids);
	free(w->ended);
	free(w->recs);
	free(w);
}

/*
 * Hand what the jobs in flight say of their progress to fn(arg, id,
 * progress) as it comes (progress: {"progress"[,"message"]}, fn's).
 */
int
wq_watch_progress(struct wq_watch *w, void (*fn)(void *, const char *, jv),
    void *arg)
{
	w->pfn = fn;
	w->parg = arg;
	return w->w != NULL ? wq_waiter_progress(w->w) : WQ_OK;
}

int
wq_watch_add(struct wq_watch *w, const char *id, int fresh)
{
	struct went	*e;
	uint64_t	 h;
	size_t		 i;

	if (strlen(id) != WQ_ID_LEN)
		return wq_seterr(w->wq, WQ_EUSAGE, "not a callback id");
	h = id_hash(id);
	i = tab_slot(w, id, h);
	if ((e = w->tab[i]) != NULL) {
		e->count++;
		return WQ_OK;
	}
	e = wq_calloc(1, sizeof(*e));
	memcpy(e->id, id, WQ_ID_LEN + 1);
	e->hash = h;
	e->count = 1;
	w->tab[i] = e;
	if (++w->count * 2 > w->tabcap)
		tab_resize(w, w->tabcap * 2);
	e->probe = fresh != 0;
	fresh = fresh && w->fresh_score >= 0;
	e->state = fresh ? W_SUB : W_READ;
	vec_push(fresh ? &w->subs : &w->reads, e);
	return WQ_OK;
}

/* The first look at a fresh id: had its job ended already? */
static void
probed(struct wq_watch *w, struct went *e, int ended)
{
	if (!e->probe)
		return;
	e->probe = 0;
	if (ended && w->fresh_score > -8)
		w->fresh_score--;
	else if (!ended && w->fresh_score < 8)
		w->fresh_score++;
}

const int *
wq_watch_fds(struct wq_watch *w, size_t *n)
{
	*n = 0;
	return w->w != NULL ? wq_waiter_fds(w->w, n) : NULL;
}

size_t
wq_watch_pending(struct wq_watch *w)
{
	return w->count;
}

int
wq_watch_next_ms(struct wq_watch *w)
{
	int64_t	due, now = wq_now_ms();

	if (w->count == 0)
		return -1;
	due = w->reopen_at >= 0 ? w->reopen_at : w->next_sweep;
	return due <= now ? 0 : (int)(due - now);
}

char **
wq_watch_ids(struct wq_watch *w, size_t *n)
{
	char	**ids;
	size_t	  i;

	ids = wq_calloc(w->count + 1, sizeof(*ids));
	for (*n = 0, i = 0; i < w->tabcap; i++)
		if (w->tab[i] != NULL)
			ids[(*n)++] = wq_strdup(w->tab[i]->id);
	return ids;
}

/* "<id> <JSON>" of the channel progress: an id in flight's is handed on. */
static void
watch_progress(struct wq_watch *w, const char *line)
{
	char	id[WQ_ID_LEN + 1], err[64];
	jv	p;

	memcpy(id, line, WQ_ID_LEN);
	id[WQ_ID_LEN] = '\0';
	if (w->pfn == NULL || ent_find(w, id) == NULL)
		return;
	line += WQ_ID_LEN + 1;
	p = wq_parse(line, strlen(line), err, sizeof(err));
	if (jv_get_kind(p) == JV_KIND_OBJECT)
		w->pfn(w->parg, id, p);
	else
		jv_free(p);
}

static void
watch_event(void *arg, int what, const char *id)
{
	struct wq_watch	*w = arg;
	struct went	*e;

	if (what == WQ_WAITER_PROGRESS) {
		watch_progress(w, id);
		return;
	}
	if (what == WQ_WAITER_ALL || what == WQ_WAITER_REFUSED) {
		/* refused (an ACL): a channel each, from now on */
		if (w->all == A_SENT)
			w->all = what == WQ_WAITER_ALL ? A_ON : A_REFUSED;
		return;
	}
	if ((e = ent_find(w, id)) == NULL)
		return;		/* ended: the UNSUBSCRIBE is on its way */
	if (what == WQ_WAITER_SUBSCRIBED && e->state == W_SUBBING) {
		e->state = W_CHECK;
		vec_push(&w->checks, e);
	} else if (what == WQ_WAITER_ENDED && e->state == W_WAIT) {
		wait_unlink(w, e);
		e->state = W_READ;
		vec_push(&w->reads, e);
	}
}

/* The subscriber link broke: nothing is subscribed any more. */
static void
watch_broken(struct wq_watch *w)
{
	struct went	*e;
	size_t		 i;

	wq_waiter_close(w->w);
	w->w = NULL;
	w->reopen_at = wq_now_ms() + wq_backoff_ms(w->wq);
	w->all = A_OFF;
	for (i = 0; i < w->ndrops; i++)
		free((char *)w->drops[i]);
	w->ndrops = 0;
	w->head = w->tail = NULL;
	w->checks.h = w->checks.n = 0;
	w->subs.h = w->subs.n = 0;
	for (i = 0; i < w->tabcap; i++) {
		if ((e = w->tab[i]) == NULL)
			continue;
		e->subscribed = 0;
		e->prev = e->next = NULL;
		if (e->state != W_READ) {
			e->state = W_SUB;
			vec_push(&w->subs, e);
		}
	}
}

/* The job of e has ended, or its id is unknown: hand it over. */
static void
ent_done(struct wq_watch *w, struct went *e, struct wq_rec *rec)
{
	rec->count = e->count;
	if (e->subscribed) {
		if (w->ndrops == w->dropcap) {
			w->dropcap = w->dropcap ? w->dropcap * 2 : 256;
			w->drops = wq_reallocarray(w->drops, w->dropcap,
			    sizeof(*w->drops));
		}
		w->drops[w->ndrops++] = wq_strdup(e->id);
	}
	tab_delete(w, tab_slot(w, e->id, e->hash));
	free(e);
	w->fn(w->arg, rec);
}

/*
 * The job of e had not ended when it was read: wait for the hint, if
 * one is sure to come (its channel or ended was confirmed before the
 * read), or subscribe first.
 */
static void
ent_wait(struct wq_watch *w, struct went *e)
{
	if (e->subscribed || w->all == A_ON)
		wait_link(w, e);
	else {
		e->state = W_SUB;
		vec_push(&w->subs, e);
	}
}

/*
 * Up to WATCH_BATCH entries from the head of v that are still in state
 * st (one that has moved on since it was queued is passed over).
 */
static size_t
take(struct wvec *v, int st, struct went **out, const char **ids)
{
	size_t	n = 0;

	while (v->h < v->n && n < WATCH_BATCH) {
		out[n] = v->v[v->h++];
		if (out[n]->state == st) {
			ids[n] = out[n]->id;
			n++;
		}
	}
	if (v->h == v->n)
		v->h = v->n = 0;
	return n;
}

static int
do_checks(struct wq_watch *w, struct went **es, const char **ids, int *ended)
{
	size_t	n, i;
	int	rc;

	while ((n = take(&w->checks, W_CHECK, es, ids)) > 0) {
		if ((rc = wq_status_ended(w->wq, ids, n, ended)) != WQ_OK)
			return rc;
		for (i = 0; i < n; i++) {
			probed(w, es[i], ended[i]);
			if (ended[i]) {
				es[i]->state = W_READ;
				vec_push(&w->reads, es[i]);
			} else
				ent_wait(w, es[i]);
		}
	}
	return WQ_OK;
}

static int
do_reads(struct wq_watch *w, struct went **es, const char **ids,
    struct wq_rec *recs)
{
	size_t	n, i;
	int	rc;

	while ((n = take(&w->reads, W_READ, es, ids)) > 0) {
		if ((rc = wq_status_recs(w->wq, ids, n, w->how, recs)) != WQ_OK)
			return rc;
		for (i = 0; i < n; i++) {
			probed(w, es[i], !recs[i].found || recs[i].final);
			if (!recs[i].found || recs[i].final) {
				ent_done(w, es[i], &recs[i]);
				continue;
			}
			wq_record_clear(&recs[i]);
			ent_wait(w, es[i]);
		}
	}
	return WQ_OK;
}

static int
do_subs(struct wq_watch *w, struct went **es, const char **ids)
{
	size_t	n, i;
	int	rc;

	while (w->all != A_SENT &&
	    (n = take(&w->subs, W_SUB, es, ids)) > 0) {
		if (w->all == A_ON) {	/* covered: read it now */
			for (i = 0; i < n; i++) {
				es[i]->state = W_CHECK;
				vec_push(&w->checks, es[i]);
			}
			continue;
		}
		for (i = 0; i < n; i++) {
			es[i]->state = W_SUBBING;
			es[i]->subscribed = 1;
		}
		if ((rc = wq_waiter_add(w->w, ids, n)) != WQ_OK)
			return rc;
	}
	if (w->ndrops > 0) {
		rc = wq_waiter_drop(w->w, w->drops, w->ndrops);
		for (i = 0; i < w->ndrops; i++)
			free((char *)w->drops[i]);
		w->ndrops = 0;
		if (rc != WQ_OK)
			return rc;
	}
	return WQ_OK;
}

/*
 * With many ids in flight, the channel ended covers them all: a
 * SUBSCRIBE and an UNSUBSCRIBE less per id, and one message per call of
 * a worker that ends jobs, whoever waits for them.  With few left, each
 * waiting id not subscribed to is subscribed to (and read once more,
 * once confirmed) before ended goes.
 */
static int
all_mode(struct wq_watch *w)
{
	struct went	*e, *next;
	int		 rc;

	if (w->all == A_OFF && w->count >= ALL_ON) {
		w->all = A_SENT;
		return wq_waiter_all(w->w, 1);
	}
	if (w->all != A_ON || w->count > ALL_OFF)
		return WQ_OK;
	for (e = w->head; e != NULL; e = next) {
		next = e->next;
		if (!e->subscribed) {
			wait_unlink(w, e);
			e->state = W_SUB;
			vec_push(&w->subs, e);
		}
	}
	w->all = A_OFF;
	if ((rc = do_subs(w, w->es, w->ids)) != WQ_OK)
		return rc;
	return wq_waiter_all(w->w, 0);
}

/*
 * Everything that can be done now: the events that arrived (readable),
 * a sweep when one is due, then the reads and the subscriptions they
 * call for, until none is left.  A broken subscriber link is opened
 * again (after a backoff); a broken command link is the caller's
 * WQ_EUNAVAIL.
 */
int
wq_watch_run(struct wq_watch *w, int readable,
    void (*fn)(void *, struct wq_rec *), void *arg)
{
	struct went	*e;
	int		 rc = WQ_OK;
	size_t		 i;

	w->fn = fn;
	w->arg = arg;
	if (w->w == NULL && w->reopen_at >= 0 && wq_now_ms() >= w->reopen_at) {
		if (wq_waiter_open(w->wq, &w->w) != WQ_OK)
			w->reopen_at = wq_now_ms() + wq_backoff_ms(w->wq);
		else {
			w->reopen_at = -1;
			if (w->pfn != NULL && wq_waiter_progress(w->w) != WQ_OK)
				watch_broken(w);
		}
	}
	if (w->w != NULL && readable) {
		if (wq_waiter_events(w->w, watch_event, w) != WQ_OK)
			watch_broken(w);
		else
			wq_backoff_reset(w->wq);
	}
	if (wq_now_ms() >= w->next_sweep) {
		for (i = 0; i < SWEEP_MAX && (e = w->head) != NULL; i++) {
			wait_unlink(w, e);
			e->state = W_CHECK;
			vec_push(&w->checks, e);
		}
		w->next_sweep = wq_now_ms() + SWEEP_MS;
	}
	if (w->w != NULL && all_mode(w) != WQ_OK)
		watch_broken(w);
	while (rc == WQ_OK && (w->checks.n > 0 || w->reads.n > 0 ||
	    (w->w != NULL && ((w->subs.n > 0 && w->all != A_SENT) ||
	    w->ndrops > 0)))) {
		if ((rc = do_checks(w, w->es, w->ids, w->ended)) != WQ_OK ||
		    (rc = do_reads(w, w->es, w->ids, w->recs)) != WQ_OK)
			break;
		if (w->w != NULL && do_subs(w, w->es, w->ids) != WQ_OK)
			watch_broken(w);
	}
	if (rc == WQ_OK) {
		vec_reset(&w->checks);
		vec_reset(&w->reads);
		if (w->subs.n == 0)
			vec_reset(&w->subs);
	}
	return rc;
}
