/* Unit tests of the inode table (fs/inode.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "fs_int.h"

static struct fs_node *mk(void)
{
	struct fs_node *n = calloc(1, sizeof(*n));
	n->name = calloc(1, 1);
	return n;
}

static void test_itable__numbers_start_at_root_and_are_sequential(void **state)
{
	(void)state;
	struct fs_itable *t = calloc(1, sizeof(*t));
	assert_int_equal(fs__itable_init(t), 0);
	for (uint64_t i = 1; i <= 40000; i++) {
		struct fs_node *n = mk();
		assert_int_equal(fs__itable_add(t, n), 0);
		assert_int_equal(n->ino, i);
	}
	assert_int_equal(fs__itable_count(t), 40000);
	assert_ptr_equal(fs__itable_get(t, 0), NULL);
	assert_ptr_equal(fs__itable_get(t, 40001), NULL);
	assert_ptr_equal(fs__itable_get(t, UINT64_MAX), NULL);
	for (uint64_t i = 1; i <= 40000; i += 997)
		assert_int_equal(fs__itable_get(t, i)->ino, i);
	fs__itable_release(t);
	free(t);
}

struct adder {
	struct fs_itable *t;
	struct fs_node *nodes[5000];
};

static void *add_many(void *arg)
{
	struct adder *a = arg;
	for (int i = 0; i < 5000; i++) {
		a->nodes[i] = mk();
		if (fs__itable_add(a->t, a->nodes[i]) < 0)
			return (void *)1;
	}
	return NULL;
}

static void test_itable__concurrent_adds_get_unique_numbers(void **state)
{
	(void)state;
	struct fs_itable *t = calloc(1, sizeof(*t));
	assert_int_equal(fs__itable_init(t), 0);
	struct adder a[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		a[i].t = t;
		pthread_create(&th[i], NULL, add_many, &a[i]);
	}
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(th[i], &r);
		assert_null(r);
	}
	uint8_t *seen = calloc(20001, 1);
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 5000; j++) {
			uint64_t ino = a[i].nodes[j]->ino;
			assert_in_range(ino, 1, 20000);
			assert_int_equal(seen[ino], 0);
			seen[ino] = 1;
			assert_ptr_equal(fs__itable_get(t, ino), a[i].nodes[j]);
		}
	free(seen);
	fs__itable_release(t);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_itable__numbers_start_at_root_and_are_sequential),
		cmocka_unit_test(test_itable__concurrent_adds_get_unique_numbers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
