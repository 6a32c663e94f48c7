/*
 * state.c: thaw.db, the daemon-wide SQLite database (WAL).
 *
 *   table    | column           | meaning
 *   ---------|------------------|----------------------------------------------
 *   repos    | name TEXT PK     | repository name
 *            | data TEXT        | JSON: url, branch, setup[], build_interval_s,
 *            |                  | created_ms, image, build_failures, builds
 *   sessions | id TEXT PK       | s- + 16 hex
 *            | repo TEXT        | repository name
 *            | state TEXT       | lifecycle state (starting ... removed, failed)
 *            | created_ms INT   | wall clock
 *            | data TEXT        | JSON: every persisted field of the session
 *            |                  | (paths, pid, author, limits, timings, seq)
 *   images   | id TEXT PK       | build id: layer id, or "failed-<ms>" for a
 *            |                  | failed build
 *            | repo, commit_id, status ("ok"|"failed"), error, created_ms,
 *            | duration_ms      |
 *   events   | seq INT PK       | daemon-wide sequence number
 *            | session TEXT     | session id or NULL
 *            | data TEXT        | the event as JSON (its "seq" is the session's)
 *
 * After start, only the database thread (work.c) touches d->db.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "thawd.h"

#include "banned.h"

static const char schema[] =
	"PRAGMA journal_mode=WAL;"
	"PRAGMA synchronous=NORMAL;"
	"CREATE TABLE IF NOT EXISTS repos(name TEXT PRIMARY KEY, data TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS sessions(id TEXT PRIMARY KEY, repo TEXT NOT NULL, state TEXT NOT NULL,"
	" created_ms INTEGER NOT NULL, data TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS images(id TEXT PRIMARY KEY, repo TEXT NOT NULL, commit_id TEXT,"
	" status TEXT NOT NULL, error TEXT, created_ms INTEGER NOT NULL, duration_ms REAL);"
	"CREATE TABLE IF NOT EXISTS events(seq INTEGER PRIMARY KEY, session TEXT, data TEXT NOT NULL);";

int thawd_state_open(struct thawd *d)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/thaw.db", d->cfg.state);
	int r = sqlite3_open_v2(path, &d->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
	if (r != SQLITE_OK) {
		thawd_log(d, "error", "%s: %s", path, d->db ? sqlite3_errmsg(d->db) : sqlite3_errstr(r));
		return -EIO;
	}
	sqlite3_busy_timeout(d->db, 5000);
	char *err = NULL;
	if (sqlite3_exec(d->db, schema, NULL, NULL, &err) != SQLITE_OK) {
		thawd_log(d, "error", "%s: schema: %s", path, err ? err : "?");
		sqlite3_free(err);
		return -EIO;
	}
	return 0;
}

static int exec_bind(sqlite3 *db, const char *sql, const char *fmt, ...)
{
	sqlite3_stmt *st = NULL;
	int r = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (r != SQLITE_OK)
		return -EIO;
	va_list ap;
	va_start(ap, fmt);
	for (int i = 0; fmt[i]; i++) {
		switch (fmt[i]) {
		case 's': {
			const char *v = va_arg(ap, const char *);
			if (v)
				sqlite3_bind_text(st, i + 1, v, -1, SQLITE_TRANSIENT);
			else
				sqlite3_bind_null(st, i + 1);
			break;
		}
		case 'i': sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t)); break;
		case 'd': sqlite3_bind_double(st, i + 1, va_arg(ap, double)); break;
		}
	}
	va_end(ap);
	r = sqlite3_step(st);
	sqlite3_finalize(st);
	return r == SQLITE_DONE ? 0 : -EIO;
}

int thawd__state_save_session(sqlite3 *db, json_t *row)
{
	char *data = json_dumps(row, JSON_COMPACT);
	if (!data)
		return -ENOMEM;
	int r = exec_bind(db, "INSERT OR REPLACE INTO sessions(id, repo, state, created_ms, data) VALUES(?,?,?,?,?)",
	                  "sssis", json_string_value(json_object_get(row, "id")),
	                  json_string_value(json_object_get(row, "repo")),
	                  json_string_value(json_object_get(row, "state")),
	                  (int64_t)json_integer_value(json_object_get(row, "created_ms")), data);
	free(data);
	return r;
}

int thawd__state_save_repo(sqlite3 *db, json_t *row)
{
	char *data = json_dumps(row, JSON_COMPACT);
	if (!data)
		return -ENOMEM;
	int r = exec_bind(db, "INSERT OR REPLACE INTO repos(name, data) VALUES(?,?)", "ss",
	                  json_string_value(json_object_get(row, "name")), data);
	free(data);
	return r;
}

int thawd__state_save_image(sqlite3 *db, json_t *row)
{
	return exec_bind(db,
	                 "INSERT OR REPLACE INTO images(id, repo, commit_id, status, error, created_ms, duration_ms)"
	                 " VALUES(?,?,?,?,?,?,?)",
	                 "sssssid", json_string_value(json_object_get(row, "id")),
	                 json_string_value(json_object_get(row, "repo")),
	                 json_string_value(json_object_get(row, "commit")),
	                 json_string_value(json_object_get(row, "status")),
	                 json_string_value(json_object_get(row, "error")),
	                 (int64_t)json_integer_value(json_object_get(row, "created_ms")),
	                 json_number_value(json_object_get(row, "duration_ms")));
}

int thawd__state_images(sqlite3 *db, const char *repo, json_t *out)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db,
	                       "SELECT id, commit_id, status, error, created_ms, duration_ms FROM images"
	                       " WHERE repo = ? ORDER BY created_ms DESC, rowid DESC",
	                       -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(st, 1, repo, -1, SQLITE_TRANSIENT);
	int r;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *o = json_pack("{s:s, s:s, s:s?, s:s, s:s?, s:I, s:f}", "id", (const char *)sqlite3_column_text(st, 0),
		                      "repo", repo, "commit", (const char *)sqlite3_column_text(st, 1), "status",
		                      (const char *)sqlite3_column_text(st, 2), "error",
		                      (const char *)sqlite3_column_text(st, 3), "created_ms",
		                      (json_int_t)sqlite3_column_int64(st, 4), "duration_ms", sqlite3_column_double(st, 5));
		if (o)
			json_array_append_new(out, o);
	}
	sqlite3_finalize(st);
	return r == SQLITE_DONE ? 0 : -EIO;
}

int thawd__state_insert_event(sqlite3 *db, uint64_t seq, const char *session, const char *json)
{
	return exec_bind(db, "INSERT OR REPLACE INTO events(seq, session, data) VALUES(?,?,?)", "iss", (int64_t)seq,
	                 session, json);
}

int thawd__state_events_since(sqlite3 *db, uint64_t since, uint64_t upto, json_t *out)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT seq, data FROM events WHERE seq > ? AND seq <= ? ORDER BY seq", -1, &st,
	                       NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(st, 1, (int64_t)since);
	sqlite3_bind_int64(st, 2, (int64_t)upto);
	int r;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *ev = json_loads((const char *)sqlite3_column_text(st, 1), 0, NULL);
		if (!ev)
			continue;
		/* the daemon-wide stream numbers events daemon-wide */
		json_object_set_new(ev, "session_seq", json_incref(json_object_get(ev, "seq")));
		json_object_set_new(ev, "seq", json_integer(sqlite3_column_int64(st, 0)));
		json_array_append_new(out, ev);
	}
	sqlite3_finalize(st);
	return r == SQLITE_DONE ? 0 : -EIO;
}

uint64_t thawd__state_max_seq(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	uint64_t v = 0;
	if (sqlite3_prepare_v2(db, "SELECT max(seq) FROM events", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* At start (before the loop runs): repositories, then sessions. */
int thawd_state_load(struct thawd *d)
{
	sqlite3_stmt *st = NULL;
	d->seq = thawd__state_max_seq(d->db);
	if (sqlite3_prepare_v2(d->db, "SELECT data FROM repos ORDER BY name", -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *row = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
		if (row) {
			thawd__repo_from_row(d, row);
			json_decref(row);
		}
	}
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(d->db, "SELECT data FROM sessions ORDER BY created_ms", -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *row = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
		if (row) {
			thawd__session_from_row(d, row);
			json_decref(row);
		}
	}
	sqlite3_finalize(st);
	return 0;
}
