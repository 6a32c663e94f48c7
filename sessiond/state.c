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
	char path[PATH_MAX + 16], err[512];
	snprintf(path, sizeof(path), "%s/thaw.db", d->cfg.state);
	if (thawd__db_open(path, SQLITE_OPEN_FULLMUTEX, schema, &d->db, err, sizeof(err)) < 0) {
		thawd_log(d, "error", "%s: %s", path, err);
		return -EIO;
	}
	return 0;
}

int thawd__state_save_session(sqlite3 *db, json_t *row)
{
	char *data = json_dumps(row, JSON_COMPACT);
	if (!data)
		return -ENOMEM;
	int r = thawd__db_exec(db, "INSERT OR REPLACE INTO sessions(id, repo, state, created_ms, data) VALUES(?,?,?,?,?)",
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
	int r = thawd__db_exec(db, "INSERT OR REPLACE INTO repos(name, data) VALUES(?,?)", "ss",
	                       json_string_value(json_object_get(row, "name")), data);
	free(data);
	return r;
}

int thawd__state_save_image(sqlite3 *db, json_t *row)
{
	return thawd__db_exec(db,
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

struct images_ctx {
	const char *repo;
	json_t *out;
};

static void image_row(sqlite3_stmt *st, void *arg)
{
	struct images_ctx *c = arg;
	json_t *o = json_pack("{s:s, s:s, s:s?, s:s, s:s?, s:I, s:f}", "id", (const char *)sqlite3_column_text(st, 0),
	                      "repo", c->repo, "commit", (const char *)sqlite3_column_text(st, 1), "status",
	                      (const char *)sqlite3_column_text(st, 2), "error", (const char *)sqlite3_column_text(st, 3),
	                      "created_ms", (json_int_t)sqlite3_column_int64(st, 4), "duration_ms",
	                      sqlite3_column_double(st, 5));
	if (o)
		json_array_append_new(c->out, o);
}

int thawd__state_images(sqlite3 *db, const char *repo, json_t *out)
{
	struct images_ctx c = {repo, out};
	return thawd__db_each(db,
	                      "SELECT id, commit_id, status, error, created_ms, duration_ms FROM images"
	                      " WHERE repo = ? ORDER BY created_ms DESC, rowid DESC",
	                      image_row, &c, "s", repo);
}

int thawd__state_insert_event(sqlite3 *db, uint64_t seq, const char *session, const char *json)
{
	return thawd__db_exec(db, "INSERT OR REPLACE INTO events(seq, session, data) VALUES(?,?,?)", "iss",
	                      (int64_t)seq, session, json);
}

static void event_row(sqlite3_stmt *st, void *out)
{
	json_t *ev = json_loads((const char *)sqlite3_column_text(st, 1), 0, NULL);
	if (!ev)
		return;
	/* the daemon-wide stream numbers events daemon-wide */
	json_object_set_new(ev, "session_seq", json_incref(json_object_get(ev, "seq")));
	json_object_set_new(ev, "seq", json_integer(sqlite3_column_int64(st, 0)));
	json_array_append_new(out, ev);
}

int thawd__state_events_since(sqlite3 *db, uint64_t since, uint64_t upto, json_t *out)
{
	return thawd__db_each(db, "SELECT seq, data FROM events WHERE seq > ? AND seq <= ? ORDER BY seq", event_row,
	                      out, "ii", (int64_t)since, (int64_t)upto);
}

uint64_t thawd__state_max_seq(sqlite3 *db)
{
	return thawd__db_max_seq(db);
}

/* Calls from_row(d, row) for the JSON of column 0 of each row of sql. A row
 * that cannot be read ends the loop without an error (what was read is kept);
 * a query that cannot be prepared is -EIO. */
static int load_rows(struct thawd *d, const char *sql, void (*from_row)(struct thawd *d, json_t *row))
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(d->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *row = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
		if (row) {
			from_row(d, row);
			json_decref(row);
		}
	}
	sqlite3_finalize(st);
	return 0;
}

/* At start (before the loop runs): repositories, then sessions. */
int thawd_state_load(struct thawd *d)
{
	d->seq = thawd__state_max_seq(d->db);
	if (load_rows(d, "SELECT data FROM repos ORDER BY name", thawd__repo_from_row) < 0)
		return -EIO;
	return load_rows(d, "SELECT data FROM sessions ORDER BY created_ms", thawd__session_from_row);
}
