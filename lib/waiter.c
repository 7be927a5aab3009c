/*
 * waiter.c -- waiting for jobs to end without polling (wq-status
 * --wait): subscriber connections (sub.c) on the done:<id> channel of
 * each job waited for (in the job's partition), or on ended (in every
 * partition).  watch.c follows a stream of jobs on one.
 */
#include <stdlib.h>
#include <string.h>

#include "wq-int.h"

struct wq_waiter {
	struct wq_sub	 s;
	char		**ids;
	size_t		 n, cap;
	size_t		 max;
	int		 nall;		/* ended confirmed, of P */
};

int
wq_waiter_open(struct wq *wq, struct wq_waiter **out)
{
	struct wq_waiter	*w;
	int			 rc;

	w = wq_calloc(1, sizeof(*w));
	if ((rc = wq_sub_open(wq, &w->s)) != WQ_OK) {
		free(w);
		return rc;
	}
	*out = w;
	return WQ_OK;
}

void
wq_waiter_close(struct wq_waiter *w)
{
	size_t	i;

	if (w == NULL)
		return;
	wq_sub_close(&w->s);
	for (i = 0; i < w->n; i++)
		free(w->ids[i]);
	free(w->ids);
	free(w);
}

const int *
wq_waiter_fds(struct wq_waiter *w, size_t *n)
{
	return wq_sub_fds(&w->s, n);
}

int
wq_waiter_add(struct wq_waiter *w, const char **ids, size_t n)
{
	wq_sub_ids(&w->s, 1, ids, n);
	return wq_sub_flush(&w->s);
}

int
wq_waiter_drop(struct wq_waiter *w, const char **ids, size_t n)
{
	wq_sub_ids(&w->s, 0, ids, n);
	return wq_sub_flush(&w->s);
}

/*
 * Follow every job of the namespace at once (on) on the channel ended,
 * where each call that ends jobs names them all in one message, instead
 * of a channel each; or stop (off).
 */
int
wq_waiter_all(struct wq_waiter *w, int on)
{
	w->nall = 0;
	wq_sub_every(&w->s, on, "ended");
	return wq_sub_flush(&w->s);
}

/* Follow what running jobs say of their progress, on the channel
 * progress (progress.lua). */
int
wq_waiter_progress(struct wq_waiter *w)
{
	wq_sub_every(&w->s, 1, "progress");
	return wq_sub_flush(&w->s);
}

int
wq_waiter_remove(struct wq_waiter *w, const char *id)
{
	wq_sub_ids(&w->s, 0, &id, 1);
	return wq_sub_flush(&w->s);
}

static void
waiter_hint(void *arg, int kind, const char *chan, const char *msg)
{
	struct wq_waiter	*w = arg;

	(void)msg;
	if (kind != 'm' || strncmp(chan, "done:", 5) != 0 || w->n >= w->max)
		return;
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 64;
		w->ids = wq_reallocarray(w->ids, w->cap, sizeof(*w->ids));
	}
	w->ids[w->n++] = wq_strdup(chan + 5);
}

int
wq_waiter_read(struct wq_waiter *w, char **ids, size_t max, size_t *n)
{
	size_t	i;
	int	rc;

	for (i = 0; i < w->n; i++)
		free(w->ids[i]);
	w->n = 0;
	w->max = max;
	rc = wq_sub_read(&w->s, waiter_hint, w);
	for (i = 0; i < w->n; i++)
		ids[i] = w->ids[i];
	*n = w->n;
	return rc;
}

struct waiter_events {
	void			(*fn)(void *, int, const char *);
	void			 *arg;
	struct wq_waiter	 *w;
};

/* A message of the channel progress: its lines "<id> <progress>". */
static void
waiter_progress(struct waiter_events *e, const char *msg)
{
	char	*line;
	size_t	 n;

	for (; *msg != '\0'; msg += n + (msg[n] == '\n')) {
		n = strcspn(msg, "\n");
		if (n <= WQ_ID_LEN + 1 || msg[WQ_ID_LEN] != ' ')
			continue;
		line = wq_calloc(1, n + 1);
		memcpy(line, msg, n);
		e->fn(e->arg, WQ_WAITER_PROGRESS, line);
		free(line);
	}
}

static void
waiter_event(void *arg, int kind, const char *chan, const char *msg)
{
	struct waiter_events	*e = arg;
	char			 id[WQ_ID_LEN + 1];
	size_t			 n;

	if (kind == 'e')
		e->fn(e->arg, WQ_WAITER_REFUSED, NULL);
	else if (strcmp(chan, "progress") == 0) {
		if (kind == 'm')
			waiter_progress(e, msg);
	} else if (strncmp(chan, "done:", 5) == 0 &&
	    strlen(chan + 5) == WQ_ID_LEN)
		e->fn(e->arg, kind == 's' ? WQ_WAITER_SUBSCRIBED :
		    WQ_WAITER_ENDED, chan + 5);
	else if (strcmp(chan, "ended") != 0)
		return;
	else if (kind == 's') {
		/* once ended is confirmed in every partition */
		if (++e->w->nall == wq_parts(e->w->s.wq))
			e->fn(e->arg, WQ_WAITER_ALL, NULL);
	} else	/* the ids, between spaces */
		for (; *msg != '\0'; msg += n + (msg[n] == ' ')) {
			if ((n = strcspn(msg, " ")) != WQ_ID_LEN)
				continue;
			memcpy(id, msg, n);
			id[n] = '\0';
			e->fn(e->arg, WQ_WAITER_ENDED, id);
		}
}

int
wq_waiter_events(struct wq_waiter *w, void (*fn)(void *, int, const char *),
    void *arg)
{
	struct waiter_events	e = { fn, arg, w };

	return wq_sub_read(&w->s, waiter_event, &e);
}
