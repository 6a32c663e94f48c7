/*
 * api_events.c: GET /v1/sessions/ID/events?since=N and GET /v1/events?since=N
 * (chunked application/x-ndjson; replay from the database, then live; see
 * events.c).
 */
#include "thawd.h"

#include "banned.h"

void api_events_session(struct http_req *req, void *ctx)
{
	struct thawd *d = ctx;
	struct thawd_session *s = thawd_api_session(req, d);
	if (!s)
		return;
	thawd_session_touch(s);
	thawd_events_follow(d, s, req);
}

void api_events_all(struct http_req *req, void *ctx)
{
	thawd_events_follow(ctx, NULL, req);
}
