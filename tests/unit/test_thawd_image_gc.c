/*
 * Unit tests of sessiond/image_gc_plan.c: which layers of a store listing
 * the store gc keeps and which it may remove (chains of roots, the newest
 * image of each repository, the snapshot retention and its floor, layers of
 * unknown repositories, roots that are not in the store).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "snapshot.h"
#include "thawd.h"

#define NOW 1000000000LL
#define DAY (86400LL * 1000)

/* A 40-hex id from a small number. */
static void mkid(char out[41], int n)
{
	snprintf(out, 41, "%040x", n);
}

static void layer(struct thawd_gc_layer *x, int id, int parent, const char *repo, int kind, int64_t created_ms)
{
	memset(x, 0, sizeof(*x));
	mkid(x->id, id);
	if (parent)
		mkid(x->parent, parent);
	snprintf(x->repo, sizeof(x->repo), "%s", repo);
	x->kind = kind;
	x->created_ms = created_ms;
}

static json_t *roots_of(int n, ...)
{
	json_t *o = json_object();
	va_list ap;
	va_start(ap, n);
	for (int i = 0; i < n; i++) {
		char id[41];
		mkid(id, va_arg(ap, int));
		json_object_set_new(o, id, json_true());
	}
	va_end(ap);
	return o;
}

/* Images 5 (current, parent 4), 4 (parent 3), 3, 2 (parent 1), 1 of repo
 * "a", newest first. */
static size_t five_images(struct thawd_gc_layer *v)
{
	layer(&v[0], 5, 4, "a", SNAP_KIND_IMAGE, NOW - 1000);
	layer(&v[1], 4, 3, "a", SNAP_KIND_IMAGE, NOW - 2000);
	layer(&v[2], 3, 0, "a", SNAP_KIND_IMAGE, NOW - 3000);
	layer(&v[3], 2, 1, "a", SNAP_KIND_IMAGE, NOW - 4000);
	layer(&v[4], 1, 0, "a", SNAP_KIND_IMAGE, NOW - 5000);
	return 5;
}

static void test_thawd_image_gc__newest_image_chain_kept(void **state)
{
	(void)state;
	struct thawd_gc_layer v[8];
	size_t n = five_images(v);
	json_t *roots = json_object(), *repos = json_pack("[s]", "a");
	size_t kept = thawd__gc_mark(v, n, roots, repos, NOW, 7 * DAY);
	assert_int_equal(kept, 3); /* 5 -> 4 -> 3 */
	assert_true(v[0].keep && v[1].keep && v[2].keep);
	assert_false(v[3].keep || v[4].keep);
	assert_true(v[3].removable && v[4].removable);
	assert_false(v[0].removable || v[1].removable || v[2].removable);
	json_decref(roots);
	json_decref(repos);
}

static void test_thawd_image_gc__root_keeps_its_chain(void **state)
{
	(void)state;
	struct thawd_gc_layer v[8];
	size_t n = five_images(v);
	/* a session mounted from image 2 keeps 2 and its parent 1 */
	json_t *roots = roots_of(1, 2), *repos = json_pack("[s]", "a");
	assert_int_equal(thawd__gc_mark(v, n, roots, repos, NOW, 7 * DAY), 5);
	for (size_t i = 0; i < n; i++) {
		assert_true(v[i].keep);
		assert_false(v[i].removable);
	}
	json_decref(roots);
	json_decref(repos);
}

static void test_thawd_image_gc__unknown_repo_and_missing_root(void **state)
{
	(void)state;
	struct thawd_gc_layer v[8];
	size_t n = five_images(v);
	layer(&v[n++], 9, 0, "other", SNAP_KIND_IMAGE, NOW - 100 * DAY);
	layer(&v[n++], 10, 0, "other", SNAP_KIND_IMAGE, NOW - 200 * DAY);
	/* a root that is not in the store, and a malformed one, change nothing */
	json_t *roots = roots_of(1, 77), *repos = json_pack("[s]", "a");
	json_object_set_new(roots, "../../etc", json_true());
	thawd__gc_mark(v, n, roots, repos, NOW, 7 * DAY);
	assert_true(v[5].keep);       /* the newest image of "other" */
	assert_false(v[6].keep);
	assert_false(v[6].removable); /* "other" is not a registered repository */
	assert_true(v[3].removable);
	json_decref(roots);
	json_decref(repos);
}

static void test_thawd_image_gc__snapshot_retention(void **state)
{
	(void)state;
	struct thawd_gc_layer v[8];
	size_t n = 0;
	layer(&v[n++], 20, 11, "a", SNAP_KIND_PRE_EXIT, NOW - 1 * DAY);  /* within 7 days */
	layer(&v[n++], 21, 12, "a", SNAP_KIND_SESSION, NOW - 8 * DAY);   /* expired */
	layer(&v[n++], 22, 21, "a", SNAP_KIND_SESSION, NOW - 9 * DAY);   /* expired, parent of 21 */
	layer(&v[n++], 23, 12, "a", SNAP_KIND_SESSION, NOW - 10 * DAY);  /* expired but a root */
	layer(&v[n++], 13, 0, "a", SNAP_KIND_IMAGE, NOW - 1000);         /* current image */
	layer(&v[n++], 12, 0, "a", SNAP_KIND_IMAGE, NOW - 11 * DAY);
	layer(&v[n++], 11, 0, "a", SNAP_KIND_IMAGE, NOW - 12 * DAY);
	json_t *roots = roots_of(1, 23), *repos = json_pack("[s]", "a");
	thawd__gc_mark(v, n, roots, repos, NOW, 7 * DAY);
	assert_true(v[0].keep && v[6].keep);  /* young snapshot and its image */
	assert_true(v[3].keep && v[5].keep);  /* root 23 and its image 12 */
	assert_true(v[4].keep);               /* current */
	assert_true(v[1].removable && v[2].removable);
	json_decref(roots);
	json_decref(repos);
}

static void test_thawd_image_gc__retention_floor(void **state)
{
	(void)state;
	struct thawd_gc_layer v[4];
	size_t n = 0;
	layer(&v[n++], 30, 31, "a", SNAP_KIND_SESSION, NOW - (THAWD_GC_SNAPSHOT_FLOOR_S * 1000 - 500));
	layer(&v[n++], 31, 0, "a", SNAP_KIND_IMAGE, NOW - 60000);
	layer(&v[n++], 32, 31, "a", SNAP_KIND_PRE_EXIT, NOW - (THAWD_GC_SNAPSHOT_FLOOR_S * 1000 + 500));
	json_t *roots = json_object(), *repos = json_pack("[s]", "a");
	/* retention 0: ended sessions' snapshots go, except those just committed */
	thawd__gc_mark(v, n, roots, repos, NOW, 0);
	assert_true(v[0].keep);
	assert_true(v[2].removable);
	json_decref(roots);
	json_decref(repos);
}

static void test_thawd_image_gc__empty(void **state)
{
	(void)state;
	json_t *roots = json_object(), *repos = json_array();
	assert_int_equal(thawd__gc_mark(NULL, 0, roots, repos, NOW, 0), 0);
	json_decref(roots);
	json_decref(repos);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_thawd_image_gc__newest_image_chain_kept),
		cmocka_unit_test(test_thawd_image_gc__root_keeps_its_chain),
		cmocka_unit_test(test_thawd_image_gc__unknown_repo_and_missing_root),
		cmocka_unit_test(test_thawd_image_gc__snapshot_retention),
		cmocka_unit_test(test_thawd_image_gc__retention_floor),
		cmocka_unit_test(test_thawd_image_gc__empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
