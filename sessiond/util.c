/*
 * util.c: small helpers shared by the daemon's files (and unit-tested on
 * their own): logging, clocks, id and name validation, directories,
 * histograms.
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "thawd.h"

#include "banned.h"

static FILE *log_file; /* NULL: stderr */
static bool log_json;

void thawd_log_setup(FILE *f, bool json)
{
	log_file = f;
	log_json = json;
}

void thawd_log(struct thawd *d, const char *level, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	FILE *f = log_file ? log_file : stderr;
	if (log_json) {
		json_t *o = json_pack("{s:I, s:s, s:s}", "time_ms", (json_int_t)thawd_now_ms(), "level", level, "msg", msg);
		char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
		if (s)
			fprintf(f, "%s\n", s);
		free(s);
		json_decref(o);
	} else {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		struct tm tm;
		gmtime_r(&ts.tv_sec, &tm);
		fprintf(f, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ thawd %s: %s\n", tm.tm_year + 1900, tm.tm_mon + 1,
		        tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, level, msg);
	}
	fflush(f);
}

int64_t thawd_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double thawd_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static bool all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return false;
	return true;
}

bool thawd_id_valid(const char *id)
{
	return id && strlen(id) == THAWD_ID_LEN && id[0] == 's' && id[1] == '-' && all_hex(id + 2, 16);
}

bool thawd_layer_id_valid(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	return n >= 8 && n <= 40 && all_hex(id, n);
}

bool thawd_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n < 1 || n > THAWD_NAME_MAX || name[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!isalnum(c) && c != '_' && c != '.' && c != '-')
			return false;
	}
	return true;
}

int thawd_mkdirs(const char *path, mode_t mode)
{
	char p[PATH_MAX];
	if (snprintf(p, sizeof(p), "%s", path) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		(void)rmdir(p);
	else
		(void)unlink(p);
	return 0;
}

int thawd_rm_rf(const char *path)
{
	if (nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

const double thawd_hist_le[THAWD_HIST_N] = {0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 1e300};

void thawd_hist_add(struct thawd_hist *h, double seconds)
{
	for (int i = 0; i < THAWD_HIST_N; i++)
		if (seconds <= thawd_hist_le[i])
			h->bucket[i]++;
	h->count++;
	h->sum += seconds;
}


/* ---- SQLite helpers (thaw.db in state.c, session.db in session_db.c) ---- */

int thawd__db_open(const char *path, int flags, const char *schema, sqlite3 **out, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	int r = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | flags, NULL);
	if (r != SQLITE_OK) {
		if (err)
			snprintf(err, errlen, "%s", db ? sqlite3_errmsg(db) : sqlite3_errstr(r));
		sqlite3_close(db);
		return -EIO;
	}
	sqlite3_busy_timeout(db, 5000);
	char *msg = NULL;
	if (sqlite3_exec(db, schema, NULL, NULL, &msg) != SQLITE_OK) {
		if (err)
			snprintf(err, errlen, "schema: %s", msg ? msg : "?");
		sqlite3_free(msg);
		sqlite3_close(db);
		return -EIO;
	}
	*out = db;
	return 0;
}

/* Prepares sql, binds what fmt names, calls row for each row (row NULL: the
 * statement returns none), finalizes. */
static int db_run_va(sqlite3 *db, const char *sql, void (*row)(sqlite3_stmt *st, void *arg), void *arg,
                     const char *fmt, va_list ap)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -EIO;
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
		default: assert(!"thawd__db: bad bind letter");
		}
	}
	int r;
	while ((r = sqlite3_step(st)) == SQLITE_ROW && row)
		row(st, arg);
	sqlite3_finalize(st);
	return r == SQLITE_DONE ? 0 : -EIO;
}

int thawd__db_exec(sqlite3 *db, const char *sql, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = db_run_va(db, sql, NULL, NULL, fmt, ap);
	va_end(ap);
	return r;
}

int thawd__db_each(sqlite3 *db, const char *sql, void (*row)(sqlite3_stmt *st, void *arg), void *arg,
                   const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = db_run_va(db, sql, row, arg, fmt, ap);
	va_end(ap);
	return r;
}

uint64_t thawd__db_max_seq(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	uint64_t v = 0;
	if (sqlite3_prepare_v2(db, "SELECT max(seq) FROM events", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}
