/*
 * Mutating operations. The workspace has no writable layer yet: every call
 * that would change it answers EROFS (and is counted), so tools fail cleanly
 * instead of seeing a half-applied change.
 */
#include <errno.h>

#include "fs_int.h"

static void erofs(fuse_req_t req)
{
	struct fs *fs = fuse_req_userdata(req);
	FS_STAT_ADD(fs, erofs, 1);
	fuse_reply_err(req, EROFS);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi)
{ erofs(req); }
static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{ erofs(req); }
static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{ erofs(req); }
static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{ erofs(req); }
static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{ erofs(req); }
static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{ erofs(req); }
static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{ erofs(req); }
static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{ erofs(req); }
static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi)
{ erofs(req); }
static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{ erofs(req); }
static void op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv, off_t off,
                         struct fuse_file_info *fi)
{ erofs(req); }
static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
                        int flags)
{ erofs(req); }
static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{ erofs(req); }
static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                         struct fuse_file_info *fi)
{ erofs(req); }
static void op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in, struct fuse_file_info *fi_in,
                               fuse_ino_t ino_out, off_t off_out, struct fuse_file_info *fi_out,
                               size_t len, int flags)
{ erofs(req); }

void fs__ops_write_init(struct fuse_lowlevel_ops *ops)
{
	ops->setattr = op_setattr;
	ops->mknod = op_mknod;
	ops->mkdir = op_mkdir;
	ops->unlink = op_unlink;
	ops->rmdir = op_rmdir;
	ops->symlink = op_symlink;
	ops->rename = op_rename;
	ops->link = op_link;
	ops->create = op_create;
	ops->write = op_write;
	ops->write_buf = op_write_buf;
	ops->setxattr = op_setxattr;
	ops->removexattr = op_removexattr;
	ops->fallocate = op_fallocate;
	ops->copy_file_range = op_copy_file_range;
}
