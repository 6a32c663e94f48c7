/* Unit tests of prefetch traces (pool/prefetch.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pool.h"

static void rec(struct pool_prefetch *pf, const char *a, const char *b, const char *c)
{
	const char *paths[3];
	uint64_t sizes[3];
	size_t n = 0;
	const char *in[3] = {a, b, c};
	for (int i = 0; i < 3; i++)
		if (in[i]) {
			paths[n] = in[i];
			sizes[n] = strlen(in[i]) * 100; /* a size per name */
			n++;
		}
	assert_int_equal(pool_prefetch_record(pf, paths, sizes, n), 0);
}

static void test_pool_prefetch__plan_is_most_frequent_first_within_budget(void **state)
{
	(void)state;
	struct pool_prefetch *pf;
	assert_int_equal(pool_prefetch_new(&pf), 0);
	rec(pf, "src/main.c", "README", NULL);      /* 1000, 600 */
	rec(pf, "src/main.c", "Makefile", NULL);    /* 800 */
	rec(pf, "src/main.c", "Makefile", "a/b/c/d/e.h"); /* 1100 */
	assert_int_equal(pool_prefetch_sessions(pf), 3);
	assert_int_equal(pool_prefetch_paths(pf), 4);
	char **v;
	size_t n;
	uint64_t bytes;
	assert_int_equal(pool_prefetch_plan(pf, 1u << 20, 1, &v, &n, &bytes), 0);
	assert_int_equal(n, 4);
	assert_string_equal(v[0], "src/main.c");
	assert_string_equal(v[1], "Makefile");
	assert_string_equal(v[2], "README");       /* ties: path order */
	assert_string_equal(v[3], "a/b/c/d/e.h");
	pool_strv_free(v, n);
	/* budget 1900: main.c (1000) + Makefile (800); README (600) does not fit */
	assert_int_equal(pool_prefetch_plan(pf, 1900, 1, &v, &n, &bytes), 0);
	assert_int_equal(n, 2);
	assert_int_equal(bytes, 1800);
	pool_strv_free(v, n);
	/* budget 1700: main.c, then Makefile is skipped but README fits */
	assert_int_equal(pool_prefetch_plan(pf, 1700, 1, &v, &n, &bytes), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[1], "README");
	pool_strv_free(v, n);
	/* at least two sessions */
	assert_int_equal(pool_prefetch_plan(pf, 1u << 20, 2, &v, &n, &bytes), 0);
	assert_int_equal(n, 2);
	pool_strv_free(v, n);
	pool_prefetch_free(pf);
}

static void test_pool_prefetch__bad_paths_record_nothing(void **state)
{
	(void)state;
	struct pool_prefetch *pf;
	assert_int_equal(pool_prefetch_new(&pf), 0);
	const char *bad[] = {"ok", "../etc/passwd"};
	uint64_t sz[] = {1, 1};
	assert_int_equal(pool_prefetch_record(pf, bad, sz, 2), -EINVAL);
	const char *others[] = {"/abs", "a//b", "a/./b", "tab\there", "dir/", ""};
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		assert_int_equal(pool_prefetch_record(pf, &others[i], sz, 1), -EINVAL);
	assert_int_equal(pool_prefetch_paths(pf), 0);
	assert_int_equal(pool_prefetch_sessions(pf), 0);
	/* a duplicate inside one session counts once */
	const char *dup[] = {"x", "x"};
	assert_int_equal(pool_prefetch_record(pf, dup, sz, 2), 0);
	char **v;
	size_t n;
	assert_int_equal(pool_prefetch_plan(pf, 100, 2, &v, &n, NULL), 0);
	assert_int_equal(n, 0);
	pool_strv_free(v, n);
	pool_prefetch_free(pf);
}

static void test_pool_prefetch__counts_decay_and_the_table_is_bounded(void **state)
{
	(void)state;
	struct pool_prefetch *pf;
	assert_int_equal(pool_prefetch_new(&pf), 0);
	/* "old" in one session, then 63 sessions of other things: the halving at
	 * session 64 drops it */
	rec(pf, "old", NULL, NULL);
	for (int i = 1; i < (int)POOL_PREFETCH_DECAY_SESSIONS; i++)
		rec(pf, "hot", NULL, NULL);
	assert_int_equal(pool_prefetch_paths(pf), 1);
	char **v;
	size_t n;
	assert_int_equal(pool_prefetch_plan(pf, 1000, 1, &v, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0], "hot");
	pool_strv_free(v, n);
	/* a session with more distinct paths than the table holds is refused;
	 * many sessions of distinct paths keep the table at its bound */
	static char names[POOL_PREFETCH_MAX_PATHS][16];
	const char *paths[POOL_PREFETCH_MAX_PATHS];
	uint64_t sizes[POOL_PREFETCH_MAX_PATHS];
	for (unsigned round = 0; round < 3; round++) {
		for (unsigned i = 0; i < POOL_PREFETCH_MAX_PATHS; i++) {
			snprintf(names[i], sizeof(names[i]), "r%u/f%u", round, i);
			paths[i] = names[i];
			sizes[i] = 1;
		}
		assert_int_equal(pool_prefetch_record(pf, paths, sizes, POOL_PREFETCH_MAX_PATHS), 0);
		assert_true(pool_prefetch_paths(pf) <= POOL_PREFETCH_MAX_PATHS);
	}
	assert_int_equal(pool_prefetch_plan(pf, UINT64_MAX, 1, &v, &n, NULL), 0);
	assert_string_equal(v[0], "hot"); /* the most counted survived */
	pool_strv_free(v, n);
	pool_prefetch_free(pf);
}

static void test_pool_prefetch__save_load_roundtrip_and_bad_files(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_pool_prefetch.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[256], bad[256];
	snprintf(path, sizeof(path), "%s/trace", dir);
	snprintf(bad, sizeof(bad), "%s/bad", dir);
	struct pool_prefetch *pf, *back;
	assert_int_equal(pool_prefetch_new(&pf), 0);
	rec(pf, "a/x.c", "b", NULL);
	rec(pf, "a/x.c", NULL, NULL);
	assert_int_equal(pool_prefetch_save(pf, path), 0);
	assert_int_equal(pool_prefetch_new(&back), 0);
	assert_int_equal(pool_prefetch_load(back, path), 0);
	assert_int_equal(pool_prefetch_sessions(back), 2);
	assert_int_equal(pool_prefetch_paths(back), 2);
	char **v;
	size_t n;
	uint64_t bytes;
	assert_int_equal(pool_prefetch_plan(back, 10000, 2, &v, &n, &bytes), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0], "a/x.c");
	assert_int_equal(bytes, 500);
	pool_strv_free(v, n);
	/* malformed files leave the table as it was */
	const char *bodies[] = {
		"nonsense\n",
		"thaw-prefetch 1\t2\n1\t5\t../up\n",
		"thaw-prefetch 1\t2\nx\t5\tp\n",
		"thaw-prefetch 1\t2\n1\t5\tp\n1\t5\tp\n",
		"thaw-prefetch 1\t2\n1\t5\tp",
	};
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		FILE *f = fopen(bad, "w");
		assert_non_null(f);
		fputs(bodies[i], f);
		fclose(f);
		assert_int_equal(pool_prefetch_load(back, bad), -EINVAL);
		assert_int_equal(pool_prefetch_paths(back), 2);
	}
	assert_int_equal(pool_prefetch_load(back, "/nonexistent/trace"), -ENOENT);
	pool_prefetch_free(pf);
	pool_prefetch_free(back);
	unlink(path);
	unlink(bad);
	rmdir(dir);
}

static void test_pool_prefetch__trace_window_and_commit(void **state)
{
	(void)state;
	struct pool_trace *t;
	struct pool_prefetch *pf;
	assert_int_equal(pool_prefetch_new(&pf), 0);
	assert_int_equal(pool_trace_new(&t, 1000, 5000), 0);
	assert_int_equal(pool_trace_add(t, "a", 10, 1000), 1);
	assert_int_equal(pool_trace_add(t, "a", 20, 2000), 0);   /* duplicate: bigger size kept */
	assert_int_equal(pool_trace_add(t, "b/c", 5, 5999), 1);
	assert_int_equal(pool_trace_add(t, "late", 5, 6000), 0); /* after the window */
	assert_int_equal(pool_trace_add(t, "../x", 5, 2000), -EINVAL);
	assert_false(pool_trace_done(t, 5999));
	assert_true(pool_trace_done(t, 6000));
	assert_int_equal(pool_trace_commit(t, pf), 0);
	assert_int_equal(pool_prefetch_sessions(pf), 1);
	char **v;
	size_t n;
	uint64_t bytes;
	assert_int_equal(pool_prefetch_plan(pf, 100, 1, &v, &n, &bytes), 0);
	assert_int_equal(n, 2);
	assert_int_equal(bytes, 25);
	pool_strv_free(v, n);
	pool_trace_free(t);
	pool_prefetch_free(pf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool_prefetch__plan_is_most_frequent_first_within_budget),
		cmocka_unit_test(test_pool_prefetch__bad_paths_record_nothing),
		cmocka_unit_test(test_pool_prefetch__counts_decay_and_the_table_is_bounded),
		cmocka_unit_test(test_pool_prefetch__save_load_roundtrip_and_bad_files),
		cmocka_unit_test(test_pool_prefetch__trace_window_and_commit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
