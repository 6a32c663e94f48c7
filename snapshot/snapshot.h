/*
 * snapshot: the contract between snapshot/ and the rest of Thaw.
 *
 * A *store* is one directory shared by images and snapshots:
 *
 *   STORE/objects/XX/YYYYYY...   content-addressed objects (one lz4 frame each)
 *   STORE/layers/ID/manifest.db  one immutable SQLite manifest per layer
 *   STORE/layers/ID/build.log    (images) the build log
 *   STORE/tmp/                   temporaries (same filesystem, renamed into place)
 *   STORE/lock                   flock: shared by writers and object puts, exclusive by gc
 *
 * Content id: the git blob id of the uncompressed content (SHA-1 over
 * "blob <size>\0" + content, computed by libgit2 with collision detection).
 * Choosing git's id means a file that an image or a snapshot did not change
 * has the same id as its blob, and thawfs's hydration cache (keyed by that
 * id) serves both from one entry. See docs/snapshot.md.
 *
 * Object format (one file, written to STORE/tmp, fsync'd, renamed, directory
 * fsync'd; never rewritten):
 *
 *   | bytes | field                                                        |
 *   |-------|--------------------------------------------------------------|
 *   | ...   | one LZ4 frame (lz4frame.h): content size and content checksum |
 *   |       | (xxh32) in the frame header/footer, block checksums on       |
 *
 * Reading verifies the frame checksums, the size and the content id; any
 * mismatch is -EIO (the object is corrupt, never served as data).
 *
 * A *layer* is identified by a 40-hex id: the SHA-1 of its canonical content
 * (its entries in path order and the metadata fields marked (C) below), so
 * freezing the same change twice yields the same layer and no new objects.
 * Manifest schema: see the table at the top of snapshot/manifest.c and
 * docs/snapshot.md.
 *
 * Errors: functions return 0 or a negative errno. A message for the last
 * failure of the calling thread is kept: snap_last_error().
 * Thread safety: a struct snap_store may be shared by threads; a struct
 * snap_layer may be shared by threads (its SQLite handle is serialized by a
 * mutex inside); a struct snap_writer belongs to one thread.
 */
#ifndef THAW_SNAPSHOT_H
#define THAW_SNAPSHOT_H

#include <git2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNAP_ID_HEXLEN 40

/* The last error message of this thread ("" if none). */
const char *snap_last_error(void);

/* ---- the store ---- */
struct snap_store;

/* Opens STORE (creating its directories when create is true). */
int snap_store_open(struct snap_store **out, const char *dir, bool create);
void snap_store_free(struct snap_store *s); /* accepts NULL */
const char *snap_store_dir(const struct snap_store *s);

/* ---- objects ---- */
/* Stores the content read from fd (to EOF) and returns its id. Already
 * present: nothing is written and *out_new is false. */
int snap_object_put_fd(struct snap_store *s, int fd, git_oid *out, uint64_t *out_size, bool *out_new);
int snap_object_put_buf(struct snap_store *s, const void *buf, size_t len, git_oid *out, bool *out_new);
/* 0 if present, -ENOENT if not. */
int snap_object_has(struct snap_store *s, const git_oid *id);
/* Decompresses and verifies the object into fd (written from fd's current
 * offset). -ENOENT: missing; -EIO: corrupt or truncated (fd may then hold a
 * partial copy: the caller discards it). *out_bytes: bytes written. */
int snap_object_read_fd(struct snap_store *s, const git_oid *id, int fd, uint64_t *out_bytes);
/* Stored (compressed) size of an object. */
int snap_object_stored_size(struct snap_store *s, const git_oid *id, uint64_t *out);

/* ---- layers ---- */
enum snap_kind { SNAP_KIND_IMAGE, SNAP_KIND_SESSION, SNAP_KIND_PRE_EXIT };
const char *snap_kind_name(int kind);          /* "image" | "session" | "pre-exit" */
int snap_kind_parse(const char *s, int *out);  /* -EINVAL on an unknown name */

enum snap_type {
	SNAP_T_REG, SNAP_T_DIR, SNAP_T_SYMLINK, SNAP_T_FIFO, SNAP_T_CHR, SNAP_T_BLK, SNAP_T_SOCK,
	SNAP_T_WHITEOUT, /* hides the path in the layers below */
};

struct snap_entry {
	const char *path;     /* relative to the workspace root, no leading '/', never "" */
	int type;             /* enum snap_type */
	uint32_t mode;        /* permission bits only (07777) */
	uint32_t uid, gid;
	uint64_t size;        /* regular files: content size */
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	uint64_t rdev;        /* character and block devices */
	const char *target;   /* symlinks: the target; else NULL */
	git_oid cid;          /* regular files: content id */
	bool opaque;          /* directories: hides everything below this layer */
	const char *link;     /* a hard link: the path of the first entry of its group, else NULL */
	const void *xattrs;   /* serialized: repeated (name\0, u32 LE length, value), or NULL */
	size_t xattrs_len;
};

struct snap_meta {
	char id[SNAP_ID_HEXLEN + 1];
	int kind;                        /* (C) enum snap_kind */
	char parent[SNAP_ID_HEXLEN + 1]; /* (C) the layer below, "" for none */
	char repo[256];                  /* (C) repository name or path */
	char base_commit[41];            /* (C) commit the workspace was mounted at */
	char synced_commit[41];          /* (C) commit of the git tree below the layer at freeze */
	int64_t created_ms;              /* wall clock */
	char author[256];                /* "Name <email>" or "" */
	uint64_t bytes;                  /* sum of regular file sizes in this layer */
	uint64_t stored_bytes;           /* compressed bytes of objects this layer added */
	uint64_t files;                  /* entries */
	/* images */
	char commands[4096];             /* the setup commands, "" for snapshots */
	double duration_ms;              /* build or freeze duration */
};

/* Writing a layer. The writer holds the store's lock shared until freed. */
struct snap_writer;
int snap_writer_new(struct snap_writer **out, struct snap_store *s, const struct snap_meta *meta);
/* Entries may come in any order; a path added twice is -EEXIST. */
int snap_writer_add(struct snap_writer *w, const struct snap_entry *e);
/* Finishes the manifest and moves it into place; writes the id to out_id.
 * A layer with the same id already present is kept as it is (same content). */
int snap_writer_commit(struct snap_writer *w, char out_id[SNAP_ID_HEXLEN + 1]);
void snap_writer_free(struct snap_writer *w); /* aborts an uncommitted writer; accepts NULL */

/* Reading a layer. */
struct snap_layer;
/* id_or_path: a layer id (or a unique prefix of at least 8 hex digits) in s,
 * or the path of a layer directory (s may then be NULL: the store is the
 * directory two levels up). Holds a shared flock on its manifest.db while
 * open: snap_layer_remove refuses it (-EBUSY), so gc, which keeps the objects
 * of every layer present, never removes what a mounted layer needs (a mount
 * does not block gc). */
int snap_layer_open(struct snap_layer **out, struct snap_store *s, const char *id_or_path);
void snap_layer_free(struct snap_layer *l); /* accepts NULL */
const struct snap_meta *snap_layer_meta(const struct snap_layer *l);
struct snap_store *snap_layer_store(struct snap_layer *l);
/* Callback for listings; the entry is valid only during the call. A non-zero
 * return stops the listing and is returned. */
typedef int (*snap_entry_fn)(void *arg, const struct snap_entry *e);
/* The entries directly under dir ("" for the root), sorted by name (bytes). */
int snap_layer_list(struct snap_layer *l, const char *dir, snap_entry_fn fn, void *arg);
/* One entry; -ENOENT if the layer has no entry at path. */
int snap_layer_get(struct snap_layer *l, const char *path, snap_entry_fn fn, void *arg);
/* Every entry in path order. */
int snap_layer_walk(struct snap_layer *l, snap_entry_fn fn, void *arg);
/* Checks that every object the layer names exists (not their content). */
int snap_layer_check(struct snap_layer *l, uint64_t *out_missing);

/* The chain of a layer, topmost first: id, its parent, ... down to the
 * layer without parent. *out is a malloc'd array of malloc'd ids. */
int snap_layer_chain(struct snap_store *s, const char *id, char ***out, size_t *out_n);
void snap_ids_free(char **ids, size_t n);

/* Every layer of the store, newest first. */
typedef int (*snap_meta_fn)(void *arg, const struct snap_meta *m);
int snap_store_list(struct snap_store *s, snap_meta_fn fn, void *arg);
/* Removes a layer: -EBUSY when another layer names it as parent or a mount
 * holds it open. */
int snap_layer_remove(struct snap_store *s, const char *id);

/* ---- garbage collection ---- */
struct snap_gc_stats {
	uint64_t layers, objects_kept, objects_removed, bytes_removed, temporaries_removed;
};
/* Removes objects no layer references and stale temporaries. Takes the
 * store's lock exclusively (waits for writers; mounts hold no lock on the
 * object set: objects of every existing layer are kept). Objects younger than
 * grace_sec are kept (a writer between put and commit). */
int snap_store_gc(struct snap_store *s, unsigned grace_sec, bool dry_run, struct snap_gc_stats *out);

/* ---- diff and export ---- */
enum snap_change { SNAP_ADDED, SNAP_MODIFIED, SNAP_DELETED };
typedef int (*snap_change_fn)(void *arg, int change, const struct snap_entry *e);
/* What a layer changed against its base (the layers below it and the git
 * tree of its synced commit in repo). Deleted entries carry the path only. */
int snap_diff(struct snap_layer *l, const char *repo, snap_change_fn fn, void *arg);
/* Commits the layer's changes on top of its synced commit (tree = that
 * commit's tree + every layer of the chain that is not an image + this
 * layer) as a commit on refs/heads/branch of repo. author/committer:
 * "Name <email>". The branch must not exist unless force. */
int snap_export(struct snap_layer *l, const char *repo, const char *branch, const char *author,
                const char *committer, const char *message, bool force, git_oid *out_commit);

/* ---- freeze and restore (snapshot/freeze.c, snapshot/restore.c) ---- */
struct snap_freeze_opts {
	const char *control;   /* the workspace's control socket */
	int kind;              /* SNAP_KIND_SESSION or SNAP_KIND_PRE_EXIT (IMAGE for builds) */
	const char *author;    /* "Name <email>" or NULL */
	const char *repo_name; /* recorded in the metadata; NULL: the workspace's repository path */
	const char *commands;  /* images: the setup commands */
	void (*progress)(void *arg, const char *phase, uint64_t done, uint64_t total);
	void *progress_arg;
};
struct snap_freeze_stats {
	uint64_t files, bytes, new_objects, new_bytes;
	double park_ms, pack_ms, total_ms;
};
/* Freezes the workspace behind o->control into a new layer of s: park
 * mutations (control "freeze"), pack the upper layer, reopen ("thaw"). The
 * gate is reopened on every path, success or failure. */
int snap_freeze(struct snap_store *s, const struct snap_freeze_opts *o, char out_id[SNAP_ID_HEXLEN + 1],
                struct snap_freeze_stats *out_stats);

struct snap_restore_opts {
	const char *id;        /* the layer to restore */
	const char *repo;      /* the git repository with the synced commit */
	const char *upper;     /* a new (empty or absent) upper directory */
	const char *mountpoint;
	const char *cache;     /* hydration cache, or NULL for thawfs's default */
	const char *control;   /* control socket, or NULL */
	const char *log;       /* thawfs log, or NULL */
	const char *thawfs;    /* the thawfs binary; NULL: next to this program, then PATH */
	const char *remote, *branch; /* optional: sync after mounting */
	const char *git_author;
	bool foreground;
	const char *const *extra_args; /* more thawfs arguments, NULL-terminated, or NULL */
};
/* Verifies the chain (manifests and objects exist), then runs thawfs with
 * the stack [upper, the chain topmost first, git tree at the synced commit].
 * Returns once the mount is up (or thawfs's exit status as -ECHILD...). */
int snap_restore(struct snap_store *s, const struct snap_restore_opts *o);

/* ---- images (snapshot/image.c) ---- */
struct snap_image_opts {
	const char *repo;        /* the git repository (bare mirror) */
	const char *repo_name;   /* recorded in the metadata */
	const char *remote, *branch; /* sync to the tip of branch from remote (NULL remote: repo itself) */
	const char *previous;    /* the previous image's id, or NULL: start from the bare commit */
	const char *const *commands; /* setup commands, run in order with sh -c inside bubblewrap */
	size_t ncommands;
	unsigned timeout_s;      /* for all commands together; 0: 1800 */
	const char *workdir;     /* scratch: upper, mount point, sockets; removed after */
	const char *cache;       /* hydration cache or NULL */
	const char *thawfs;      /* the thawfs binary or NULL */
	const char *log_path;    /* where the build log goes (also kept in the layer dir) */
	void (*progress)(void *arg, const char *phase, const char *line);
	void *progress_arg;
};
struct snap_image_result {
	char id[SNAP_ID_HEXLEN + 1];
	char commit[41];
	double duration_ms;
	int exit_status;         /* of the failing command, -1 on timeout */
	char error[512];         /* why a build failed */
};
/* Builds a new image: mount the previous image (or the bare commit), sync to
 * the tip, run the commands with the workspace at /workspace, freeze the
 * result as an image layer. A failure leaves no new layer and says why. */
int snap_image_build(struct snap_store *s, const struct snap_image_opts *o, struct snap_image_result *out);

#endif
