/*
 * session_db.c: sessions/ID/session.db, one SQLite database (WAL) per session.
 * The event log here is the source of truth for replays (since=N).
 *
 *   table        | column             | meaning
 *   -------------|--------------------|------------------------------------------
 *   events       | seq INT PK         | per-session sequence number (1, 2, ...)
 *                | type TEXT          | lifecycle, sync, change, snapshot, prompt,
 *                |                    | error
 *                | time_ms INT        | wall clock
 *                | data TEXT          | the whole event as JSON
 *   journal      | seq INT PK         | seq of the change event
 *                | time_ms INT        |
 *                | op TEXT, path TEXT | what thawfs reported
 *                | name, email TEXT   | author: the current prompt's author, else
 *                |                    | the session's author
 *                | prompt INT         | prompt id, 0 for none
 *   participants | email TEXT PK      | name TEXT, added_ms INT
 *   prompts      | id INT PK          | name, email, text, state (queued|running|
 *                |                    | done|cancelled), created_ms, done_ms
 *   snapshots    | id TEXT PK         | kind, files, bytes, ms, created_ms, author
 *
 * Only the database thread uses these handles.
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
	"CREATE TABLE IF NOT EXISTS events(seq INTEGER PRIMARY KEY, type TEXT NOT NULL, time_ms INTEGER NOT NULL,"
	" data TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS journal(seq INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, op TEXT NOT NULL,"
	" path TEXT NOT NULL, name TEXT, email TEXT, prompt INTEGER);"
	"CREATE TABLE IF NOT EXISTS participants(email TEXT PRIMARY KEY, name TEXT, added_ms INTEGER);"
	"CREATE TABLE IF NOT EXISTS prompts(id INTEGER PRIMARY KEY, name TEXT, email TEXT, text TEXT, state TEXT,"
	" created_ms INTEGER, done_ms INTEGER);"
	"CREATE TABLE IF NOT EXISTS snapshots(id TEXT PRIMARY KEY, kind TEXT, files INTEGER, bytes INTEGER,"
	" ms REAL, created_ms INTEGER, author TEXT);";

int thawd__sdb_open(const char *path, sqlite3 **out)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash) {
		*slash = 0;
		(void)thawd_mkdirs(dir, 0700);
	}
	return thawd__db_open(path, SQLITE_OPEN_NOMUTEX, schema, out, NULL, 0);
}

int thawd__sdb_insert_event(sqlite3 *db, uint64_t seq, const char *type, int64_t time_ms, const char *json)
{
	return thawd__db_exec(db, "INSERT OR REPLACE INTO events(seq, type, time_ms, data) VALUES(?,?,?,?)", "isis",
	                      (int64_t)seq, type, time_ms, json);
}

/* Appends column 0, a JSON text, to the array arg. */
static void json_row(sqlite3_stmt *st, void *arg)
{
	json_t *ev = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
	if (ev)
		json_array_append_new(arg, ev);
}

int thawd__sdb_events_since(sqlite3 *db, uint64_t since, uint64_t upto, json_t *out)
{
	return thawd__db_each(db, "SELECT data FROM events WHERE seq > ? AND seq <= ? ORDER BY seq", json_row, out,
	                      "ii", (int64_t)since, (int64_t)upto);
}

uint64_t thawd__sdb_max_seq(sqlite3 *db)
{
	return thawd__db_max_seq(db);
}

int thawd__sdb_journal_add(sqlite3 *db, uint64_t seq, int64_t time_ms, const char *op, const char *path,
                           const char *name, const char *email, uint64_t prompt)
{
	return thawd__db_exec(db,
	                      "INSERT OR REPLACE INTO journal(seq, time_ms, op, path, name, email, prompt)"
	                      " VALUES(?,?,?,?,?,?,?)",
	                      "iissssi", (int64_t)seq, time_ms, op, path, name, email, (int64_t)prompt);
}

static void journal_row(sqlite3_stmt *st, void *out)
{
	json_t *o = json_pack("{s:s, s:s, s:s?, s:s?, s:I}", "op", (const char *)sqlite3_column_text(st, 0), "path",
	                      (const char *)sqlite3_column_text(st, 1), "name", (const char *)sqlite3_column_text(st, 2),
	                      "email", (const char *)sqlite3_column_text(st, 3), "seq",
	                      (json_int_t)sqlite3_column_int64(st, 4));
	if (o)
		json_array_append_new(out, o);
}

int thawd__sdb_journal(sqlite3 *db, json_t *out)
{
	return thawd__db_each(db, "SELECT op, path, name, email, seq FROM journal ORDER BY seq", journal_row, out, "");
}

/* The columns each table accepts (row keys outside these are ignored). */
static const char *const *table_columns(const char *table)
{
	static const char *const participants[] = {"email", "name", "added_ms", NULL};
	static const char *const prompts[] = {"id", "name", "email", "text", "state", "created_ms", "done_ms", NULL};
	static const char *const snapshots[] = {"id", "kind", "files", "bytes", "ms", "created_ms", "author", NULL};
	if (!strcmp(table, "participants"))
		return participants;
	if (!strcmp(table, "prompts"))
		return prompts;
	if (!strcmp(table, "snapshots"))
		return snapshots;
	return NULL;
}

int thawd__sdb_put(sqlite3 *db, const char *table, json_t *row)
{
	const char *const *cols = table_columns(table);
	if (!cols)
		return -EINVAL;
	char sql[512], names[256] = "", qs[128] = "";
	size_t n = 0;
	for (size_t i = 0; cols[i]; i++) {
		if (!json_object_get(row, cols[i]))
			continue;
		size_t l = strlen(names), q = strlen(qs);
		snprintf(names + l, sizeof(names) - l, "%s%s", n ? "," : "", cols[i]);
		snprintf(qs + q, sizeof(qs) - q, "%s?", n ? "," : "");
		n++;
	}
	if (!n)
		return -EINVAL;
	snprintf(sql, sizeof(sql), "INSERT OR REPLACE INTO %s(%s) VALUES(%s)", table, names, qs);
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	int k = 1;
	for (size_t i = 0; cols[i]; i++) {
		json_t *v = json_object_get(row, cols[i]);
		if (!v)
			continue;
		if (json_is_string(v))
			sqlite3_bind_text(st, k, json_string_value(v), -1, SQLITE_TRANSIENT);
		else if (json_is_integer(v))
			sqlite3_bind_int64(st, k, json_integer_value(v));
		else if (json_is_real(v))
			sqlite3_bind_double(st, k, json_real_value(v));
		else
			sqlite3_bind_null(st, k);
		k++;
	}
	int r = sqlite3_step(st);
	sqlite3_finalize(st);
	return r == SQLITE_DONE ? 0 : -EIO;
}

/* Appends the row as an object {column: value} to the array arg. */
static void object_row(sqlite3_stmt *st, void *out)
{
	json_t *o = json_object();
	for (int i = 0; i < sqlite3_column_count(st); i++) {
		const char *name = sqlite3_column_name(st, i);
		switch (sqlite3_column_type(st, i)) {
		case SQLITE_INTEGER: json_object_set_new(o, name, json_integer(sqlite3_column_int64(st, i))); break;
		case SQLITE_FLOAT: json_object_set_new(o, name, json_real(sqlite3_column_double(st, i))); break;
		case SQLITE_TEXT: json_object_set_new(o, name, json_string((const char *)sqlite3_column_text(st, i))); break;
		default: json_object_set_new(o, name, json_null()); break;
		}
	}
	json_array_append_new(out, o);
}

int thawd__sdb_list(sqlite3 *db, const char *table, json_t *out)
{
	const char *order;
	if (!strcmp(table, "participants"))
		order = "added_ms";
	else if (!strcmp(table, "prompts"))
		order = "id";
	else if (!strcmp(table, "snapshots"))
		order = "created_ms";
	else
		return -EINVAL;
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT * FROM %s ORDER BY %s, rowid", table, order);
	return thawd__db_each(db, sql, object_row, out, "");
}
