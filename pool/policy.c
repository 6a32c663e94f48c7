/*
 * pool/policy: sizing of a pool, pure functions. desired = clamp(in use +
 * spare, min, max); the sizer grows to it at once and shrinks only after the
 * desired size stayed lower for a cool-down; the token bucket limits how
 * fast refills start (so refills never take the host from live sessions).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

void pool_config_default(struct pool_config *out)
{
	memset(out, 0, sizeof(*out));
	out->min = POOL_DEFAULT_MIN;
	out->max = POOL_DEFAULT_MAX;
	out->spare = POOL_DEFAULT_SPARE;
	out->cooldown_ms = POOL_DEFAULT_COOLDOWN_MS;
	out->max_creating = POOL_DEFAULT_MAX_CREATING;
	out->refill_per_min = POOL_DEFAULT_REFILL_PER_MIN;
	out->refill_burst = POOL_DEFAULT_REFILL_BURST;
	out->hold_ms = POOL_DEFAULT_HOLD_MS;
	out->fail_backoff_ms = POOL_DEFAULT_FAIL_BACKOFF_MS;
	out->fail_backoff_max_ms = POOL_DEFAULT_FAIL_BACKOFF_MAX_MS;
}

int pool_config_check(const struct pool_config *c)
{
	if (c->min > c->max || c->max > POOL_LIMIT_MAX || c->spare > POOL_LIMIT_MAX)
		return -EINVAL;
	if (c->max_creating == 0 || c->refill_per_min == 0 || c->refill_burst == 0)
		return -EINVAL;
	if (c->cooldown_ms < 0 || c->hold_ms < 0 || c->fail_backoff_ms < 0 ||
	    c->fail_backoff_max_ms < c->fail_backoff_ms)
		return -EINVAL;
	return 0;
}

unsigned pool_desired(const struct pool_config *c, unsigned in_use)
{
	/* in_use + spare cannot overflow: both are bounded by the callers'
	 * counts and POOL_LIMIT_MAX, but saturate anyway. */
	unsigned d = in_use > UINT32_MAX - c->spare ? UINT32_MAX : in_use + c->spare;
	if (d < c->min)
		d = c->min;
	if (d > c->max)
		d = c->max;
	return d;
}

void pool_sizer_init(struct pool_sizer *s, unsigned target)
{
	s->target = target;
	s->lowering = false;
	s->lower_since_ms = 0;
}

unsigned pool_sizer_update(struct pool_sizer *s, const struct pool_config *c, unsigned desired, int64_t now_ms)
{
	if (desired >= s->target) {
		s->target = desired;
		s->lowering = false;
		return s->target;
	}
	if (!s->lowering) {
		s->lowering = true;
		s->lower_since_ms = now_ms;
	}
	if (now_ms - s->lower_since_ms >= c->cooldown_ms) {
		s->target = desired;
		s->lowering = false;
	}
	return s->target;
}

void pool_bucket_init(struct pool_bucket *b, unsigned burst, int64_t now_ms)
{
	b->tokens = burst;
	b->last_ms = now_ms;
	b->started = true;
}

static double bucket_level(const struct pool_bucket *b, unsigned rate_per_min, unsigned burst, int64_t now_ms)
{
	if (!b->started)
		return burst;
	double t = b->tokens;
	if (now_ms > b->last_ms)
		t += (double)(now_ms - b->last_ms) * rate_per_min / 60000.0;
	return t > burst ? burst : t;
}

bool pool_bucket_take(struct pool_bucket *b, unsigned rate_per_min, unsigned burst, int64_t now_ms)
{
	double t = bucket_level(b, rate_per_min, burst, now_ms);
	b->tokens = t;
	if (!b->started || now_ms > b->last_ms)
		b->last_ms = now_ms;
	b->started = true;
	if (t < 1.0)
		return false;
	b->tokens = t - 1.0;
	return true;
}

int64_t pool_bucket_wait_ms(const struct pool_bucket *b, unsigned rate_per_min, unsigned burst, int64_t now_ms)
{
	double t = bucket_level(b, rate_per_min, burst, now_ms);
	if (t >= 1.0)
		return 0;
	double ms = (1.0 - t) * 60000.0 / rate_per_min;
	int64_t w = (int64_t)ms;
	return w < ms ? w + 1 : w;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double pool_percentile(const double *samples, size_t n, double pct)
{
	if (n == 0)
		return 0;
	double *v = malloc(n * sizeof(*v));
	if (!v)
		return 0;
	memcpy(v, samples, n * sizeof(*v));
	qsort(v, n, sizeof(*v), cmp_double);
	/* nearest rank: the smallest value with at least pct% at or below it */
	double rank = pct / 100.0 * (double)n;
	size_t k = (size_t)rank;
	if ((double)k < rank)
		k++;
	if (k == 0)
		k = 1;
	if (k > n)
		k = n;
	double r = v[k - 1];
	free(v);
	return r;
}
