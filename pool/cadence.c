/*
 * pool/cadence: when to rebuild a repository's image. Every interval the
 * owner asks (pool_cadence_due), reads the base branch's tip and calls
 * pool_cadence_decide: a build only when the tip moved away from the commit
 * the current image was synced to (or when forced, or when there is no image
 * yet). A failed build keeps the last good image; the next try comes after a
 * backoff (1 min doubling, at most 4 intervals) instead of the interval.
 */
#include <string.h>

#include "pool.h"

static void copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strlen(src) : 0;
	if (n >= cap)
		n = cap - 1;
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

void pool_cadence_init(struct pool_cadence *c, int64_t interval_ms, int64_t now_ms)
{
	memset(c, 0, sizeof(*c));
	c->interval_ms = interval_ms > 0 ? interval_ms : POOL_CADENCE_DEFAULT_INTERVAL_MS;
	c->next_due_ms = now_ms;
	c->image_created_ms = -1;
}

void pool_cadence_set_image(struct pool_cadence *c, const char *image, const char *commit, int64_t created_ms)
{
	copy_str(c->image, sizeof(c->image), image);
	copy_str(c->image_commit, sizeof(c->image_commit), commit);
	c->image_created_ms = created_ms;
}

bool pool_cadence_due(const struct pool_cadence *c, int64_t now_ms)
{
	return !c->building && now_ms >= c->next_due_ms;
}

int pool_cadence_decide(struct pool_cadence *c, const char *tip, int64_t now_ms)
{
	if (!pool_cadence_due(c, now_ms))
		return POOL_CAD_WAIT;
	c->last_check_ms = now_ms;
	bool moved = !c->image[0] || !tip || !*tip || strcmp(tip, c->image_commit) != 0;
	if (!moved && !c->forced) {
		c->skips++;
		c->next_due_ms = now_ms + c->interval_ms;
		return POOL_CAD_SKIP;
	}
	c->forced = false;
	c->building = true;
	c->last_build_ms = now_ms;
	c->builds++;
	return POOL_CAD_BUILD;
}

void pool_cadence_done(struct pool_cadence *c, bool ok, const char *image, const char *commit,
                       const char *error, int64_t now_ms)
{
	c->building = false;
	if (ok) {
		pool_cadence_set_image(c, image, commit, now_ms);
		c->consecutive_failures = 0;
		c->last_error[0] = '\0';
		c->next_due_ms = now_ms + c->interval_ms;
		return;
	}
	c->failures++;
	c->consecutive_failures++;
	c->last_failure_ms = now_ms;
	copy_str(c->last_error, sizeof(c->last_error), error ? error : "build failed");
	int64_t cap = 4 * c->interval_ms;
	int64_t b = POOL_CADENCE_BACKOFF_MS;
	for (unsigned i = 1; i < c->consecutive_failures && b < cap; i++)
		b *= 2;
	if (b > cap)
		b = cap;
	c->next_due_ms = now_ms + b;
}

void pool_cadence_force(struct pool_cadence *c, int64_t now_ms)
{
	c->forced = true;
	if (c->next_due_ms > now_ms)
		c->next_due_ms = now_ms;
}

int64_t pool_cadence_image_age_ms(const struct pool_cadence *c, int64_t now_ms)
{
	if (!c->image[0] || c->image_created_ms < 0)
		return -1;
	return now_ms - c->image_created_ms;
}

const char *pool_cadence_decision_name(int d)
{
	switch (d) {
	case POOL_CAD_WAIT: return "wait";
	case POOL_CAD_SKIP: return "skip";
	case POOL_CAD_BUILD: return "build";
	default: return "unknown";
	}
}
