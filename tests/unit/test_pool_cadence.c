/* Unit tests of the image cadence (pool/cadence.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pool.h"

#define C1 "1111111111111111111111111111111111111111"
#define C2 "2222222222222222222222222222222222222222"
#define IMG1 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define IMG2 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define MIN (60 * 1000)

static void test_pool_cadence__first_build_at_once_whatever_the_tip(void **state)
{
	(void)state;
	struct pool_cadence c;
	pool_cadence_init(&c, 0, 1000);
	assert_int_equal(c.interval_ms, POOL_CADENCE_DEFAULT_INTERVAL_MS);
	assert_true(pool_cadence_due(&c, 1000));
	assert_int_equal(pool_cadence_image_age_ms(&c, 1000), -1);
	assert_int_equal(pool_cadence_decide(&c, C1, 1000), POOL_CAD_BUILD);
	assert_true(c.building);
	/* while building: never another */
	assert_int_equal(pool_cadence_decide(&c, C2, 999999999), POOL_CAD_WAIT);
	pool_cadence_done(&c, true, IMG1, C1, NULL, 5000);
	assert_false(c.building);
	assert_string_equal(c.image, IMG1);
	assert_int_equal(pool_cadence_image_age_ms(&c, 6000), 1000);
	assert_int_equal(c.next_due_ms, 5000 + 30 * MIN);
}

static void test_pool_cadence__rebuilds_only_when_the_branch_moved(void **state)
{
	(void)state;
	struct pool_cadence c;
	pool_cadence_init(&c, 10 * MIN, 0);
	pool_cadence_set_image(&c, IMG1, C1, 0);
	assert_int_equal(pool_cadence_decide(&c, C1, 0), POOL_CAD_SKIP);
	assert_int_equal(c.skips, 1);
	assert_int_equal(pool_cadence_decide(&c, C2, 10 * MIN - 1), POOL_CAD_WAIT);
	assert_false(pool_cadence_due(&c, 10 * MIN - 1));
	assert_int_equal(pool_cadence_decide(&c, C2, 10 * MIN), POOL_CAD_BUILD);
	pool_cadence_done(&c, true, IMG2, C2, NULL, 11 * MIN);
	assert_string_equal(c.image_commit, C2);
	assert_int_equal(c.builds, 1);
	assert_int_equal(pool_cadence_decide(&c, C2, 21 * MIN), POOL_CAD_SKIP);
	/* an unreadable tip: try a build (it fetches itself) */
	assert_int_equal(pool_cadence_decide(&c, NULL, 31 * MIN), POOL_CAD_BUILD);
}

static void test_pool_cadence__failure_keeps_the_image_and_backs_off(void **state)
{
	(void)state;
	struct pool_cadence c;
	pool_cadence_init(&c, 30 * MIN, 0);
	pool_cadence_set_image(&c, IMG1, C1, 0);
	int64_t now = 0;
	int64_t expect[] = {1 * MIN, 2 * MIN, 4 * MIN, 8 * MIN, 16 * MIN, 32 * MIN, 64 * MIN, 120 * MIN, 120 * MIN};
	for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
		assert_int_equal(pool_cadence_decide(&c, C2, now), POOL_CAD_BUILD);
		pool_cadence_done(&c, false, NULL, NULL, "setup exited 1", now);
		assert_string_equal(c.image, IMG1);       /* the last good image stays */
		assert_string_equal(c.image_commit, C1);
		assert_int_equal(c.next_due_ms, now + expect[i]);
		assert_int_equal(pool_cadence_decide(&c, C2, now + expect[i] - 1), POOL_CAD_WAIT);
		now += expect[i];
	}
	assert_int_equal(c.failures, 9);
	assert_int_equal(c.consecutive_failures, 9);
	assert_string_equal(c.last_error, "setup exited 1");
	assert_int_equal(pool_cadence_image_age_ms(&c, now), now);
	/* a success resets the backoff */
	assert_int_equal(pool_cadence_decide(&c, C2, now), POOL_CAD_BUILD);
	pool_cadence_done(&c, true, IMG2, C2, NULL, now);
	assert_int_equal(c.consecutive_failures, 0);
	assert_int_equal(c.failures, 9);
	assert_string_equal(c.last_error, "");
	assert_int_equal(c.next_due_ms, now + 30 * MIN);
}

static void test_pool_cadence__force_builds_even_without_a_move(void **state)
{
	(void)state;
	struct pool_cadence c;
	pool_cadence_init(&c, 30 * MIN, 0);
	pool_cadence_set_image(&c, IMG1, C1, 0);
	assert_int_equal(pool_cadence_decide(&c, C1, 0), POOL_CAD_SKIP);
	pool_cadence_force(&c, 5 * MIN);
	assert_true(pool_cadence_due(&c, 5 * MIN));
	assert_int_equal(pool_cadence_decide(&c, C1, 5 * MIN), POOL_CAD_BUILD);
	assert_false(c.forced);
	assert_string_equal(pool_cadence_decision_name(POOL_CAD_SKIP), "skip");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool_cadence__first_build_at_once_whatever_the_tip),
		cmocka_unit_test(test_pool_cadence__rebuilds_only_when_the_branch_moved),
		cmocka_unit_test(test_pool_cadence__failure_keeps_the_image_and_backs_off),
		cmocka_unit_test(test_pool_cadence__force_builds_even_without_a_move),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
