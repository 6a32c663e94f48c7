/*
 * snapshot internals shared by the files of snapshot/ (not a contract).
 *
 * Locks (flock(2), so they belong to an open file description):
 *   STORE/lock              shared: every writer (snap_writer_new..free) and
 *                           every object put; exclusive: gc and layer removal.
 *   STORE/layers/ID/manifest.db
 *                           shared: every open struct snap_layer (a mount);
 *                           exclusive (non-blocking): snap_layer_remove.
 * A mounted layer therefore never blocks gc: gc keeps the objects of every
 * layer present in STORE/layers, and a held layer cannot be removed.
 */
#ifndef THAW_SNAPSHOT_INT_H
#define THAW_SNAPSHOT_INT_H

#include "snapshot.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <sys/types.h>
#include <time.h>

/* An object written to STORE/tmp, not yet fsync'd and renamed (object.c):
 * a loose temporary file, or a range of the pack being written. */
struct snap__pending {
	git_oid id;
	char *tmp;        /* the file holding it; NULL: free slot */
	uint64_t stored;  /* its frame's length */
	uint64_t off;     /* in_pack: where the frame starts in tmp */
	bool in_pack;
};

struct snap__packidx; /* objpack.c */

struct snap_store {
	char *dir;      /* absolute or as given, no trailing '/' */
	int dirfd;      /* O_PATH|O_DIRECTORY of dir */
	git_odb *hash_odb; /* an odb with a hashing-only backend: streaming blob ids */
	pthread_mutex_t pend_lock;
	struct snap__pending *pend; /* open addressing, pend_cap a power of 2; protected by pend_lock */
	size_t pend_cap, pend_n;    /* protected by pend_lock */
	uint8_t objdir_made[32];    /* bit XX: objects/XX exists; protected by pend_lock */
	/* Packing (snap__store_set_packing): new objects of at most 4 MiB go into
	 * one pack per flush instead of a file each. Set before puts start. */
	bool packing;
	int packing_lock;           /* STORE/lock held shared while packing, -1: none; protected by pend_lock */
	int wpack_fd;               /* the pack being written, -1: none; protected by pend_lock */
	char *wpack_dir;            /* its directory in STORE/tmp; protected by pend_lock */
	uint64_t wpack_off;         /* its length so far; protected by pend_lock */
	uint64_t wpack_started;     /* writeback started up to here; protected by pend_lock */
	/* Indexes of STORE/packs, loaded on the first miss (objpack.c). */
	pthread_rwlock_t packs_lock;
	struct snap__packidx *packs; /* protected by packs_lock */
	size_t npacks;               /* protected by packs_lock */
	bool packs_loaded;           /* protected by packs_lock */
	struct timespec packs_mtime; /* of STORE/packs when loaded; protected by packs_lock */
};

struct snap_layer {
	struct snap_store *store;
	bool own_store;             /* opened from a path: the store is ours */
	struct snap_meta meta;
	char *dir;                  /* STORE/layers/ID */
	int lockfd;                 /* manifest.db, flock shared while open */
	sqlite3 *db;
	pthread_mutex_t lock;       /* serializes db and the cached statements */
	sqlite3_stmt *st_list, *st_get, *st_walk; /* protected by lock */
};

/* error.c */
/* Sets this thread's last error and returns rc (a negative errno). */
int snap__err(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* As snap__err with libgit2's last error message appended. */
int snap__git_err(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void snap__clear_error(void);
void snap__git_init(void); /* git_libgit2_init once per process */

/* store.c */
/* Opens STORE/lock and flocks it (op: LOCK_SH or LOCK_EX); returns the fd. */
int snap__store_lock(struct snap_store *s, int op);
/* snap_store_open without create and without libgit2: no git_libgit2_init
 * (with the mbedTLS build it parses the system's CA bundle: milliseconds per
 * process) until something needs it. For restore, whose path to the fork of
 * thawfs reads manifests only; object puts and verified reads need
 * snap__git_init first (snap__hash_begin does it). */
int snap__store_open_light(struct snap_store **out, const char *dir);
void snap__store_unlock(int fd);
/* mkstemp-like in STORE/tmp: fills path (PATH_MAX) and returns an fd. */
int snap__tmpfile(struct snap_store *s, const char *prefix, char *path, size_t pathlen);
int snap__tmpdir(struct snap_store *s, const char *prefix, char *path, size_t pathlen);
int snap__fsync_dir(const char *dir);
int snap__rm_rf(const char *path);
bool snap__is_hex_id(const char *s, size_t len);
/* Resolves an id or a unique prefix (>= 8 hex digits) of a layer of s. */
int snap__resolve_id(struct snap_store *s, const char *prefix, char out[SNAP_ID_HEXLEN + 1]);
int64_t snap__now_ms(void);

/* object.c */
int snap__hash_odb_new(git_odb **out);
/* Makes the pending objects durable and moves them into STORE/objects. */
int snap__store_flush(struct snap_store *s);
/* Removes the pending objects (their temporaries) without storing them. */
void snap__store_pending_drop(struct snap_store *s);
void snap__object_path(const struct snap_store *s, const git_oid *id, char *path, size_t len);
/* Streaming git blob id over content of a known size. */
struct snap__hash;
int snap__hash_begin(struct snap_store *s, uint64_t size, struct snap__hash **out);
int snap__hash_update(struct snap__hash *h, const void *buf, size_t len);
int snap__hash_final(struct snap__hash *h, git_oid *out); /* frees h */
void snap__hash_free(struct snap__hash *h);
/* Reads a whole object into memory (for symlink-sized or export use). */
int snap__object_read_mem(struct snap_store *s, const git_oid *id, void **out, size_t *out_len);

/* Packing on or off for the puts that follow (see struct snap_store). */
void snap__store_set_packing(struct snap_store *s, bool on);

/* objpack.c: STORE/packs/NAME/{objects.pack,objects.idx} */
#define SNAP__PACKS_KEEP 32 /* gc unpacks older packs into loose objects */
/* Where a packed object is: the pack's path, the frame's offset and length.
 * -ENOENT if in no pack (indexes reloaded when STORE/packs changed). */
int snap__packs_find(struct snap_store *s, const git_oid *id, char *path, size_t len, uint64_t *off,
                     uint64_t *stored);
/* Writes an index of n records (unsorted in, sorted out) to fd. */
int snap__pack_write_idx(int fd, const git_oid *ids, const uint64_t *offs, const uint64_t *lens, size_t n);
/* In a pack whose index is already in memory (no system call). */
bool snap__packs_have_loaded(struct snap_store *s, const git_oid *id);
/* The next lookup reads STORE/packs again. */
void snap__packs_invalidate(struct snap_store *s);
void snap__packs_free(struct snap_store *s);
/* gc of packs (the store lock held exclusively): a pack older than cutoff
 * with unreferenced objects is dropped, its referenced ones (live) rewritten
 * as loose objects first; so is every pack beyond the newest
 * SNAP__PACKS_KEEP (all objects of a young one kept). Counts into st. */
int snap__packs_gc(struct snap_store *s, bool (*live)(void *arg, const git_oid *id), void *arg, time_t cutoff,
                   bool dry, struct snap_gc_stats *st);

/* manifest.c */
int snap__path_valid(const char *path);
/* Reads the meta table of an open manifest into m. */
int snap__meta_read(sqlite3 *db, struct snap_meta *m);
/* Opens STORE/layers/ID/manifest.db read-only (immutable). */
int snap__manifest_open(const char *path, sqlite3 **out);
/* Fills e from a row of "SELECT " SNAP__COLS " FROM entries"; strings point into the row. */
#define SNAP__COLS "path,type,mode,uid,gid,size,mtime_sec,mtime_nsec,rdev,target,cid,opaque,link,xattrs"
void snap__entry_from_row(sqlite3_stmt *st, struct snap_entry *e);
int snap__xattrs_valid(const void *x, size_t len);

/* layer.c */
/* Reads just the metadata of layer dir (no lock taken). */
int snap__layer_meta_at(const char *layer_dir, struct snap_meta *out);

/* io.c: whole-buffer I/O that retries on EINTR and short counts. */
int snap__write_all(int fd, const void *buf, size_t len);         /* 0 or -errno */
ssize_t snap__read_full(int fd, void *buf, size_t len);           /* short only at EOF */
ssize_t snap__pread_full(int fd, void *buf, size_t len, off_t off); /* the same at an offset */

#endif
