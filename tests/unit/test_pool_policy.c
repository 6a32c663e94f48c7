/* Unit tests of pool sizing (pool/policy.c): desired, the cool-down sizer,
 * the refill token bucket, percentiles. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>

#include "pool.h"

static struct pool_config cfg(unsigned min, unsigned max, unsigned spare)
{
	struct pool_config c;
	pool_config_default(&c);
	c.min = min;
	c.max = max;
	c.spare = spare;
	return c;
}

static void test_pool_policy__defaults_are_valid(void **state)
{
	(void)state;
	struct pool_config c;
	pool_config_default(&c);
	assert_int_equal(pool_config_check(&c), 0);
	assert_int_equal(c.cooldown_ms, 5 * 60 * 1000);
	assert_int_equal(c.hold_ms, 60 * 1000);
}

static void test_pool_policy__config_check_rejects_nonsense(void **state)
{
	(void)state;
	struct pool_config c = cfg(5, 4, 1);
	assert_int_equal(pool_config_check(&c), -EINVAL);
	c = cfg(0, POOL_LIMIT_MAX + 1, 1);
	assert_int_equal(pool_config_check(&c), -EINVAL);
	c = cfg(0, 4, 1);
	c.max_creating = 0;
	assert_int_equal(pool_config_check(&c), -EINVAL);
	c = cfg(0, 4, 1);
	c.refill_per_min = 0;
	assert_int_equal(pool_config_check(&c), -EINVAL);
	c = cfg(0, 4, 1);
	c.cooldown_ms = -1;
	assert_int_equal(pool_config_check(&c), -EINVAL);
	c = cfg(0, 0, 0);
	assert_int_equal(pool_config_check(&c), 0); /* a pool that makes nothing is valid */
}

static void test_pool_policy__desired_is_clamped_in_use_plus_spare(void **state)
{
	(void)state;
	struct pool_config c = cfg(2, 10, 3);
	assert_int_equal(pool_desired(&c, 0), 3);
	c.spare = 1;
	assert_int_equal(pool_desired(&c, 0), 2);  /* min */
	assert_int_equal(pool_desired(&c, 1), 2);
	assert_int_equal(pool_desired(&c, 5), 6);
	assert_int_equal(pool_desired(&c, 9), 10);
	assert_int_equal(pool_desired(&c, 50), 10); /* max */
	c.spare = UINT32_MAX;
	assert_int_equal(pool_desired(&c, 7), 10);  /* no overflow */
}

static void test_pool_policy__sizer_grows_at_once_and_shrinks_after_cooldown(void **state)
{
	(void)state;
	struct pool_config c = cfg(0, 10, 1);
	c.cooldown_ms = 1000;
	struct pool_sizer s;
	pool_sizer_init(&s, 2);
	assert_int_equal(pool_sizer_update(&s, &c, 6, 0), 6);    /* up at once */
	assert_int_equal(pool_sizer_update(&s, &c, 3, 100), 6);  /* lower: wait */
	assert_int_equal(pool_sizer_update(&s, &c, 2, 1099), 6);
	assert_int_equal(pool_sizer_update(&s, &c, 2, 1100), 2); /* 1000 ms after it went lower */
	/* a rise in the middle of the cool-down restarts it */
	assert_int_equal(pool_sizer_update(&s, &c, 1, 2000), 2);
	assert_int_equal(pool_sizer_update(&s, &c, 2, 2500), 2);
	assert_int_equal(pool_sizer_update(&s, &c, 1, 2600), 2);
	assert_int_equal(pool_sizer_update(&s, &c, 1, 3500), 2);
	assert_int_equal(pool_sizer_update(&s, &c, 1, 3600), 1);
	/* zero cool-down: follows desired both ways */
	c.cooldown_ms = 0;
	assert_int_equal(pool_sizer_update(&s, &c, 4, 4000), 4);
	assert_int_equal(pool_sizer_update(&s, &c, 0, 4000), 0);
}

static void test_pool_policy__bucket_limits_rate_and_burst(void **state)
{
	(void)state;
	struct pool_bucket b = {0};
	/* 60 a minute = one a second, burst 3 */
	int got = 0;
	for (int i = 0; i < 10; i++)
		got += pool_bucket_take(&b, 60, 3, 0);
	assert_int_equal(got, 3);
	assert_int_equal(pool_bucket_wait_ms(&b, 60, 3, 0), 1000);
	assert_int_equal(pool_bucket_wait_ms(&b, 60, 3, 400), 600);
	assert_false(pool_bucket_take(&b, 60, 3, 999));
	assert_true(pool_bucket_take(&b, 60, 3, 1000));
	assert_false(pool_bucket_take(&b, 60, 3, 1000));
	/* a long pause refills to the burst, not beyond */
	got = 0;
	for (int i = 0; i < 10; i++)
		got += pool_bucket_take(&b, 60, 3, 100000);
	assert_int_equal(got, 3);
	/* over a minute at most burst + rate tokens */
	struct pool_bucket b2 = {0};
	got = 0;
	for (int64_t t = 0; t <= 59990; t += 10)
		got += pool_bucket_take(&b2, 12, 2, t);
	assert_int_equal(got, 2 + 11); /* the 12th token of the minute arrives at 60000 */
}

static void test_pool_policy__percentile_nearest_rank(void **state)
{
	(void)state;
	double v[] = {5, 1, 4, 2, 3, 10, 9, 8, 7, 6};
	assert_true(pool_percentile(v, 10, 50) == 5);
	assert_true(pool_percentile(v, 10, 99) == 10);
	assert_true(pool_percentile(v, 10, 0) == 1);
	assert_true(pool_percentile(v, 1, 99) == 5);
	assert_true(pool_percentile(v, 0, 50) == 0);
	assert_true(v[0] == 5); /* the input is not sorted in place */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool_policy__defaults_are_valid),
		cmocka_unit_test(test_pool_policy__config_check_rejects_nonsense),
		cmocka_unit_test(test_pool_policy__desired_is_clamped_in_use_plus_spare),
		cmocka_unit_test(test_pool_policy__sizer_grows_at_once_and_shrinks_after_cooldown),
		cmocka_unit_test(test_pool_policy__bucket_limits_rate_and_burst),
		cmocka_unit_test(test_pool_policy__percentile_nearest_rank),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
