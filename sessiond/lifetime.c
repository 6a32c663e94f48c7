/*
 * lifetime.c: hard and idle limits of sessions. A session lives until
 * expires_at_ms (created + timeout_s, moved by POST .../timeout) and while
 * it is not idle for idle_timeout_s: API calls on it, connected event
 * followers and file changes reported by thawfs reset the idle clock. At
 * expiry: the teardown (pre-exit snapshot, unmount), with a lifecycle event
 * naming the reason.
 */
#include <errno.h>

#include "thawd.h"

#include "banned.h"

void thawd_lifetime_check(struct thawd_session *s, int64_t now)
{
	if (s->state != TS_READY && s->state != TS_WRITABLE && s->state != TS_SYNC_FAILED && s->state != TS_FROZEN)
		return;
	if (s->busy || s->remounting)
		return; /* retried on the next tick */
	if (s->followers)
		thawd_session_touch(s); /* a connected client counts as activity */
	const char *reason = NULL;
	if (s->expires_at_ms && now >= s->expires_at_ms)
		reason = "timeout";
	else if (s->idle_expires_at_ms && now >= s->idle_expires_at_ms)
		reason = "idle";
	if (!reason)
		return;
	thawd_log(s->d, "info", "%s: %s limit reached: pre-exit snapshot and teardown", s->id, reason);
	int r = thawd_session_teardown(s, reason, NULL, NULL);
	if (r < 0 && r != -EALREADY && r != -EBUSY)
		thawd_log(s->d, "error", "%s: teardown: %d", s->id, r);
}
