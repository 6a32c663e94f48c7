/*
 * Read-side FUSE operations: lookup, getattr, readlink, open, read, statfs,
 * xattrs.
 *
 * Content is immutable for the life of a node, so every reply carries a long
 * entry/attr timeout and the kernel keeps file pages across opens. open and
 * opendir answer ENOSYS where the kernel supports it: it then stops sending
 * them (and their releases) and treats every file as keep_cache and every
 * directory as cache_readdir, so a warm open costs no round trip at all. A
 * read therefore carries no file handle: it finds its source from the inode.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <linux/limits.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "fs_int.h"

static struct fs *fs_of(fuse_req_t req) { return fuse_req_userdata(req); }

static int entry_of(struct fs *fs, struct fs_node *n, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = n->ino;
	e->generation = 1;
	e->attr_timeout = FS_TIMEOUT;
	e->entry_timeout = FS_TIMEOUT;
	return fs__node_stat(fs, n, &e->attr);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fs *fs = userdata;
	unsigned want = FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE | FUSE_CAP_CACHE_SYMLINKS |
	                FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO | FUSE_CAP_PARALLEL_DIROPS |
	                FUSE_CAP_NO_OPEN_SUPPORT | FUSE_CAP_NO_OPENDIR_SUPPORT | FUSE_CAP_ASYNC_READ;
	conn->want |= conn->capable & want;
	/* open is not called (no_open): O_TRUNC must reach us as a setattr,
	 * and the kernel clears setuid bits itself on write and chown. */
	conn->want &= ~(unsigned)(FUSE_CAP_ATOMIC_O_TRUNC | FUSE_CAP_HANDLE_KILLPRIV);
	conn->time_gran = 1;
	fs->se_want = conn->want; /* written before the first request is read */
}

static void lookup_impl(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	struct fs_node *p = fs__itable_get(&fs->itable, parent);
	struct fuse_entry_param e;
	int r;

	FS_STAT_ADD(fs, lookups, 1);
	if (!p) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (strlen(name) > NAME_MAX) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	struct fs_node *n = fs__dir_child(fs, p, name, &r);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	if (!n) {
		/* A negative entry the kernel may keep: every creation of this
		 * name goes through the kernel, which drops it. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = FS_TIMEOUT;
		fuse_reply_entry(req, &e);
		return;
	}
	if ((r = entry_of(fs, n, &e)) < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	atomic_fetch_add(&n->nlookup, 1);
	fuse_reply_entry(req, &e);
}

static void forget_one(struct fs *fs, fuse_ino_t ino, uint64_t nlookup)
{
	struct fs_node *n = fs__itable_get(&fs->itable, ino);
	if (!n)
		return;
	uint64_t left = atomic_fetch_sub(&n->nlookup, nlookup) - nlookup;
	if (left == 0 && n->orphan && fs->upper) {
		/* The last reference to an unlinked file: its data can go. */
		pthread_rwlock_wrlock(&fs->rename_lock);
		if (n->orphan && atomic_load(&n->nlookup) == 0) {
			char nm[32];
			snprintf(nm, sizeof(nm), "%llu", (unsigned long long)n->ino);
			(void)unlinkat(fs->orphan_fd, nm, 0);
			n->orphan = false;
			n->parent = NULL;
		}
		pthread_rwlock_unlock(&fs->rename_lock);
	}
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	/* Nodes live as long as the mount (a path keeps its inode number);
	 * the count matters for unlinked files still open. */
	forget_one(fs_of(req), ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		forget_one(fs_of(req), forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void getattr_impl(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_node *n = fs__itable_get(&fs->itable, ino);
	struct stat st;

	(void)fi;
	FS_STAT_ADD(fs, getattrs, 1);
	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	int r = fs__node_stat(fs, n, &st);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	fuse_reply_attr(req, &st, FS_TIMEOUT);
}

static void readlink_impl(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fs_of(req);
	struct fs_node *n = fs__itable_get(&fs->itable, ino);
	char rel[PATH_MAX], target[PATH_MAX + 1];

	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (!S_ISLNK(n->mode)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (n->layer == FS_LAYER_UPPER) {
		int r = fs__upper_readlink(fs, n, target, sizeof(target));
		if (r < 0) {
			fuse_reply_err(req, -r);
			return;
		}
		fuse_reply_readlink(req, target);
		return;
	}
	if (n->layer >= 0 && fs->layer[n->layer].store) {
		int r = fs__node_lowerpath(n, rel, sizeof(rel));
		if (r == 0)
			r = fs__store_readlink(fs, n->layer, rel, target, sizeof(target));
		if (r < 0) {
			fuse_reply_err(req, r == -ENOENT ? EIO : -r);
			return;
		}
		fuse_reply_readlink(req, target);
		return;
	}
	if (n->layer >= 0) {
		int r = fs__node_lowerpath(n, rel, sizeof(rel));
		ssize_t len = r < 0 ? r : readlinkat(fs->layer[n->layer].rootfd, rel, target, PATH_MAX);
		if (len < 0) {
			fuse_reply_err(req, r < 0 ? -r : errno);
			return;
		}
		target[len] = '\0';
		fuse_reply_readlink(req, target);
		return;
	}
	void *buf;
	size_t len;
	if (fs_git_blob_read(fs->git, &n->oid, &buf, &len) < 0) {
		fs__node_mark_bad(fs, n, EIO, "symlink object missing or corrupt");
		fuse_reply_err(req, EIO);
		return;
	}
	if (len > PATH_MAX)
		len = PATH_MAX;
	memcpy(target, buf, len);
	target[len] = '\0';
	free(buf);
	FS_STAT_ADD(fs, inline_reads, 1);
	fuse_reply_readlink(req, target);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_node *n = fs__itable_get(&fs->itable, ino);

	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (!fs->upper && ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))) {
		FS_STAT_ADD(fs, erofs, 1);
		fuse_reply_err(req, EROFS);
		return;
	}
	/* With no_open support the kernel stops asking; otherwise keep the cache. */
	if (fs->se_want & FUSE_CAP_NO_OPEN_SUPPORT) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

/* Replies with [off, off+size) of fd, spliced where the kernel allows. */
static void reply_fd(fuse_req_t req, int fd, size_t size, off_t off, uint64_t file_size)
{
	if ((uint64_t)off >= file_size) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if ((uint64_t)off + size > file_size)
		size = (size_t)(file_size - (uint64_t)off);
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);
	bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	bv.buf[0].fd = fd;
	bv.buf[0].pos = off;
	fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
}

static void read_layer(struct fs *fs, fuse_req_t req, struct fs_node *n, size_t size, off_t off)
{
	int fd;
	if (n->layer == FS_LAYER_UPPER) {
		fd = fs__upper_open(fs, n, O_RDONLY);
	} else {
		char rel[PATH_MAX];
		int r = fs__node_lowerpath(n, rel, sizeof(rel));
		fd = r < 0 ? r : openat(fs->layer[n->layer].rootfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && r == 0)
			fd = -errno;
	}
	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		fuse_reply_err(req, errno);
	} else {
		reply_fd(req, fd, size, off, (uint64_t)st.st_size);
	}
	close(fd);
}

/* Replies from the hydration cache entry of n->oid, hydrating it through
 * fill first if needed. */
static void read_cached(struct fs *fs, fuse_req_t req, struct fs_node *n, size_t size, off_t off, uint64_t fsize,
                        fs_cache_fill_fn fill, void *arg, const char *why)
{
	int fd;
	bool hydrated;
	uint32_t fl = atomic_load(&n->flags);
	int r = fs_cache_get(fs->cache, &n->oid, (fl & FS_NODE_CACHED) ? UINT64_MAX : fsize, fill, arg, &fd, &hydrated);
	if (r < 0) {
		fs__node_mark_bad(fs, n, EIO, why && why[0] ? why : r == -EIO ? "object missing or corrupt" : strerror(-r));
		fuse_reply_err(req, EIO);
		return;
	}
	struct timespec now;
	clock_gettime(CLOCK_REALTIME_COARSE, &now);
	if (hydrated) {
		FS_STAT_ADD(fs, hydrations, 1);
		FS_STAT_ADD(fs, bytes_hydrated, fsize);
		atomic_store(&n->touched, now.tv_sec);
	} else {
		FS_STAT_ADD(fs, cache_hits, 1);
		if (now.tv_sec - atomic_load(&n->touched) >= 60) {
			atomic_store(&n->touched, now.tv_sec);
			fs_cache_touch(fs->cache, fd);
		}
	}
	atomic_fetch_or(&n->flags, FS_NODE_CACHED);
	reply_fd(req, fd, size, off, fsize);
	close(fd);
}

/* A store layer file (or a metacopy whose origin is a content id): small
 * objects are decompressed straight into the reply, others go through the
 * hydration cache, keyed by the content id (a git blob id). */
static void read_store(struct fs *fs, fuse_req_t req, struct fs_node *n, size_t size, off_t off)
{
	uint64_t fsize = atomic_load(&n->size);
	if (atomic_load(&n->flags) & FS_NODE_BAD_OBJECT) {
		FS_STAT_ADD(fs, io_errors, 1);
		fuse_reply_err(req, EIO);
		return;
	}
	if ((uint64_t)off >= fsize) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	struct fs_store_fill f = {.fs = fs, .li = n->layer >= 0 ? n->layer : -1, .git = n->layer == FS_LAYER_CID};
	if (fsize <= fs->opt.inline_max) {
		void *buf;
		size_t len;
		int r = fs__store_read_small(&f, &n->oid, fsize, &buf, &len);
		if (r < 0) {
			fs__node_mark_bad(fs, n, EIO, f.msg[0] ? f.msg : strerror(-r));
			fuse_reply_err(req, EIO);
			return;
		}
		FS_STAT_ADD(fs, inline_reads, 1);
		size_t avail = (uint64_t)off < len ? len - (size_t)off : 0;
		fuse_reply_buf(req, (char *)buf + off, avail < size ? avail : size);
		free(buf);
		return;
	}
	read_cached(fs, req, n, size, off, fsize, fs__store_fill, &f, f.msg);
}

static void read_git(struct fs *fs, fuse_req_t req, struct fs_node *n, size_t size, off_t off)
{
	uint64_t fsize;
	if (fs__node_size(fs, n, &fsize) < 0 || (atomic_load(&n->flags) & FS_NODE_BAD_OBJECT)) {
		fuse_reply_err(req, EIO);
		return;
	}
	if ((uint64_t)off >= fsize) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (fsize <= fs->opt.inline_max) {
		/* Small blobs go straight from the object database to the page
		 * cache: a cache file would cost more than it saves. */
		void *buf;
		size_t len;
		if (fs_git_blob_read(fs->git, &n->oid, &buf, &len) < 0) {
			fs__node_mark_bad(fs, n, EIO, "object missing or corrupt");
			fuse_reply_err(req, EIO);
			return;
		}
		FS_STAT_ADD(fs, inline_reads, 1);
		size_t avail = (uint64_t)off < len ? len - (size_t)off : 0;
		fuse_reply_buf(req, (char *)buf + off, avail < size ? avail : size);
		free(buf);
		return;
	}
	read_cached(fs, req, n, size, off, fsize, fs_git_blob_fill, fs->git, NULL);
}

static void read_impl(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_node *n = fs__itable_get(&fs->itable, ino);

	(void)fi;
	FS_STAT_ADD(fs, reads, 1);
	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (S_ISDIR(n->mode)) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if (!S_ISREG(n->mode)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	FS_STAT_ADD(fs, bytes_read, size);
	int layer = n->layer;
	if ((layer >= 0 && fs->layer[layer].store) || layer == FS_LAYER_CID)
		read_store(fs, req, n, size, off);
	else if (layer >= 0 || layer == FS_LAYER_UPPER)
		read_layer(fs, req, n, size, off);
	else if (layer == FS_LAYER_GIT)
		read_git(fs, req, n, size, off);
	else
		fuse_reply_buf(req, NULL, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fs_of(req);
	struct statvfs sv;

	(void)ino;
	if (statvfs(fs->upper ? fs->upper : fs_cache_dir(fs->cache), &sv) < 0)
		memset(&sv, 0, sizeof(sv));
	sv.f_namemax = NAME_MAX;
	sv.f_files = fs__itable_count(&fs->itable);
	sv.f_ffree = 0;
	sv.f_favail = 0;
	fuse_reply_statfs(req, &sv);
}

/* xattrs: git content has none; layer files pass theirs through. */
/* A path (through /proc/self/fd) to the file holding n's xattrs, or
 * -ENODATA when n has none (git content). *out_fd is closed by the caller. */
static int xattr_path(struct fs *fs, struct fs_node *n, char *buf, size_t len, int *out_fd, bool *follow,
                      bool *locked)
{
	*follow = false;
	*out_fd = -1;
	*locked = false;
	if (n->up != FS_UP_NONE && n->parent && !n->orphan) {
		/* Through the parent's cached directory descriptor: no open and
		 * close per request (the kernel asks for security.capability
		 * before every write). rename_lock stays held for the caller's
		 * *xattr call, so the name cannot move meanwhile. */
		pthread_rwlock_rdlock(&fs->rename_lock);
		bool owned;
		int pfd = fs__upper_dirfd(fs, n->parent, &owned);
		if (pfd >= 0 && !owned && snprintf(buf, len, "/proc/self/fd/%d/%s", pfd, n->name) < (int)len) {
			*locked = true;
			return 0;
		}
		if (pfd >= 0)
			fs__upper_fd_put(pfd, owned);
		pthread_rwlock_unlock(&fs->rename_lock);
	}
	if (n->up != FS_UP_NONE) {
		int fd = S_ISDIR(n->mode) && !n->parent ? dup(fs->upper_fd) : fs__upper_open(fs, n, O_PATH);
		if (fd < 0)
			return fd;
		*out_fd = fd;
		*follow = true; /* the magic link leads to the file itself */
		snprintf(buf, len, "/proc/self/fd/%d", fd);
		return 0;
	}
	if (n->layer < 0)
		return -ENODATA;
	char rel[PATH_MAX];
	int r = fs__node_lowerpath(n, rel, sizeof(rel));
	if (r < 0)
		return r;
	if (snprintf(buf, len, "/proc/self/fd/%d/%s", fs->layer[n->layer].rootfd, rel) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

/* A node whose xattrs are in a store layer's manifest. */
static bool store_node(struct fs *fs, struct fs_node *n)
{
	return n->up == FS_UP_NONE && n->layer >= 0 && fs->layer[n->layer].store;
}

static void store_getxattr(struct fs *fs, fuse_req_t req, struct fs_node *n, const char *name, size_t size)
{
	if (!(atomic_load(&n->flags) & FS_NODE_XATTRS)) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	char rel[PATH_MAX];
	int r = fs__node_lowerpath(n, rel, sizeof(rel));
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	char *buf = size ? malloc(size) : NULL;
	if (size && !buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	ssize_t len = fs__store_xattr(fs, n->layer, rel, name, buf, size);
	if (len < 0)
		fuse_reply_err(req, (int)-len);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)len);
	else
		fuse_reply_buf(req, buf, (size_t)len);
	free(buf);
}

/* Drops thawfs's own user.thaw.* names from a listxattr result. */
static ssize_t filter_list(char *buf, ssize_t len)
{
	ssize_t w = 0;
	for (ssize_t i = 0; i < len;) {
		size_t l = strlen(buf + i) + 1;
		if (strncmp(buf + i, FS_XATTR_PREFIX, strlen(FS_XATTR_PREFIX))) {
			memmove(buf + w, buf + i, l);
			w += (ssize_t)l;
		}
		i += (ssize_t)l;
	}
	return w;
}

static void reply_xattr_result(fuse_req_t req, size_t size, ssize_t r, const char *buf)
{
	if (r < 0)
		fuse_reply_err(req, errno == ENOTSUP ? ENODATA : errno);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)r);
	else
		fuse_reply_buf(req, buf, (size_t)r);
}

static void getxattr_impl(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct fs *fs = fs_of(req);
	struct fs_node *n = fs__itable_get(&fs->itable, ino);
	char path[PATH_MAX + 64];
	int pfd;

	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	bool follow, locked;
	if (!strncmp(name, FS_XATTR_PREFIX, strlen(FS_XATTR_PREFIX))) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	if (store_node(fs, n)) {
		store_getxattr(fs, req, n, name, size);
		return;
	}
	if (xattr_path(fs, n, path, sizeof(path), &pfd, &follow, &locked) < 0) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	char *buf = size ? malloc(size) : NULL;
	if (size && !buf) {
		fuse_reply_err(req, ENOMEM);
	} else {
		ssize_t r = follow ? getxattr(path, name, buf, size) : lgetxattr(path, name, buf, size);
		int e = errno;
		if (locked)
			pthread_rwlock_unlock(&fs->rename_lock);
		locked = false;
		errno = e;
		reply_xattr_result(req, size, r, buf);
	}
	if (locked)
		pthread_rwlock_unlock(&fs->rename_lock);
	free(buf);
	if (pfd >= 0)
		close(pfd);
}

static void listxattr_impl(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fs *fs = fs_of(req);
	struct fs_node *n = fs__itable_get(&fs->itable, ino);
	char path[PATH_MAX + 64];
	int pfd;

	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	ssize_t len = 0;
	char *buf = malloc(XATTR_LIST_MAX);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	bool follow, locked;
	pfd = -1;
	if (store_node(fs, n)) {
		len = 0;
		if (atomic_load(&n->flags) & FS_NODE_XATTRS) {
			char rel[PATH_MAX];
			int r = fs__node_lowerpath(n, rel, sizeof(rel));
			len = r < 0 ? r : fs__store_xattr(fs, n->layer, rel, NULL, buf, XATTR_LIST_MAX);
			if (len < 0) {
				free(buf);
				fuse_reply_err(req, (int)-len);
				return;
			}
		}
	} else if (xattr_path(fs, n, path, sizeof(path), &pfd, &follow, &locked) == 0) {
		len = follow ? listxattr(path, buf, XATTR_LIST_MAX) : llistxattr(path, buf, XATTR_LIST_MAX);
		if (locked)
			pthread_rwlock_unlock(&fs->rename_lock);
		if (len < 0)
			len = 0;
		len = filter_list(buf, len);
	}
	if (pfd >= 0)
		close(pfd);
	if (size == 0)
		fuse_reply_xattr(req, (size_t)len);
	else if ((size_t)len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, buf, (size_t)len);
	free(buf);
}

/* Every read holds swap_lock for reading: a sync's swap is atomic to it. */
static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	pthread_rwlock_rdlock(&fs->swap_lock);
	lookup_impl(req, parent, name);
	pthread_rwlock_unlock(&fs->swap_lock);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	pthread_rwlock_rdlock(&fs->swap_lock);
	getattr_impl(req, ino, fi);
	pthread_rwlock_unlock(&fs->swap_lock);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fs_of(req);
	pthread_rwlock_rdlock(&fs->swap_lock);
	readlink_impl(req, ino);
	pthread_rwlock_unlock(&fs->swap_lock);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	pthread_rwlock_rdlock(&fs->swap_lock);
	read_impl(req, ino, size, off, fi);
	pthread_rwlock_unlock(&fs->swap_lock);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct fs *fs = fs_of(req);
	pthread_rwlock_rdlock(&fs->swap_lock);
	getxattr_impl(req, ino, name, size);
	pthread_rwlock_unlock(&fs->swap_lock);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fs *fs = fs_of(req);
	pthread_rwlock_rdlock(&fs->swap_lock);
	listxattr_impl(req, ino, size);
	pthread_rwlock_unlock(&fs->swap_lock);
}

void fs__ops_read_init(struct fuse_lowlevel_ops *ops)
{
	ops->init = op_init;
	ops->lookup = op_lookup;
	ops->forget = op_forget;
	ops->forget_multi = op_forget_multi;
	ops->getattr = op_getattr;
	ops->readlink = op_readlink;
	ops->open = op_open;
	ops->read = op_read;
	ops->statfs = op_statfs;
	ops->getxattr = op_getxattr;
	ops->listxattr = op_listxattr;
}
