/*
 * Store layers: --layer ID (with --store STORE) or --layer LAYERDIR (a layer
 * directory holding manifest.db) stacks a snapshot or image layer of the
 * content-addressed store (snapshot/snapshot.h) above the git tree, like a
 * directory layer. This is the only file of fs/ that speaks snapshot.h.
 *
 * What a manifest entry becomes in the merged view:
 *
 *   | manifest (snap_entry)       | thawfs                                           |
 *   |-----------------------------|--------------------------------------------------|
 *   | type reg/dir/symlink/fifo/  | S_IFREG/S_IFDIR/S_IFLNK/S_IFIFO/S_IFCHR/S_IFBLK/  |
 *   | chr/blk/sock                | S_IFSOCK, with mode, uid, gid, mtime (ctime =     |
 *   |                             | mtime), size (devices: rdev)                      |
 *   | SNAP_T_WHITEOUT             | hides the name in every source below the layer   |
 *   | opaque (directories)        | nothing below the layer shows in that directory  |
 *   | cid (regular files)         | content: hydrated from STORE/objects into the    |
 *   |                             | hydration cache under that id (a git blob id:    |
 *   |                             | the same content shares one cache entry)         |
 *   | target (symlinks)           | readlink (queried, then cached by the kernel)    |
 *   | xattrs                      | getxattr/listxattr (queried per call; entries    |
 *   |                             | without xattrs answer without a query)           |
 *   | link (hard links)           | a separate inode with the same content (nlink 1) |
 *
 * Directory loading asks the manifest for one directory (snap_layer_list, an
 * indexed query): nothing is scanned at mount, whatever the layer's size.
 *
 * SQLite handles should not cross fork(): the layers are opened before the
 * mount (so a bad id is an error at start) and opened again after
 * fuse_daemonize (fs__store_reopen), by absolute path (the daemon runs in
 * "/").
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs_int.h"
#include "snapshot.h"

static char *abs_dir(const char *p)
{
	char *r = realpath(p, NULL);
	return r ? r : strdup(p);
}

static bool is_layer_dir(const char *arg)
{
	struct stat st;
	char p[PATH_MAX];
	if (stat(arg, &st) < 0 || !S_ISDIR(st.st_mode))
		return false;
	if (snprintf(p, sizeof(p), "%s/manifest.db", arg) >= (int)sizeof(p))
		return false;
	return access(p, F_OK) == 0;
}

static void one_line(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
}

int fs__store_open(struct fs *fs, const char *arg, struct fs_layer *l, bool *is_store, char *err, size_t errlen)
{
	struct stat st;
	int r;
	*is_store = false;
	bool by_path = is_layer_dir(arg);
	if (!by_path && stat(arg, &st) == 0)
		return 0; /* a plain directory (or not one: the caller says so) */
	if (!by_path && !fs->opt.store)
		return 0; /* missing: the caller reports it */
	if (fs->opt.store && !fs->store) {
		/* Absolute: the daemon reopens layers after chdir("/"). */
		fs->store_dir = abs_dir(fs->opt.store);
		if (!fs->store_dir) {
			snprintf(err, errlen, "store %s: out of memory", fs->opt.store);
			return -ENOMEM;
		}
		if ((r = snap_store_open(&fs->store, fs->store_dir, false)) < 0) {
			const char *m = snap_last_error();
			if (m && m[0] && strstr(m, fs->opt.store))
				snprintf(err, errlen, "%s", m);
			else
				snprintf(err, errlen, "store %s: %s", fs->opt.store, m && m[0] ? m : strerror(-r));
			one_line(err);
			return r;
		}
	}
	*is_store = true;
	r = snap_layer_open(&l->store, by_path ? NULL : fs->store, arg);
	if (r < 0) {
		const char *m = snap_last_error();
		snprintf(err, errlen, "layer %s: %s", arg, m && m[0] ? m : strerror(-r));
		one_line(err);
		l->store = NULL;
		return r;
	}
	const struct snap_meta *meta = snap_layer_meta(l->store);
	char p[PATH_MAX];
	if (by_path) {
		l->path = abs_dir(arg);
	} else {
		snprintf(p, sizeof(p), "%s/layers/%s", snap_store_dir(snap_layer_store(l->store)), meta->id);
		l->path = abs_dir(p);
	}
	l->arg = strdup(by_path ? l->path : meta->id);
	if (!l->path || !l->arg) {
		snprintf(err, errlen, "layer %s: out of memory", arg);
		return -ENOMEM;
	}
	l->rootfd = -1;
	fs->has_store_layers = true;
	fs->store_mask |= 1u << (unsigned)(l - fs->layer);
	return 0;
}

int fs__store_reopen(struct fs *fs)
{
	for (int i = 1; i < fs->nlayers; i++) {
		struct fs_layer *l = &fs->layer[i];
		if (!l->store)
			continue;
		bool by_path = l->arg[0] == '/';
		struct snap_layer *nl;
		int r = snap_layer_open(&nl, by_path ? NULL : fs->store, l->arg);
		if (r < 0) {
			/* Keep the inherited handle: the manifest is opened
			 * immutable (no locks, no journal), which is what makes
			 * crossing fork() risky for SQLite. */
			fs_log("thawfs: cannot reopen layer %s (keeping the first handle): %s", l->path,
			       snap_last_error());
			continue;
		}
		snap_layer_free(l->store);
		l->store = nl;
	}
	return 0;
}

void fs__store_release(struct fs *fs)
{
	for (int i = 0; i < fs->nlayers; i++) {
		snap_layer_free(fs->layer[i].store);
		fs->layer[i].store = NULL;
		free(fs->layer[i].arg);
		fs->layer[i].arg = NULL;
	}
	snap_store_free(fs->store);
	fs->store = NULL;
	free(fs->store_dir);
	fs->store_dir = NULL;
}

static uint32_t type_mode(int type)
{
	switch (type) {
	case SNAP_T_REG: return S_IFREG;
	case SNAP_T_DIR: return S_IFDIR;
	case SNAP_T_SYMLINK: return S_IFLNK;
	case SNAP_T_FIFO: return S_IFIFO;
	case SNAP_T_CHR: return S_IFCHR;
	case SNAP_T_BLK: return S_IFBLK;
	case SNAP_T_SOCK: return S_IFSOCK;
	default: return 0;
	}
}

struct list_ctx {
	struct fs *fs;
	struct snap_layer *layer;
	fs_sentry_fn fn;
	void *arg;
};

static int list_cb(void *arg, const struct snap_entry *e)
{
	struct list_ctx *c = arg;
	struct fs_sentry s;
	memset(&s, 0, sizeof(s));
	const char *slash = strrchr(e->path, '/');
	s.name = slash ? slash + 1 : e->path;
	if (!s.name[0])
		return 0;
	if (e->type == SNAP_T_WHITEOUT) {
		s.whiteout = true;
		return c->fn(c->arg, &s);
	}
	s.mode = type_mode(e->type);
	if (!s.mode)
		return 0; /* an unknown type from a newer writer: not shown */
	s.mode |= e->mode & 07777;
	s.uid = e->uid;
	s.gid = e->gid;
	s.mtime_sec = e->mtime_sec;
	s.mtime_nsec = e->mtime_nsec;
	s.opaque = e->type == SNAP_T_DIR && e->opaque;
	s.has_xattrs = e->xattrs && e->xattrs_len > 0;
	if (e->type == SNAP_T_REG) {
		s.size = e->size;
		git_oid_cpy(&s.cid, &e->cid);
	} else if (e->type == SNAP_T_CHR || e->type == SNAP_T_BLK) {
		s.size = e->rdev;
	} else if (e->type == SNAP_T_SYMLINK && e->target) {
		s.size = strlen(e->target); /* lstat's size of a symlink: its target's length */
	}
	return c->fn(c->arg, &s);
}

int fs__store_list(struct fs *fs, int li, const char *dir, fs_sentry_fn fn, void *arg)
{
	struct list_ctx c = {fs, fs->layer[li].store, fn, arg};
	int r = snap_layer_list(c.layer, dir, list_cb, &c);
	if (r < 0 && r != -ENOMEM)
		fs_log("thawfs: layer %s: listing '%s': %s", fs->layer[li].path, dir, snap_last_error());
	return r == -ENOENT ? 0 : r;
}

struct get_ctx {
	char *buf;
	size_t len;
	const char *name;
	ssize_t result;
	int (*each)(void *arg, const char *name, const void *value, size_t len);
	void *each_arg;
	int type;
};

static int link_cb(void *arg, const struct snap_entry *e)
{
	struct get_ctx *g = arg;
	g->type = e->type;
	if (e->type != SNAP_T_SYMLINK || !e->target) {
		g->result = -EINVAL;
		return 0;
	}
	size_t l = strlen(e->target);
	if (l >= g->len)
		l = g->len - 1;
	memcpy(g->buf, e->target, l);
	g->buf[l] = '\0';
	g->result = 0;
	return 0;
}

int fs__store_readlink(struct fs *fs, int li, const char *path, char *buf, size_t len)
{
	struct get_ctx g = {.buf = buf, .len = len, .result = -EIO};
	int r = snap_layer_get(fs->layer[li].store, path, link_cb, &g);
	if (r < 0) {
		fs_log("thawfs: layer %s: readlink '%s': %s", fs->layer[li].path, path, snap_last_error());
		return r == -ENOENT ? -ENOENT : -EIO;
	}
	return (int)g.result;
}

/* Walks the serialized xattrs: repeated (name\0, u32 LE length, value). */
static int xattrs_walk(const unsigned char *p, size_t len,
                       int (*fn)(void *arg, const char *name, const void *value, size_t vlen), void *arg)
{
	size_t i = 0;
	while (i < len) {
		const unsigned char *nul = memchr(p + i, '\0', len - i);
		if (!nul || (size_t)(nul - p) + 5 > len)
			return -EIO;
		const char *name = (const char *)(p + i);
		size_t q = (size_t)(nul - p) + 1;
		uint32_t vlen = (uint32_t)p[q] | (uint32_t)p[q + 1] << 8 | (uint32_t)p[q + 2] << 16 |
		                (uint32_t)p[q + 3] << 24;
		q += 4;
		if (vlen > len - q)
			return -EIO;
		int r = fn(arg, name, p + q, vlen);
		if (r)
			return r;
		i = q + vlen;
	}
	return 0;
}

static bool thaw_private(const char *name)
{
	return !strncmp(name, FS_XATTR_PREFIX, strlen(FS_XATTR_PREFIX));
}

static int xattr_one(void *arg, const char *name, const void *value, size_t vlen)
{
	struct get_ctx *g = arg;
	if (g->name) {
		if (strcmp(name, g->name))
			return 0;
		if (g->len && vlen > g->len)
			g->result = -ERANGE;
		else {
			if (g->len)
				memcpy(g->buf, value, vlen);
			g->result = (ssize_t)vlen;
		}
		return 1;
	}
	if (thaw_private(name))
		return 0;
	size_t l = strlen(name) + 1;
	if (g->len) {
		if ((size_t)g->result + l > g->len) {
			g->result = -ERANGE;
			return 1;
		}
		memcpy(g->buf + g->result, name, l);
	}
	g->result += (ssize_t)l;
	return 0;
}

static int xattr_entry_cb(void *arg, const struct snap_entry *e)
{
	struct get_ctx *g = arg;
	if (!e->xattrs || !e->xattrs_len)
		return 0;
	int r = g->each ? xattrs_walk(e->xattrs, e->xattrs_len, g->each, g->each_arg)
	                : xattrs_walk(e->xattrs, e->xattrs_len, xattr_one, g);
	if (r < 0)
		g->result = r;
	return r < 0 ? r : 0;
}

ssize_t fs__store_xattr(struct fs *fs, int li, const char *path, const char *name, char *buf, size_t size)
{
	struct get_ctx g = {.buf = buf, .len = size, .name = name, .result = name ? -ENODATA : 0};
	int r = snap_layer_get(fs->layer[li].store, path, xattr_entry_cb, &g);
	if (r < 0 && g.result >= 0) {
		fs_log("thawfs: layer %s: xattrs of '%s': %s", fs->layer[li].path, path, snap_last_error());
		return -EIO;
	}
	return g.result;
}

int fs__store_xattr_each(struct fs *fs, int li, const char *path,
                         int (*fn)(void *arg, const char *name, const void *value, size_t len), void *arg)
{
	struct get_ctx g = {.each = fn, .each_arg = arg};
	int r = snap_layer_get(fs->layer[li].store, path, xattr_entry_cb, &g);
	if (r < 0)
		return g.result < 0 ? (int)g.result : -EIO;
	return (int)(g.result < 0 ? g.result : 0);
}

static void fill_note(struct fs_store_fill *f, int r, const char *where)
{
	f->err = r;
	const char *m = snap_last_error();
	if (m && m[0])
		snprintf(f->msg, sizeof(f->msg), "%s", m);
	else
		snprintf(f->msg, sizeof(f->msg), "%s%s", r == -ENOENT ? "object missing" : "object corrupt or truncated", where);
	one_line(f->msg);
}

static int restart(int fd)
{
	if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
		return -errno;
	return 0;
}

int fs__store_fill(void *arg, const git_oid *oid, int fd, uint64_t *out_bytes)
{
	struct fs_store_fill *f = arg;
	struct fs *fs = f->fs;
	struct snap_store *tried[FS_MAX_LAYERS + 1];
	size_t ntried = 0;
	int r = -ENOENT;

	f->err = 0;
	f->msg[0] = '\0';
	/* The preferred layer's store, then the others, then --store. */
	for (int k = -1; k <= fs->nlayers; k++) {
		struct snap_store *s;
		if (k == -1)
			s = f->li > 0 && fs->layer[f->li].store ? snap_layer_store(fs->layer[f->li].store) : NULL;
		else if (k == fs->nlayers)
			s = fs->store;
		else
			s = fs->layer[k].store ? snap_layer_store(fs->layer[k].store) : NULL;
		if (!s)
			continue;
		bool seen = false;
		for (size_t i = 0; i < ntried; i++)
			seen |= tried[i] == s;
		if (seen)
			continue;
		tried[ntried++] = s;
		if (ntried > 1 && (r = restart(fd)) < 0)
			return r;
		r = snap_object_read_fd(s, oid, fd, out_bytes);
		if (r == 0)
			return 0;
		fill_note(f, r, "");
		if (r != -ENOENT)
			return -EIO; /* corrupt: never look for the content elsewhere */
	}
	if (f->git) {
		if (ntried && (r = restart(fd)) < 0)
			return r;
		r = fs_git_blob_fill(fs->git, oid, fd, out_bytes);
		if (r == 0)
			return 0;
		f->err = -EIO;
		snprintf(f->msg, sizeof(f->msg), "object missing from every store and from the repository");
	} else if (!ntried) {
		f->err = -ENOENT;
		snprintf(f->msg, sizeof(f->msg), "no store to read the object from");
	}
	if (!f->msg[0])
		snprintf(f->msg, sizeof(f->msg), "object missing");
	/* -ENOENT would make the cache retry: a missing object is an I/O error. */
	return -EIO;
}

int fs__store_read_small(struct fs_store_fill *f, const git_oid *oid, uint64_t size, void **out, size_t *out_len)
{
	int fd = memfd_create("thaw-object", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	uint64_t bytes = 0;
	int r = fs__store_fill(f, oid, fd, &bytes);
	void *buf = NULL;
	if (r == 0 && bytes != size) {
		snprintf(f->msg, sizeof(f->msg), "object has %llu bytes, the manifest says %llu",
		         (unsigned long long)bytes, (unsigned long long)size);
		r = -EIO;
	}
	if (r == 0 && !(buf = malloc(size ? size : 1)))
		r = -ENOMEM;
	if (r == 0 && size && pread(fd, buf, size, 0) != (ssize_t)size)
		r = -EIO;
	close(fd);
	if (r < 0) {
		free(buf);
		return r;
	}
	*out = buf;
	*out_len = (size_t)size;
	return 0;
}

json_t *fs__store_layer_info(struct fs *fs)
{
	json_t *a = json_array();
	for (int i = 1; i < fs->nlayers; i++) {
		struct fs_layer *l = &fs->layer[i];
		json_t *o;
		if (l->store) {
			const struct snap_meta *m = snap_layer_meta(l->store);
			o = json_pack("{s:s,s:s,s:s,s:s,s:s?}", "kind", "store", "path", l->path, "id", m->id,
			              "layer_kind", snap_kind_name(m->kind), "synced_commit",
			              m->synced_commit[0] ? m->synced_commit : NULL);
		} else {
			o = json_pack("{s:s,s:s,s:n,s:n,s:n}", "kind", "dir", "path", l->path, "id", "layer_kind",
			              "synced_commit");
		}
		json_array_append_new(a, o);
	}
	return a;
}
