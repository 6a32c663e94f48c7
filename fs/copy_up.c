/*
 * Copy-up: giving a lower node a copy in the upper layer before it changes.
 *
 * Metadata first (metacopy): a chmod, chown, utimens or xattr change of a
 * lower file makes a sparse upper file of the right size with the new
 * metadata and an origin xattr naming where the data still is. Data is
 * copied only when it is about to change (write, truncate to a non-zero
 * size, fallocate, hard link): into that same upper file, after which the
 * origin xattr is removed. A crash in between leaves the origin in place,
 * so the data is still read from below: the upper layer is never seen half
 * copied. New upper entries are made under FS_WORKDIR and renamed into
 * place.
 *
 * Lock order: rename_lock (held by every caller), then a directory's lock,
 * then node locks, never two node locks at once: a node's parent is copied
 * up (and its node lock released) before the node's own lock is taken.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs_int.h"

void fs__node_lock(struct fs *fs, struct fs_node *n)
{
	pthread_mutex_lock(&fs->nodelock[n->ino & 255]);
}

void fs__node_unlock(struct fs *fs, struct fs_node *n)
{
	pthread_mutex_unlock(&fs->nodelock[n->ino & 255]);
}

static void tmp_name(struct fs *fs, char buf[64])
{
	snprintf(buf, 64, "tmp.%d.%llu", (int)getpid(), (unsigned long long)atomic_fetch_add(&fs->tmp_seq, 1));
}

/* The metadata a lower node shows (before it has an upper copy). */
static int lower_stat(struct fs *fs, struct fs_node *n, struct stat *st)
{
	return fs__node_stat(fs, n, st);
}

static void set_times(int dfd, const char *name, const struct stat *st, int flags)
{
	struct timespec ts[2] = {st->st_atim, st->st_mtim};
	(void)utimensat(dfd, name, ts, flags);
}

struct xattr_target {
	char path[64 + NAME_MAX];
};

static int set_one_xattr(void *arg, const char *name, const void *value, size_t len)
{
	struct xattr_target *t = arg;
	if (!strncmp(name, FS_XATTR_PREFIX, strlen(FS_XATTR_PREFIX)))
		return 0; /* thawfs's own names never come from below */
	if (lsetxattr(t->path, name, value, len, 0) < 0 && errno != EPERM && errno != ENOTSUP)
		return -errno; /* EPERM: user.* on a symlink, or an unprivileged trusted.* */
	return 0;
}

/* A store layer entry's xattrs go with its copy-up (directory layer files
 * keep theirs only in the layer). */
static int copy_store_xattrs(struct fs *fs, struct fs_node *n, int dfd, const char *name)
{
	if (n->layer < 0 || !fs->layer[n->layer].store || !(atomic_load(&n->flags) & FS_NODE_XATTRS))
		return 0;
	char rel[PATH_MAX];
	struct xattr_target t;
	int r = fs__node_lowerpath(n, rel, sizeof(rel));
	if (r < 0)
		return r;
	snprintf(t.path, sizeof(t.path), "/proc/self/fd/%d/%s", dfd, name);
	return fs__store_xattr_each(fs, n->layer, rel, set_one_xattr, &t);
}

int fs__copy_up_dir(struct fs *fs, struct fs_node *dir)
{
	if (!dir->parent || dir->dir_upper)
		return 0;
	int r = fs__copy_up_dir(fs, dir->parent);
	if (r < 0)
		return r;
	struct stat st;
	if ((r = lower_stat(fs, dir, &st)) < 0)
		return r;
	fs__node_lock(fs, dir);
	if (dir->dir_upper)
		goto done;
	bool owned;
	int pfd = fs__upper_dirfd(fs, dir->parent, &owned);
	if (pfd < 0) {
		r = pfd;
		goto done;
	}
	if (mkdirat(pfd, dir->name, st.st_mode & 07777) < 0 && errno != EEXIST) {
		r = -errno;
	} else {
		(void)fchownat(pfd, dir->name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
		(void)fchmodat(pfd, dir->name, st.st_mode & 07777, 0);
		if (copy_store_xattrs(fs, dir, pfd, dir->name) < 0)
			fs_log("thawfs: copy-up of %s: xattrs not copied", dir->name);
		set_times(pfd, dir->name, &st, AT_SYMLINK_NOFOLLOW);
		dir->dir_upper = true;
		dir->up = FS_UP_FULL;
	}
	fs__upper_fd_put(pfd, owned);
done:
	fs__node_unlock(fs, dir);
	return r;
}

/* The content of a store layer file (or of a content id origin), through
 * the hydration cache. */
static int store_open(struct fs *fs, struct fs_node *n, int *out_fd)
{
	if (atomic_load(&n->flags) & FS_NODE_BAD_OBJECT)
		return -EIO;
	uint64_t size = atomic_load(&n->size);
	struct fs_store_fill f = {.fs = fs, .li = n->layer >= 0 ? n->layer : -1, .git = n->layer == FS_LAYER_CID};
	bool hydrated;
	int r = fs_cache_get(fs->cache, &n->oid, size, fs__store_fill, &f, out_fd, &hydrated);
	if (r < 0) {
		fs__node_mark_bad(fs, n, EIO, f.msg[0] ? f.msg : strerror(-r));
		return -EIO;
	}
	if (hydrated) {
		FS_STAT_ADD(fs, hydrations, 1);
		FS_STAT_ADD(fs, bytes_hydrated, size);
	}
	return 0;
}

int fs__lower_open(struct fs *fs, struct fs_node *n, int *out_fd)
{
	char rel[PATH_MAX];
	int r;
	if ((n->layer >= 0 && fs->layer[n->layer].store) || n->layer == FS_LAYER_CID)
		return store_open(fs, n, out_fd);
	if (n->layer >= 0) {
		if ((r = fs__node_lowerpath(n, rel, sizeof(rel))) < 0)
			return r;
		int fd = openat(fs->layer[n->layer].rootfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		*out_fd = fd;
		return 0;
	}
	if (n->layer != FS_LAYER_GIT)
		return -EIO;
	uint64_t size;
	if ((r = fs__node_size(fs, n, &size)) < 0)
		return r;
	bool hydrated;
	r = fs_cache_get(fs->cache, &n->oid, size, fs_git_blob_fill, fs->git, out_fd, &hydrated);
	if (r == 0 && hydrated) {
		FS_STAT_ADD(fs, hydrations, 1);
		FS_STAT_ADD(fs, bytes_hydrated, size);
	}
	return r < 0 ? -EIO : 0;
}

static int copy_fd(int in, int out, uint64_t size)
{
	off_t ioff = 0, ooff = 0;
	while ((uint64_t)ioff < size) {
		ssize_t n = copy_file_range(in, &ioff, out, &ooff, (size_t)(size - (uint64_t)ioff), 0);
		if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP || errno == ENOSYS)) {
			char buf[1 << 16];
			ssize_t rd = pread(in, buf, sizeof(buf), ioff);
			if (rd < 0)
				return -errno;
			if (rd == 0)
				break;
			if (pwrite(out, buf, (size_t)rd, ooff) != rd)
				return -errno;
			ioff += rd;
			ooff += rd;
			continue;
		}
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
	}
	return 0;
}

static int read_lower_link(struct fs *fs, struct fs_node *n, char *buf, size_t len)
{
	if (n->layer >= 0 && fs->layer[n->layer].store) {
		char rel[PATH_MAX];
		int r = fs__node_lowerpath(n, rel, sizeof(rel));
		return r < 0 ? r : fs__store_readlink(fs, n->layer, rel, buf, len);
	}
	if (n->layer >= 0) {
		char rel[PATH_MAX];
		int r = fs__node_lowerpath(n, rel, sizeof(rel));
		if (r < 0)
			return r;
		ssize_t l = readlinkat(fs->layer[n->layer].rootfd, rel, buf, len - 1);
		if (l < 0)
			return -errno;
		buf[l] = '\0';
		return 0;
	}
	void *b;
	size_t l;
	if (fs_git_blob_read(fs->git, &n->oid, &b, &l) < 0)
		return -EIO;
	if (l >= len)
		l = len - 1;
	memcpy(buf, b, l);
	buf[l] = '\0';
	free(b);
	return 0;
}

/* Makes the upper entry of a lower non-directory; n's node lock is held. */
static int meta_locked(struct fs *fs, struct fs_node *n, bool with_data)
{
	struct stat st;
	char tmp[64], hex[GIT_OID_HEXSZ + 1], origin[PATH_MAX + 32];
	bool owned;
	int r, fd = -1, lfd = -1;

	if ((r = lower_stat(fs, n, &st)) < 0)
		return r;
	int pfd = fs__upper_dirfd(fs, n->parent, &owned);
	if (pfd < 0)
		return pfd;
	tmp_name(fs, tmp);
	if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX];
		if ((r = read_lower_link(fs, n, target, sizeof(target))) < 0)
			goto done;
		if (symlinkat(target, fs->work_fd, tmp) < 0) {
			r = -errno;
			goto done;
		}
	} else if (S_ISREG(st.st_mode)) {
		fd = openat(fs->work_fd, tmp, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
		if (fd < 0) {
			r = -errno;
			goto done;
		}
		if (with_data || !fs->upper_xattr) {
			if ((r = fs__lower_open(fs, n, &lfd)) < 0 || (r = copy_fd(lfd, fd, (uint64_t)st.st_size)) < 0)
				goto done;
			with_data = true;
		} else {
			if (ftruncate(fd, st.st_size) < 0) {
				r = -errno;
				goto done;
			}
			if (n->layer == FS_LAYER_GIT) {
				git_oid_tostr(hex, sizeof(hex), &n->oid);
				snprintf(origin, sizeof(origin), "git:%s", hex);
			} else if (fs->layer[n->layer].store) {
				/* By content id: valid whatever the layer order of a later mount. */
				git_oid_tostr(hex, sizeof(hex), &n->oid);
				snprintf(origin, sizeof(origin), "cid:%s", hex);
			} else {
				char rel[PATH_MAX];
				if ((r = fs__node_lowerpath(n, rel, sizeof(rel))) < 0)
					goto done;
				snprintf(origin, sizeof(origin), "layer:%d:%s", (int)n->layer, rel);
			}
			if (fsetxattr(fd, FS_XATTR_ORIGIN, origin, strlen(origin), 0) < 0) {
				r = -errno;
				goto done;
			}
		}
		(void)fchown(fd, st.st_uid, st.st_gid);
		(void)fchmod(fd, st.st_mode & 07777);
	} else {
		if (mknodat(fs->work_fd, tmp, st.st_mode, st.st_rdev) < 0) {
			r = -errno;
			goto done;
		}
	}
	if (!S_ISREG(st.st_mode))
		(void)fchownat(fs->work_fd, tmp, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
	if ((r = copy_store_xattrs(fs, n, fs->work_fd, tmp)) < 0)
		goto done;
	set_times(fs->work_fd, tmp, &st, AT_SYMLINK_NOFOLLOW);
	if (renameat(fs->work_fd, tmp, pfd, n->name) < 0) {
		r = -errno;
		goto done;
	}
	tmp[0] = '\0';
	if (S_ISREG(st.st_mode) && !with_data) {
		n->up = FS_UP_META;
	} else {
		n->up = FS_UP_FULL;
		n->layer = FS_LAYER_UPPER;
	}
	r = 0;
done:
	if (fd >= 0)
		close(fd);
	if (lfd >= 0)
		close(lfd);
	if (tmp[0])
		(void)unlinkat(fs->work_fd, tmp, 0);
	fs__upper_fd_put(pfd, owned);
	return r;
}

/* A lower file that a sync removed while the kernel still holds it: its
 * changes go to a private copy under the orphans, never back to its path. */
static int copy_up_detached(struct fs *fs, struct fs_node *n)
{
	char on[32], tmp[64];
	int fd = -1, lfd = -1, r;
	struct stat st;

	if ((r = lower_stat(fs, n, &st)) < 0)
		return r;
	snprintf(on, sizeof(on), "%llu", (unsigned long long)n->ino);
	tmp_name(fs, tmp);
	fd = openat(fs->work_fd, tmp, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (S_ISREG(st.st_mode) && ((r = fs__lower_open(fs, n, &lfd)) < 0 || (r = copy_fd(lfd, fd, (uint64_t)st.st_size)) < 0))
		goto done;
	(void)fchmod(fd, st.st_mode & 07777);
	(void)fchown(fd, st.st_uid, st.st_gid);
	if (renameat(fs->work_fd, tmp, fs->orphan_fd, on) < 0) {
		r = -errno;
		goto done;
	}
	tmp[0] = '\0';
	n->orphan = true;
	n->layer = FS_LAYER_UPPER;
	n->up = FS_UP_FULL;
	r = 0;
done:
	if (lfd >= 0)
		close(lfd);
	close(fd);
	if (tmp[0])
		(void)unlinkat(fs->work_fd, tmp, 0);
	return r;
}

int fs__copy_up_meta(struct fs *fs, struct fs_node *n)
{
	if (S_ISDIR(n->mode))
		return fs__copy_up_dir(fs, n);
	if (n->up == FS_UP_NONE && !n->parent && S_ISREG(n->mode)) {
		fs__node_lock(fs, n);
		int r = n->up == FS_UP_NONE ? copy_up_detached(fs, n) : 0;
		fs__node_unlock(fs, n);
		return r;
	}
	if (n->up != FS_UP_NONE)
		return 0;
	int r = fs__copy_up_dir(fs, n->parent);
	if (r < 0)
		return r;
	fs__node_lock(fs, n);
	if (n->up == FS_UP_NONE)
		r = meta_locked(fs, n, false);
	fs__node_unlock(fs, n);
	return r;
}

int fs__copy_up_data(struct fs *fs, struct fs_node *n)
{
	if (n->layer == FS_LAYER_UPPER)
		return 0;
	if (!S_ISREG(n->mode) || (!n->parent && n->up == FS_UP_NONE))
		return fs__copy_up_meta(fs, n);
	int r = fs__copy_up_dir(fs, n->parent);
	if (r < 0)
		return r;
	fs__node_lock(fs, n);
	if (n->layer == FS_LAYER_UPPER) {
		r = 0;
	} else if (n->up == FS_UP_NONE) {
		r = meta_locked(fs, n, true);
	} else {
		/* A metacopy: fill its data in place, then drop the origin. */
		int fd = fs__upper_open(fs, n, O_RDWR), lfd = -1;
		struct stat st;
		if (fd < 0) {
			r = fd;
		} else if (fstat(fd, &st) < 0) {
			r = -errno;
		} else if ((r = fs__lower_open(fs, n, &lfd)) == 0) {
			uint64_t lsize;
			struct stat lst;
			lsize = fstat(lfd, &lst) == 0 ? (uint64_t)lst.st_size : 0;
			if (lsize > (uint64_t)st.st_size)
				lsize = (uint64_t)st.st_size; /* truncated since: copy what remains */
			if ((r = copy_fd(lfd, fd, lsize)) == 0) {
				if (fremovexattr(fd, FS_XATTR_ORIGIN) < 0 && errno != ENODATA)
					r = -errno;
				else {
					n->layer = FS_LAYER_UPPER;
					n->up = FS_UP_FULL;
				}
			}
		}
		if (lfd >= 0)
			close(lfd);
		if (fd >= 0)
			close(fd);
	}
	fs__node_unlock(fs, n);
	return r;
}

int fs__copy_up_tree(struct fs *fs, struct fs_node *dir)
{
	int r = fs__copy_up_dir(fs, dir);
	if (r < 0)
		return r;
	struct fs_dir *d;
	if ((r = fs__dir_rdlock(fs, dir, &d)) < 0)
		return r;
	size_t n = 0;
	struct fs_node **kids = calloc(d->live ? d->live : 1, sizeof(*kids));
	if (!kids) {
		fs__dir_unlock(fs, dir);
		return -ENOMEM;
	}
	for (size_t i = 0; i < d->n; i++)
		if (d->ent[i].node)
			kids[n++] = d->ent[i].node;
	fs__dir_unlock(fs, dir);
	for (size_t i = 0; i < n && r == 0; i++)
		r = S_ISDIR(kids[i]->mode) ? fs__copy_up_tree(fs, kids[i]) : fs__copy_up_meta(fs, kids[i]);
	free(kids);
	if (r < 0)
		return r;
	/* Everything below is in the upper layer now: cut the lower layers off,
	 * so the directory shows the same wherever it is renamed to. */
	if (dir->dir_layers || dir->dir_git) {
		if (!fs->upper_xattr)
			return -EXDEV;
		bool owned;
		int ufd = fs__upper_dirfd(fs, dir, &owned);
		if (ufd < 0)
			return ufd;
		r = fs__upper_mark_opaque(ufd, ".");
		fs__upper_fd_put(ufd, owned);
		if (r == 0) {
			dir->dir_layers = 0;
			dir->dir_git = false;
		}
	}
	return r;
}
