/* snapshot: the layer manifest (an immutable SQLite database) and its writer.
 *
 * STORE/layers/ID/manifest.db, built in STORE/tmp/layer-.../manifest.db and
 * renamed (with its directory) into place, then never modified. Readers open
 * it read-only with immutable=1 (no locks, no journal).
 *
 * Table entries (WITHOUT ROWID, primary key (parent, name): the rows of one
 * directory are stored together in name order, so a listing is one range
 * scan of the table itself):
 *
 *   | column     | type | meaning                                                  |
 *   |------------|------|----------------------------------------------------------|
 *   | path       | TEXT | unique; relative, no leading '/', no "."/".."/""         |
 *   |            |      | components; bytes (not necessarily UTF-8), BINARY order  |
 *   | parent     | TEXT | the directory part of path ("" at the root)              |
 *   | name       | TEXT | the last component                                       |
 *   | type       | INT  | enum snap_type: 0 reg 1 dir 2 symlink 3 fifo 4 chr 5 blk |
 *   |            |      | 6 sock 7 whiteout                                        |
 *   | mode       | INT  | permission bits (07777)                                  |
 *   | uid, gid   | INT  | owner                                                    |
 *   | size       | INT  | regular files: content size; else 0                      |
 *   | mtime_sec  | INT  | modification time, seconds since the epoch               |
 *   | mtime_nsec | INT  | nanoseconds                                              |
 *   | rdev       | INT  | devices: the device number; else 0                       |
 *   | target     | TEXT | symlinks: the target; else NULL                          |
 *   | cid        | BLOB | regular files: 20-byte content id (git blob id); else NULL|
 *   | opaque     | INT  | directories: 1 hides everything below this layer         |
 *   | link       | TEXT | hard link: path of the group's first entry; else NULL    |
 *   | xattrs     | BLOB | repeated (name NUL, u32 LE length, value); else NULL     |
 *
 * Unique index entries_path ON entries(path): lookups by path and the walk
 * in path order.
 *
 * Table meta (key TEXT PRIMARY KEY, value): format (1), id, kind ("image",
 * "session", "pre-exit"), parent, repo, base_commit, synced_commit,
 * created_ms, author, bytes, stored_bytes, files, commands, duration_ms.
 *
 * The layer id is the SHA-1 (git blob id, via libgit2) of this serialization:
 * "thaw-layer 1\n", then per entry in path order: path NUL, type, mode, uid,
 * gid, size, mtime_sec, mtime_nsec, rdev as decimal numbers each followed by
 * a space, target NUL, cid hex or "-", opaque, link NUL, xattrs length and
 * bytes; then "meta" NUL kind NUL parent NUL repo NUL base_commit NUL
 * synced_commit NUL (the metadata fields marked (C) in snapshot.h).
 */
#include "snapshot_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "banned.h"

#define MAX_PATH_BYTES 4096
#define MAX_XATTRS_BYTES (1u << 20)

static const char schema[] =
	"CREATE TABLE entries(path TEXT NOT NULL, parent TEXT NOT NULL, name TEXT NOT NULL,"
	" type INT NOT NULL, mode INT NOT NULL, uid INT NOT NULL, gid INT NOT NULL, size INT NOT NULL,"
	" mtime_sec INT NOT NULL, mtime_nsec INT NOT NULL, rdev INT NOT NULL, target TEXT, cid BLOB,"
	" opaque INT NOT NULL, link TEXT, xattrs BLOB, PRIMARY KEY(parent, name)) WITHOUT ROWID;"
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;";

int snap__path_valid(const char *path)
{
	if (!path || !*path)
		return snap__err(-EINVAL, "empty path");
	size_t n = strlen(path);
	if (n > MAX_PATH_BYTES)
		return snap__err(-ENAMETOOLONG, "path too long (%zu bytes)", n);
	if (path[0] == '/')
		return snap__err(-EINVAL, "path '%s' starts with '/'", path);
	const char *c = path;
	for (;;) {
		const char *e = strchr(c, '/');
		size_t len = e ? (size_t)(e - c) : strlen(c);
		if (len == 0)
			return snap__err(-EINVAL, "path '%s' has an empty component", path);
		if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
			return snap__err(-EINVAL, "path '%s' has a '.' or '..' component", path);
		if (len > 255)
			return snap__err(-ENAMETOOLONG, "path '%s' has a component over 255 bytes", path);
		if (!e)
			break;
		c = e + 1;
	}
	return 0;
}

int snap__xattrs_valid(const void *x, size_t len)
{
	const char *p = x, *end = p + len;
	if (len > MAX_XATTRS_BYTES)
		return snap__err(-E2BIG, "xattrs too large (%zu bytes)", len);
	while (p < end) {
		const char *nul = memchr(p, '\0', (size_t)(end - p));
		if (!nul || nul == p)
			return snap__err(-EINVAL, "malformed xattrs (name)");
		p = nul + 1;
		if (end - p < 4)
			return snap__err(-EINVAL, "malformed xattrs (length)");
		uint32_t vl = (uint32_t)(unsigned char)p[0] | (uint32_t)(unsigned char)p[1] << 8 |
		              (uint32_t)(unsigned char)p[2] << 16 | (uint32_t)(unsigned char)p[3] << 24;
		p += 4;
		if ((size_t)(end - p) < vl)
			return snap__err(-EINVAL, "malformed xattrs (value)");
		p += vl;
	}
	return 0;
}

void snap__entry_from_row(sqlite3_stmt *st, struct snap_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->path = (const char *)sqlite3_column_text(st, 0);
	e->type = sqlite3_column_int(st, 1);
	e->mode = (uint32_t)sqlite3_column_int64(st, 2);
	e->uid = (uint32_t)sqlite3_column_int64(st, 3);
	e->gid = (uint32_t)sqlite3_column_int64(st, 4);
	e->size = (uint64_t)sqlite3_column_int64(st, 5);
	e->mtime_sec = sqlite3_column_int64(st, 6);
	e->mtime_nsec = (uint32_t)sqlite3_column_int64(st, 7);
	e->rdev = (uint64_t)sqlite3_column_int64(st, 8);
	e->target = (const char *)sqlite3_column_text(st, 9);
	if (sqlite3_column_bytes(st, 10) == GIT_OID_RAWSZ)
		git_oid_fromraw(&e->cid, sqlite3_column_blob(st, 10));
	e->opaque = sqlite3_column_int(st, 11) != 0;
	e->link = (const char *)sqlite3_column_text(st, 12);
	e->xattrs_len = (size_t)sqlite3_column_bytes(st, 13);
	e->xattrs = e->xattrs_len ? sqlite3_column_blob(st, 13) : NULL;
}

/* A file: URI for path (percent-encoding what a URI may not hold). */
static char *file_uri(const char *path, const char *query)
{
	size_t n = strlen(path), q = strlen(query);
	char *u = malloc(7 + n * 3 + q + 1), *o = u;
	if (!u)
		return NULL;
	memcpy(o, "file:", 5);
	o += 5;
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if (*p == '%' || *p == '?' || *p == '#' || *p < 0x20 || *p >= 0x7f) {
			static const char hexd[] = "0123456789ABCDEF";
			*o++ = '%';
			*o++ = hexd[*p >> 4];
			*o++ = hexd[*p & 15];
		} else {
			*o++ = (char)*p;
		}
	}
	memcpy(o, query, q + 1);
	return u;
}

int snap__manifest_open(const char *path, sqlite3 **out)
{
	char *uri = file_uri(path, "?immutable=1");
	if (!uri)
		return snap__err(-ENOMEM, "out of memory");
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL);
	free(uri);
	if (rc != SQLITE_OK) {
		int r = snap__err(rc == SQLITE_CANTOPEN ? -ENOENT : -EIO, "manifest %s: %s", path,
		                  db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return r;
	}
	*out = db;
	return 0;
}

static void copy_text(char *dst, size_t cap, const unsigned char *src)
{
	snprintf(dst, cap, "%s", src ? (const char *)src : "");
}

int snap__meta_read(sqlite3 *db, struct snap_meta *m)
{
	sqlite3_stmt *st = NULL;
	memset(m, 0, sizeof(*m));
	m->kind = -1;
	if (sqlite3_prepare_v2(db, "SELECT key, value FROM meta", -1, &st, NULL) != SQLITE_OK)
		return snap__err(-EIO, "manifest: %s", sqlite3_errmsg(db));
	int rc, format = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(st, 0);
		const unsigned char *v = sqlite3_column_text(st, 1);
		if (!k)
			continue;
		if (!strcmp(k, "format"))
			format = sqlite3_column_int(st, 1);
		else if (!strcmp(k, "id"))
			copy_text(m->id, sizeof(m->id), v);
		else if (!strcmp(k, "kind")) {
			if (!v || snap_kind_parse((const char *)v, &m->kind) < 0)
				m->kind = -1;
		} else if (!strcmp(k, "parent"))
			copy_text(m->parent, sizeof(m->parent), v);
		else if (!strcmp(k, "repo"))
			copy_text(m->repo, sizeof(m->repo), v);
		else if (!strcmp(k, "base_commit"))
			copy_text(m->base_commit, sizeof(m->base_commit), v);
		else if (!strcmp(k, "synced_commit"))
			copy_text(m->synced_commit, sizeof(m->synced_commit), v);
		else if (!strcmp(k, "created_ms"))
			m->created_ms = sqlite3_column_int64(st, 1);
		else if (!strcmp(k, "author"))
			copy_text(m->author, sizeof(m->author), v);
		else if (!strcmp(k, "bytes"))
			m->bytes = (uint64_t)sqlite3_column_int64(st, 1);
		else if (!strcmp(k, "stored_bytes"))
			m->stored_bytes = (uint64_t)sqlite3_column_int64(st, 1);
		else if (!strcmp(k, "files"))
			m->files = (uint64_t)sqlite3_column_int64(st, 1);
		else if (!strcmp(k, "commands"))
			copy_text(m->commands, sizeof(m->commands), v);
		else if (!strcmp(k, "duration_ms"))
			m->duration_ms = sqlite3_column_double(st, 1);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return snap__err(-EIO, "manifest: %s", sqlite3_errmsg(db));
	if (format != 1 || m->kind < 0 || strlen(m->id) != SNAP_ID_HEXLEN)
		return snap__err(-EIO, "manifest: unknown format or incomplete metadata");
	return 0;
}

/* ---- the writer ---- */

struct snap_writer {
	struct snap_store *store;
	struct snap_meta meta;
	int lockfd;
	char tmpdir[PATH_MAX];
	sqlite3 *db;
	sqlite3_stmt *ins;
	uint64_t files, bytes;
	bool done;
};

static int exec_sql(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		int r = snap__err(-EIO, "manifest: %s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return r;
	}
	return 0;
}

static bool commit_ok(const char *c)
{
	size_t n = strlen(c);
	return n == 0 || (n == 40 && snap__is_hex_id(c, 40));
}

int snap_writer_new(struct snap_writer **out, struct snap_store *s, const struct snap_meta *meta)
{
	int r;
	if (meta->kind < SNAP_KIND_IMAGE || meta->kind > SNAP_KIND_PRE_EXIT)
		return snap__err(-EINVAL, "bad layer kind %d", meta->kind);
	if (!commit_ok(meta->base_commit) || !commit_ok(meta->synced_commit))
		return snap__err(-EINVAL, "base and synced commits must be 40 hex digits or empty");
	if (meta->parent[0] && (strlen(meta->parent) != SNAP_ID_HEXLEN || !snap__is_hex_id(meta->parent, 40)))
		return snap__err(-EINVAL, "parent '%s' is not a layer id", meta->parent);
	struct snap_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return snap__err(-ENOMEM, "out of memory");
	w->store = s;
	w->meta = *meta;
	w->lockfd = -1;
	if ((w->lockfd = snap__store_lock(s, LOCK_SH)) < 0) {
		r = w->lockfd;
		goto fail;
	}
	if ((r = snap__tmpdir(s, "layer", w->tmpdir, sizeof(w->tmpdir))) < 0)
		goto fail;
	char p[PATH_MAX + 16];
	snprintf(p, sizeof(p), "%s/manifest.db", w->tmpdir);
	if (sqlite3_open_v2(p, &w->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		r = snap__err(-EIO, "manifest %s: %s", p, w->db ? sqlite3_errmsg(w->db) : "cannot open");
		goto fail;
	}
	if ((r = exec_sql(w->db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA page_size=4096;")) < 0 ||
	    (r = exec_sql(w->db, schema)) < 0 || (r = exec_sql(w->db, "BEGIN")) < 0)
		goto fail;
	if (sqlite3_prepare_v2(w->db,
	                       "INSERT INTO entries(path,parent,name,type,mode,uid,gid,size,mtime_sec,mtime_nsec,"
	                       "rdev,target,cid,opaque,link,xattrs) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
	                       -1, &w->ins, NULL) != SQLITE_OK) {
		r = snap__err(-EIO, "manifest: %s", sqlite3_errmsg(w->db));
		goto fail;
	}
	*out = w;
	return 0;
fail:
	snap_writer_free(w);
	return r;
}

static int entry_check(struct snap_writer *w, const struct snap_entry *e)
{
	int r = snap__path_valid(e->path);
	if (r < 0)
		return r;
	if (e->type < SNAP_T_REG || e->type > SNAP_T_WHITEOUT)
		return snap__err(-EINVAL, "%s: bad type %d", e->path, e->type);
	if (e->mode & ~07777u)
		return snap__err(-EINVAL, "%s: mode %o has more than permission bits", e->path, e->mode);
	if (e->type == SNAP_T_SYMLINK && (!e->target || !*e->target || strlen(e->target) >= 4096))
		return snap__err(-EINVAL, "%s: a symlink needs a target (under 4096 bytes)", e->path);
	if (e->type != SNAP_T_SYMLINK && e->target)
		return snap__err(-EINVAL, "%s: only symlinks have a target", e->path);
	if (e->opaque && e->type != SNAP_T_DIR)
		return snap__err(-EINVAL, "%s: only directories can be opaque", e->path);
	if (e->link) {
		if (e->type != SNAP_T_REG)
			return snap__err(-EINVAL, "%s: only regular files can be hard links", e->path);
		if ((r = snap__path_valid(e->link)) < 0)
			return r;
		if (!strcmp(e->link, e->path))
			return snap__err(-EINVAL, "%s: a hard link to itself", e->path);
	}
	if (e->xattrs_len && (!e->xattrs || (r = snap__xattrs_valid(e->xattrs, e->xattrs_len)) < 0))
		return r < 0 ? r : snap__err(-EINVAL, "%s: xattrs length without data", e->path);
	if (e->type == SNAP_T_REG && snap_object_has(w->store, &e->cid) < 0) {
		char hex[GIT_OID_HEXSZ + 1];
		return snap__err(-ENOENT, "%s: object %s is not in the store", e->path,
		                 git_oid_tostr(hex, sizeof(hex), &e->cid));
	}
	return 0;
}

int snap_writer_add(struct snap_writer *w, const struct snap_entry *e)
{
	if (w->done)
		return snap__err(-EINVAL, "writer already committed");
	int r = entry_check(w, e);
	if (r < 0)
		return r;
	const char *slash = strrchr(e->path, '/');
	sqlite3_stmt *st = w->ins;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	sqlite3_bind_text(st, 1, e->path, -1, SQLITE_STATIC);
	if (slash) {
		sqlite3_bind_text(st, 2, e->path, (int)(slash - e->path), SQLITE_STATIC);
		sqlite3_bind_text(st, 3, slash + 1, -1, SQLITE_STATIC);
	} else {
		sqlite3_bind_text(st, 2, "", 0, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, e->path, -1, SQLITE_STATIC);
	}
	bool reg = e->type == SNAP_T_REG;
	sqlite3_bind_int(st, 4, e->type);
	sqlite3_bind_int64(st, 5, e->mode);
	sqlite3_bind_int64(st, 6, e->uid);
	sqlite3_bind_int64(st, 7, e->gid);
	sqlite3_bind_int64(st, 8, reg ? (sqlite3_int64)e->size : 0);
	sqlite3_bind_int64(st, 9, e->mtime_sec);
	sqlite3_bind_int64(st, 10, e->mtime_nsec);
	sqlite3_bind_int64(st, 11, (e->type == SNAP_T_CHR || e->type == SNAP_T_BLK) ? (sqlite3_int64)e->rdev : 0);
	if (e->target)
		sqlite3_bind_text(st, 12, e->target, -1, SQLITE_STATIC);
	if (reg)
		sqlite3_bind_blob(st, 13, e->cid.id, GIT_OID_RAWSZ, SQLITE_STATIC);
	sqlite3_bind_int(st, 14, e->opaque ? 1 : 0);
	if (e->link)
		sqlite3_bind_text(st, 15, e->link, -1, SQLITE_STATIC);
	if (e->xattrs_len)
		sqlite3_bind_blob(st, 16, e->xattrs, (int)e->xattrs_len, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_CONSTRAINT)
		return snap__err(-EEXIST, "%s: added twice", e->path);
	if (rc != SQLITE_DONE)
		return snap__err(-EIO, "manifest: %s", sqlite3_errmsg(w->db));
	w->files++;
	if (reg)
		w->bytes += e->size;
	return 0;
}

/* A growing byte buffer for the canonical serialization. */
struct buf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void buf_add(struct buf *b, const void *d, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		while (cap < b->len + n)
			cap *= 2;
		char *np = realloc(b->p, cap);
		if (!np) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

static void buf_str0(struct buf *b, const char *s)
{
	buf_add(b, s ? s : "", strlen(s ? s : "") + 1);
}

static void buf_num(struct buf *b, long long v)
{
	char t[32];
	int n = snprintf(t, sizeof(t), "%lld ", v);
	buf_add(b, t, (size_t)n);
}

static int layer_id(struct snap_writer *w, char out[SNAP_ID_HEXLEN + 1])
{
	struct buf b = {0};
	sqlite3_stmt *st = NULL;
	int r = 0, rc;
	buf_add(&b, "thaw-layer 1\n", 13);
	if (sqlite3_prepare_v2(w->db, "SELECT " SNAP__COLS " FROM entries ORDER BY path", -1, &st, NULL) != SQLITE_OK)
		return snap__err(-EIO, "manifest: %s", sqlite3_errmsg(w->db));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct snap_entry e;
		snap__entry_from_row(st, &e);
		buf_str0(&b, e.path);
		buf_num(&b, e.type);
		buf_num(&b, e.mode);
		buf_num(&b, e.uid);
		buf_num(&b, e.gid);
		buf_num(&b, (long long)e.size);
		buf_num(&b, e.mtime_sec);
		buf_num(&b, e.mtime_nsec);
		buf_num(&b, (long long)e.rdev);
		buf_str0(&b, e.target);
		if (e.type == SNAP_T_REG) {
			char hex[GIT_OID_HEXSZ + 1];
			git_oid_tostr(hex, sizeof(hex), &e.cid);
			buf_add(&b, hex, GIT_OID_HEXSZ);
		} else {
			buf_add(&b, "-", 1);
		}
		buf_num(&b, e.opaque);
		buf_str0(&b, e.link);
		buf_num(&b, (long long)e.xattrs_len);
		if (e.xattrs_len)
			buf_add(&b, e.xattrs, e.xattrs_len);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		r = snap__err(-EIO, "manifest: %s", sqlite3_errmsg(w->db));
		goto done;
	}
	buf_str0(&b, "meta");
	buf_str0(&b, snap_kind_name(w->meta.kind));
	buf_str0(&b, w->meta.parent);
	buf_str0(&b, w->meta.repo);
	buf_str0(&b, w->meta.base_commit);
	buf_str0(&b, w->meta.synced_commit);
	if (b.oom) {
		r = snap__err(-ENOMEM, "out of memory");
		goto done;
	}
	git_oid id;
	if (git_odb_hash(&id, b.p, b.len, GIT_OBJECT_BLOB) < 0) {
		r = snap__git_err(-EIO, "hashing the manifest");
		goto done;
	}
	git_oid_tostr(out, SNAP_ID_HEXLEN + 1, &id);
done:
	free(b.p);
	return r;
}

static int put_meta_text(sqlite3_stmt *st, const char *k, const char *v)
{
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, v, -1, SQLITE_STATIC);
	return sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
}

static int put_meta_int(sqlite3_stmt *st, const char *k, sqlite3_int64 v)
{
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, v);
	return sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
}

static int write_meta(struct snap_writer *w)
{
	sqlite3_stmt *st = NULL;
	const struct snap_meta *m = &w->meta;
	if (sqlite3_prepare_v2(w->db, "INSERT INTO meta(key, value) VALUES(?, ?)", -1, &st, NULL) != SQLITE_OK)
		return snap__err(-EIO, "manifest: %s", sqlite3_errmsg(w->db));
	int r = 0;
	r |= put_meta_int(st, "format", 1);
	r |= put_meta_text(st, "id", m->id);
	r |= put_meta_text(st, "kind", snap_kind_name(m->kind));
	r |= put_meta_text(st, "parent", m->parent);
	r |= put_meta_text(st, "repo", m->repo);
	r |= put_meta_text(st, "base_commit", m->base_commit);
	r |= put_meta_text(st, "synced_commit", m->synced_commit);
	r |= put_meta_int(st, "created_ms", m->created_ms);
	r |= put_meta_text(st, "author", m->author);
	r |= put_meta_int(st, "bytes", (sqlite3_int64)m->bytes);
	r |= put_meta_int(st, "stored_bytes", (sqlite3_int64)m->stored_bytes);
	r |= put_meta_int(st, "files", (sqlite3_int64)m->files);
	r |= put_meta_text(st, "commands", m->commands);
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, "duration_ms", -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 2, m->duration_ms);
	r |= sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
	if (r)
		r = snap__err(-EIO, "manifest: %s", sqlite3_errmsg(w->db));
	sqlite3_finalize(st);
	return r;
}

int snap_writer_commit(struct snap_writer *w, char out_id[SNAP_ID_HEXLEN + 1])
{
	int r;
	char p[PATH_MAX + 16], dst[PATH_MAX];
	sqlite3_stmt *st = NULL;
	if (w->done)
		return snap__err(-EINVAL, "writer already committed");
	/* Every hard link names a plain regular entry of this layer. */
	if (sqlite3_prepare_v2(w->db,
	                       "SELECT e.path, e.link FROM entries e LEFT JOIN entries t ON t.path = e.link"
	                       " WHERE e.link IS NOT NULL AND (t.path IS NULL OR t.type != 0 OR t.link IS NOT NULL)"
	                       " LIMIT 1",
	                       -1, &st, NULL) != SQLITE_OK)
		return snap__err(-EIO, "manifest: %s", sqlite3_errmsg(w->db));
	if (sqlite3_step(st) == SQLITE_ROW) {
		r = snap__err(-EINVAL, "%s: hard link to '%s', which is not a regular file of this layer",
		              sqlite3_column_text(st, 0), sqlite3_column_text(st, 1));
		sqlite3_finalize(st);
		return r;
	}
	sqlite3_finalize(st);
	if (w->meta.parent[0]) {
		snprintf(p, sizeof(p), "%s/layers/%s/manifest.db", w->store->dir, w->meta.parent);
		struct stat sb;
		if (stat(p, &sb) < 0)
			return snap__err(-ENOENT, "parent layer %s is not in the store", w->meta.parent);
	}
	/* The objects this layer names are durable before the manifest is. */
	if ((r = snap__store_flush(w->store)) < 0)
		return r;
	w->meta.files = w->files;
	w->meta.bytes = w->bytes;
	if (!w->meta.created_ms)
		w->meta.created_ms = snap__now_ms();
	if ((r = layer_id(w, w->meta.id)) < 0)
		return r;
	if ((r = write_meta(w)) < 0)
		return r;
	if ((r = exec_sql(w->db, "CREATE UNIQUE INDEX entries_path ON entries(path); COMMIT")) < 0)
		return r;
	sqlite3_finalize(w->ins);
	w->ins = NULL;
	if (sqlite3_close(w->db) != SQLITE_OK)
		return snap__err(-EIO, "manifest: cannot close the database");
	w->db = NULL;
	w->done = true;
	snprintf(p, sizeof(p), "%s/manifest.db", w->tmpdir);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0) {
		r = snap__err(-errno, "fsync %s: %s", p, strerror(errno));
		if (fd >= 0)
			close(fd);
		return r;
	}
	close(fd);
	(void)chmod(p, 0444);
	if ((r = snap__fsync_dir(w->tmpdir)) < 0)
		return snap__err(r, "fsync %s: %s", w->tmpdir, strerror(-r));
	snprintf(dst, sizeof(dst), "%s/layers/%s", w->store->dir, w->meta.id);
	if (rename(w->tmpdir, dst) < 0) {
		if (errno != EEXIST && errno != ENOTEMPTY)
			return snap__err(-errno, "cannot move the layer into %s: %s", dst, strerror(errno));
		/* The same layer already exists: keep it. */
		(void)snap__rm_rf(w->tmpdir);
	}
	w->tmpdir[0] = '\0';
	snprintf(p, sizeof(p), "%s/layers", w->store->dir);
	if ((r = snap__fsync_dir(p)) < 0)
		return snap__err(r, "fsync %s: %s", p, strerror(-r));
	memcpy(out_id, w->meta.id, SNAP_ID_HEXLEN + 1);
	return 0;
}

void snap_writer_free(struct snap_writer *w)
{
	if (!w)
		return;
	sqlite3_finalize(w->ins);
	sqlite3_close(w->db);
	if (w->tmpdir[0])
		(void)snap__rm_rf(w->tmpdir);
	snap__store_unlock(w->lockfd);
	free(w);
}
