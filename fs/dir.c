/*
 * The merged view: what a directory of the workspace contains.
 *
 * A directory is loaded once, on its first lookup or listing, from every
 * source that contributes to it, top to bottom, with the OCI image layer
 * rules:
 *   - the topmost source that has a name decides what it is;
 *   - a directory merges with directories of the same name below it, down to
 *     the first source where the name is not a directory;
 *   - ".wh.NAME" in a layer hides NAME in every source below that layer;
 *   - ".wh..wh..opq" in a layer's directory hides everything below that layer
 *     in that directory;
 *   - other ".wh..wh.*" names are bookkeeping and are never shown.
 * The git tree is the bottom source. The children are sorted by name, so a
 * lookup is a binary search and a listing is a walk of the array; both are
 * lock-free once the directory is published.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs_int.h"

#define RANK_GIT FS_MAX_LAYERS /* the git tree sorts below every layer */
#define WHITEOUT ".wh."
#define OPAQUE ".wh..wh..opq"

struct cand {
	char *name;
	int rank;       /* layer index, or RANK_GIT */
	bool whiteout;
	uint32_t mode;
	uint64_t size;
	struct timespec mtime, ctime;
	uint32_t uid, gid;
	git_oid oid;    /* git entries */
};

struct cands {
	struct cand *v;
	size_t n, cap;
};

static int cands_push(struct cands *c, const char *name, size_t len, struct cand **out)
{
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 64;
		struct cand *nv = realloc(c->v, ncap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		c->v = nv;
		c->cap = ncap;
	}
	struct cand *e = &c->v[c->n];
	memset(e, 0, sizeof(*e));
	e->name = strndup(name, len);
	if (!e->name)
		return -ENOMEM;
	c->n++;
	*out = e;
	return 0;
}

static void cands_release(struct cands *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].name);
	free(c->v);
}

static int cmp_cand(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	int r = strcmp(x->name, y->name);
	if (r)
		return r;
	if (x->rank != y->rank)
		return x->rank - y->rank;
	return (int)x->whiteout - (int)y->whiteout; /* an entry before its layer's whiteout */
}

int fs__node_relpath(struct fs_node *n, char *buf, size_t len)
{
	size_t pos = len;
	if (len == 0)
		return -ENAMETOOLONG;
	if (!n->parent) {
		if (len < 2)
			return -ENAMETOOLONG;
		memcpy(buf, ".", 2);
		return 0;
	}
	buf[--pos] = '\0';
	for (struct fs_node *p = n; p->parent; p = p->parent) {
		size_t l = strlen(p->name);
		if (l + 1 > pos)
			return -ENAMETOOLONG;
		pos -= l;
		memcpy(buf + pos, p->name, l);
		if (p->parent->parent)
			buf[--pos] = '/';
	}
	memmove(buf, buf + pos, len - pos);
	return 0;
}

void fs__node_path_for_log(struct fs_node *n, char *buf, size_t len)
{
	if (fs__node_relpath(n, buf, len) < 0)
		snprintf(buf, len, "(inode %llu)", (unsigned long long)n->ino);
}

/* Reads one layer's copy of directory dir into c. Sets *opaque when the layer
 * marks the directory opaque. A layer where the path is missing contributes
 * nothing. */
static int gather_layer(struct fs *fs, int li, const char *rel, bool root, struct cands *c, bool *opaque)
{
	int dfd = openat(fs->layer[li].rootfd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) ? 0 : -errno;
	DIR *d = fdopendir(dfd);
	if (!d) {
		int e = -errno;
		close(dfd);
		return e;
	}
	int r = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *nm = de->d_name;
		struct cand *e;
		if (!strcmp(nm, ".") || !strcmp(nm, ".."))
			continue;
		if (root && li > 0 && !strcmp(nm, ".git"))
			continue; /* the workspace's .git is ours (layer 0) */
		if (!strcmp(nm, OPAQUE)) {
			*opaque = true;
			continue;
		}
		if (!strncmp(nm, WHITEOUT WHITEOUT, 8))
			continue;
		if (!strncmp(nm, WHITEOUT, 4)) {
			if (nm[4] == '\0')
				continue;
			if ((r = cands_push(c, nm + 4, strlen(nm + 4), &e)) < 0)
				break;
			e->rank = li;
			e->whiteout = true;
			continue;
		}
		struct stat st;
		if (fstatat(dfd, nm, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* vanished: layers are immutable, but be tolerant */
		if ((r = cands_push(c, nm, strlen(nm), &e)) < 0)
			break;
		e->rank = li;
		e->mode = st.st_mode;
		e->size = (uint64_t)st.st_size;
		e->mtime = st.st_mtim;
		e->ctime = st.st_ctim;
		e->uid = st.st_uid;
		e->gid = st.st_gid;
	}
	closedir(d);
	return r;
}

static uint32_t git_mode(git_filemode_t m)
{
	switch (m) {
	case GIT_FILEMODE_TREE:
	case GIT_FILEMODE_COMMIT: return S_IFDIR | 0755;
	case GIT_FILEMODE_BLOB_EXECUTABLE: return S_IFREG | 0755;
	case GIT_FILEMODE_LINK: return S_IFLNK | 0777;
	default: return S_IFREG | 0644;
	}
}

static int gather_git(struct fs *fs, struct fs_node *dir, struct cands *c)
{
	git_repository *repo = fs_git_repo(fs->git);
	git_tree *tree = NULL;
	int r = 0;

	if (!repo || git_tree_lookup(&tree, repo, &dir->oid) < 0) {
		fs__node_mark_bad(fs, dir, EIO, "tree object unreadable");
		return -EIO;
	}
	size_t n = git_tree_entrycount(tree);
	for (size_t i = 0; i < n; i++) {
		const git_tree_entry *te = git_tree_entry_byindex(tree, i);
		const char *nm = git_tree_entry_name(te);
		struct cand *e;
		if ((r = cands_push(c, nm, strlen(nm), &e)) < 0)
			break;
		e->rank = RANK_GIT;
		git_filemode_t fm = git_tree_entry_filemode(te);
		e->mode = git_mode(fm);
		if (fm == GIT_FILEMODE_COMMIT)
			e->size = UINT64_MAX; /* marks a submodule: an empty directory */
		else
			git_oid_cpy(&e->oid, git_tree_entry_id(te));
	}
	git_tree_free(tree);
	return r;
}

int fs__node_new(struct fs *fs, struct fs_node *parent, const char *name, size_t namelen,
                 struct fs_node **out)
{
	struct fs_node *n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->name = strndup(name, namelen);
	if (!n->name) {
		free(n);
		return -ENOMEM;
	}
	n->parent = parent;
	n->layer = FS_LAYER_NONE;
	int r = fs__itable_add(&fs->itable, n);
	if (r < 0) {
		free(n->name);
		free(n);
		return r;
	}
	*out = n;
	return 0;
}

/* Makes the node for one name from its candidates v[0..k), sorted top first. */
static int resolve(struct fs *fs, struct fs_node *parent, struct cand *v, size_t k, struct fs_node **out)
{
	struct cand *win = NULL;
	uint32_t dir_layers = 0;
	bool dir_git = false;
	git_oid tree_oid;
	memset(&tree_oid, 0, sizeof(tree_oid));

	for (size_t i = 0; i < k; i++) {
		struct cand *e = &v[i];
		if (e->whiteout)
			break; /* hides this name in every lower source */
		bool isdir = S_ISDIR(e->mode);
		bool submodule = e->rank == RANK_GIT && e->size == UINT64_MAX;
		if (!win) {
			win = e;
		} else if (!isdir || !S_ISDIR(win->mode)) {
			break;
		}
		if (!isdir)
			break;
		if (e->rank == RANK_GIT) {
			if (!submodule) {
				dir_git = true;
				git_oid_cpy(&tree_oid, &e->oid);
			}
		} else {
			dir_layers |= 1u << e->rank;
		}
	}
	if (!win) {
		*out = NULL;
		return 0;
	}

	struct fs_node *n;
	int r = fs__node_new(fs, parent, win->name, strlen(win->name), &n);
	if (r < 0)
		return r;
	n->mode = win->mode;
	if (win->rank == RANK_GIT) {
		n->layer = FS_LAYER_GIT;
		n->mtime_sec = n->ctime_sec = fs->time_sec;
		n->uid = fs->uid;
		n->gid = fs->gid;
		if (S_ISDIR(win->mode)) {
			atomic_store(&n->size, 4096);
			atomic_store(&n->flags, FS_NODE_SIZE_KNOWN);
		} else {
			git_oid_cpy(&n->oid, &win->oid);
		}
		if (win->size == UINT64_MAX)
			n->layer = FS_LAYER_NONE; /* submodule */
	} else {
		n->layer = (int16_t)win->rank;
		n->mtime_sec = win->mtime.tv_sec;
		n->mtime_nsec = (uint32_t)win->mtime.tv_nsec;
		n->ctime_sec = win->ctime.tv_sec;
		n->ctime_nsec = (uint32_t)win->ctime.tv_nsec;
		n->uid = win->uid;
		n->gid = win->gid;
		atomic_store(&n->size, win->size);
		atomic_store(&n->flags, FS_NODE_SIZE_KNOWN);
	}
	if (S_ISDIR(n->mode)) {
		n->dir_layers = dir_layers;
		n->dir_git = dir_git;
		if (dir_git)
			git_oid_cpy(&n->oid, &tree_oid);
		if (!parent->parent && win->rank == 0 && !strcmp(n->name, ".git"))
			atomic_fetch_or(&n->flags, FS_NODE_DOTGIT);
	}
	*out = n;
	return 0;
}

static int load(struct fs *fs, struct fs_node *dir, struct fs_dir **out)
{
	struct cands c = {0};
	struct fs_dir *d = NULL;
	char rel[PATH_MAX];
	bool opaque = false;
	int r = 0;

	if (dir->dir_layers) {
		if ((r = fs__node_relpath(dir, rel, sizeof(rel))) < 0)
			goto done;
		for (int li = 0; li < fs->nlayers && !opaque; li++) {
			if (!(dir->dir_layers & (1u << li)))
				continue;
			if ((r = gather_layer(fs, li, rel, dir->parent == NULL, &c, &opaque)) < 0)
				goto done;
		}
	}
	if (dir->dir_git && !opaque && (r = gather_git(fs, dir, &c)) < 0)
		goto done;

	if (c.n > 1)
		qsort(c.v, c.n, sizeof(*c.v), cmp_cand);
	d = calloc(1, sizeof(*d));
	if (!d || !(d->child = calloc(c.n ? c.n : 1, sizeof(*d->child)))) {
		r = -ENOMEM;
		goto done;
	}
	for (size_t i = 0; i < c.n;) {
		size_t j = i + 1;
		while (j < c.n && !strcmp(c.v[j].name, c.v[i].name))
			j++;
		struct fs_node *n;
		if ((r = resolve(fs, dir, &c.v[i], j - i, &n)) < 0)
			goto done;
		if (n)
			d->child[d->n++] = n;
		i = j;
	}
	*out = d;
	d = NULL;
done:
	/* Nodes already made stay in the inode table (freed with it). */
	if (d) {
		free(d->child);
		free(d);
	}
	cands_release(&c);
	return r;
}

int fs__dir_get(struct fs *fs, struct fs_node *dir, struct fs_dir **out)
{
	struct fs_dir *d = atomic_load_explicit(&dir->dir, memory_order_acquire);
	if (d) {
		*out = d;
		return 0;
	}
	if (!S_ISDIR(dir->mode))
		return -ENOTDIR;
	if (atomic_load(&dir->flags) & FS_NODE_DOTGIT) {
		int r = fs__dotgit_wait(fs);
		if (r < 0)
			return r;
	}
	pthread_mutex_t *lk = &fs->dirlock[dir->ino & 255];
	pthread_mutex_lock(lk);
	d = atomic_load_explicit(&dir->dir, memory_order_acquire);
	int r = 0;
	if (!d && (r = load(fs, dir, &d)) == 0)
		atomic_store_explicit(&dir->dir, d, memory_order_release);
	pthread_mutex_unlock(lk);
	if (r < 0)
		return r;
	*out = d;
	return 0;
}

struct fs_node *fs__dir_find(struct fs_dir *d, const char *name)
{
	size_t lo = 0, hi = d->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, d->child[mid]->name);
		if (c == 0)
			return d->child[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

void fs__node_mark_bad(struct fs *fs, struct fs_node *n, int err, const char *what)
{
	uint32_t old = atomic_fetch_or(&n->flags, FS_NODE_BAD_OBJECT | FS_NODE_EIO_LOGGED);
	FS_STAT_ADD(fs, io_errors, 1);
	if (old & FS_NODE_EIO_LOGGED)
		return;
	char path[PATH_MAX], hex[GIT_OID_HEXSZ + 1];
	fs__node_path_for_log(n, path, sizeof(path));
	git_oid_tostr(hex, sizeof(hex), &n->oid);
	fs_log("thawfs: %s: %s (object %s): %s", strerror(err), path, hex, what);
}

int fs__node_size(struct fs *fs, struct fs_node *n, uint64_t *out)
{
	uint32_t fl = atomic_load_explicit(&n->flags, memory_order_acquire);
	if ((fl & FS_NODE_BAD_OBJECT) && !(fl & FS_NODE_SIZE_KNOWN))
		return -EIO;
	if (!(fl & FS_NODE_SIZE_KNOWN)) {
		uint64_t sz = 0;
		if (n->layer == FS_LAYER_GIT && !(fl & FS_NODE_BAD_OBJECT)) {
			if (fs_git_blob_size(fs->git, &n->oid, &sz) < 0) {
				/* Without a size the kernel would show an empty file:
				 * fail the file instead (every stat and open: EIO). */
				fs__node_mark_bad(fs, n, EIO, "object missing or unreadable");
				return -EIO;
			}
		}
		atomic_store_explicit(&n->size, sz, memory_order_relaxed);
		atomic_fetch_or_explicit(&n->flags, FS_NODE_SIZE_KNOWN, memory_order_release);
	}
	*out = atomic_load_explicit(&n->size, memory_order_relaxed);
	return 0;
}

int fs__node_stat(struct fs *fs, struct fs_node *n, struct stat *st)
{
	uint64_t size;
	memset(st, 0, sizeof(*st));
	int r = fs__node_size(fs, n, &size);
	if (r < 0)
		return r;
	st->st_ino = n->ino;
	st->st_mode = n->mode;
	st->st_nlink = 1;
	st->st_uid = n->uid;
	st->st_gid = n->gid;
	st->st_size = (off_t)size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
	st->st_mtim.tv_sec = n->mtime_sec;
	st->st_mtim.tv_nsec = n->mtime_nsec;
	st->st_atim = st->st_mtim;
	st->st_ctim.tv_sec = n->ctime_sec;
	st->st_ctim.tv_nsec = n->ctime_nsec;
	return 0;
}
