/*
 * Mutating operations over the upper layer (fs/upper.c, fs/copy_up.c).
 * Without --upper every one of them answers EROFS.
 *
 * Every mutation holds rename_lock for reading (a rename, or a change of a
 * hard-linked node's links, holds it for writing), so a node's place in the
 * upper layer cannot move under it. The kernel serializes operations on one
 * directory name already (the VFS holds the directory's lock); our locks
 * protect our own structures.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "fs_int.h"

#define OP_BEGIN(fs, req)                                 \
	do {                                                  \
		if (!(fs)->upper) {                               \
			FS_STAT_ADD(fs, erofs, 1);                    \
			fuse_reply_err(req, EROFS);                   \
			return;                                       \
		}                                                 \
	} while (0)

static struct fs *fs_of(fuse_req_t req) { return fuse_req_userdata(req); }

static struct fs_node *node_of(struct fs *fs, fuse_ino_t ino) { return fs__itable_get(&fs->itable, ino); }

static void reply_entry(struct fs *fs, fuse_req_t req, struct fs_node *n)
{
	struct fuse_entry_param e;
	memset(&e, 0, sizeof(e));
	int r = fs__node_stat(fs, n, &e.attr);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	e.ino = n->ino;
	e.generation = 1;
	e.attr_timeout = FS_TIMEOUT;
	e.entry_timeout = FS_TIMEOUT;
	atomic_fetch_add(&n->nlookup, 1);
	fuse_reply_entry(req, &e);
}

static void orphan_name(struct fs_node *n, char buf[32])
{
	snprintf(buf, 32, "%llu", (unsigned long long)n->ino);
}

/* Owner of a new entry: the caller, with the group of a setgid directory. */
static void new_owner(struct fs *fs, fuse_req_t req, struct fs_node *parent, uid_t *uid, gid_t *gid, bool *setgid)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct stat pst;
	*uid = ctx->uid;
	*gid = ctx->gid;
	*setgid = false;
	if (fs__node_stat(fs, parent, &pst) == 0 && (pst.st_mode & S_ISGID)) {
		*gid = pst.st_gid;
		*setgid = true;
	}
}

enum mk_kind { MK_FILE, MK_DIR, MK_LINK, MK_NOD };

struct mk {
	enum mk_kind kind;
	mode_t mode;
	dev_t rdev;
	const char *target;
};

/* Creates name in parent: the common part of create, mkdir, symlink, mknod. */
static int make_entry(struct fs *fs, fuse_req_t req, struct fs_node *parent, const char *name,
                      const struct mk *mk, struct fs_node **out)
{
	struct fs_dir *d;
	struct stat wst;
	bool owned, lower = false, setgid;
	uid_t uid;
	gid_t gid;
	int r, pfd = -1;

	if (strlen(name) > NAME_MAX)
		return -ENAMETOOLONG;
	if (!parent->parent && !strcmp(name, FS_WORKDIR))
		return -EPERM;
	if ((r = fs__copy_up_dir(fs, parent)) < 0)
		return r;
	new_owner(fs, req, parent, &uid, &gid, &setgid);
	if ((r = fs__dir_wrlock(fs, parent, &d)) < 0)
		return r;
	if (fs__dir_lookup(d, name)) {
		r = -EEXIST;
		goto done;
	}
	pfd = fs__upper_dirfd(fs, parent, &owned);
	if (pfd < 0) {
		r = pfd;
		goto done;
	}
	/* A whiteout of a deleted lower entry makes way for the new one. */
	if (fstatat(pfd, name, &wst, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!(S_ISCHR(wst.st_mode) && wst.st_rdev == 0)) {
			r = -EEXIST;
			goto done;
		}
		lower = true;
	}
	mode_t umask_ = fuse_req_ctx(req)->umask;
	mode_t mode = mk->mode & ~umask_ & 07777;
	if (lower)
		(void)unlinkat(pfd, name, 0);
	switch (mk->kind) {
	case MK_FILE: {
		int fd = openat(pfd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode);
		if (fd < 0) {
			r = -errno;
			break;
		}
		r = fchown(fd, uid, gid) < 0 ? -errno : 0;
		if (r == 0 && mode & (S_ISUID | S_ISGID))
			(void)fchmod(fd, mode);
		close(fd);
		break;
	}
	case MK_DIR:
		if (setgid)
			mode |= S_ISGID;
		r = mkdirat(pfd, name, mode) < 0 ? -errno : 0;
		if (r == 0) {
			r = fchownat(pfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
			if (r == 0 && mode & (S_ISGID | S_ISVTX))
				(void)fchmodat(pfd, name, mode, 0);
		}
		if (r == 0 && lower) {
			/* Over a deleted lower directory: show none of it. */
			r = fs__upper_mark_opaque(pfd, name);
		}
		break;
	case MK_LINK:
		r = symlinkat(mk->target, pfd, name) < 0 ? -errno : 0;
		if (r == 0)
			r = fchownat(pfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
		break;
	case MK_NOD:
		r = mknodat(pfd, name, (mk->mode & S_IFMT) | mode, mk->rdev) < 0 ? -errno : 0;
		if (r == 0)
			r = fchownat(pfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
		break;
	}
	if (r < 0) {
		if (lower)
			(void)fs__upper_whiteout(pfd, name); /* put the whiteout back */
		goto done;
	}
	struct fs_node *n;
	if ((r = fs__node_new(fs, parent, name, strlen(name), &n)) < 0)
		goto done;
	n->mode = mk->kind == MK_DIR ? S_IFDIR : mk->kind == MK_LINK ? S_IFLNK : mk->kind == MK_FILE ? S_IFREG :
	          (mk->mode & S_IFMT);
	n->up = FS_UP_FULL;
	n->layer = FS_LAYER_UPPER;
	atomic_store(&n->flags, FS_NODE_SIZE_KNOWN);
	if (mk->kind == MK_DIR) {
		n->dir_upper = true;
		atomic_store(&n->dir, fs__dir_new()); /* nothing below: known empty */
	}
	if ((r = fs__dir_add(d, name, n, lower)) < 0)
		goto done;
	*out = n;
done:
	if (pfd >= 0)
		fs__upper_fd_put(pfd, owned);
	fs__dir_unlock(fs, parent);
	return r;
}

static void do_make(fuse_req_t req, fuse_ino_t parent, const char *name, const struct mk *mk,
                    struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	OP_BEGIN(fs, req);
	struct fs_node *p = node_of(fs, parent), *n = NULL;
	if (!p) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	pthread_rwlock_rdlock(&fs->rename_lock);
	int r = make_entry(fs, req, p, name, mk, &n);
	if (r == 0)
		fs__event_change(fs, mk->kind == MK_DIR ? "mkdir" : mk->kind == MK_LINK ? "symlink" :
		                     mk->kind == MK_FILE ? "create" : "mknod", p, name, NULL);
	pthread_rwlock_unlock(&fs->rename_lock);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	if (fi) {
		struct fuse_entry_param e;
		memset(&e, 0, sizeof(e));
		if ((r = fs__node_stat(fs, n, &e.attr)) < 0) {
			fuse_reply_err(req, -r);
			return;
		}
		e.ino = n->ino;
		e.generation = 1;
		e.attr_timeout = FS_TIMEOUT;
		e.entry_timeout = FS_TIMEOUT;
		atomic_fetch_add(&n->nlookup, 1);
		fi->fh = 0;
		fuse_reply_create(req, &e, fi);
		return;
	}
	reply_entry(fs, req, n);
}

static void do_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi)
{
	struct mk mk = {.kind = MK_FILE, .mode = mode};
	do_make(req, parent, name, &mk, fi);
}

static void do_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct mk mk = {.kind = MK_DIR, .mode = mode};
	do_make(req, parent, name, &mk, NULL);
}

static void do_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct mk mk = {.kind = MK_LINK, .mode = 0777, .target = link};
	do_make(req, parent, name, &mk, NULL);
}

static void do_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	struct mk mk = {.kind = S_ISREG(mode) ? MK_FILE : MK_NOD, .mode = mode, .rdev = rdev};
	do_make(req, parent, name, &mk, NULL);
}

/* Drops the upper entry name of n in pfd: moved to the orphans while the
 * kernel may still use the file, else removed. */
static int drop_upper(struct fs *fs, int pfd, const char *name, struct fs_node *n, bool last_link)
{
	if (S_ISREG(n->mode) && last_link && atomic_load(&n->nlookup) > 0) {
		char on[32];
		orphan_name(n, on);
		if (renameat(pfd, name, fs->orphan_fd, on) < 0)
			return -errno;
		n->orphan = true;
		return 0;
	}
	return unlinkat(pfd, name, S_ISDIR(n->mode) ? AT_REMOVEDIR : 0) < 0 ? -errno : 0;
}

/* Removes one link (parent, name) from n's list of links. */
static void unlink_record(struct fs_node *n, struct fs_node *parent, const char *name)
{
	if (n->parent == parent && !strcmp(n->name, name)) {
		struct fs_link *l = n->links;
		if (l) {
			free(n->name);
			n->parent = l->parent;
			n->name = l->name;
			n->links = l->next;
			free(l);
		} else if (!n->orphan) {
			n->parent = NULL; /* gone: unreachable by path */
		}
		return;
	}
	for (struct fs_link **pp = &n->links; *pp; pp = &(*pp)->next) {
		if ((*pp)->parent == parent && !strcmp((*pp)->name, name)) {
			struct fs_link *l = *pp;
			*pp = l->next;
			free(l->name);
			free(l);
			return;
		}
	}
}

static void do_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	OP_BEGIN(fs, req);
	struct fs_node *p = node_of(fs, parent);
	struct fs_dir *d;
	bool owned = false;
	int r, pfd = -1;

	if (!p) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	/* Links of a node change: exclusive. */
	pthread_rwlock_wrlock(&fs->rename_lock);
	if ((r = fs__copy_up_dir(fs, p)) < 0)
		goto out;
	if ((r = fs__dir_wrlock(fs, p, &d)) < 0)
		goto out;
	struct fs_dirent *e = fs__dir_lookup(d, name);
	struct fs_node *n = e ? e->node : NULL;
	if (!n) {
		r = -ENOENT;
		goto unlock;
	}
	if (S_ISDIR(n->mode)) {
		r = -EISDIR;
		goto unlock;
	}
	bool lower = e->lower;
	pfd = fs__upper_dirfd(fs, p, &owned);
	if (pfd < 0) {
		r = pfd;
		goto unlock;
	}
	if (n->up != FS_UP_NONE) {
		struct stat st;
		bool last = fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_nlink <= 1;
		if ((r = drop_upper(fs, pfd, name, n, last)) < 0)
			goto unlock;
	}
	if (lower && (r = fs__upper_whiteout(pfd, name)) < 0)
		goto unlock;
	fs__dir_remove(d, name);
	pthread_mutex_lock(&fs->links_lock);
	unlink_record(n, p, name);
	pthread_mutex_unlock(&fs->links_lock);
	fs__event_change(fs, "unlink", p, name, NULL);
	r = 0;
unlock:
	if (pfd >= 0)
		fs__upper_fd_put(pfd, owned);
	fs__dir_unlock(fs, p);
out:
	pthread_rwlock_unlock(&fs->rename_lock);
	fuse_reply_err(req, -r);
}

/* Removes the whiteouts an upper directory holds (it is empty in the merged
 * view) so it can be removed or replaced. */
static int clear_whiteouts(struct fs *fs, struct fs_node *dir)
{
	int fd = fs__upper_dir_open(fs, dir);
	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return fd;
	DIR *dd = fdopendir(fd);
	if (!dd) {
		close(fd);
		return -errno;
	}
	struct dirent *de;
	int r = 0;
	while ((de = readdir(dd))) {
		struct stat st;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == 0)
			(void)unlinkat(fd, de->d_name, 0);
		else
			r = -ENOTEMPTY;
	}
	closedir(dd);
	return r;
}

static int dir_is_empty(struct fs *fs, struct fs_node *n)
{
	struct fs_dir *cd;
	int r = fs__dir_rdlock(fs, n, &cd);
	if (r < 0)
		return r;
	r = cd->live ? -ENOTEMPTY : 0;
	fs__dir_unlock(fs, n);
	return r;
}

static void do_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	OP_BEGIN(fs, req);
	struct fs_node *p = node_of(fs, parent), *n;
	struct fs_dir *d;
	bool owned = false;
	int r, pfd = -1;

	if (!p) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	pthread_rwlock_rdlock(&fs->rename_lock);
	n = fs__dir_child(fs, p, name, &r);
	if (r < 0)
		goto out;
	if (!n) {
		r = -ENOENT;
		goto out;
	}
	if (!S_ISDIR(n->mode)) {
		r = -ENOTDIR;
		goto out;
	}
	if ((r = dir_is_empty(fs, n)) < 0 || (r = fs__copy_up_dir(fs, p)) < 0)
		goto out;
	if (n->dir_upper && (r = clear_whiteouts(fs, n)) < 0)
		goto out;
	if ((r = fs__dir_wrlock(fs, p, &d)) < 0)
		goto out;
	struct fs_dirent *e = fs__dir_lookup(d, name);
	if (!e || e->node != n) {
		r = -ENOENT;
		goto unlock;
	}
	pfd = fs__upper_dirfd(fs, p, &owned);
	if (pfd < 0) {
		r = pfd;
		goto unlock;
	}
	if (n->dir_upper && unlinkat(pfd, name, AT_REMOVEDIR) < 0) {
		r = -errno;
		goto unlock;
	}
	if (e->lower && (r = fs__upper_whiteout(pfd, name)) < 0)
		goto unlock;
	n->dir_upper = false;
	fs__dir_remove(d, name);
	fs__event_change(fs, "rmdir", p, name, NULL);
	r = 0;
unlock:
	if (pfd >= 0)
		fs__upper_fd_put(pfd, owned);
	fs__dir_unlock(fs, p);
out:
	pthread_rwlock_unlock(&fs->rename_lock);
	fuse_reply_err(req, -r);
}

static void lock_two(struct fs *fs, struct fs_node *a, struct fs_node *b)
{
	unsigned ia = a->ino & 255, ib = b->ino & 255;
	if (ia == ib) {
		pthread_rwlock_wrlock(&fs->dirlock[ia]);
	} else {
		pthread_rwlock_wrlock(&fs->dirlock[ia < ib ? ia : ib]);
		pthread_rwlock_wrlock(&fs->dirlock[ia < ib ? ib : ia]);
	}
}

static void unlock_two(struct fs *fs, struct fs_node *a, struct fs_node *b)
{
	unsigned ia = a->ino & 255, ib = b->ino & 255;
	pthread_rwlock_unlock(&fs->dirlock[ia]);
	if (ia != ib)
		pthread_rwlock_unlock(&fs->dirlock[ib]);
}

static void move_record(struct fs_node *n, struct fs_node *op, const char *oname, struct fs_node *np,
                        const char *nname)
{
	if (n->parent == op && !strcmp(n->name, oname)) {
		char *nn = strdup(nname);
		if (nn) {
			free(n->name);
			n->name = nn;
			n->parent = np;
		}
		return;
	}
	for (struct fs_link *l = n->links; l; l = l->next) {
		if (l->parent == op && !strcmp(l->name, oname)) {
			char *nn = strdup(nname);
			if (nn) {
				free(l->name);
				l->name = nn;
				l->parent = np;
			}
			return;
		}
	}
}

/* Marks the upper directory pfd/name (node n) opaque. */
static int make_opaque(struct fs *fs, int pfd, const char *name, struct fs_node *n)
{
	if (!fs->upper_xattr)
		return -EXDEV;
	int r = fs__upper_mark_opaque(pfd, name);
	if (r == 0) {
		n->dir_layers = 0;
		n->dir_git = false;
	}
	return r;
}

static int copy_up_any(struct fs *fs, struct fs_node *n)
{
	return S_ISDIR(n->mode) ? fs__copy_up_tree(fs, n) : fs__copy_up_meta(fs, n);
}

static void do_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
	struct fs *fs = fs_of(req);
	OP_BEGIN(fs, req);
	struct fs_node *p = node_of(fs, parent), *np = node_of(fs, newparent), *src, *dst;
	bool sowned = false, downed = false, dst_lower = false;
	int r, spfd = -1, dpfd = -1;

	if (!p || !np) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE) ||
	    (flags & RENAME_NOREPLACE && flags & RENAME_EXCHANGE)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (strlen(newname) > NAME_MAX) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	if (!np->parent && !strcmp(newname, FS_WORKDIR)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	pthread_rwlock_wrlock(&fs->rename_lock);
	src = fs__dir_child(fs, p, name, &r);
	if (r < 0)
		goto out;
	dst = fs__dir_child(fs, np, newname, &r);
	if (r < 0)
		goto out;
	if (!src) {
		r = -ENOENT;
		goto out;
	}
	if (src == dst) {
		r = 0; /* same file: nothing to do (POSIX) */
		goto out;
	}
	if ((flags & RENAME_NOREPLACE) && dst) {
		r = -EEXIST;
		goto out;
	}
	if ((flags & RENAME_EXCHANGE) && !dst) {
		r = -ENOENT;
		goto out;
	}
	if (dst && !(flags & RENAME_EXCHANGE)) {
		if (S_ISDIR(src->mode) && !S_ISDIR(dst->mode)) {
			r = -ENOTDIR;
			goto out;
		}
		if (!S_ISDIR(src->mode) && S_ISDIR(dst->mode)) {
			r = -EISDIR;
			goto out;
		}
		if (S_ISDIR(dst->mode) && (r = dir_is_empty(fs, dst)) < 0)
			goto out;
	}
	/* Both ends become self-contained upper entries. */
	if ((r = copy_up_any(fs, src)) < 0 || (r = fs__copy_up_dir(fs, np)) < 0)
		goto out;
	if (dst && (flags & RENAME_EXCHANGE) && (r = copy_up_any(fs, dst)) < 0)
		goto out;
	if (dst && !(flags & RENAME_EXCHANGE) && S_ISDIR(dst->mode) && dst->dir_upper &&
	    (r = clear_whiteouts(fs, dst)) < 0)
		goto out;
	if ((spfd = fs__upper_dirfd(fs, p, &sowned)) < 0 || (dpfd = fs__upper_dirfd(fs, np, &downed)) < 0) {
		r = spfd < 0 ? spfd : dpfd;
		goto out;
	}

	struct fs_dir *sd = NULL, *dd = NULL;
	lock_two(fs, p, np);
	sd = atomic_load(&p->dir);
	dd = atomic_load(&np->dir);
	struct fs_dirent *se = fs__dir_lookup(sd, name), *de = fs__dir_lookup(dd, newname);
	bool src_lower = se && se->lower;
	struct stat wst;
	if (de)
		dst_lower = de->lower;
	else if (fstatat(dpfd, newname, &wst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISCHR(wst.st_mode) && wst.st_rdev == 0)
		dst_lower = true; /* renaming over a whiteout */

	if (flags & RENAME_EXCHANGE) {
		if ((S_ISDIR(src->mode) && de->lower && (r = make_opaque(fs, spfd, name, src)) < 0) ||
		    (S_ISDIR(dst->mode) && src_lower && (r = make_opaque(fs, dpfd, newname, dst)) < 0))
			goto unlock;
		if (renameat2(spfd, name, dpfd, newname, RENAME_EXCHANGE) < 0) {
			r = -errno;
			goto unlock;
		}
		se->node = dst;
		de->node = src;
		pthread_mutex_lock(&fs->links_lock);
		move_record(src, p, name, np, newname);
		move_record(dst, np, newname, p, name);
		pthread_mutex_unlock(&fs->links_lock);
		r = 0;
		goto unlock;
	}
	if (dst && dst->up != FS_UP_NONE && !S_ISDIR(dst->mode)) {
		/* The replaced file may still be open: keep its data reachable. */
		struct stat st;
		bool last = fstatat(dpfd, newname, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_nlink <= 1;
		if (last && atomic_load(&dst->nlookup) > 0 && (r = drop_upper(fs, dpfd, newname, dst, true)) < 0)
			goto unlock;
	}
	/* A directory moving to a name that has lower content must not let it
	 * show through. */
	if (S_ISDIR(src->mode) && dst_lower && (r = make_opaque(fs, spfd, name, src)) < 0)
		goto unlock;
	if (!de && dst_lower && S_ISDIR(src->mode) && unlinkat(dpfd, newname, 0) < 0) {
		/* A directory cannot replace a whiteout (a device node) in place. */
		r = -errno;
		goto unlock;
	}
	unsigned rflags = src_lower ? RENAME_WHITEOUT : 0;
	if (renameat2(spfd, name, dpfd, newname, rflags) < 0) {
		if (errno == EINVAL && rflags) {
			/* No RENAME_WHITEOUT here: rename, then whiteout. */
			if (renameat(spfd, name, dpfd, newname) < 0 || fs__upper_whiteout(spfd, name) < 0) {
				r = -errno;
				goto unlock;
			}
		} else {
			r = -errno;
			goto unlock;
		}
	}
	fs__dir_remove(sd, name);
	pthread_mutex_lock(&fs->links_lock);
	if (de) {
		fs__dir_remove(dd, newname);
		unlink_record(dst, np, newname);
		if (S_ISDIR(dst->mode))
			dst->dir_upper = false;
	}
	r = fs__dir_add(dd, newname, src, dst_lower);
	if (r == 0)
		move_record(src, p, name, np, newname);
	pthread_mutex_unlock(&fs->links_lock);
unlock:
	if (r == 0) {
		fs__event_change(fs, "rename-from", p, name, NULL);
		fs__event_change(fs, "rename-to", np, newname, NULL);
	}
	unlock_two(fs, p, np);
out:
	if (spfd >= 0)
		fs__upper_fd_put(spfd, sowned);
	if (dpfd >= 0)
		fs__upper_fd_put(dpfd, downed);
	pthread_rwlock_unlock(&fs->rename_lock);
	fuse_reply_err(req, -r);
}

static void do_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct fs *fs = fs_of(req);
	OP_BEGIN(fs, req);
	struct fs_node *n = node_of(fs, ino), *np = node_of(fs, newparent);
	struct fs_dir *d;
	bool owned = false, oowned = false, lower = false;
	int r, pfd = -1, opfd = -1;

	if (!n || !np) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (S_ISDIR(n->mode)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (strlen(newname) > NAME_MAX) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	pthread_rwlock_wrlock(&fs->rename_lock);
	if (n->orphan || !n->parent) {
		r = -ENOENT;
		goto out;
	}
	if ((r = fs__copy_up_data(fs, n)) < 0 || (r = fs__copy_up_dir(fs, np)) < 0)
		goto out;
	if ((r = fs__dir_wrlock(fs, np, &d)) < 0)
		goto out;
	if (fs__dir_lookup(d, newname)) {
		r = -EEXIST;
		goto unlock;
	}
	if ((pfd = fs__upper_dirfd(fs, np, &owned)) < 0 || (opfd = fs__upper_dirfd(fs, n->parent, &oowned)) < 0) {
		r = pfd < 0 ? pfd : opfd;
		goto unlock;
	}
	struct stat wst;
	if (fstatat(pfd, newname, &wst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISCHR(wst.st_mode) && wst.st_rdev == 0) {
		lower = true;
		(void)unlinkat(pfd, newname, 0);
	}
	if (linkat(opfd, n->name, pfd, newname, 0) < 0) {
		r = -errno;
		if (lower)
			(void)fs__upper_whiteout(pfd, newname);
		goto unlock;
	}
	struct stat ust;
	pthread_mutex_lock(&fs->links_lock);
	r = fs__link_record(n, np, newname);
	if (r == 0 && fstatat(pfd, newname, &ust, AT_SYMLINK_NOFOLLOW) == 0)
		r = fs__hlink_add(fs, ust.st_ino, n);
	pthread_mutex_unlock(&fs->links_lock);
	if (r == 0)
		r = fs__dir_add(d, newname, n, lower);
	if (r == 0)
		fs__event_change(fs, "link", np, newname, NULL);
unlock:
	if (pfd >= 0)
		fs__upper_fd_put(pfd, owned);
	if (opfd >= 0)
		fs__upper_fd_put(opfd, oowned);
	fs__dir_unlock(fs, np);
out:
	pthread_rwlock_unlock(&fs->rename_lock);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		reply_entry(fs, req, n);
}

static void do_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	OP_BEGIN(fs, req);
	struct fs_node *n = node_of(fs, ino);
	int r = 0, fd = -1;

	(void)fi;
	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	pthread_rwlock_rdlock(&fs->rename_lock);
	if (!n->parent && !n->orphan) {
		r = n == fs->root ? -EPERM : -ENOENT;
		goto out;
	}
	if (to_set & FUSE_SET_ATTR_SIZE)
		r = fs__copy_up_data(fs, n);
	else
		r = fs__copy_up_meta(fs, n);
	if (r < 0)
		goto out;
	bool owned = false;
	int pfd = -1;
	char on[32];
	const char *nm = n->name;
	if (n->orphan) {
		orphan_name(n, on);
		pfd = fs->orphan_fd;
		nm = on;
	} else if ((pfd = fs__upper_dirfd(fs, n->parent, &owned)) < 0) {
		r = pfd;
		goto out;
	}
	if (to_set & FUSE_SET_ATTR_MODE && !S_ISLNK(n->mode) &&
	    fchmodat(pfd, nm, attr->st_mode & 07777, 0) < 0)
		r = -errno;
	if (r == 0 && to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		uid_t u = to_set & FUSE_SET_ATTR_UID ? attr->st_uid : (uid_t)-1;
		gid_t g = to_set & FUSE_SET_ATTR_GID ? attr->st_gid : (gid_t)-1;
		if (fchownat(pfd, nm, u, g, AT_SYMLINK_NOFOLLOW) < 0)
			r = -errno;
	}
	if (r == 0 && to_set & FUSE_SET_ATTR_SIZE) {
		fd = openat(pfd, nm, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || ftruncate(fd, attr->st_size) < 0)
			r = -errno;
	}
	if (r == 0 && to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
		struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_nsec = UTIME_OMIT}};
		if (to_set & FUSE_SET_ATTR_ATIME_NOW)
			ts[0].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_ATIME)
			ts[0] = attr->st_atim;
		if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			ts[1].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_MTIME)
			ts[1] = attr->st_mtim;
		if (utimensat(pfd, nm, ts, AT_SYMLINK_NOFOLLOW) < 0)
			r = -errno;
	}
	if (fd >= 0)
		close(fd);
	if (!n->orphan)
		fs__upper_fd_put(pfd, owned);
	if (r == 0 && !n->orphan)
		fs__event_change(fs, to_set & FUSE_SET_ATTR_SIZE ? "truncate" : "setattr", NULL, NULL, n);
out:
	pthread_rwlock_unlock(&fs->rename_lock);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	struct stat st;
	if ((r = fs__node_stat(fs, n, &st)) < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, FS_TIMEOUT);
}

/* Opens n's upper file for writing, copying its data up first. */
static int open_for_write(struct fs *fs, struct fs_node *n, int flags)
{
	int r = fs__copy_up_data(fs, n);
	if (r < 0)
		return r;
	return fs__upper_open(fs, n, flags);
}

static void do_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv, off_t off,
                         struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	OP_BEGIN(fs, req);
	struct fs_node *n = node_of(fs, ino);
	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	pthread_rwlock_rdlock(&fs->rename_lock);
	int fd = open_for_write(fs, n, O_WRONLY | ((fi && (fi->flags & O_APPEND)) ? 0 : 0));
	pthread_rwlock_unlock(&fs->rename_lock);
	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	if (fi && (fi->flags & O_APPEND)) {
		/* At the end the file has now: the kernel's offset comes from
		 * its view of the size, which a sync may have changed under a
		 * parked append. */
		struct stat st;
		if (fstat(fd, &st) == 0)
			off = st.st_size;
	}
	struct fuse_bufvec dst = FUSE_BUFVEC_INIT(fuse_buf_size(bufv));
	dst.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	dst.buf[0].fd = fd;
	dst.buf[0].pos = off;
	ssize_t w = fuse_buf_copy(&dst, bufv, FUSE_BUF_SPLICE_NONBLOCK);
	close(fd);
	if (w >= 0 && fs__events_wanted(fs) && !n->orphan) {
		pthread_rwlock_rdlock(&fs->rename_lock);
		fs__event_change(fs, "write", NULL, NULL, n);
		pthread_rwlock_unlock(&fs->rename_lock);
	}
	if (w < 0)
		fuse_reply_err(req, (int)-w);
	else
		fuse_reply_write(req, (size_t)w);
}

static void do_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                         struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	OP_BEGIN(fs, req);
	struct fs_node *n = node_of(fs, ino);
	(void)fi;
	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	pthread_rwlock_rdlock(&fs->rename_lock);
	int fd = open_for_write(fs, n, O_WRONLY);
	pthread_rwlock_unlock(&fs->rename_lock);
	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	int r = fallocate(fd, mode, offset, length) < 0 ? errno : 0;
	close(fd);
	fuse_reply_err(req, r);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_node *n = node_of(fs, ino);
	(void)fi;
	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (!fs->upper || n->up == FS_UP_NONE) {
		fuse_reply_err(req, 0); /* nothing of ours is dirty */
		return;
	}
	int fd = fs__upper_open(fs, n, O_RDONLY);
	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	int r = (datasync ? fdatasync(fd) : fsync(fd)) < 0 ? errno : 0;
	close(fd);
	fuse_reply_err(req, r);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_node *n = node_of(fs, ino);
	(void)fi;
	(void)datasync;
	if (!n || !fs->upper || !n->dir_upper) {
		fuse_reply_err(req, n ? 0 : ESTALE);
		return;
	}
	pthread_rwlock_rdlock(&fs->rename_lock);
	int fd = fs__upper_dir_open(fs, n);
	pthread_rwlock_unlock(&fs->rename_lock);
	int r = fd < 0 ? ENOENT : (fsync(fd) < 0 ? errno : 0);
	if (fd >= 0)
		close(fd);
	fuse_reply_err(req, r);
}

/* The upper copy of n, opened to change its xattrs. */
static int xattr_fd(struct fs *fs, struct fs_node *n)
{
	if (S_ISLNK(n->mode))
		return -EPERM; /* user xattrs are not allowed on symlinks */
	if (S_ISDIR(n->mode))
		return fs__upper_dir_open(fs, n); /* the root included */
	return fs__upper_open(fs, n, O_RDONLY);
}

static void do_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
                        unsigned flags)
{
	struct fs *fs = fs_of(req);
	OP_BEGIN(fs, req);
	struct fs_node *n = node_of(fs, ino);
	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (!strncmp(name, FS_XATTR_PREFIX, strlen(FS_XATTR_PREFIX))) {
		fuse_reply_err(req, EPERM); /* ours */
		return;
	}
	pthread_rwlock_rdlock(&fs->rename_lock);
	int r = fs__copy_up_meta(fs, n);
	if (r == 0) {
		int fd = xattr_fd(fs, n);
		if (fd < 0)
			r = fd;
		else {
			r = fsetxattr(fd, name, value, size, (int)flags) < 0 ? -errno : 0;
			close(fd);
		}
	}
	pthread_rwlock_unlock(&fs->rename_lock);
	fuse_reply_err(req, -r);
}

static void do_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct fs *fs = fs_of(req);
	OP_BEGIN(fs, req);
	struct fs_node *n = node_of(fs, ino);
	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (!strncmp(name, FS_XATTR_PREFIX, strlen(FS_XATTR_PREFIX))) {
		fuse_reply_err(req, EPERM);
		return;
	}
	pthread_rwlock_rdlock(&fs->rename_lock);
	int r = n->up == FS_UP_NONE && n != fs->root ? -ENODATA : 0;
	if (r == 0) {
		int fd = xattr_fd(fs, n);
		if (fd < 0)
			r = fd;
		else {
			r = fremovexattr(fd, name) < 0 ? -errno : 0;
			close(fd);
		}
	}
	pthread_rwlock_unlock(&fs->rename_lock);
	fuse_reply_err(req, -r);
}

static void op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in, struct fuse_file_info *fi_in,
                               fuse_ino_t ino_out, off_t off_out, struct fuse_file_info *fi_out,
                               size_t len, int flags)
{
	/* The kernel falls back to read + write. */
	fuse_reply_err(req, EOPNOTSUPP);
}

void fs__mut_exec(fuse_req_t req, struct fs_mut *m)
{
	switch (m->op) {
	case FS_MUT_CREATE: do_create(req, m->ino, m->name, m->mode, &m->fi); break;
	case FS_MUT_MKDIR: do_mkdir(req, m->ino, m->name, m->mode); break;
	case FS_MUT_SYMLINK: do_symlink(req, m->target, m->ino, m->name); break;
	case FS_MUT_MKNOD: do_mknod(req, m->ino, m->name, m->mode, m->rdev); break;
	case FS_MUT_UNLINK: do_unlink(req, m->ino, m->name); break;
	case FS_MUT_RMDIR: do_rmdir(req, m->ino, m->name); break;
	case FS_MUT_RENAME: do_rename(req, m->ino, m->name, m->ino2, m->name2, m->flags); break;
	case FS_MUT_LINK: do_link(req, m->ino, m->ino2, m->name2); break;
	case FS_MUT_SETATTR: do_setattr(req, m->ino, &m->attr, m->to_set, NULL); break;
	case FS_MUT_WRITE: do_write_buf(req, m->ino, m->bufv, m->off, &m->fi); break;
	case FS_MUT_FALLOCATE: do_fallocate(req, m->ino, m->mode2, m->off, m->len, NULL); break;
	case FS_MUT_SETXATTR: do_setxattr(req, m->ino, m->name, m->value, m->size, m->flags); break;
	case FS_MUT_REMOVEXATTR: do_removexattr(req, m->ino, m->name); break;
	}
}

void fs__ops_write_init(struct fuse_lowlevel_ops *ops)
{
	fs__ops_gate_init(ops);
	ops->copy_file_range = op_copy_file_range;
	ops->fsync = op_fsync;
	ops->fsyncdir = op_fsyncdir;
}
