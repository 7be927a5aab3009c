/*
 * rq.c -- the answers of the API, and the requests that wait for Redis.
 *
 * A request that needs Redis keeps its state in a struct rq (api.h says
 * why it lives apart from Kore's request): its handler starts Redis
 * commands (rq_send) and sleeps (rq_yield: KORE_RESULT_RETRY) until a
 * reply callback has the answer ready (rq_answer_*) and wakes it; the
 * handler then runs again and sends what is there.  The others are
 * answered at once (rq_respond*).  Every answer is JSON but the console
 * and /metrics.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"

int
rq_respond(struct http_request *req, int status, const char *ctype,
    const void *body, size_t len)
{
	http_response_header(req, "content-type", ctype);
	http_response_header(req, "cache-control", "no-store");
	http_response_header(req, "x-content-type-options", "nosniff");
	http_response(req, status, body, len);
	return KORE_RESULT_OK;
}

/*
 * The console's pages: their own script and style only, by the hashes of
 * their blocks (embed.sh), talking to this origin only, never in a frame.
 * The login page writes the console into its own document once the token
 * is taken, so its policy allows the console's blocks too.
 */
int
rq_respond_page(struct http_request *req, int status, const char *html,
    size_t len, int login)
{
	char	*csp;

	if (asprintf(&csp, "default-src 'none'; script-src %s %s; "
	    "style-src %s %s; connect-src 'self'; img-src 'self' data:; "
	    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
	    console_html_script, login ? login_html_script : "",
	    console_html_style, login ? login_html_style : "") == -1)
		return rq_respond(req, 500, "text/plain", "", 0);
	http_response_header(req, "content-security-policy", csp);
	free(csp);
	http_response_header(req, "x-frame-options", "DENY");
	http_response_header(req, "referrer-policy", "no-referrer");
	return rq_respond(req, status, "text/html; charset=utf-8", html, len);
}

int
rq_respond_json(struct http_request *req, int status, jv v)
{
	char	*s;

	s = wq_dump(v);
	rq_respond(req, status, "application/json", s, strlen(s));
	free(s);
	return KORE_RESULT_OK;
}

static jv
error_json(const char *msg)
{
	return jv_object_set(jv_object(), jv_string("error"), jv_string(msg));
}

int
rq_respond_error(struct http_request *req, int status, const char *msg)
{
	return rq_respond_json(req, status, error_json(msg));
}

jv
rq_not_found(void)
{
	jv	o;

	o = jv_object();
	o = jv_object_set(o, jv_string("status"),
	    jv_string("404. not found!"));
	o = jv_object_set(o, jv_string("error"), jv_string("not found"));
	return o;
}

int
rq_respond_method(struct http_request *req, const char *allow)
{
	http_response_header(req, "allow", allow);
	return rq_respond_error(req, 405, "method not allowed");
}

/* Requests that wait for Redis. */

static void
rq_free(struct rq *rq)
{
	if (rq->has_spec)
		wq_spec_clear(&rq->spec);
	wq_argv_free(&rq->argv);
	wq_read_free(rq->read);
	jv_free(rq->answer);
	free(rq->body);
	free(rq);
}

/* Kore frees the request (answered, or its client left). */
static void
rq_onfree(struct http_request *req)
{
	struct rq	**sp, *rq;

	if ((sp = http_state_get(req)) == NULL || (rq = *sp) == NULL)
		return;
	*sp = NULL;
	rq->req = NULL;
	wait_leave(rq);
	if (rq->refs == 0)
		rq_free(rq);
}

struct rq *
rq_new(struct http_request *req)
{
	struct rq	**sp, *rq;

	rq = wq_calloc(1, sizeof(*rq));
	rq->req = req;
	rq->answer = jv_invalid();
	rq->slot = -1;
	sp = http_state_create(req, sizeof(*sp), rq_onfree);
	*sp = rq;
	return rq;
}

static void
rq_ready(struct rq *rq, int status)
{
	rq->status = status;
	rq->answered = 1;
	wait_leave(rq);
	if (rq->req != NULL)
		http_request_wakeup(rq->req);
}

void
rq_answer_json(struct rq *rq, int status, jv v)
{
	if (rq->answered) {
		jv_free(v);
		return;
	}
	rq->body = wq_dump(v);
	rq->len = strlen(rq->body);
	rq->ctype = "application/json";
	rq_ready(rq, status);
}

/* Takes body (malloc'd). */
void
rq_answer_text(struct rq *rq, int status, const char *ctype, char *body,
    size_t len)
{
	if (rq->answered) {
		free(body);
		return;
	}
	rq->body = body;
	rq->len = len;
	rq->ctype = ctype;
	rq_ready(rq, status);
}

void
rq_answer_error(struct rq *rq, int status, const char *msg)
{
	rq_answer_json(rq, status, error_json(msg));
}

void
rq_answer_unavailable(struct rq *rq)
{
	rq->retry_after = 1;
	rq_answer_error(rq, 503, "Redis is unavailable, try again later");
}

/*
 * A libwq call failed with rc: Redis answered an error (bad data, a
 * bug: 500, logged, not worth retrying) or could not serve (503).
 */
void
rq_answer_failed(struct rq *rq, int rc)
{
	if (rc == WQ_EREPLICAS) {	/* --wait-replicas: too few */
		rq_answer_error(rq, 504, wq_error(api_wq));
		return;
	}
	if (rc == WQ_EUSAGE) {		/* a limit: --max-queues */
		rq_answer_error(rq, 422, wq_error(api_wq));
		return;
	}
	if (rc != WQ_EREDIS) {
		rq_answer_unavailable(rq);
		return;
	}
	kore_log(LOG_ERR, "wq-api: %s", wq_error(api_wq));
	rq_answer_error(rq, 500, "Redis answered an error (in the API's log)");
}

/* Send the answer if it is ready, else sleep until a reply wakes us. */
int
rq_yield(struct http_request *req, struct rq *rq)
{
	if (!rq->answered) {
		http_request_sleep(req);
		return KORE_RESULT_RETRY;
	}
	if (rq->retry_after)
		http_response_header(req, "retry-after", "1");
	return rq_respond(req, rq->status, rq->ctype, rq->body, rq->len);
}

static void
rq_trampoline(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rq	*rq = priv;

	(void)ac;
	api_redis_replied(reply);
	rq->refs--;
	if (rq->req == NULL) {
		if (rq->refs == 0)
			rq_free(rq);
		return;
	}
	rq->on_reply(rq, reply);
}

/* Send commands for rq; fn gets the reply.  -1 when Redis is down. */
int
rq_send(struct rq *rq, struct wq_argv *cmds, size_t n, rq_reply_fn fn)
{
	rq->on_reply = fn;
	rq->nsent = n;
	if (api_redis_send_at(cmds, n, rq_trampoline, rq, &rq->slot) == -1)
		return -1;
	rq->refs++;
	return 0;
}
