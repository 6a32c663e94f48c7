/*
 * thawfs internals: the structures shared by the files of fs/.
 *
 * The namespace a reader sees is a stack of read-only sources, topmost first:
 *
 *   layer 0            the synthesized .git directory (fs/dotgit.c), private to the mount
 *   layers 1..n        the --layer directories or store layers (layer_store.c),
 *                      first given is topmost
 *   the git tree       the tree of the mounted commit (fs/git_tree.c)
 *
 * Every path that is ever looked up gets one struct fs_node, created when its
 * parent directory is first listed ("loaded", fs/dir.c) and kept for the life of
 * the mount, so a path keeps its inode number. Inode numbers index a table
 * (fs/inode.c); they are never reused within a mount.
 *
 * Nothing on the read path takes a global lock: the inode table is read with
 * atomic loads, a directory is loaded once under a striped lock and published
 * with a release store, and node fields are immutable once published except
 * the lazily loaded blob size and the flags, which are atomics.
 */
#ifndef THAW_FS_INT_H
#define THAW_FS_INT_H

#include <fuse_lowlevel.h>
#include <git2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "fs.h"

#define FS_MAX_LAYERS 32      /* layer 0 (.git) + up to 31 --layer dirs */
#define FS_LAYER_GIT   (-1)   /* data source is the git tree */
#define FS_LAYER_NONE  (-2)   /* no data: e.g. a submodule's empty directory */
#define FS_LAYER_UPPER (-3)   /* data source is the upper layer */
#define FS_LAYER_CID   (-4)   /* data source is content id node->oid: any store, else git */
#define FS_TIMEOUT    86400.0 /* entry/attr timeout, seconds: every change goes through us */
#define FS_WORKDIR    ".thaw-work" /* reserved name at the upper root: temporaries, orphans */

/* node->flags */
enum {
	FS_NODE_SIZE_KNOWN = 1u << 0, /* size loaded from the object header */
	FS_NODE_BAD_OBJECT = 1u << 1, /* the object is missing or corrupt */
	FS_NODE_EIO_LOGGED = 1u << 2, /* the EIO was logged once */
	FS_NODE_CACHED     = 1u << 3, /* content verified present in the hydration cache */
	FS_NODE_DOTGIT     = 1u << 4, /* the .git directory: loading waits for the index */
	FS_NODE_XATTRS     = 1u << 5, /* store layer entry with xattrs in its manifest */
};

/* node->up: how much of the node lives in the upper layer */
enum { FS_UP_NONE = 0, FS_UP_META = 1, FS_UP_FULL = 2 };

struct fs_dir;

/*
 * One inode. Fields marked (R) are protected by fs->rename_lock (written with
 * it held for writing, read with it held for reading or from the thread that
 * owns a fresh node); (N) by the node's stripe of fs->nodelock; (A) are
 * atomics. Everything else is set before the node is published.
 */
struct fs_node {
	uint64_t ino;
	struct fs_node *parent; /* (R) primary link: NULL for the root and for orphans */
	char *name;             /* (R) name under parent; "" for the root */
	uint32_t mode;          /* (N) S_IFxxx | permission bits (lower nodes) */
	_Atomic int16_t layer;  /* (N) data source: FS_LAYER_UPPER, a layer index, FS_LAYER_GIT/NONE */
	_Atomic uint8_t up;     /* (N) FS_UP_* */
	_Atomic bool dir_upper; /* (N) dirs: an upper directory exists */
	bool orphan;            /* (R) unlinked while the kernel holds it: data under FS_WORKDIR/orphans */
	uint32_t dir_layers;    /* (N) dirs: bitmask of layers that contribute entries */
	bool dir_git;           /* (N) dirs: the git tree contributes (oid is a tree) */
	git_oid oid;            /* (N) git blob or tree; zero for layer-only nodes */
	char *origin;           /* (N) data of a layer file still below: its path in that layer;
	                         * set once, freed with the node */
	struct fs_link *links;  /* (R) further hard links (upper files) */
	int64_t mtime_sec;      /* lower nodes: from the layer's stat, or the commit time */
	uint32_t mtime_nsec;
	int64_t ctime_sec;
	uint32_t ctime_nsec;
	uint32_t uid, gid;
	_Atomic uint64_t size;    /* regular files: size; lower char/blk devices: rdev */
	_Atomic uint32_t flags;
	_Atomic int64_t touched;  /* last LRU touch of the cache entry, seconds */
	_Atomic uint64_t nlookup; /* the kernel's references */
	_Atomic int upfd;         /* dirs: cached O_PATH fd of the upper directory, or -1 */
	struct fs_dir *_Atomic dir; /* entries once loaded, else NULL */
};

struct fs_hlink {
	uint64_t upper_ino;
	struct fs_node *node;
};

struct fs_link {
	struct fs_node *parent;
	char *name;
	struct fs_link *next;
};

struct fs_dirent {
	char *name;
	struct fs_node *node;   /* NULL: a removed entry (tombstone) */
	uint64_t off;           /* readdir offset, stable */
	bool lower;             /* a lower source has this name: removing it leaves a whiteout */
};

struct fs_dir {
	struct fs_dirent *ent;  /* in creation order */
	size_t n, cap, live;
	uint32_t *hash;         /* open addressing: index+1 into ent */
	size_t hcap;
	uint64_t next_off;
};

/* dirents.c: not thread-safe, the directory's lock is held */
struct fs_dir *fs__dir_new(void);
void fs__dir_free(struct fs_dir *d);
struct fs_dirent *fs__dir_lookup(struct fs_dir *d, const char *name);
int fs__dir_add(struct fs_dir *d, const char *name, struct fs_node *node, bool lower);
int fs__dir_remove(struct fs_dir *d, const char *name);
/* Index of the first entry whose offset is greater than off. */
size_t fs__dir_seek(const struct fs_dir *d, uint64_t off);

/* Counters reported by the control socket; relaxed atomics. */
struct fs_stats {
	_Atomic uint64_t lookups;
	_Atomic uint64_t getattrs;
	_Atomic uint64_t readdirs;
	_Atomic uint64_t reads;
	_Atomic uint64_t bytes_read;
	_Atomic uint64_t hydrations;
	_Atomic uint64_t bytes_hydrated;
	_Atomic uint64_t cache_hits;
	_Atomic uint64_t inline_reads;
	_Atomic uint64_t io_errors;
	_Atomic uint64_t erofs;
};
#define FS_STAT_ADD(fs, field, n) atomic_fetch_add_explicit(&(fs)->stats.field, (n), memory_order_relaxed)

/* ---- inode table (inode.c) ---- */
#define FS_ITAB_CHUNK_BITS 14
#define FS_ITAB_CHUNK (1u << FS_ITAB_CHUNK_BITS)
#define FS_ITAB_CHUNKS 65536u /* up to 2^30 inodes */

struct fs_itable {
	_Atomic(struct fs_node *) *_Atomic chunk[FS_ITAB_CHUNKS];
	_Atomic uint64_t next;  /* next inode number to hand out */
	pthread_mutex_t grow;   /* protects allocation of new chunks */
};

int fs__itable_init(struct fs_itable *t);
void fs__itable_release(struct fs_itable *t);
/* Assigns node->ino and publishes the node. */
int fs__itable_add(struct fs_itable *t, struct fs_node *node);
struct fs_node *fs__itable_get(struct fs_itable *t, uint64_t ino);
uint64_t fs__itable_count(struct fs_itable *t);

/* ---- hydration cache (hydrate.c) ---- */
struct fs_cache;
/* Writes the content of a blob to fd; returns 0 or a negative errno. */
typedef int (*fs_cache_fill_fn)(void *arg, const git_oid *oid, int fd, uint64_t *out_bytes);

int fs_cache_open(struct fs_cache **out, const char *dir, uint64_t cap_bytes);
void fs_cache_free(struct fs_cache *c);
/*
 * Opens the cache entry of oid for reading, hydrating it through fill first if
 * it is absent. Concurrent callers for the same oid (threads or processes)
 * share one hydration. *out_hydrated is set when this call did the hydration.
 * expect_size, if not UINT64_MAX, is checked against the entry's size; a
 * mismatch (a damaged entry) is removed and hydrated again.
 */
int fs_cache_get(struct fs_cache *c, const git_oid *oid, uint64_t expect_size,
                 fs_cache_fill_fn fill, void *arg, int *out_fd, bool *out_hydrated);
/* Marks an entry as used now (LRU), at most once a minute per node. */
void fs_cache_touch(struct fs_cache *c, int fd);
/* Evicts least recently used entries until the cache is under its cap. */
int fs_cache_evict(struct fs_cache *c, uint64_t *out_evicted);
uint64_t fs_cache_size_estimate(struct fs_cache *c);
uint64_t fs_cache_evictions(struct fs_cache *c);
/* Measures the cache (and evicts if over the cap) in a background thread. */
void fs_cache_scan_async(struct fs_cache *c);
uint64_t fs_cache_cap(struct fs_cache *c);
const char *fs_cache_dir(struct fs_cache *c);

/* ---- git tree source (git_tree.c): the only file that speaks libgit2 for reads ---- */
struct fs_git;
int fs_git_open(struct fs_git **out, const char *repo_path, const char *rev, char *err, size_t errlen);
void fs_git_free(struct fs_git *g);
const git_oid *fs_git_commit_id(struct fs_git *g);
const git_oid *fs_git_tree_id(struct fs_git *g);
int64_t fs_git_commit_time(struct fs_git *g);
const char *fs_git_branch(struct fs_git *g);      /* local branch REV named, or NULL */
const char *fs_git_objects_dir(struct fs_git *g); /* absolute path of the object directory */
/* The repository handle of the calling thread (opened on first use). */
git_repository *fs_git_repo(struct fs_git *g);
int fs_git_blob_size(struct fs_git *g, const git_oid *oid, uint64_t *out);
/* Reads a whole (small) blob into a malloc'd buffer. */
int fs_git_blob_read(struct fs_git *g, const git_oid *oid, void **out, size_t *out_len);
/* The mounted tree changes with a sync; readers hold fs->swap_lock. */
void fs_git_set_current(struct fs_git *g, const git_oid *commit, const git_oid *tree, int64_t time);
/* git_fetch.c */
typedef void (*fs_fetch_progress_fn)(void *arg, unsigned received, unsigned total, size_t bytes);
int fs_git_fetch(struct fs_git *g, const char *url, const char *branch, fs_fetch_progress_fn fn, void *arg,
                 git_oid *out_tip, char *err, size_t errlen);
int fs_git_commit_info(struct fs_git *g, const git_oid *commit, git_oid *out_tree, int64_t *out_time);
/* Paths that differ between two trees (files; both names of a rename). */
int fs_git_diff_paths(struct fs_git *g, const git_oid *old_tree, const git_oid *new_tree, char ***out,
                      size_t *out_n);
/* The tree at path in root ("" is root itself); -ENOENT if none. */
int fs_git_subtree(struct fs_git *g, const git_oid *root, const char *path, git_oid *out);
/* fs_cache_fill_fn over the calling thread's repository */
int fs_git_blob_fill(void *g, const git_oid *oid, int fd, uint64_t *out_bytes);

/* gate.c: every mutation passes the gate; while it is closed (syncing,
 * frozen) mutations are parked with their request and answered in arrival
 * order once it opens. */
enum fs_mut_op {
	FS_MUT_CREATE, FS_MUT_MKDIR, FS_MUT_SYMLINK, FS_MUT_MKNOD, FS_MUT_UNLINK, FS_MUT_RMDIR,
	FS_MUT_RENAME, FS_MUT_LINK, FS_MUT_SETATTR, FS_MUT_WRITE, FS_MUT_FALLOCATE,
	FS_MUT_SETXATTR, FS_MUT_REMOVEXATTR,
};

struct fs_mut {
	enum fs_mut_op op;
	fuse_ino_t ino, ino2;
	char *name, *name2, *target, *value;
	mode_t mode;
	dev_t rdev;
	unsigned flags;
	struct stat attr;
	int to_set, mode2;
	off_t off, len;
	size_t size;
	struct fuse_file_info fi;
	struct fuse_bufvec *bufv;
	/* parked copies */
	fuse_req_t req;
	void *data;
	struct fuse_bufvec mbuf;
	uint64_t bytes;
	struct fs_mut *next;
};

enum fs_gate_state { FS_GATE_OPEN, FS_GATE_SYNCING, FS_GATE_FROZEN, FS_GATE_SYNC_FAILED, FS_GATE_READONLY };
const char *fs_gate_state_name(int state);

struct fs_gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;     /* in_flight reached 0, or the queue drained */
	int state;               /* enum fs_gate_state; protected by lock */
	bool frozen;             /* freeze requested (independent of sync); protected by lock */
	bool syncing;            /* protected by lock */
	bool draining;           /* parked requests being replayed; protected by lock */
	unsigned in_flight;      /* mutations executing; protected by lock */
	struct fs_mut *head, *tail; /* parked, in arrival order; protected by lock */
	uint64_t parked, parked_bytes; /* protected by lock */
	uint64_t parked_total, interrupted_total; /* protected by lock */
};

struct fs_sync {
	pthread_mutex_t lock;    /* protects every field below */
	pthread_cond_t cond;
	pthread_t thread, watchdog;
	bool started, watchdog_started, stop, requested, running, has_synced;
	bool decided;            /* the failure policy was applied for this request */
	int64_t deadline_ms;     /* wall clock: the policy applies after it */
	git_oid synced;
	double duration_ms, fetch_ms, swap_ms;
	uint64_t changed, failures;
	int64_t reads_ready_ms, writes_ready_ms; /* wall clock, ms */
	char last_error[512];
};

/* Events for control-socket subscribers (control.c). */
struct fs_events {
	pthread_mutex_t lock;
	char *ring[1024];        /* serialized lines; seq % 1024 */
	uint64_t seq;            /* next sequence number */
	int wake[2];             /* wakes the control thread */
	_Atomic int subscribers;
};

/* ---- the mount ---- */
struct fs;
struct snap_layer;
struct snap_store;
struct fs_layer {
	char *path;  /* as given (directories), the layer directory (store layers) */
	int rootfd;  /* O_PATH|O_DIRECTORY handle on the layer's root; -1 for store layers */
	struct snap_layer *store; /* a store layer (layer_store.c), else NULL */
	char *arg;   /* store layers: the --layer argument (id, prefix or path) */
};

/* ---- store layers (layer_store.c): the only file that speaks snapshot.h ---- */
/* One manifest entry as the merge sees it. */
struct fs_sentry {
	const char *name;     /* last path component */
	uint32_t mode;        /* S_IFxxx | permission bits; 0 for a whiteout */
	bool whiteout, opaque, has_xattrs;
	uint32_t uid, gid;
	uint64_t size;        /* regular files: size; devices: rdev */
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	git_oid cid;          /* regular files */
};
typedef int (*fs_sentry_fn)(void *arg, const struct fs_sentry *e);
/* Opens the --store (if any) and layer i of opt as a store layer when it is
 * one (a layer directory with manifest.db, or an id in --store). *is_store
 * false: a plain directory layer. Errors: a one-line message in err. */
int fs__store_open(struct fs *fs, const char *arg, struct fs_layer *l, bool *is_store, char *err, size_t errlen);
/* Reopens every store layer's handle (after fork: a SQLite handle must not
 * cross it). */
int fs__store_reopen(struct fs *fs);
void fs__store_release(struct fs *fs);
/* Entries directly under dir ("" for the root) of store layer li. */
int fs__store_list(struct fs *fs, int li, const char *dir, fs_sentry_fn fn, void *arg);
int fs__store_readlink(struct fs *fs, int li, const char *path, char *buf, size_t len);
/* getxattr (name) or listxattr (name NULL) of a store entry; returns the
 * length (size 0: only the length) or a negative errno. */
ssize_t fs__store_xattr(struct fs *fs, int li, const char *path, const char *name, char *buf, size_t size);
/* Calls fn(arg, name, value, len) for each xattr of a store entry. */
int fs__store_xattr_each(struct fs *fs, int li, const char *path,
                         int (*fn)(void *arg, const char *name, const void *value, size_t len), void *arg);
/* Where content comes from: store layer li first (-1: none), then every
 * other store, then (git true) the git object database. */
struct fs_store_fill {
	struct fs *fs;
	int li;
	bool git;
	int err;              /* the last failure: -ENOENT missing, -EIO corrupt */
	char msg[256];
};
/* fs_cache_fill_fn over struct fs_store_fill (a missing object is -EIO:
 * the cache retries -ENOENT). */
int fs__store_fill(void *arg, const git_oid *oid, int fd, uint64_t *out_bytes);
/* Decompresses a small object into a malloc'd buffer (no cache entry). */
int fs__store_read_small(struct fs_store_fill *f, const git_oid *oid, uint64_t size, void **out, size_t *out_len);
/* The status's "layer_info" array (new reference). */
struct json_t *fs__store_layer_info(struct fs *fs);

struct fs {
	struct fs_options opt;
	struct fs_git *git;
	struct fs_cache *cache;
	struct fs_layer layer[FS_MAX_LAYERS];
	int nlayers;
	char *store_dir;        /* --store, absolute, or NULL */
	struct snap_store *store; /* --store opened, or NULL */
	bool has_store_layers;
	uint32_t store_mask;    /* bit li: layer li is a store layer */
	struct fs_itable itable;
	struct fs_node *root;
	struct fuse_session *se;
	unsigned se_want;       /* capabilities negotiated in init */
	struct fs_stats stats;
	uid_t uid;
	gid_t gid;
	int64_t time_sec;       /* mtime/ctime reported for git content */
	struct timespec started; /* CLOCK_MONOTONIC at process start */
	struct timespec mounted; /* CLOCK_MONOTONIC when the mount was up */
	int64_t mounted_wall;    /* time() at mount */

	char *rundir;           /* private runtime directory of this mount */
	char *log;              /* --log, absolute */
	int runlock_fd;         /* flock'd while the mount lives */

	pthread_mutex_t dotgit_lock;
	pthread_cond_t dotgit_cond;
	int dotgit_state;       /* 0 preparing, 1 ready, <0 failed (negative errno); protected by dotgit_lock */
	uint64_t index_entries; /* protected by dotgit_lock */
	double index_ms;        /* protected by dotgit_lock */
	pthread_t dotgit_thread;
	bool index_thread_done; /* the first index build gave up for a sync; protected by dotgit_lock */
	_Atomic uint64_t tree_gen; /* bumped by every swap of the git tree */
	_Atomic bool stopping;  /* unmounted: background walks give up */
	bool dotgit_started;

	pthread_rwlock_t dirlock[256]; /* striped by inode: a directory's entries */
	pthread_mutex_t nodelock[256]; /* striped by inode: copy-up and node state (N) */
	pthread_rwlock_t rename_lock;  /* (R): mutations read, renames write */
	pthread_rwlock_t swap_lock;    /* readers read; a sync's tree swap writes */
	struct fs_gate gate;
	struct fs_sync sync;
	struct fs_events events;
	git_oid mounted_commit;

	/* the upper layer (NULL path: read-only workspace) */
	const char *upper;
	int upper_fd;           /* the upper root */
	int work_fd;            /* FS_WORKDIR: temporaries */
	int orphan_fd;          /* FS_WORKDIR/orphans: unlinked files the kernel still holds */
	bool upper_xattr;       /* the upper filesystem takes user.* xattrs (metacopy, opaque) */
	_Atomic int upfd_cached; /* number of cached directory fds (bounded) */
	_Atomic uint64_t tmp_seq;
	pthread_mutex_t links_lock; /* hardlink map and every node's links list */
	struct fs_hlink *hl;        /* upper inode number -> node, open addressing */
	size_t hl_n, hl_cap;
};

/* dir.c: the merged view */
int fs__node_new(struct fs *fs, struct fs_node *parent, const char *name, size_t namelen,
                 struct fs_node **out);
/* Loads a directory once and returns its entries with the directory's read
 * (or write) lock held; release with fs__dir_unlock. Never hold two. */
int fs__dir_rdlock(struct fs *fs, struct fs_node *dir, struct fs_dir **out);
int fs__dir_wrlock(struct fs *fs, struct fs_node *dir, struct fs_dir **out);
void fs__dir_unlock(struct fs *fs, struct fs_node *dir);
/* The child named name (NULL if none), or an error in *err. */
struct fs_node *fs__dir_child(struct fs *fs, struct fs_node *dir, const char *name, int *err);
/* Kernel cache invalidations collected during a swap, sent after it. */
struct fs_inval {
	struct fs_inval_item { uint64_t ino, parent; char *name; } *v;
	size_t n, cap;
};
void fs__inval_add(struct fs_inval *iv, uint64_t ino, uint64_t parent, const char *name);
void fs__inval_send(struct fs *fs, struct fs_inval *iv);
int fs__dir_remerge(struct fs *fs, struct fs_node *dir, int64_t mtime, struct fs_inval *inval);
/* Path of a node relative to a layer root, e.g. "a/b/c", or "." for the root. */
int fs__node_relpath(struct fs_node *n, char *buf, size_t len);
/* Path of a lower node's data in its layer (its origin once copied up). */
int fs__node_lowerpath(struct fs_node *n, char *buf, size_t len);
int fs__node_size(struct fs *fs, struct fs_node *n, uint64_t *out);
/* -EIO when the node's object cannot be read (its size is unknown). */
int fs__node_stat(struct fs *fs, struct fs_node *n, struct stat *st);
/* Full workspace path for logs, "a/b/c". */
void fs__node_path_for_log(struct fs_node *n, char *buf, size_t len);
void fs__node_mark_bad(struct fs *fs, struct fs_node *n, int err, const char *what);

/* upper.c: the writable upper layer */
#define FS_XATTR_OPAQUE "user.thaw.opaque"
#define FS_XATTR_ORIGIN "user.thaw.origin"
#define FS_XATTR_PREFIX "user.thaw."
int fs__upper_init(struct fs *fs);
/* The upper directory of dir (O_PATH); -ENOENT when it has none. Release
 * with fs__upper_fd_put. Callers hold rename_lock for reading. */
int fs__upper_dirfd(struct fs *fs, struct fs_node *dir, bool *owned);
void fs__upper_fd_put(int fd, bool owned);
char *fs__upper_get_origin(int dfd, const char *name);
int fs__upper_parse_origin(struct fs *fs, struct fs_node *n, const char *value);
int fs__upper_stat(struct fs *fs, struct fs_node *n, struct stat *st);
/* Opens the upper file of n (n->up != FS_UP_NONE). */
int fs__upper_open(struct fs *fs, struct fs_node *n, int flags);
int fs__upper_whiteout(int dfd, const char *name);
/* A readable descriptor of dir's upper directory (caller closes); -ENOENT
 * when it has none. Callers hold rename_lock for reading. */
int fs__upper_dir_open(struct fs *fs, struct fs_node *dir);
/* Marks the upper directory pfd/name ("." for pfd itself) opaque. */
int fs__upper_mark_opaque(int pfd, const char *name);
int fs__upper_readlink(struct fs *fs, struct fs_node *n, char *buf, size_t len);
/* Hard links of the upper layer map to one node (so the kernel sees one
 * inode); links_lock held. */
struct fs_node *fs__hlink_find(struct fs *fs, uint64_t upper_ino);
int fs__hlink_add(struct fs *fs, uint64_t upper_ino, struct fs_node *n);
/* Adds (parent, name) to n's further links; links_lock held. */
int fs__link_record(struct fs_node *n, struct fs_node *parent, const char *name);
/* copy_up.c */
int fs__copy_up_dir(struct fs *fs, struct fs_node *dir);
int fs__copy_up_meta(struct fs *fs, struct fs_node *n);
int fs__copy_up_data(struct fs *fs, struct fs_node *n);
int fs__copy_up_tree(struct fs *fs, struct fs_node *dir);
/* Opens the lower data of a regular file (hydrating a git blob). */
int fs__lower_open(struct fs *fs, struct fs_node *n, int *out_fd);
void fs__node_lock(struct fs *fs, struct fs_node *n);
void fs__node_unlock(struct fs *fs, struct fs_node *n);

/* dotgit.c */
int fs__dotgit_prepare(struct fs *fs);   /* writes HEAD, config, objects/info/alternates */
int fs__dotgit_start(struct fs *fs);     /* starts the index synthesis thread */
int fs__dotgit_wait(struct fs *fs);      /* waits until .git is complete */

/* ops_*.c */
void fs__ops_init(struct fuse_lowlevel_ops *ops);
void fs__ops_read_init(struct fuse_lowlevel_ops *ops);
void fs__ops_dir_init(struct fuse_lowlevel_ops *ops);
void fs__ops_write_init(struct fuse_lowlevel_ops *ops);

int fs__gate_init(struct fs *fs);
void fs__gate_release(struct fs *fs);
void fs__ops_gate_init(struct fuse_lowlevel_ops *ops);
void fs__mut_exec(fuse_req_t req, struct fs_mut *m);
/* Closes the gate for a sync (reason syncing) or a freeze and waits until no
 * mutation is executing. */
void fs__gate_close(struct fs *fs, bool freeze);
/* Reopens (after a sync when !freeze, else after a freeze) and replays the
 * parked mutations. Policy states (sync failed, read-only) are set with
 * fs__gate_set_state. */
void fs__gate_open(struct fs *fs, bool freeze);
void fs__gate_set_state(struct fs *fs, int state);
void fs__gate_wait_drained(struct fs *fs);
/* At unmount: no more replays; waits for a running one. */
void fs__gate_shutdown(struct fs *fs);
struct json_t;
struct json_t *fs__gate_json(struct fs *fs);

/* sync.c */
int fs__sync_init(struct fs *fs);
int fs__sync_start(struct fs *fs);
int fs__sync_request(struct fs *fs);
void fs__sync_stop(struct fs *fs);
struct json_t *fs__sync_json(struct fs *fs);
/* dotgit.c: after a sync, .git follows the new tip */
int fs__dotgit_update(struct fs *fs, struct fs_inval *iv);

/* control.c: events to subscribers; takes the reference (may be NULL) */
void fs__event(struct fs *fs, struct json_t *ev);
int fs__events_init(struct fs *fs);
void fs__events_release(struct fs *fs);
bool fs__events_wanted(struct fs *fs);
/* A file change event: op on the path of parent/name (or of node n). */
void fs__event_change(struct fs *fs, const char *op, struct fs_node *parent, const char *name,
                      struct fs_node *n);

/* control.c */
struct fs_control;
/* Binds the socket (before daemonizing, so errors reach the user)... */
int fs_control_bind(struct fs_control **out, struct fs *fs, const char *path);
/* ...then serves it from a thread. */
int fs_control_start(struct fs_control *c);
void fs_control_stop(struct fs_control *c);
/* The status object (jansson, new reference). */
struct json_t;
struct json_t *fs__status_json(struct fs *fs);

/* log.c */
void fs_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int fs_log_open(const char *path);

/* util.c */
double fs_ms_since(const struct timespec *t0);
int fs_mkdir_p(const char *path, mode_t mode);
int fs_rm_rf(const char *path);
int fs_write_file(const char *path, const char *data, size_t len, mode_t mode);

#include "banned.h"

#endif
