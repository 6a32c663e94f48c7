/*
 * Unit tests of sessiond/session_db.c: the per-session database (schema,
 * event replay windows, the change journal, prompts/participants/snapshots).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "thawd.h"

struct fixture {
	char dir[64];
	char path[128];
	sqlite3 *db;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/thawd-sdb.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	/* a directory that does not exist yet: open creates it */
	snprintf(f->path, sizeof(f->path), "%s/sessions/s-0123456789abcdef/session.db", f->dir);
	if (thawd__sdb_open(f->path, &f->db) != 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	sqlite3_close(f->db);
	thawd_rm_rf(f->dir);
	free(f);
	return 0;
}

static void test_thawd_session_db__replay_window(void **state)
{
	struct fixture *f = *state;
	for (int i = 1; i <= 10; i++) {
		char js[64];
		snprintf(js, sizeof(js), "{\"seq\":%d,\"type\":\"lifecycle\"}", i);
		assert_int_equal(thawd__sdb_insert_event(f->db, (uint64_t)i, "lifecycle", 1000 + i, js), 0);
	}
	assert_int_equal(thawd__sdb_max_seq(f->db), 10);
	json_t *a = json_array();
	/* since is exclusive, upto inclusive */
	assert_int_equal(thawd__sdb_events_since(f->db, 3, 7, a), 0);
	assert_int_equal(json_array_size(a), 4);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(a, 0), "seq")), 4);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(a, 3), "seq")), 7);
	json_array_clear(a);
	assert_int_equal(thawd__sdb_events_since(f->db, 10, 10, a), 0);
	assert_int_equal(json_array_size(a), 0);
	json_decref(a);
	/* the same number again replaces (an idempotent retry) */
	assert_int_equal(thawd__sdb_insert_event(f->db, 5, "sync", 1, "{\"seq\":5,\"type\":\"sync\"}"), 0);
	a = json_array();
	thawd__sdb_events_since(f->db, 4, 5, a);
	assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0), "type")), "sync");
	json_decref(a);
}

static void test_thawd_session_db__journal_order(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(thawd__sdb_journal_add(f->db, 7, 1, "write", "b.txt", "Bob", "bob@x", 2), 0);
	assert_int_equal(thawd__sdb_journal_add(f->db, 3, 1, "create", "a.txt", "Ann", "ann@x", 1), 0);
	json_t *a = json_array();
	assert_int_equal(thawd__sdb_journal(f->db, a), 0);
	assert_int_equal(json_array_size(a), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0), "path")), "a.txt");
	assert_string_equal(json_string_value(json_object_get(json_array_get(a, 1), "email")), "bob@x");
	json_decref(a);
}

static void test_thawd_session_db__tables(void **state)
{
	struct fixture *f = *state;
	json_t *p = json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:s}", "id", (json_int_t)1, "name", "Ann", "email", "ann@x",
	                      "text", "hi", "state", "queued", "created_ms", (json_int_t)5, "ignored", "x");
	assert_int_equal(thawd__sdb_put(f->db, "prompts", p), 0);
	json_object_set_new(p, "state", json_string("done"));
	assert_int_equal(thawd__sdb_put(f->db, "prompts", p), 0); /* same id: updated */
	json_decref(p);
	json_t *a = json_array();
	assert_int_equal(thawd__sdb_list(f->db, "prompts", a), 0);
	assert_int_equal(json_array_size(a), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0), "state")), "done");
	assert_null(json_object_get(json_array_get(a, 0), "ignored"));
	json_decref(a);
	json_t *s = json_pack("{s:s, s:s, s:I, s:I, s:f, s:I}", "id", "abc", "kind", "session", "files", (json_int_t)2,
	                      "bytes", (json_int_t)10, "ms", 1.5, "created_ms", (json_int_t)9);
	assert_int_equal(thawd__sdb_put(f->db, "snapshots", s), 0);
	json_decref(s);
	a = json_array();
	assert_int_equal(thawd__sdb_list(f->db, "snapshots", a), 0);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(a, 0), "files")), 2);
	json_decref(a);
	/* unknown tables are refused, never interpolated into SQL */
	json_t *x = json_pack("{s:s}", "id", "1");
	assert_int_equal(thawd__sdb_put(f->db, "events; DROP TABLE events", x), -EINVAL);
	assert_int_equal(thawd__sdb_list(f->db, "sqlite_master", x), -EINVAL);
	json_decref(x);
}

static void test_thawd_session_db__reopen_keeps_rows(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(thawd__sdb_insert_event(f->db, 1, "lifecycle", 1, "{\"seq\":1}"), 0);
	sqlite3_close(f->db);
	assert_int_equal(thawd__sdb_open(f->path, &f->db), 0);
	assert_int_equal(thawd__sdb_max_seq(f->db), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_thawd_session_db__replay_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thawd_session_db__journal_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thawd_session_db__tables, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thawd_session_db__reopen_keeps_rows, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
