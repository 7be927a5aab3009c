/*
 * builtin.c -- the message types every node answers, the same way in a
 * worker and in an API instance (docs/DESIGN.md, "Messages"):
 *
 *   ping   -> pong      the node's description
 *   info   -> info      the same
 *   drain  -> draining  what the node is still finishing; then it stops
 *                       taking work, finishes, and leaves
 *   cancel -> cancel    {"id","attempt"}: a worker kills the job if it
 *                       runs it under that attempt (sent by cancel.lua,
 *                       docs/DESIGN.md, Job control); {"id","killed"}
 *
 * Any other type is the node's own (a worker's --on handlers) or
 * refused as unknown.  What differs between the kinds of node (their
 * description, how they stop, how a reply is sent) comes from the
 * callbacks of a struct wq_builtin.
 */
#include <string.h>

#include "wq-int.h"

static const struct {
	const char	*type;
	const char	*reply;
} builtins[] = {
	{ "ping",	"pong" },
	{ "info",	"info" },
	{ "drain",	"draining" },
	{ "cancel",	"cancel" },
};
#define NBUILTINS	(sizeof(builtins) / sizeof(builtins[0]))

/* Whether the n bytes at type name a built-in type. */
int
wq_builtin_type(const char *type, size_t n)
{
	size_t	i;

	for (i = 0; i < NBUILTINS; i++)
		if (strlen(builtins[i].type) == n &&
		    strncmp(builtins[i].type, type, n) == 0)
			return 1;
	return 0;
}

void
wq_builtin_answer(const struct wq_builtin *b, struct wq_msg *m)
{
	size_t	i;

	for (i = 0; i < NBUILTINS; i++)
		if (strcmp(m->type, builtins[i].type) == 0)
			break;
	if (i == NBUILTINS) {
		if (b->other == NULL || !b->other(b->arg, m))
			b->reply(b->arg, m, "error",
			    jv_string("unknown message type"));
		return;
	}
	if (strcmp(m->type, "cancel") == 0) {
		if (b->cancel == NULL)
			b->reply(b->arg, m, "error",
			    jv_string("this node runs no jobs"));
		else
			b->reply(b->arg, m, "cancel", b->cancel(b->arg, m));
		return;
	}
	if (strcmp(m->type, "drain") != 0) {
		b->reply(b->arg, m, builtins[i].reply, b->info(b->arg));
		return;
	}
	b->reply(b->arg, m, builtins[i].reply, b->draining != NULL ?
	    b->draining(b->arg) : jv_object());
	b->drain(b->arg, m);
}
