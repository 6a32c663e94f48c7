/*
 * The write gate. Every mutating request passes it: while the workspace is
 * syncing to a new base or frozen for a snapshot, mutations are parked and
 * answered later, in arrival order, once the gate opens; reads never are.
 *
 * A parked request holds no worker thread: the request handle and a copy of
 * its arguments (names, the data of a write) go into a queue, and the worker
 * returns to the kernel for the next request. An interrupted parked request
 * (the caller got a signal) is answered EINTR and dropped. When the gate
 * opens, a replay thread executes the queue in order; requests that arrive
 * while it drains queue up behind it, so order is kept. At most
 * FS_GATE_MAX_PARKED requests and FS_GATE_MAX_BYTES bytes of write data are
 * parked; beyond that a mutation answers EAGAIN.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "fs_int.h"

#define FS_GATE_MAX_PARKED 65536
#define FS_GATE_MAX_BYTES (256ull << 20)

static const char *const names[] = {"open", "syncing", "frozen", "sync-failed", "readonly"};

const char *fs_gate_state_name(int state)
{
	return state >= 0 && state <= FS_GATE_READONLY ? names[state] : "unknown";
}

int fs__gate_init(struct fs *fs)
{
	struct fs_gate *g = &fs->gate;
	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->cond, NULL);
	g->state = FS_GATE_OPEN;
	return 0;
}

static void mut_free(struct fs_mut *m)
{
	if (!m)
		return;
	free(m->name);
	free(m->name2);
	free(m->target);
	free(m->value);
	free(m->data);
	free(m);
}

void fs__gate_release(struct fs *fs)
{
	struct fs_gate *g = &fs->gate;
	/* Requests still parked at unmount: the kernel is gone, drop them. */
	for (struct fs_mut *m = g->head, *n; m; m = n) {
		n = m->next;
		mut_free(m);
	}
	pthread_mutex_destroy(&g->lock);
	pthread_cond_destroy(&g->cond);
}

static bool closed(const struct fs_gate *g)
{
	return g->frozen || g->syncing;
}

static int effective_state(const struct fs_gate *g)
{
	return g->frozen ? FS_GATE_FROZEN : g->syncing ? FS_GATE_SYNCING : g->state;
}

static char *dup_or_null(const char *s, bool *fail)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		*fail = true;
	return d;
}

/* A copy of m that outlives the request's buffers. */
static struct fs_mut *mut_copy(const struct fs_mut *m)
{
	struct fs_mut *c = calloc(1, sizeof(*c));
	bool fail = false;
	if (!c)
		return NULL;
	*c = *m;
	c->name = dup_or_null(m->name, &fail);
	c->name2 = dup_or_null(m->name2, &fail);
	c->target = dup_or_null(m->target, &fail);
	c->value = NULL;
	c->data = NULL;
	c->next = NULL;
	if (m->op == FS_MUT_SETXATTR && m->size) {
		c->value = malloc(m->size);
		if (c->value)
			memcpy(c->value, m->value, m->size);
		else
			fail = true;
	}
	if (m->op == FS_MUT_WRITE) {
		size_t len = fuse_buf_size(m->bufv);
		c->data = malloc(len ? len : 1);
		if (!c->data) {
			fail = true;
		} else {
			struct fuse_bufvec dst = FUSE_BUFVEC_INIT(len);
			dst.buf[0].mem = c->data;
			ssize_t n = fuse_buf_copy(&dst, m->bufv, 0);
			if (n < 0 || (size_t)n != len)
				fail = true;
			c->mbuf = (struct fuse_bufvec)FUSE_BUFVEC_INIT(len);
			c->mbuf.buf[0].mem = c->data;
			c->bufv = &c->mbuf;
			c->bytes = len;
		}
	}
	if (fail) {
		mut_free(c);
		return NULL;
	}
	return c;
}

static void done(struct fs *fs)
{
	struct fs_gate *g = &fs->gate;
	pthread_mutex_lock(&g->lock);
	if (--g->in_flight == 0)
		pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

static void on_interrupt(fuse_req_t req, void *arg)
{
	struct fs *fs = arg;
	struct fs_gate *g = &fs->gate;
	struct fs_mut *found = NULL;
	pthread_mutex_lock(&g->lock);
	for (struct fs_mut **pp = &g->head, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->next) {
		if ((*pp)->req == req) {
			found = *pp;
			*pp = found->next;
			if (g->tail == found)
				g->tail = prev;
			g->parked--;
			g->parked_bytes -= found->bytes;
			g->interrupted_total++;
			break;
		}
	}
	pthread_mutex_unlock(&g->lock);
	if (found) {
		fuse_reply_err(req, EINTR);
		mut_free(found);
	}
}

static void submit(fuse_req_t req, struct fs_mut *m)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_gate *g = &fs->gate;

	if (!fs->upper) {
		FS_STAT_ADD(fs, erofs, 1);
		fuse_reply_err(req, EROFS);
		return;
	}
	pthread_mutex_lock(&g->lock);
	if (!closed(g) && g->state == FS_GATE_READONLY) {
		pthread_mutex_unlock(&g->lock);
		FS_STAT_ADD(fs, erofs, 1);
		fuse_reply_err(req, EROFS);
		return;
	}
	if (!closed(g) && !g->head && !g->draining) {
		g->in_flight++;
		pthread_mutex_unlock(&g->lock);
		fs__mut_exec(req, m);
		done(fs);
		return;
	}
	bool full = g->parked >= FS_GATE_MAX_PARKED;
	pthread_mutex_unlock(&g->lock);
	struct fs_mut *p = full ? NULL : mut_copy(m);
	if (!p || (p->bytes && g->parked_bytes + p->bytes > FS_GATE_MAX_BYTES)) {
		mut_free(p);
		fuse_reply_err(req, full || p ? EAGAIN : ENOMEM);
		return;
	}
	p->req = req;
	/* Registered before the request is queued: an interrupt that already
	 * happened finds nothing to drop and the request simply runs. */
	fuse_req_interrupt_func(req, on_interrupt, fs);
	pthread_mutex_lock(&g->lock);
	if (closed(g) || g->head || g->draining) {
		if (g->tail)
			g->tail->next = p;
		else
			g->head = p;
		g->tail = p;
		g->parked++;
		g->parked_bytes += p->bytes;
		g->parked_total++;
		pthread_mutex_unlock(&g->lock);
		return;
	}
	g->in_flight++;
	pthread_mutex_unlock(&g->lock);
	fs__mut_exec(req, p);
	done(fs);
	mut_free(p);
}

static void *replay(void *arg)
{
	struct fs *fs = arg;
	struct fs_gate *g = &fs->gate;
	for (;;) {
		pthread_mutex_lock(&g->lock);
		struct fs_mut *m = closed(g) ? NULL : g->head;
		if (!m) {
			g->draining = false;
			pthread_cond_broadcast(&g->cond);
			pthread_mutex_unlock(&g->lock);
			return NULL;
		}
		g->head = m->next;
		if (!g->head)
			g->tail = NULL;
		g->parked--;
		g->parked_bytes -= m->bytes;
		g->in_flight++;
		pthread_mutex_unlock(&g->lock);
		/* Out of the queue: an interrupt can no longer drop it. */
		fuse_req_interrupt_func(m->req, NULL, NULL);
		if (g->state == FS_GATE_READONLY) {
			fuse_reply_err(m->req, EROFS);
		} else {
			fs__mut_exec(m->req, m);
		}
		done(fs);
		mut_free(m);
	}
}

void fs__gate_close(struct fs *fs, bool freeze)
{
	struct fs_gate *g = &fs->gate;
	pthread_mutex_lock(&g->lock);
	if (freeze)
		g->frozen = true;
	else
		g->syncing = true;
	while (g->in_flight > 0)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
}

static void start_replay_locked(struct fs *fs)
{
	struct fs_gate *g = &fs->gate;
	if (closed(g) || !g->head || g->draining)
		return;
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	g->draining = true;
	if (pthread_create(&t, &attr, replay, fs) != 0)
		g->draining = false;
	pthread_attr_destroy(&attr);
}

void fs__gate_open(struct fs *fs, bool freeze)
{
	struct fs_gate *g = &fs->gate;
	pthread_mutex_lock(&g->lock);
	if (freeze)
		g->frozen = false;
	else
		g->syncing = false;
	start_replay_locked(fs);
	pthread_mutex_unlock(&g->lock);
}

void fs__gate_set_state(struct fs *fs, int state)
{
	struct fs_gate *g = &fs->gate;
	pthread_mutex_lock(&g->lock);
	g->state = state;
	start_replay_locked(fs);
	pthread_mutex_unlock(&g->lock);
}

/* Waits (bounded by the caller's loop) until replay threads are gone. */
void fs__gate_wait_drained(struct fs *fs)
{
	struct fs_gate *g = &fs->gate;
	pthread_mutex_lock(&g->lock);
	while (g->draining)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
}

void fs__gate_shutdown(struct fs *fs)
{
	struct fs_gate *g = &fs->gate;
	pthread_mutex_lock(&g->lock);
	g->frozen = true;
	while (g->draining || g->in_flight)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
}

json_t *fs__gate_json(struct fs *fs)
{
	struct fs_gate *g = &fs->gate;
	pthread_mutex_lock(&g->lock);
	json_t *j = json_pack("{s:s,s:I,s:I,s:I,s:I,s:i}", "state", fs_gate_state_name(effective_state(g)),
	                      "parked", (json_int_t)g->parked, "parked_bytes", (json_int_t)g->parked_bytes,
	                      "parked_total", (json_int_t)g->parked_total,
	                      "interrupted_total", (json_int_t)g->interrupted_total, "in_flight", (int)g->in_flight);
	pthread_mutex_unlock(&g->lock);
	return j;
}

/* ---- the FUSE entry points of every mutation ---- */

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi)
{
	struct fs_mut m = {.op = FS_MUT_CREATE, .ino = parent, .name = (char *)name, .mode = mode, .fi = *fi};
	submit(req, &m);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct fs_mut m = {.op = FS_MUT_MKDIR, .ino = parent, .name = (char *)name, .mode = mode};
	submit(req, &m);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct fs_mut m = {.op = FS_MUT_SYMLINK, .ino = parent, .name = (char *)name, .target = (char *)link};
	submit(req, &m);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	struct fs_mut m = {.op = FS_MUT_MKNOD, .ino = parent, .name = (char *)name, .mode = mode, .rdev = rdev};
	submit(req, &m);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs_mut m = {.op = FS_MUT_UNLINK, .ino = parent, .name = (char *)name};
	submit(req, &m);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs_mut m = {.op = FS_MUT_RMDIR, .ino = parent, .name = (char *)name};
	submit(req, &m);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
	struct fs_mut m = {.op = FS_MUT_RENAME, .ino = parent, .name = (char *)name, .ino2 = newparent,
	                   .name2 = (char *)newname, .flags = flags};
	submit(req, &m);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct fs_mut m = {.op = FS_MUT_LINK, .ino = ino, .ino2 = newparent, .name2 = (char *)newname};
	submit(req, &m);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi)
{
	(void)fi;
	struct fs_mut m = {.op = FS_MUT_SETATTR, .ino = ino, .attr = *attr, .to_set = to_set};
	submit(req, &m);
}

static void op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv, off_t off,
                         struct fuse_file_info *fi)
{
	struct fs_mut m = {.op = FS_MUT_WRITE, .ino = ino, .bufv = bufv, .off = off};
	if (fi)
		m.fi = *fi;
	submit(req, &m);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                         struct fuse_file_info *fi)
{
	(void)fi;
	struct fs_mut m = {.op = FS_MUT_FALLOCATE, .ino = ino, .mode2 = mode, .off = offset, .len = length};
	submit(req, &m);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
                        int flags)
{
	struct fs_mut m = {.op = FS_MUT_SETXATTR, .ino = ino, .name = (char *)name, .value = (char *)value,
	                   .size = size, .flags = (unsigned)flags};
	submit(req, &m);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct fs_mut m = {.op = FS_MUT_REMOVEXATTR, .ino = ino, .name = (char *)name};
	submit(req, &m);
}

void fs__ops_gate_init(struct fuse_lowlevel_ops *ops)
{
	ops->create = op_create;
	ops->mkdir = op_mkdir;
	ops->symlink = op_symlink;
	ops->mknod = op_mknod;
	ops->unlink = op_unlink;
	ops->rmdir = op_rmdir;
	ops->rename = op_rename;
	ops->link = op_link;
	ops->setattr = op_setattr;
	ops->write_buf = op_write_buf;
	ops->fallocate = op_fallocate;
	ops->setxattr = op_setxattr;
	ops->removexattr = op_removexattr;
}
