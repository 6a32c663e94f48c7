/* Fixtures shared by the unit tests of snapshot/ (tests/unit/test_snapshot_*.c).
 *
 * struct fx: a store in a fresh temporary directory ($TMPDIR or /tmp,
 * NAME.XXXXXX), opened (created) before each test and removed with
 * everything in it afterwards. A test file gives its setup a name:
 *
 *   static int setup(void **state) { return fx_setup(state, "snapgc"); }
 *   ... cmocka_unit_test_setup_teardown(fn, setup, fx_teardown) ...
 *
 * Include after <cmocka.h> and "snapshot_int.h". */
#ifndef THAW_TEST_UTIL_H
#define THAW_TEST_UTIL_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

struct fx {
	char dir[PATH_MAX];           /* the temporary directory */
	char store_dir[PATH_MAX + 8]; /* dir/store */
	struct snap_store *s;         /* open on store_dir */
};

static inline int fx_setup(void **state, const char *name)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	const char *tmp = getenv("TMPDIR");
	snprintf(f->dir, sizeof(f->dir), "%s/%s.XXXXXX", tmp ? tmp : "/tmp", name);
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->store_dir, sizeof(f->store_dir), "%s/store", f->dir);
	assert_int_equal(snap_store_open(&f->s, f->store_dir, true), 0);
	*state = f;
	return 0;
}

static inline int fx_teardown(void **state)
{
	struct fx *f = *state;
	snap_store_free(f->s);
	snap__rm_rf(f->dir);
	free(f);
	return 0;
}

/* A test of the list in main() with the file's setup and fx_teardown. */
#define FX_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, fx_teardown)

#endif
