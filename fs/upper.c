/*
 * The upper layer: the session's private, writable directory.
 *
 * On-disk format (the kernel overlayfs conventions, so the directory can be
 * inspected with ordinary tools):
 *
 *   | what                 | how it is stored                                        |
 *   |----------------------|---------------------------------------------------------|
 *   | file, dir, symlink,  | itself, at its path, owned by its creator               |
 *   | fifo, device         |                                                         |
 *   | whiteout (deleted)   | a character device 0/0 with the deleted name            |
 *   | opaque directory     | xattr user.thaw.opaque = "y": nothing below shows through |
 *   | metacopy file        | a sparse file of the right size, mode, owner and times, |
 *   |                      | xattr user.thaw.origin, where the data still is:        |
 *   |                      |   "git:<blob id>"     a blob of the git tree            |
 *   |                      |   "layer:<n>:<path>"  file <path> of --layer directory n |
 *   |                      |   "cid:<40 hex>"      a store layer file: content id     |
 *   |                      |                       (any store of the mount, else git) |
 *   | .thaw-work/          | reserved: tmp.* (copy-ups in progress), orphans/<ino>   |
 *   |                      | (unlinked files the kernel still holds)                 |
 *
 * Every access is relative to a directory descriptor, never a full path
 * string, so paths longer than PATH_MAX work. Directory descriptors of the
 * upper directories in use are cached in their nodes (O_PATH, they follow
 * renames), up to FS_UPFD_CACHE of them; beyond that they are opened per use.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs_int.h"

#define FS_UPFD_CACHE 8192

static int open_dir(int at, const char *name)
{
	if (mkdirat(at, name, 0700) < 0 && errno != EEXIST)
		return -errno;
	int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int fs__upper_init(struct fs *fs)
{
	int r = fs_mkdir_p(fs->upper, 0755);
	if (r < 0)
		return r;
	fs->upper_fd = open(fs->upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fs->upper_fd < 0)
		return -errno;
	if ((r = open_dir(fs->upper_fd, FS_WORKDIR)) < 0)
		return r;
	fs->work_fd = r;
	/* Orphans of an earlier mount are unreachable now. */
	char orphans[PATH_MAX];
	snprintf(orphans, sizeof(orphans), "%s/%s/orphans", fs->upper, FS_WORKDIR);
	(void)fs_rm_rf(orphans);
	if ((r = open_dir(fs->work_fd, "orphans")) < 0)
		return r;
	fs->orphan_fd = r;
	/* Temporaries of an interrupted copy-up are garbage. */
	DIR *d;
	int wd = openat(fs->work_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (wd >= 0 && (d = fdopendir(wd))) {
		struct dirent *de;
		while ((de = readdir(d)))
			if (!strncmp(de->d_name, "tmp.", 4))
				(void)unlinkat(dirfd(d), de->d_name, 0);
		closedir(d);
	} else if (wd >= 0) {
		close(wd);
	}
	/* Metacopy and opaque directories need user xattrs on the upper
	 * filesystem; without them copy-up copies data at once and an opaque
	 * directory cannot be made (mkdir over a deleted lower directory fails). */
	fs->upper_xattr = fsetxattr(fs->work_fd, FS_XATTR_PREFIX "probe", "1", 1, 0) == 0;
	if (fs->upper_xattr)
		(void)fremovexattr(fs->work_fd, FS_XATTR_PREFIX "probe");
	return 0;
}

void fs__upper_fd_put(int fd, bool owned)
{
	if (owned && fd >= 0)
		close(fd);
}

int fs__upper_dirfd(struct fs *fs, struct fs_node *dir, bool *owned)
{
	*owned = false;
	if (!dir->parent)
		return dir->orphan ? -ENOENT : fs->upper_fd;
	if (!dir->dir_upper)
		return -ENOENT;
	int fd = atomic_load(&dir->upfd);
	if (fd >= 0)
		return fd;
	bool powned;
	int pfd = fs__upper_dirfd(fs, dir->parent, &powned);
	if (pfd < 0)
		return pfd;
	fd = openat(pfd, dir->name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int e = errno;
	fs__upper_fd_put(pfd, powned);
	if (fd < 0)
		return -e;
	if (atomic_load(&fs->upfd_cached) < FS_UPFD_CACHE) {
		int expected = -1;
		if (atomic_compare_exchange_strong(&dir->upfd, &expected, fd)) {
			atomic_fetch_add(&fs->upfd_cached, 1);
			return fd;
		}
		close(fd);
		return expected;
	}
	*owned = true;
	return fd;
}

char *fs__upper_get_origin(int dfd, const char *name)
{
	char path[64 + NAME_MAX], v[PATH_MAX + 64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dfd, name);
	ssize_t n = lgetxattr(path, FS_XATTR_ORIGIN, v, sizeof(v) - 1);
	if (n <= 0)
		return NULL;
	v[n] = '\0';
	return strdup(v);
}

int fs__upper_parse_origin(struct fs *fs, struct fs_node *n, const char *v)
{
	if (!strncmp(v, "git:", 4)) {
		if (git_oid_fromstr(&n->oid, v + 4) < 0)
			return -EINVAL;
		n->layer = FS_LAYER_GIT;
		atomic_fetch_and(&n->flags, ~(uint32_t)FS_NODE_SIZE_KNOWN);
		return 0;
	}
	if (!strncmp(v, "cid:", 4)) {
		/* A store file: its content by id, from any store (or git). */
		if (git_oid_fromstr(&n->oid, v + 4) < 0)
			return -EINVAL;
		n->layer = FS_LAYER_CID;
		return 0;
	}
	if (!strncmp(v, "layer:", 6)) {
		char *end;
		long li = strtol(v + 6, &end, 10);
		if (*end != ':' || li < 0 || li >= fs->nlayers || !end[1] || fs->layer[li].store)
			return -EINVAL;
		n->origin = strdup(end + 1);
		if (!n->origin)
			return -ENOMEM;
		n->layer = (int16_t)li;
		return 0;
	}
	return -EINVAL;
}

int fs__upper_stat(struct fs *fs, struct fs_node *n, struct stat *st)
{
	int r = 0;
	pthread_rwlock_rdlock(&fs->rename_lock);
	if (n->orphan) {
		char nm[32];
		snprintf(nm, sizeof(nm), "%llu", (unsigned long long)n->ino);
		if (fstatat(fs->orphan_fd, nm, st, AT_SYMLINK_NOFOLLOW) < 0)
			r = -errno;
	} else if (!n->parent) {
		if (fstat(fs->upper_fd, st) < 0)
			r = -errno;
	} else {
		bool owned;
		int pfd = fs__upper_dirfd(fs, n->parent, &owned);
		if (pfd < 0)
			r = pfd;
		else if (fstatat(pfd, n->name, st, AT_SYMLINK_NOFOLLOW) < 0)
			r = -errno;
		fs__upper_fd_put(pfd, owned);
	}
	pthread_rwlock_unlock(&fs->rename_lock);
	return r;
}

int fs__upper_open(struct fs *fs, struct fs_node *n, int flags)
{
	int fd;
	pthread_rwlock_rdlock(&fs->rename_lock);
	if (n->orphan) {
		char nm[32];
		snprintf(nm, sizeof(nm), "%llu", (unsigned long long)n->ino);
		fd = openat(fs->orphan_fd, nm, flags | O_NOFOLLOW | O_CLOEXEC);
		fd = fd < 0 ? -errno : fd;
	} else {
		bool owned;
		int pfd = fs__upper_dirfd(fs, n->parent, &owned);
		if (pfd < 0) {
			fd = pfd;
		} else {
			fd = openat(pfd, n->name, flags | O_NOFOLLOW | O_CLOEXEC);
			fd = fd < 0 ? -errno : fd;
			fs__upper_fd_put(pfd, owned);
		}
	}
	pthread_rwlock_unlock(&fs->rename_lock);
	return fd;
}

int fs__upper_dir_open(struct fs *fs, struct fs_node *dir)
{
	bool owned;
	int ufd = fs__upper_dirfd(fs, dir, &owned);
	if (ufd < 0)
		return ufd;
	int fd = openat(ufd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int e = errno;
	fs__upper_fd_put(ufd, owned);
	return fd < 0 ? -e : fd;
}

int fs__upper_mark_opaque(int pfd, const char *name)
{
	int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int r = fd < 0 || fsetxattr(fd, FS_XATTR_OPAQUE, "y", 1, 0) < 0 ? -errno : 0;
	if (fd >= 0)
		close(fd);
	return r;
}

int fs__upper_whiteout(int dfd, const char *name)
{
	if (mknodat(dfd, name, S_IFCHR | 0000, makedev(0, 0)) < 0)
		return -errno;
	return 0;
}

int fs__upper_readlink(struct fs *fs, struct fs_node *n, char *buf, size_t len)
{
	int r;
	pthread_rwlock_rdlock(&fs->rename_lock);
	bool owned;
	int pfd = n->parent ? fs__upper_dirfd(fs, n->parent, &owned) : -ENOENT;
	if (pfd < 0) {
		r = pfd;
	} else {
		ssize_t l = readlinkat(pfd, n->name, buf, len - 1);
		r = l < 0 ? -errno : 0;
		if (l >= 0)
			buf[l] = '\0';
		fs__upper_fd_put(pfd, owned);
	}
	pthread_rwlock_unlock(&fs->rename_lock);
	return r;
}

struct fs_node *fs__hlink_find(struct fs *fs, uint64_t upper_ino)
{
	if (!fs->hl_cap)
		return NULL;
	size_t j = (size_t)(upper_ino * 0x9e3779b97f4a7c15ull) & (fs->hl_cap - 1);
	while (fs->hl[j].node) {
		if (fs->hl[j].upper_ino == upper_ino)
			return fs->hl[j].node;
		j = (j + 1) & (fs->hl_cap - 1);
	}
	return NULL;
}

int fs__hlink_add(struct fs *fs, uint64_t upper_ino, struct fs_node *n)
{
	if ((fs->hl_n + 1) * 2 > fs->hl_cap) {
		size_t ncap = fs->hl_cap ? fs->hl_cap * 2 : 64;
		struct fs_hlink *nh = calloc(ncap, sizeof(*nh));
		if (!nh)
			return -ENOMEM;
		for (size_t i = 0; i < fs->hl_cap; i++) {
			if (!fs->hl[i].node)
				continue;
			size_t j = (size_t)(fs->hl[i].upper_ino * 0x9e3779b97f4a7c15ull) & (ncap - 1);
			while (nh[j].node)
				j = (j + 1) & (ncap - 1);
			nh[j] = fs->hl[i];
		}
		free(fs->hl);
		fs->hl = nh;
		fs->hl_cap = ncap;
	}
	size_t j = (size_t)(upper_ino * 0x9e3779b97f4a7c15ull) & (fs->hl_cap - 1);
	while (fs->hl[j].node) {
		if (fs->hl[j].upper_ino == upper_ino) {
			fs->hl[j].node = n;
			return 0;
		}
		j = (j + 1) & (fs->hl_cap - 1);
	}
	fs->hl[j] = (struct fs_hlink){.upper_ino = upper_ino, .node = n};
	fs->hl_n++;
	return 0;
}

int fs__link_record(struct fs_node *n, struct fs_node *parent, const char *name)
{
	struct fs_link *l = calloc(1, sizeof(*l));
	if (!l || !(l->name = strdup(name))) {
		free(l);
		return -ENOMEM;
	}
	l->parent = parent;
	l->next = n->links;
	n->links = l;
	return 0;
}
