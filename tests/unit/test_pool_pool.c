/* Unit tests of one repository's pool (pool/pool.c): sizing through ticks,
 * cool-down, the refill rate limit, rotation on a new image, warm holds,
 * claim order, failures. Time is passed in: everything is deterministic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

#define IMG_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define IMG_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

struct fix {
	struct pool *p;
	struct pool_action acts[64];
	size_t nacts;
	unsigned creates, destroys;
	uint64_t created_ids[64];
	size_t ncreated;
};

static struct pool_config cfg(unsigned min, unsigned max, unsigned spare)
{
	struct pool_config c;
	pool_config_default(&c);
	c.min = min;
	c.max = max;
	c.spare = spare;
	c.max_creating = 100;
	c.refill_per_min = 60000;
	c.refill_burst = 100;
	return c;
}

static struct fix *fix_new(struct pool_config c)
{
	struct fix *f = calloc(1, sizeof(*f));
	assert_int_equal(pool_new(&f->p, "repo", &c), 0);
	assert_int_equal(pool_set_image(f->p, IMG_A, 0), 0);
	return f;
}

static void fix_free(struct fix *f)
{
	pool_free(f->p);
	free(f);
}

/* One tick; remembers the creates (to complete later) and counts. */
static size_t tick(struct fix *f, int64_t now)
{
	f->nacts = pool_tick(f->p, now, f->acts, 64);
	f->ncreated = 0;
	for (size_t i = 0; i < f->nacts; i++) {
		if (f->acts[i].kind == POOL_ACT_CREATE) {
			f->creates++;
			f->created_ids[f->ncreated++] = f->acts[i].entry;
		} else {
			f->destroys++;
		}
	}
	return f->nacts;
}

/* Tick and report every create ready at once. */
static void settle(struct fix *f, int64_t now)
{
	for (int round = 0; round < 10; round++) {
		if (tick(f, now) == 0)
			return;
		for (size_t i = 0; i < f->ncreated; i++)
			assert_int_equal(pool_entry_ready(f->p, f->created_ids[i], (void *)(uintptr_t)f->created_ids[i], now), 0);
	}
	fail_msg("pool did not settle");
}

static struct pool_stats stats(struct fix *f, int64_t now)
{
	struct pool_stats s;
	pool_get_stats(f->p, now, &s);
	return s;
}

static void test_pool__fills_to_min_and_spare(void **state)
{
	(void)state;
	struct fix *f = fix_new(cfg(2, 8, 1));
	assert_int_equal(tick(f, 0), 2);
	assert_int_equal(f->acts[0].kind, POOL_ACT_CREATE);
	assert_string_equal(f->acts[0].image, IMG_A);
	assert_int_equal(stats(f, 0).creating, 2);
	assert_int_equal(tick(f, 0), 0); /* creations in flight count as supply */
	for (size_t i = 0; i < 2; i++)
		assert_int_equal(pool_entry_ready(f->p, i + 1, NULL, 1500), 0);
	struct pool_stats s = stats(f, 1500);
	assert_int_equal(s.ready, 2);
	assert_int_equal(s.creating, 0);
	assert_true(s.refill_p50_ms == 1500);
	assert_int_equal(pool_entry_ready(f->p, 1, NULL, 1500), -ENOENT); /* not creating any more */
	fix_free(f);
}

static void test_pool__claim_is_fifo_and_grows_at_once(void **state)
{
	(void)state;
	struct fix *f = fix_new(cfg(0, 8, 2));
	settle(f, 0);
	assert_int_equal(stats(f, 0).ready, 2);
	uint64_t e;
	void *data;
	assert_int_equal(pool_claim(f->p, NULL, 10, &e, &data), 0);
	assert_int_equal(e, 1); /* oldest first */
	assert_ptr_equal(data, (void *)(uintptr_t)1);
	/* one in use: desired 3, one idle left: the next tick makes one more */
	assert_int_equal(tick(f, 10), 1);
	assert_int_equal(f->acts[0].kind, POOL_ACT_CREATE);
	assert_int_equal(pool_claim(f->p, NULL, 11, &e, &data), 0);
	assert_int_equal(e, 2);
	struct pool_stats s = stats(f, 11);
	assert_int_equal(s.in_use, 2);
	assert_int_equal(s.desired, 4);
	assert_int_equal(s.claims_warm, 2);
	assert_int_equal(s.cold_fallbacks, 0);
	fix_free(f);
}

static void test_pool__empty_pool_counts_a_cold_fallback(void **state)
{
	(void)state;
	struct fix *f = fix_new(cfg(0, 4, 1));
	uint64_t e = 77;
	void *data = NULL;
	assert_int_equal(pool_claim(f->p, "alice", 0, &e, &data), -EAGAIN);
	assert_int_equal(e, 77); /* untouched */
	struct pool_stats s = stats(f, 0);
	assert_int_equal(s.cold_fallbacks, 1);
	assert_int_equal(s.claims, 1);
	assert_int_equal(s.in_use, 1); /* the cold session is demand too */
	assert_int_equal(s.desired, 2);
	pool_session_end(f->p, 5);
	pool_session_end(f->p, 5); /* never below zero */
	assert_int_equal(stats(f, 5).in_use, 0);
	fix_free(f);
}

static void test_pool__shrinks_only_after_cooldown(void **state)
{
	(void)state;
	struct pool_config c = cfg(1, 10, 5);
	c.cooldown_ms = 60000;
	struct fix *f = fix_new(c);
	settle(f, 0);
	assert_int_equal(stats(f, 0).ready, 5);
	assert_int_equal(stats(f, 0).target, 5);
	c.spare = 1;
	assert_int_equal(pool_set_config(f->p, &c), 0);
	/* desired is 1 now, but the idle entries stay for the cool-down */
	settle(f, 1000);
	assert_int_equal(stats(f, 1000).desired, 1);
	assert_int_equal(stats(f, 1000).target, 5);
	assert_int_equal(stats(f, 1000).ready, 5);
	/* a claim meanwhile: in use 1, desired 2, nothing made (4 idle >= 1) */
	uint64_t e;
	void *d;
	assert_int_equal(pool_claim(f->p, NULL, 2000, &e, &d), 0);
	assert_int_equal(tick(f, 2000), 0);
	pool_session_end(f->p, 2500);
	assert_int_equal(tick(f, 60999), 0);
	assert_int_equal(pool_next_tick_ms(f->p, 3000), 61000);
	unsigned before = f->destroys;
	tick(f, 61000);
	assert_int_equal(f->destroys - before, 3);
	assert_int_equal(f->acts[0].kind, POOL_ACT_DESTROY);
	assert_int_equal(stats(f, 61000).ready, 1);
	assert_int_equal(stats(f, 61000).target, 1);
	/* and up again at once */
	c.spare = 4;
	assert_int_equal(pool_set_config(f->p, &c), 0);
	assert_int_equal(tick(f, 61001), 3);
	fix_free(f);
}

static void test_pool__refill_rate_limited(void **state)
{
	(void)state;
	struct pool_config c = cfg(10, 10, 0);
	c.max_creating = 2;
	c.refill_per_min = 6; /* one every 10 s */
	c.refill_burst = 3;
	struct fix *f = fix_new(c);
	assert_int_equal(tick(f, 0), 2); /* K = 2 in flight */
	assert_int_equal(tick(f, 0), 0);
	assert_int_equal(pool_entry_ready(f->p, 1, NULL, 100), 0);
	assert_int_equal(tick(f, 100), 1); /* the third token of the burst */
	assert_int_equal(pool_entry_ready(f->p, 2, NULL, 200), 0);
	assert_int_equal(tick(f, 200), 0);  /* the bucket is empty */
	int64_t next = pool_next_tick_ms(f->p, 200);
	assert_true(next >= 9999 && next <= 10001);
	assert_int_equal(tick(f, 9000), 0);
	assert_int_equal(tick(f, 10001), 1);
	/* over ten minutes: burst + rate, never more */
	unsigned total = 4;
	for (int64_t t = 10001; t <= 600000; t += 250) {
		struct pool_stats s = stats(f, t);
		(void)s;
		for (uint64_t id = 1; id <= 64; id++)
			(void)pool_entry_ready(f->p, id, NULL, t);
		total += (unsigned)tick(f, t);
	}
	assert_int_equal(total, 10); /* reached min = 10 and stopped */
	assert_int_equal(stats(f, 600000).ready, 10);
	fix_free(f);
}

static void test_pool__failures_back_off(void **state)
{
	(void)state;
	struct pool_config c = cfg(1, 1, 0);
	c.fail_backoff_ms = 1000;
	c.fail_backoff_max_ms = 4000;
	struct fix *f = fix_new(c);
	int64_t now = 0;
	int64_t expect[] = {1000, 2000, 4000, 4000};
	for (int i = 0; i < 4; i++) {
		assert_int_equal(tick(f, now), 1);
		assert_int_equal(pool_entry_failed(f->p, f->created_ids[0], now), 0);
		assert_int_equal(tick(f, now + expect[i] - 1), 0);
		assert_int_equal(pool_next_tick_ms(f->p, now), now + expect[i]);
		now += expect[i];
	}
	assert_int_equal(tick(f, now), 1);
	assert_int_equal(pool_entry_ready(f->p, f->created_ids[0], NULL, now), 0);
	struct pool_stats s = stats(f, now);
	assert_int_equal(s.failed, 4);
	assert_int_equal(s.created, 1);
	assert_int_equal(s.backoff_until_ms, 0);
	assert_int_equal(pool_entry_failed(f->p, 999, now), -ENOENT);
	fix_free(f);
}

static void test_pool__rotation_replaces_one_for_one(void **state)
{
	(void)state;
	struct fix *f = fix_new(cfg(4, 8, 0));
	settle(f, 0);
	uint64_t claimed, e;
	void *d;
	assert_int_equal(pool_claim(f->p, NULL, 0, &claimed, &d), 0);
	settle(f, 0);
	assert_int_equal(stats(f, 0).ready, 3);
	assert_int_equal(pool_set_image(f->p, IMG_B, 100), 0);
	struct pool_stats s = stats(f, 100);
	assert_int_equal(s.ready, 0);
	assert_int_equal(s.stale, 3);
	assert_string_equal(s.image, IMG_B);
	/* the stale entries stay until fresh ones are made */
	assert_int_equal(tick(f, 100), 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(f->acts[i].kind, POOL_ACT_CREATE);
		assert_string_equal(f->acts[i].image, IMG_B);
	}
	uint64_t fresh[3];
	memcpy(fresh, f->created_ids, sizeof(fresh));
	/* a claim meanwhile gets a stale entry, not nothing */
	assert_int_equal(pool_claim(f->p, NULL, 150, &e, &d), 0);
	assert_int_equal(stats(f, 150).stale, 2);
	pool_session_end(f->p, 150);
	assert_int_equal(pool_entry_ready(f->p, fresh[0], NULL, 200), 0);
	assert_int_equal(tick(f, 200), 0); /* 1 fresh + 2 stale = the 3 wanted */
	/* one more fresh entry ready: one stale one goes */
	assert_int_equal(pool_entry_ready(f->p, fresh[1], NULL, 250), 0);
	assert_int_equal(tick(f, 250), 1);
	assert_int_equal(f->acts[0].kind, POOL_ACT_DESTROY);
	assert_string_equal(f->acts[0].image, IMG_A);
	assert_int_equal(pool_entry_ready(f->p, fresh[2], NULL, 300), 0);
	settle(f, 300);
	s = stats(f, 300);
	assert_int_equal(s.stale, 0);
	assert_int_equal(s.ready, 3);
	assert_int_equal(s.in_use, 1); /* the first claimed session: untouched */
	assert_int_equal(f->destroys, 2);
	/* the same image again: nothing happens */
	assert_int_equal(pool_set_image(f->p, IMG_B, 400), 0);
	assert_int_equal(stats(f, 400).ready, 3);
	fix_free(f);
}

static void test_pool__entry_of_an_old_image_arrives_stale(void **state)
{
	(void)state;
	struct fix *f = fix_new(cfg(1, 1, 0));
	assert_int_equal(tick(f, 0), 1);
	uint64_t old = f->created_ids[0];
	assert_int_equal(pool_set_image(f->p, IMG_B, 10), 0);
	assert_int_equal(tick(f, 10), 1); /* a fresh one is asked for at once */
	assert_string_equal(f->acts[0].image, IMG_B);
	assert_int_equal(pool_entry_ready(f->p, old, NULL, 20), 0);
	assert_int_equal(stats(f, 20).stale, 1);
	/* kept while the fresh one is being made, destroyed when it is ready */
	assert_int_equal(tick(f, 20), 0);
	assert_int_equal(pool_entry_ready(f->p, f->created_ids[0], NULL, 30), 0);
	assert_int_equal(tick(f, 30), 1);
	assert_int_equal(f->acts[0].kind, POOL_ACT_DESTROY);
	assert_int_equal(f->acts[0].entry, old);
	fix_free(f);
}

static void test_pool__warm_holds_for_the_user(void **state)
{
	(void)state;
	struct pool_config c = cfg(0, 8, 2);
	c.hold_ms = 1000;
	struct fix *f = fix_new(c);
	settle(f, 0);
	uint64_t held, e;
	int64_t until;
	void *d;
	assert_int_equal(pool_warm(f->p, "alice", 0, &held, &until), 0);
	assert_int_equal(held, 1);
	assert_int_equal(until, 1000);
	/* the hold is demand: a replacement spare is made */
	assert_int_equal(tick(f, 0), 1);
	assert_int_equal(pool_entry_ready(f->p, f->created_ids[0], NULL, 5), 0);
	/* bob gets another entry, not alice's */
	assert_int_equal(pool_claim(f->p, "bob", 10, &e, &d), 0);
	assert_int_not_equal(e, held);
	/* alice gets hers even though another is older in the free list */
	assert_int_equal(pool_claim(f->p, "alice", 20, &e, &d), 0);
	assert_int_equal(e, held);
	struct pool_stats s = stats(f, 20);
	assert_int_equal(s.claims_held, 1);
	assert_int_equal(s.held, 0);
	fix_free(f);
}

static void test_pool__warm_again_extends_and_expiry_frees(void **state)
{
	(void)state;
	struct pool_config c = cfg(0, 8, 1);
	c.hold_ms = 1000;
	struct fix *f = fix_new(c);
	settle(f, 0);
	uint64_t held, again;
	int64_t until;
	assert_int_equal(pool_warm(f->p, "alice", 0, &held, &until), 0);
	assert_int_equal(pool_warm(f->p, "alice", 500, &again, &until), 0);
	assert_int_equal(again, held);
	assert_int_equal(until, 1500);
	settle(f, 500);
	assert_int_equal(stats(f, 500).held, 1);
	assert_int_equal(pool_next_tick_ms(f->p, 600), 1500);
	tick(f, 1500);
	struct pool_stats s = stats(f, 1500);
	assert_int_equal(s.held, 0);
	assert_int_equal(s.holds_expired, 1);
	assert_int_equal(pool_warm(f->p, "", 0, &held, &until), -EINVAL);
	char big[POOL_USER_MAX + 2];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(pool_warm(f->p, big, 0, &held, &until), -ENAMETOOLONG);
	fix_free(f);
}

static void test_pool__warm_on_empty_pool_gets_the_next_entry(void **state)
{
	(void)state;
	struct pool_config c = cfg(0, 8, 0);
	c.hold_ms = 30000;
	struct fix *f = fix_new(c);
	assert_int_equal(tick(f, 0), 0); /* min 0, spare 0: nothing */
	uint64_t held, e;
	int64_t until;
	void *d;
	assert_int_equal(pool_warm(f->p, "carol", 0, &held, &until), 0);
	assert_int_equal(held, 0); /* being made */
	assert_int_equal(stats(f, 0).pending_holds, 1);
	assert_int_equal(tick(f, 0), 1); /* the hold is demand */
	uint64_t made = f->created_ids[0];
	assert_int_equal(pool_entry_ready(f->p, made, NULL, 1000), 0);
	assert_int_equal(stats(f, 1000).held, 1);
	/* dave gets nothing but carol's entry: he takes it (docs/pool.md), and
	 * carol's hold waits for the next entry */
	assert_int_equal(pool_claim(f->p, "dave", 2000, &e, &d), 0);
	assert_int_equal(e, made);
	struct pool_stats s = stats(f, 2000);
	assert_int_equal(s.holds_stolen, 1);
	assert_int_equal(s.pending_holds, 1);
	assert_int_equal(tick(f, 2000), 1);
	uint64_t second = f->created_ids[0];
	assert_int_equal(pool_entry_ready(f->p, second, NULL, 3000), 0);
	assert_int_equal(pool_claim(f->p, "carol", 4000, &e, &d), 0);
	assert_int_equal(e, second);
	assert_int_equal(stats(f, 4000).claims_held, 1);
	fix_free(f);
}

static void test_pool__claim_drops_the_users_pending_hold(void **state)
{
	(void)state;
	struct fix *f = fix_new(cfg(0, 8, 0));
	uint64_t held, e;
	int64_t until;
	void *d;
	assert_int_equal(pool_warm(f->p, "erin", 0, &held, &until), 0);
	assert_int_equal(pool_claim(f->p, "erin", 10, &e, &d), -EAGAIN);
	struct pool_stats s = stats(f, 10);
	assert_int_equal(s.pending_holds, 0);
	assert_int_equal(s.cold_fallbacks, 1);
	fix_free(f);
}

static void test_pool__claim_is_constant_time(void **state)
{
	(void)state;
	struct pool_config c = cfg(POOL_LIMIT_MAX, POOL_LIMIT_MAX, 0);
	struct fix *f = fix_new(c);
	for (int64_t t = 0; t < 100000; t += 1000) {
		size_t n = pool_tick(f->p, t, f->acts, 64);
		if (n == 0)
			break;
		for (size_t k = 0; k < n; k++)
			assert_int_equal(pool_entry_ready(f->p, f->acts[k].entry, NULL, t), 0);
	}
	assert_int_equal(stats(f, 0).ready, POOL_LIMIT_MAX);
	/* claims come off the head in order: ids 1, 2, 3, ... */
	for (uint64_t i = 1; i <= POOL_LIMIT_MAX; i++) {
		uint64_t e;
		void *d;
		assert_int_equal(pool_claim(f->p, NULL, 0, &e, &d), 0);
		assert_int_equal(e, i);
	}
	fix_free(f);
}

static void test_pool__tick_respects_the_action_capacity(void **state)
{
	(void)state;
	struct fix *f = fix_new(cfg(5, 5, 0));
	struct pool_action a[2];
	assert_int_equal(pool_tick(f->p, 0, a, 2), 2);
	assert_int_equal(pool_tick(f->p, 0, a, 2), 2);
	assert_int_equal(pool_tick(f->p, 0, a, 2), 1);
	assert_int_equal(pool_tick(f->p, 0, a, 2), 0);
	assert_int_equal(stats(f, 0).creating, 5);
	fix_free(f);
}

static void test_pool__adopt_lost_and_foreach(void **state)
{
	(void)state;
	struct fix *f = fix_new(cfg(0, 4, 0));
	uint64_t a, b;
	assert_int_equal(pool_entry_adopt(f->p, IMG_A, (void *)0x10, 0, &a), 0);
	assert_int_equal(pool_entry_adopt(f->p, IMG_B, (void *)0x20, 0, &b), 0);
	struct pool_stats s = stats(f, 0);
	assert_int_equal(s.ready, 1);
	assert_int_equal(s.stale, 1);
	/* spare 0: the adopted ones are surplus and go (stale first) */
	tick(f, 0);
	assert_int_equal(f->nacts, 2);
	assert_ptr_equal(f->acts[0].data, (void *)0x20);
	assert_ptr_equal(f->acts[1].data, (void *)0x10);
	assert_int_equal(pool_entry_adopt(f->p, IMG_A, (void *)0x30, 0, &a), 0);
	assert_int_equal(pool_entry_lost(f->p, a, 0), 0);
	assert_int_equal(pool_entry_lost(f->p, a, 0), -ENOENT);
	assert_int_equal(stats(f, 0).ready, 0);
	fix_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool__fills_to_min_and_spare),
		cmocka_unit_test(test_pool__claim_is_fifo_and_grows_at_once),
		cmocka_unit_test(test_pool__empty_pool_counts_a_cold_fallback),
		cmocka_unit_test(test_pool__shrinks_only_after_cooldown),
		cmocka_unit_test(test_pool__refill_rate_limited),
		cmocka_unit_test(test_pool__failures_back_off),
		cmocka_unit_test(test_pool__rotation_replaces_one_for_one),
		cmocka_unit_test(test_pool__entry_of_an_old_image_arrives_stale),
		cmocka_unit_test(test_pool__warm_holds_for_the_user),
		cmocka_unit_test(test_pool__warm_again_extends_and_expiry_frees),
		cmocka_unit_test(test_pool__warm_on_empty_pool_gets_the_next_entry),
		cmocka_unit_test(test_pool__claim_drops_the_users_pending_hold),
		cmocka_unit_test(test_pool__claim_is_constant_time),
		cmocka_unit_test(test_pool__tick_respects_the_action_capacity),
		cmocka_unit_test(test_pool__adopt_lost_and_foreach),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
