/*
 * body.h -- the body of POST /api/v1/work turned into a submission,
 * apart from Kore so that fuzz/ can call it without a server.
 */
#ifndef API_BODY_H
#define API_BODY_H

#include <stddef.h>

#include "wq.h"

/*
 * Parse len bytes of body (at most max bytes) into *spec.  Returns 0 with
 * *spec filled (the caller clears it), or the HTTP status of the refusal,
 * 400 or 413, with the reason in err.
 */
int	api_submit_body(struct wq *, const void *, size_t, size_t,
	    struct wq_spec *, char *, size_t);

#endif
