/*
 * msg.c -- messages between nodes.
 *
 * A message is a JSON object {"id","from","type","body","reply"} pushed on
 * the inbox list of a live node (send.lua refuses dead ones, so inboxes do
 * not fill up) with a hint on msg:<name>.  The node answers by pushing
 * {"id","from","type","body"} on reply:<id>, which expires after a minute;
 * the sender blocks on that list.  A message to several nodes (--all)
 * shares one id, so all replies arrive on one list.
 *
 * A sender that waits says how long ("ttl_ms"), and send.lua stamps the
 * message with the server's time ("sent_at"): a node that was too busy or
 * frozen to read its inbox in time drops the message rather than act on
 * it after its sender gave up (a late "drain" would surprise everyone).
 * Both times are the server's, so the nodes' clocks do not matter (a
 * node that beats knows how far its clock is from the server's).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "wq-int.h"

void
wq_msg_clear(struct wq_msg *m)
{
	free(m->id);
	free(m->from);
	free(m->type);
	jv_free(m->body);
	memset(m, 0, sizeof(*m));
	m->body = jv_null();
}

/*
 * The call of send.lua that puts a message of id (its "id") from this
 * node in the inbox of node to: for msg_send(), and for cancel.lua's
 * word to a node in a namespace of several partitions (control.c).
 */
void
wq_msg_argv(struct wq *wq, const char *to, const char *type, jv body,
    int reply, long ttl_ms, const char *id, struct wq_argv *a)
{
	jv	 m;
	char	*s;

	m = jv_object();
	m = jv_object_set(m, jv_string("id"), jv_string(id));
	m = jv_object_set(m, jv_string("from"), jv_string(wq_name(wq)));
	m = jv_object_set(m, jv_string("type"), jv_string(type));
	m = jv_object_set(m, jv_string("body"), body);
	m = jv_object_set(m, jv_string("reply"), jv_bool(reply));
	if (ttl_ms > 0)
		m = jv_object_set(m, jv_string("ttl_ms"),
		    jv_number((double)ttl_ms));
	s = wq_dump(m);
	wq_script_argv(a, WQ_SCRIPT_SEND);
	wq_argv_key(a, wq, "nodes");
	wq_argv_key(a, wq, "inbox:%s", to);
	wq_argv_key(a, wq, "node:%s", to);
	wq_argv_setnkeys(a, 3);
	wq_script_prefix(a, wq);
	wq_argv_adds(a, to);
	wq_argv_adds(a, s);
	free(s);
}

static int
msg_send(struct wq *wq, const char *to, const char *type, jv body,
    int reply, long ttl_ms, char **id)
{
	struct wq_argv	 a;
	redisReply	*r;
	int		 rc;
	long long	 res;

	if (*id == NULL)
		*id = wq_random_id();
	wq_msg_argv(wq, to, type, body, reply, ttl_ms, *id, &a);
	r = wq_script_run(wq, &a);
	wq_argv_free(&a);
	if ((rc = wq_reply_error(wq, r, "send")) != WQ_OK) {
		if (r)
			freeReplyObject(r);
		return rc;
	}
	res = wq_reply_ll(r);
	freeReplyObject(r);
	if (res == 1)
		return WQ_OK;
	if (res < 0)
		return wq_seterr(wq, WQ_NO, "%s: the node is dead or left", to);
	return wq_seterr(wq, WQ_NO, "%s: no such node", to);
}

/*
 * Send to one node.  *id is the message id: when NULL on entry a new one
 * is made (and returned); otherwise it is reused (for --all).  WQ_NO when
 * the node is not a live member.  The message waits in the inbox until
 * the node reads it (or WQ_INBOX_KEEP_MS pass).
 */
int
wq_msg_send(struct wq *wq, const char *to, const char *type, jv body,
    int reply, char **id)
{
	return msg_send(wq, to, type, body, reply, 0, id);
}

/*
 * Send a message that wants a reply within timeout seconds: the node
 * drops it unread when it comes to it later than that.
 */
int
wq_msg_ask(struct wq *wq, const char *to, const char *type, jv body,
    double timeout, char **id)
{
	long	ttl_ms;

	ttl_ms = (long)(timeout * 1000);
	return msg_send(wq, to, type, body, 1, ttl_ms > 0 ? ttl_ms : 1, id);
}

/*
 * Decode one inbox message; now is the server's time in ms.  0: a
 * message; -1: malformed or expired (its sender stopped waiting).
 */
int
wq_msg_decode(const char *s, size_t n, long long now, struct wq_msg *m)
{
	char	err[64];
	jv	o, v, t;
	int	expired;

	memset(m, 0, sizeof(*m));
	m->body = jv_null();
	o = wq_parse(s, n, err, sizeof(err));
	if (jv_get_kind(o) != JV_KIND_OBJECT) {
		jv_free(o);
		return -1;
	}
#define STR(field, dst) do {						\
	v = jv_object_get(jv_copy(o), jv_string(field));		\
	if (jv_get_kind(v) == JV_KIND_STRING)				\
		dst = wq_strdup(jv_string_value(v));			\
	jv_free(v);							\
} while (0)
	STR("id", m->id);
	STR("from", m->from);
	STR("type", m->type);
#undef STR
	jv_free(m->body);
	m->body = jv_object_get(jv_copy(o), jv_string("body"));
	if (!jv_is_valid(m->body))
		m->body = jv_null();
	v = jv_object_get(jv_copy(o), jv_string("sent_at"));
	t = jv_object_get(jv_copy(o), jv_string("ttl_ms"));
	expired = jv_get_kind(v) == JV_KIND_NUMBER &&
	    jv_get_kind(t) == JV_KIND_NUMBER &&
	    jv_number_value(v) + jv_number_value(t) < (double)now;
	jv_free(v);
	jv_free(t);
	v = jv_object_get(o, jv_string("reply"));
	m->reply_wanted = jv_get_kind(v) == JV_KIND_TRUE;
	jv_free(v);
	if (m->id == NULL || m->type == NULL || expired) {
		wq_msg_clear(m);
		return -1;
	}
	if (m->from == NULL)
		m->from = wq_strdup("");
	return 0;
}

/*
 * The server's clock in ms: ours corrected by the offset the heartbeats
 * measure (node.c), which spares a node a round trip per message; else
 * asked, or ours if it will not say.
 */
static long long
server_ms(struct wq *wq)
{
	struct wq_argv	 a;
	redisReply	*r;
	long long	 now;

	if (wq->skew_known)
		return (long long)(wq_now_ms() + wq->skew_ms);
	wq_argv_init(&a);
	wq_argv_adds(&a, "TIME");
	r = wq_redis_command(wq, &a);
	wq_argv_free(&a);
	now = wq_reply_time_ms(r);
	if (r != NULL)
		freeReplyObject(r);
	return now;
}

/*
 * Take up to max messages from this node's inbox, dropping the expired
 * ones; takes more when some were dropped, so that a caller that reads
 * until it gets less than max empties it.  An empty inbox costs one LPOP.
 */
int
wq_msg_take(struct wq *wq, struct wq_msg *msgs, size_t max, size_t *n)
{
	struct wq_argv	 a;
	redisReply	*r;
	long long	 now = 0;
	size_t		 want, got;
	int		 rc;

	*n = 0;
	do {
		want = max - *n;
		wq_argv_init(&a);
		wq_argv_adds(&a, "LPOP");
		wq_argv_key(&a, wq, "inbox:%s", wq_name(wq));
		wq_argv_addl(&a, (long long)want);
		r = wq_redis_command(wq, &a);
		wq_argv_free(&a);
		if ((rc = wq_reply_error(wq, r, "inbox")) != WQ_OK) {
			if (r)
				freeReplyObject(r);
			return rc;
		}
		got = 0;
		if (r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
			if (now == 0)
				now = server_ms(wq);
			for (; got < r->elements && *n < max; got++)
				if (wq_msg_decode(r->element[got]->str,
				    r->element[got]->len, now, &msgs[*n]) == 0)
					(*n)++;
		}
		freeReplyObject(r);
	} while (got == want && *n < max);
	return WQ_OK;
}

int
wq_msg_reply(struct wq *wq, struct wq_msg *m, const char *type, jv body)
{
	struct wq_argv	 a[2];
	redisReply	*r[2];
	jv		 o;
	char		*s;
	int		 rc, i;

	if (!m->reply_wanted) {
		jv_free(body);
		return WQ_OK;
	}
	o = jv_object();
	o = jv_object_set(o, jv_string("id"), jv_string(m->id));
	o = jv_object_set(o, jv_string("from"), jv_string(wq_name(wq)));
	o = jv_object_set(o, jv_string("type"), jv_string(type));
	o = jv_object_set(o, jv_string("body"), body);
	s = wq_dump(o);
	wq_argv_init(&a[0]);
	wq_argv_adds(&a[0], "RPUSH");
	wq_argv_key(&a[0], wq, "reply:%s", m->id);
	wq_argv_adds(&a[0], s);
	wq_argv_init(&a[1]);
	wq_argv_adds(&a[1], "EXPIRE");
	wq_argv_key(&a[1], wq, "reply:%s", m->id);
	wq_argv_adds(&a[1], "60");
	free(s);
	rc = wq_redis_pipeline(wq, a, 2, r);
	for (i = 0; rc == WQ_OK && i < 2; i++)
		rc = wq_reply_error(wq, r[i], "reply");
	wq_redis_pipeline_free(a, r, 2);
	return rc;
}

/* Wait up to timeout seconds for one reply to message id. */
int
wq_msg_wait_reply(struct wq *wq, const char *id, double timeout, jv *out)
{
	struct wq_argv	 a;
	struct timeval	 tv;
	redisReply	*r;
	char		 err[64];
	long long	 ms;
	int		 rc;

	if ((rc = wq_connect(wq)) != WQ_OK)
		return rc;
	/* (timeout is at most 1e9 s: wq_parse_seconds) */
	ms = (long long)(timeout * 1000) + wq->cfg.command_timeout_ms;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	if (redisSetTimeout(wq->rc, tv) != REDIS_OK)
		return wq_seterr(wq, WQ_EUNAVAIL, "wait for reply: cannot set "
		    "the timeout");
	wq_argv_init(&a);
	wq_argv_adds(&a, "BLPOP");
	wq_argv_key(&a, wq, "reply:%s", id);
	wq_argv_addf(&a, "%.3f", timeout > 0.001 ? timeout : 0.001);
	/* on the connection whose timeout was stretched: reply:<id> is in
	 * the control partition, on its primary */
	r = wq_redis_control_command(wq, &a);
	wq_argv_free(&a);
	if (wq->rc != NULL) {
		tv.tv_sec = wq->cfg.command_timeout_ms / 1000;
		tv.tv_usec = (wq->cfg.command_timeout_ms % 1000) * 1000;
		if (redisSetTimeout(wq->rc, tv) != REDIS_OK)
			wq_disconnect(wq);	/* the next one has it */
	}
	if ((rc = wq_reply_error(wq, r, "wait for reply")) != WQ_OK) {
		if (r)
			freeReplyObject(r);
		return rc;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[1]->type != REDIS_REPLY_STRING) {
		freeReplyObject(r);
		return wq_seterr(wq, WQ_NO, "no reply within %.1f s", timeout);
	}
	*out = wq_parse(r->element[1]->str, r->element[1]->len, err,
	    sizeof(err));
	freeReplyObject(r);
	if (!jv_is_valid(*out))
		return wq_seterr(wq, WQ_NO, "malformed reply");
	return WQ_OK;
}
