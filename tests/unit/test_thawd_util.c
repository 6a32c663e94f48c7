/*
 * Unit tests of sessiond/util.c: ids, names, directories, histograms, the
 * SQLite helpers.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "thawd.h"

static void test_thawd_util__session_ids(void **state)
{
	(void)state;
	assert_true(thawd_id_valid("s-0123456789abcdef"));
	assert_false(thawd_id_valid("s-0123456789ABCDEF")); /* lowercase only */
	assert_false(thawd_id_valid("s-0123456789abcde"));
	assert_false(thawd_id_valid("s-0123456789abcdef0"));
	assert_false(thawd_id_valid("x-0123456789abcdef"));
	assert_false(thawd_id_valid("s-../../etc/passwd"));
	assert_false(thawd_id_valid("s-0123456789abcde/"));
	assert_false(thawd_id_valid(""));
	assert_false(thawd_id_valid(NULL));
}

static void test_thawd_util__layer_ids(void **state)
{
	(void)state;
	assert_true(thawd_layer_id_valid("deadbeef"));
	assert_true(thawd_layer_id_valid("0123456789abcdef0123456789abcdef01234567"));
	assert_false(thawd_layer_id_valid("deadbee"));                                   /* < 8 */
	assert_false(thawd_layer_id_valid("0123456789abcdef0123456789abcdef012345678")); /* > 40 */
	assert_false(thawd_layer_id_valid("deadbeeg"));
	assert_false(thawd_layer_id_valid("../deadbeef"));
}

static void test_thawd_util__repo_names(void **state)
{
	(void)state;
	assert_true(thawd_name_valid("demo"));
	assert_true(thawd_name_valid("my-repo_1.2"));
	assert_false(thawd_name_valid(".hidden"));
	assert_false(thawd_name_valid(".."));
	assert_false(thawd_name_valid("a/b"));
	assert_false(thawd_name_valid("a b"));
	assert_false(thawd_name_valid(""));
	char long_name[THAWD_NAME_MAX + 2];
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = 0;
	assert_false(thawd_name_valid(long_name));
	long_name[THAWD_NAME_MAX] = 0;
	assert_true(thawd_name_valid(long_name));
}

static void test_thawd_util__mkdirs_rm_rf(void **state)
{
	(void)state;
	char tmpl[] = "/tmp/thawd-util.XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	char p[256];
	snprintf(p, sizeof(p), "%s/a/b/c", tmpl);
	assert_int_equal(thawd_mkdirs(p, 0700), 0);
	assert_int_equal(thawd_mkdirs(p, 0700), 0); /* exists: fine */
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	snprintf(p, sizeof(p), "%s/a/b/file", tmpl);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(thawd_rm_rf(tmpl), 0);
	assert_int_equal(stat(tmpl, &st), -1);
	assert_int_equal(thawd_rm_rf(tmpl), 0); /* absent: fine */
}

static void test_thawd_util__histogram(void **state)
{
	(void)state;
	struct thawd_hist h;
	memset(&h, 0, sizeof(h));
	thawd_hist_add(&h, 0.001);
	thawd_hist_add(&h, 0.2);
	thawd_hist_add(&h, 100);
	assert_int_equal(h.count, 3);
	assert_int_equal(h.bucket[0], 1);              /* le 0.005 */
	assert_int_equal(h.bucket[4], 2);              /* le 0.5: cumulative */
	assert_int_equal(h.bucket[THAWD_HIST_N - 1], 3); /* +Inf */
	assert_true(h.sum > 100.2 && h.sum < 100.21);
}

static void collect_row(sqlite3_stmt *st, void *arg)
{
	json_t *o = json_pack("{s:I, s:s?}", "k", (json_int_t)sqlite3_column_int64(st, 0), "v",
	                      (const char *)sqlite3_column_text(st, 1));
	assert_non_null(o);
	json_array_append_new(arg, o);
}

static void test_thawd_util__db_helpers(void **state)
{
	(void)state;
	char dir[] = "/tmp/thawd-util-db.XXXXXX", path[128], err[256] = "";
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/t.db", dir);
	sqlite3 *db = NULL;
	/* a bad schema: -EIO, a reason, nothing left open */
	assert_int_equal(thawd__db_open(path, SQLITE_OPEN_NOMUTEX, "CREATE TABLE;", &db, err, sizeof(err)), -EIO);
	assert_null(db);
	assert_non_null(strstr(err, "schema: "));
	assert_int_equal(thawd__db_open(path, SQLITE_OPEN_NOMUTEX, "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT, d REAL);",
	                                &db, NULL, 0),
	                 0);
	assert_non_null(db);
	/* binds by letter; a NULL string binds NULL */
	assert_int_equal(thawd__db_exec(db, "INSERT INTO t(k, v, d) VALUES(?,?,?)", "isd", (int64_t)2, "two", 2.5), 0);
	assert_int_equal(thawd__db_exec(db, "INSERT INTO t(k, v) VALUES(?,?)", "is", (int64_t)1, (const char *)NULL), 0);
	assert_int_equal(thawd__db_exec(db, "INSERT INTO t(k) VALUES(?)", "i", (int64_t)1), -EIO); /* constraint */
	assert_int_equal(thawd__db_exec(db, "INSERT INTO nosuch VALUES(1)", ""), -EIO);
	assert_int_equal(thawd__db_exec(db, "SELECT 1", ""), -EIO); /* returns a row */
	json_t *rows = json_array();
	assert_int_equal(thawd__db_each(db, "SELECT k, v FROM t WHERE k >= ? ORDER BY k", collect_row, rows, "i",
	                                (int64_t)1),
	                 0);
	assert_int_equal(json_array_size(rows), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(rows, 0), "k")), 1);
	assert_true(json_is_null(json_object_get(json_array_get(rows, 0), "v")));
	assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 1), "v")), "two");
	assert_int_equal(thawd__db_each(db, "SELECT nosuch FROM t", collect_row, rows, ""), -EIO);
	assert_int_equal(json_array_size(rows), 2);
	json_decref(rows);
	/* max(seq) of events: 0 without the table, then the largest */
	assert_int_equal(thawd__db_max_seq(db), 0);
	assert_int_equal(thawd__db_exec(db, "CREATE TABLE events(seq INTEGER PRIMARY KEY)", ""), 0);
	assert_int_equal(thawd__db_max_seq(db), 0);
	assert_int_equal(thawd__db_exec(db, "INSERT INTO events(seq) VALUES(?), (?)", "ii", (int64_t)7, (int64_t)41), 0);
	assert_int_equal(thawd__db_max_seq(db), 41);
	sqlite3_close(db);
	assert_int_equal(thawd_rm_rf(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_thawd_util__session_ids),
		cmocka_unit_test(test_thawd_util__layer_ids),
		cmocka_unit_test(test_thawd_util__repo_names),
		cmocka_unit_test(test_thawd_util__mkdirs_rm_rf),
		cmocka_unit_test(test_thawd_util__histogram),
		cmocka_unit_test(test_thawd_util__db_helpers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
