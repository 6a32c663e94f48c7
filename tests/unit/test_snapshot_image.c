/*
 * snap_image_build: what is refused before anything is mounted (no FUSE
 * needed): bad options, a missing repository, a previous layer that is
 * unknown, not an image, or whose objects are missing. Each failure says why,
 * writes no layer and leaves no scratch directory. The builds themselves are
 * tested by tests/t0460-t0462 (FUSE, bubblewrap).
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "snapshot.h"

#include "banned.h"

struct fixture {
	char dir[PATH_MAX - 64];
	char store_dir[PATH_MAX];
	char work[PATH_MAX];
	char repo[PATH_MAX];
	struct snap_store *store;
};

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static int count_entries(const char *dir)
{
	int n = 0;
	char cmd[PATH_MAX + 64];
	snprintf(cmd, sizeof(cmd), "ls -A '%s' 2>/dev/null | wc -l", dir);
	FILE *p = popen(cmd, "r");
	if (p) {
		if (fscanf(p, "%d", &n) != 1)
			n = -1;
		pclose(p);
	}
	return n;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	const char *tmp = getenv("TMPDIR");
	snprintf(f->dir, sizeof(f->dir), "%s/test_image.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->store_dir, sizeof(f->store_dir), "%s/store", f->dir);
	snprintf(f->work, sizeof(f->work), "%s/work", f->dir);
	snprintf(f->repo, sizeof(f->repo), "%s/repo.git", f->dir);
	assert_int_equal(mkdir(f->work, 0700), 0);
	assert_int_equal(snap_store_open(&f->store, f->store_dir, true), 0);
	git_libgit2_init();
	git_repository *r = NULL;
	assert_int_equal(git_repository_init(&r, f->repo, 1), 0);
	git_repository_free(r);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	snap_store_free(f->store);
	(void)nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	git_libgit2_shutdown();
	free(f);
	return 0;
}

/* Writes a layer of the given kind with one file whose object may be absent. */
static void write_layer(struct fixture *f, int kind, bool with_object, char id[SNAP_ID_HEXLEN + 1])
{
	struct snap_meta m;
	memset(&m, 0, sizeof(m));
	m.kind = kind;
	snprintf(m.repo, sizeof(m.repo), "demo");
	snprintf(m.base_commit, sizeof(m.base_commit), "%040d", 0);
	snprintf(m.synced_commit, sizeof(m.synced_commit), "%040d", 0);
	git_oid cid;
	bool fresh;
	const char *content = with_object ? "abc" : "gone";
	assert_int_equal(snap_object_put_buf(f->store, content, strlen(content), &cid, &fresh), 0);
	struct snap_entry e = {.path = "built.txt", .type = SNAP_T_REG, .mode = 0644, .size = strlen(content), .cid = cid};
	struct snap_writer *w = NULL;
	assert_int_equal(snap_writer_new(&w, f->store, &m), 0);
	assert_int_equal(snap_writer_add(w, &e), 0);
	assert_int_equal(snap_writer_commit(w, id), 0);
	snap_writer_free(w);
	if (!with_object) { /* the object goes after the layer names it */
		char hex[GIT_OID_HEXSZ + 1], path[PATH_MAX + 64];
		git_oid_tostr(hex, sizeof(hex), &cid);
		snprintf(path, sizeof(path), "%s/objects/%.2s/%s", f->store_dir, hex, hex + 2);
		assert_int_equal(unlink(path), 0);
	}
}

static int layer_count(struct fixture *f)
{
	char d[PATH_MAX + 16];
	snprintf(d, sizeof(d), "%s/layers", f->store_dir);
	return count_entries(d);
}

static struct snap_image_opts base_opts(struct fixture *f, const char *const *cmds, size_t n)
{
	struct snap_image_opts o = {
		.repo = f->repo, .repo_name = "demo", .commands = cmds, .ncommands = n, .workdir = f->work,
		.timeout_s = 5,
	};
	return o;
}

static void test_snapshot_image__rejects_empty_command(void **state)
{
	struct fixture *f = *state;
	const char *cmds[] = {"true", ""};
	struct snap_image_opts o = base_opts(f, cmds, 2);
	struct snap_image_result res;
	assert_int_equal(snap_image_build(f->store, &o, &res), -EINVAL);
	assert_non_null(strstr(res.error, "command 2 is empty"));
	assert_non_null(strstr(snap_last_error(), "command 2 is empty"));
	assert_string_equal(res.id, "");
	assert_int_equal(count_entries(f->work), 0);
}

static void test_snapshot_image__rejects_missing_repo(void **state)
{
	struct fixture *f = *state;
	const char *cmds[] = {"true"};
	struct snap_image_opts o = base_opts(f, cmds, 1);
	o.repo = "/nonexistent/thaw/repo.git";
	struct snap_image_result res;
	assert_true(snap_image_build(f->store, &o, &res) < 0);
	assert_non_null(strstr(res.error, "cannot open repository /nonexistent/thaw/repo.git"));
	assert_int_equal(count_entries(f->work), 0);
	assert_int_equal(layer_count(f), 0);
}

static void test_snapshot_image__rejects_empty_repo(void **state)
{
	struct fixture *f = *state;
	const char *cmds[] = {"true"};
	struct snap_image_opts o = base_opts(f, cmds, 1);
	struct snap_image_result res;
	assert_int_equal(snap_image_build(f->store, &o, &res), -ENOENT);
	assert_non_null(strstr(res.error, "has no branch"));
	assert_int_equal(count_entries(f->work), 0);
}

static void test_snapshot_image__rejects_too_long_commands(void **state)
{
	struct fixture *f = *state;
	static char big[5000];
	memset(big, 'x', sizeof(big) - 1);
	const char *cmds[] = {big};
	struct snap_image_opts o = base_opts(f, cmds, 1);
	struct snap_image_result res;
	assert_int_equal(snap_image_build(f->store, &o, &res), -ENAMETOOLONG);
	assert_non_null(strstr(res.error, "longer than"));
}

static void test_snapshot_image__rejects_unknown_previous(void **state)
{
	struct fixture *f = *state;
	const char *cmds[] = {"true"};
	struct snap_image_opts o = base_opts(f, cmds, 1);
	o.previous = "0123456789abcdef";
	struct snap_image_result res;
	assert_true(snap_image_build(f->store, &o, &res) < 0);
	assert_non_null(strstr(res.error, "previous image 0123456789abcdef"));
	assert_int_equal(layer_count(f), 0);
}

static void test_snapshot_image__rejects_session_as_previous(void **state)
{
	struct fixture *f = *state;
	char id[SNAP_ID_HEXLEN + 1];
	write_layer(f, SNAP_KIND_SESSION, true, id);
	const char *cmds[] = {"true"};
	struct snap_image_opts o = base_opts(f, cmds, 1);
	o.previous = id;
	struct snap_image_result res;
	assert_int_equal(snap_image_build(f->store, &o, &res), -EINVAL);
	assert_non_null(strstr(res.error, "is a session snapshot, not an image"));
	assert_int_equal(layer_count(f), 1);
	assert_int_equal(count_entries(f->work), 0);
}

static void test_snapshot_image__rejects_previous_with_missing_objects(void **state)
{
	struct fixture *f = *state;
	char id[SNAP_ID_HEXLEN + 1];
	write_layer(f, SNAP_KIND_IMAGE, false, id);
	const char *cmds[] = {"true"};
	struct snap_image_opts o = base_opts(f, cmds, 1);
	o.previous = id;
	struct snap_image_result res;
	assert_true(snap_image_build(f->store, &o, &res) < 0);
	assert_non_null(strstr(res.error, "is not usable"));
	assert_non_null(strstr(res.error, "1 objects missing"));
	assert_int_equal(layer_count(f), 1);
	assert_int_equal(count_entries(f->work), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_snapshot_image__rejects_empty_command, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_image__rejects_missing_repo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_image__rejects_empty_repo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_image__rejects_too_long_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_image__rejects_unknown_previous, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_image__rejects_session_as_previous, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_image__rejects_previous_with_missing_objects, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
