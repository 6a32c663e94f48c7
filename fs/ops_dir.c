/*
 * Directory listing: readdir and readdirplus over a loaded directory.
 *
 * The offset of an entry is its index + 1 in [".", "..", children...], which
 * stays valid because a loaded directory never changes. opendir answers
 * ENOSYS where the kernel supports it (see ops_read.c), so the kernel caches
 * listings (cache_readdir) and sends no opendir/releasedir.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs_int.h"

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_node *n = fs__itable_get(&fs->itable, ino);
	struct fs_dir *d;
	int r;

	FS_STAT_ADD(fs, readdirs, 1);
	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	char *buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if ((r = fs__dir_rdlock(fs, n, &d)) < 0) {
		free(buf);
		fuse_reply_err(req, -r);
		return;
	}
	size_t pos = 0, len;
	/* "." and ".." at offsets 1 and 2; entries carry their own offsets. */
	for (off_t o = off; o < 2; o++) {
		struct fs_node *c = o == 0 ? n : (n->parent ? n->parent : n);
		const char *name = o == 0 ? "." : "..";
		if (plus) {
			struct fuse_entry_param e;
			memset(&e, 0, sizeof(e));
			e.attr.st_ino = c->ino;
			e.attr.st_mode = S_IFDIR; /* ino 0 in e: no lookup count */
			len = fuse_add_direntry_plus(req, buf + pos, size - pos, name, &e, o + 1);
		} else {
			struct stat st = {.st_ino = c->ino, .st_mode = S_IFDIR};
			len = fuse_add_direntry(req, buf + pos, size - pos, name, &st, o + 1);
		}
		if (len > size - pos)
			goto full;
		pos += len;
	}
	for (size_t i = fs__dir_seek(d, (uint64_t)(off < 2 ? 2 : off)); i < d->n; i++) {
		struct fs_dirent *de = &d->ent[i];
		struct fs_node *c = de->node;
		if (!c)
			continue;
		if (plus) {
			struct fuse_entry_param e;
			memset(&e, 0, sizeof(e));
			bool ok = fs__node_stat(fs, c, &e.attr) == 0;
			if (ok) {
				e.ino = c->ino;
				e.generation = 1;
				e.attr_timeout = FS_TIMEOUT;
				e.entry_timeout = FS_TIMEOUT;
			} else {
				/* Unreadable object: list the name, let a lookup
				 * report the error. */
				memset(&e.attr, 0, sizeof(e.attr));
				e.attr.st_ino = c->ino;
				e.attr.st_mode = c->mode & S_IFMT;
			}
			len = fuse_add_direntry_plus(req, buf + pos, size - pos, de->name, &e, (off_t)de->off);
			if (len > size - pos)
				break;
			if (ok)
				atomic_fetch_add(&c->nlookup, 1);
		} else {
			struct stat st = {.st_ino = c->ino, .st_mode = c->mode};
			len = fuse_add_direntry(req, buf + pos, size - pos, de->name, &st, (off_t)de->off);
			if (len > size - pos)
				break;
		}
		pos += len;
	}
full:
	fs__dir_unlock(fs, n);
	fuse_reply_buf(req, buf, pos);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	(void)fi;
	pthread_rwlock_rdlock(&fs->swap_lock);
	do_readdir(req, ino, size, off, false);
	pthread_rwlock_unlock(&fs->swap_lock);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	(void)fi;
	pthread_rwlock_rdlock(&fs->swap_lock);
	do_readdir(req, ino, size, off, true);
	pthread_rwlock_unlock(&fs->swap_lock);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_node *n = fs__itable_get(&fs->itable, ino);

	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (!S_ISDIR(n->mode)) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	if (fs->se_want & FUSE_CAP_NO_OPENDIR_SUPPORT) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

void fs__ops_dir_init(struct fuse_lowlevel_ops *ops)
{
	ops->opendir = op_opendir;
	ops->readdir = op_readdir;
	ops->readdirplus = op_readdirplus;
}
