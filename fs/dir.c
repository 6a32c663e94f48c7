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
 * The git tree is the bottom source. Above every layer sits the upper layer
 * (the session's writable directory, fs/upper.c), with the kernel overlayfs
 * conventions: a whiteout is a 0/0 character device, an opaque directory
 * carries the xattr user.thaw.opaque, and a file whose data is still below
 * (metacopy) carries user.thaw.origin ("git:<id>", "layer:<n>:<path>" or
 * "cid:<id>", see fs/upper.c).
 *
 * A store layer (fs/layer_store.c) is a source like a directory layer, read
 * from its manifest: whiteouts and opaque directories are manifest entries;
 * it contributes to every merged directory it is not hidden from (its
 * manifest answers an empty listing where it has nothing); and in .git its
 * entries sort above the synthesized layer 0, so a restored session keeps
 * its own HEAD, refs, objects and index.
 *
 * A loaded directory's entries (dirents.c) change only under the directory's
 * write lock (one of 256 striped rwlocks); lookups and listings take the read
 * lock. Nodes are never freed while mounted, so a node pointer stays valid
 * after the lock is released.
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs_int.h"

#define RANK_UPPER (-1)        /* the upper layer sorts above every layer */
#define RANK_GIT FS_MAX_LAYERS /* the git tree sorts below every layer */
#define WHITEOUT ".wh."
#define OPAQUE ".wh..wh..opq"

struct cand {
	char *name;
	int rank;       /* layer index, or RANK_GIT */
	int key;        /* sort key: 2 * rank, but the synthesized .git (layer 0) sorts
	                 * below store layers that provide .git entries */
	bool whiteout;
	bool opaque;    /* store layer directories: nothing below this layer shows */
	bool xattrs;    /* store layer entries with xattrs */
	uint32_t mode;
	uint64_t size;
	struct timespec mtime, ctime;
	uint32_t uid, gid;
	uint64_t upino; /* upper entries: inode number in the upper filesystem */
	nlink_t nlink;
	git_oid oid;    /* git entries; store layer files: the content id */
	char *origin;   /* upper metacopy entries: the xattr's value */
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
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].name);
		free(c->v[i].origin);
	}
	free(c->v);
}

static int cmp_cand(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	int r = strcmp(x->name, y->name);
	if (r)
		return r;
	if (x->key != y->key)
		return x->key - y->key;
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

int fs__node_lowerpath(struct fs_node *n, char *buf, size_t len)
{
	if (n->origin) {
		size_t l = strlen(n->origin);
		if (l + 1 > len)
			return -ENAMETOOLONG;
		memcpy(buf, n->origin, l + 1);
		return 0;
	}
	return fs__node_relpath(n, buf, len);
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
		e->size = S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? (uint64_t)st.st_rdev : (uint64_t)st.st_size;
		e->mtime = st.st_mtim;
		e->ctime = st.st_ctim;
		e->uid = st.st_uid;
		e->gid = st.st_gid;
	}
	closedir(d);
	return r;
}

struct store_gather {
	struct cands *c;
	int li;
	bool root;
	int r;
};

static int store_entry(void *arg, const struct fs_sentry *s)
{
	struct store_gather *g = arg;
	struct cand *e;
	if (!strcmp(s->name, ".") || !strcmp(s->name, ".."))
		return 0;
	if (g->root && !strcmp(s->name, FS_WORKDIR))
		return 0;
	if ((g->r = cands_push(g->c, s->name, strlen(s->name), &e)) < 0)
		return g->r;
	e->rank = g->li;
	if (s->whiteout) {
		e->whiteout = true;
		return 0;
	}
	e->mode = s->mode;
	e->size = s->size;
	e->mtime.tv_sec = s->mtime_sec;
	e->mtime.tv_nsec = s->mtime_nsec;
	e->ctime = e->mtime;
	e->uid = s->uid;
	e->gid = s->gid;
	e->opaque = s->opaque;
	e->xattrs = s->has_xattrs;
	if (S_ISREG(s->mode))
		git_oid_cpy(&e->oid, &s->cid);
	return 0;
}

/* A store layer's entries of directory rel ("." for the root). A store
 * layer may provide .git entries (a frozen session's commits, refs, index):
 * they show above the synthesized .git (see gather). */
static int gather_store(struct fs *fs, int li, const char *rel, bool root, struct cands *c)
{
	struct store_gather g = {c, li, root, 0};
	int r = fs__store_list(fs, li, root ? "" : rel, store_entry, &g);
	if (g.r < 0)
		return g.r;
	return r < 0 ? -EIO : 0;
}

/* The upper layer's copy of directory dir. */
static int gather_upper(struct fs *fs, struct fs_node *dir, struct cands *c, bool *opaque)
{
	int dfd = fs__upper_dir_open(fs, dir);
	if (dfd == -ENOENT)
		return 0;
	if (dfd < 0)
		return dfd;
	char v[8];
	if (fgetxattr(dfd, FS_XATTR_OPAQUE, v, sizeof(v)) == 1 && v[0] == 'y')
		*opaque = true;
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
		struct stat st;
		if (!strcmp(nm, ".") || !strcmp(nm, ".."))
			continue;
		if (!dir->parent && !strcmp(nm, FS_WORKDIR))
			continue;
		if (fstatat(dfd, nm, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if ((r = cands_push(c, nm, strlen(nm), &e)) < 0)
			break;
		e->rank = RANK_UPPER;
		if (S_ISCHR(st.st_mode) && st.st_rdev == 0) {
			e->whiteout = true;
			continue;
		}
		e->mode = st.st_mode;
		e->size = (uint64_t)st.st_size;
		e->upino = st.st_ino;
		e->nlink = st.st_nlink;
		if (S_ISREG(st.st_mode) && fs->upper_xattr)
			e->origin = fs__upper_get_origin(dfd, nm);
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
	atomic_init(&n->upfd, -1);
	int r = fs__itable_add(&fs->itable, n);
	if (r < 0) {
		free(n->name);
		free(n);
		return r;
	}
	*out = n;
	return 0;
}

/* What one name of a directory resolves to (from its candidates, top first). */
struct choice {
	struct cand *win;   /* NULL: hidden or absent */
	uint32_t dir_layers;
	bool dir_git, dir_upper, has_lower;
	git_oid tree_oid;
};

/* store_mask: the store layers. A store layer contributes to every merged
 * directory it is not hidden from, whether or not its manifest has an entry
 * for the directory itself (a layer may hold "src/x" or a whiteout of it
 * without "src"): its manifest answers an empty listing where it has none. */
static void decide(struct cand *v, size_t k, struct choice *c, uint32_t store_mask)
{
	int stop = RANK_GIT; /* layers of rank >= stop are hidden from the name */
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < k; i++) {
		struct cand *e = &v[i];
		if (e->whiteout) {
			stop = e->rank;
			break; /* hides this name in every lower source */
		}
		if (e->rank != RANK_UPPER)
			c->has_lower = true;
		bool isdir = S_ISDIR(e->mode);
		bool submodule = e->rank == RANK_GIT && e->size == UINT64_MAX;
		if (!c->win) {
			c->win = e;
		} else if (!isdir || !S_ISDIR(c->win->mode)) {
			/* A lower non-directory under the winner: hidden, but a
			 * removal of the winner must still leave a whiteout. */
			stop = e->rank;
			break;
		}
		if (!isdir) {
			/* keep scanning only to learn has_lower */
			if (c->win == e && e->rank == RANK_UPPER)
				for (size_t j = i + 1; j < k && !v[j].whiteout; j++)
					c->has_lower = true;
			break;
		}
		if (e->rank == RANK_GIT) {
			if (!submodule) {
				c->dir_git = true;
				git_oid_cpy(&c->tree_oid, &e->oid);
			}
		} else if (e->rank == RANK_UPPER) {
			c->dir_upper = true;
		} else {
			c->dir_layers |= 1u << e->rank;
			if (e->opaque) {
				stop = e->rank + 1;
				break; /* an opaque store directory: nothing below shows */
			}
		}
	}
	if (c->win && S_ISDIR(c->win->mode) && store_mask && stop > 0) {
		uint32_t above = stop >= 32 ? 0xffffffffu : (1u << stop) - 1;
		c->dir_layers |= store_mask & above;
	}
}

/* Fills the fields of n that come from its sources. */
static void apply_choice(struct fs *fs, struct fs_node *n, struct fs_node *parent, const struct choice *c)
{
	struct cand *win = c->win;
	n->mode = win->mode;
	if (win->rank == RANK_UPPER) {
		n->up = FS_UP_FULL;
		n->layer = FS_LAYER_UPPER;
		atomic_store(&n->size, win->size);
		atomic_store(&n->flags, FS_NODE_SIZE_KNOWN);
		if (win->origin && fs__upper_parse_origin(fs, n, win->origin) == 0)
			n->up = FS_UP_META;
	} else if (win->rank == RANK_GIT) {
		n->layer = FS_LAYER_GIT;
		n->mtime_sec = n->ctime_sec = fs->time_sec;
		n->mtime_nsec = n->ctime_nsec = 0;
		n->uid = fs->uid;
		n->gid = fs->gid;
		if (S_ISDIR(win->mode)) {
			atomic_store(&n->size, 4096);
			atomic_store(&n->flags, FS_NODE_SIZE_KNOWN);
		} else {
			git_oid_cpy(&n->oid, &win->oid);
			atomic_store(&n->flags, 0);
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
		git_oid_cpy(&n->oid, &win->oid); /* store layer files: the content id */
		atomic_store(&n->size, win->size);
		atomic_store(&n->flags, FS_NODE_SIZE_KNOWN | (win->xattrs ? FS_NODE_XATTRS : 0));
	}
	if (S_ISDIR(n->mode)) {
		n->dir_upper = c->dir_upper;
		n->dir_layers = c->dir_layers;
		n->dir_git = c->dir_git;
		if (c->dir_git)
			git_oid_cpy(&n->oid, &c->tree_oid);
		if (!parent->parent && !strcmp(n->name, ".git") && win->rank != RANK_GIT && (c->dir_layers & 1u))
			atomic_fetch_or(&n->flags, FS_NODE_DOTGIT);
	}
}

/* Makes (or, for another name of a known upper file, finds) the node of a
 * decided name. */
static int materialize(struct fs *fs, struct fs_node *parent, const struct choice *c, struct fs_node **out)
{
	struct cand *win = c->win;
	struct fs_node *n;
	int r;
	bool hardlink = win->rank == RANK_UPPER && S_ISREG(win->mode) && win->nlink > 1;
	if (hardlink) {
		/* Another name of an upper file we already know: the same node. */
		pthread_mutex_lock(&fs->links_lock);
		n = fs__hlink_find(fs, win->upino);
		r = n ? fs__link_record(n, parent, win->name) : 0;
		pthread_mutex_unlock(&fs->links_lock);
		if (n) {
			*out = r < 0 ? NULL : n;
			return r;
		}
	}
	if ((r = fs__node_new(fs, parent, win->name, strlen(win->name), &n)) < 0)
		return r;
	if (hardlink) {
		pthread_mutex_lock(&fs->links_lock);
		r = fs__hlink_add(fs, win->upino, n);
		pthread_mutex_unlock(&fs->links_lock);
		if (r < 0)
			return r;
	}
	apply_choice(fs, n, parent, c);
	*out = n;
	return 0;
}

/* Gathers and sorts the candidates of every name of dir. */
static int gather(struct fs *fs, struct fs_node *dir, struct cands *c)
{
	char rel[PATH_MAX] = ".";
	bool opaque = false;
	int r;
	if (dir->dir_upper && (r = gather_upper(fs, dir, c, &opaque)) < 0)
		return r;
	if (fs->has_store_layers || (dir->dir_layers && !opaque)) {
		if ((r = fs__node_relpath(dir, rel, sizeof(rel))) < 0)
			return r;
	}
	if (dir->dir_layers && !opaque) {
		for (int li = 0; li < fs->nlayers && !opaque; li++) {
			if (!(dir->dir_layers & (1u << li)))
				continue;
			if (fs->layer[li].store)
				r = gather_store(fs, li, rel, dir->parent == NULL, c);
			else
				r = gather_layer(fs, li, rel, dir->parent == NULL, c, &opaque);
			if (r < 0)
				return r;
		}
	}
	if (dir->dir_git && !opaque && (r = gather_git(fs, dir, c)) < 0)
		return r;
	/* Sort keys: the rank, except that in .git the synthesized layer 0
	 * sorts below the store layers, so a restored session keeps its own
	 * HEAD, refs, objects and index where its snapshot has them. */
	bool in_dotgit = fs->has_store_layers && dir->parent &&
	                 (!strcmp(rel, ".git") || !strncmp(rel, ".git/", 5));
	for (size_t i = 0; i < c->n; i++) {
		struct cand *e = &c->v[i];
		e->key = 2 * e->rank;
		if (e->rank == 0 && fs->has_store_layers && (in_dotgit || (!dir->parent && !strcmp(e->name, ".git"))))
			e->key = 2 * FS_MAX_LAYERS - 1;
	}
	if (c->n > 1)
		qsort(c->v, c->n, sizeof(*c->v), cmp_cand);
	return 0;
}

static int load(struct fs *fs, struct fs_node *dir, struct fs_dir **out)
{
	struct cands c = {0};
	struct fs_dir *d = NULL;
	int r;

	if ((r = gather(fs, dir, &c)) < 0)
		goto done;
	if (!(d = fs__dir_new())) {
		r = -ENOMEM;
		goto done;
	}
	for (size_t i = 0; i < c.n;) {
		size_t j = i + 1;
		while (j < c.n && !strcmp(c.v[j].name, c.v[i].name))
			j++;
		struct choice ch;
		struct fs_node *n;
		decide(&c.v[i], j - i, &ch, fs->store_mask);
		if (ch.win) {
			if ((r = materialize(fs, dir, &ch, &n)) < 0)
				goto done;
			if (n && (r = fs__dir_add(d, c.v[i].name, n, ch.has_lower)) < 0)
				goto done;
		}
		i = j;
	}
	*out = d;
	d = NULL;
done:
	/* Nodes already made stay in the inode table (freed with it). */
	fs__dir_free(d);
	cands_release(&c);
	return r;
}

/*
 * Re-reads a loaded directory after its sources changed (a sync swapped the
 * git tree, or .git was rewritten) and updates it in place: a name that
 * still resolves to the same kind of entry keeps its node and inode number
 * (a git file gets its new blob), a name whose kind changed gets a new node,
 * names gone are removed. Every change is reported through inval (kernel
 * cache entries to drop). Mutations are held off by the caller (gate closed,
 * swap_lock held for writing).
 */
/* A lower node whose name a sync removed: unreachable by path from now on.
 * (An upper node keeps its place: the upper layer's version wins.) */
static void detach(struct fs_node *n, struct fs_node *dir, const char *name)
{
	if (n->up == FS_UP_NONE && n->parent == dir && !strcmp(n->name, name))
		n->parent = NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int fs__dir_remerge(struct fs *fs, struct fs_node *dir, int64_t mtime, struct fs_inval *inval)
{
	struct cands c = {0};
	struct fs_dir *d = atomic_load(&dir->dir);
	const char **keep = NULL;
	size_t nkeep = 0;
	int r;
	bool changed = false;

	if (!d)
		return 0; /* not loaded: it will load from the new sources */
	if ((r = gather(fs, dir, &c)) < 0)
		goto done;
	keep = calloc(c.n ? c.n : 1, sizeof(*keep));
	if (!keep) {
		r = -ENOMEM;
		goto done;
	}
	pthread_rwlock_wrlock(&fs->dirlock[dir->ino & 255]);
	for (size_t i = 0; i < c.n;) {
		size_t j = i + 1;
		while (j < c.n && !strcmp(c.v[j].name, c.v[i].name))
			j++;
		struct choice ch;
		decide(&c.v[i], j - i, &ch, fs->store_mask);
		const char *name = c.v[i].name;
		i = j;
		if (!ch.win)
			continue; /* hidden now: removed below */
		keep[nkeep++] = name; /* cands are sorted: keep is too */
		struct fs_dirent *e = fs__dir_lookup(d, name);
		struct fs_node *n = e ? e->node : NULL;
		bool same_kind = n && (n->mode & S_IFMT) == (ch.win->mode & S_IFMT) &&
		                 (n->up != FS_UP_NONE || ch.win->rank == RANK_UPPER ||
		                  (ch.win->rank == RANK_GIT && (n->layer == FS_LAYER_GIT || n->layer == FS_LAYER_NONE)) ||
		                  (ch.win->rank >= 0 && ch.win->rank < FS_MAX_LAYERS && n->layer == ch.win->rank));
		if (same_kind) {
			/* Update in place: the path keeps its inode number. */
			e->lower = ch.has_lower;
			if (n->up != FS_UP_NONE) {
				if (S_ISDIR(n->mode)) {
					n->dir_layers = ch.dir_layers;
					n->dir_git = ch.dir_git;
					if (ch.dir_git)
						git_oid_cpy(&n->oid, &ch.tree_oid);
				}
				continue; /* the upper's version stays */
			}
			bool differs;
			if (S_ISDIR(n->mode))
				differs = false; /* its own entries are remerged if they changed */
			else if (ch.win->rank == RANK_GIT)
				differs = !git_oid_equal(&n->oid, &ch.win->oid) || n->mode != ch.win->mode;
			else
				differs = n->mtime_sec != ch.win->mtime.tv_sec || n->mtime_nsec != (uint32_t)ch.win->mtime.tv_nsec ||
				          atomic_load(&n->size) != ch.win->size || n->mode != ch.win->mode ||
				          !git_oid_equal(&n->oid, &ch.win->oid);
			apply_choice(fs, n, dir, &ch);
			if (differs) {
				if (ch.win->rank == RANK_GIT) {
					n->mtime_sec = n->ctime_sec = mtime;
					n->mtime_nsec = n->ctime_nsec = 0;
				}
				fs__inval_add(inval, n->ino, 0, NULL);
				changed = true;
			}
			continue;
		}
		/* A new name, or another kind of entry: a new node. */
		struct fs_node *nn;
		if ((r = materialize(fs, dir, &ch, &nn)) < 0)
			goto unlock;
		if (!nn)
			continue;
		if (ch.win->rank == RANK_GIT && !S_ISDIR(nn->mode))
			nn->mtime_sec = nn->ctime_sec = mtime;
		if (e) {
			detach(e->node, dir, name);
			fs__dir_remove(d, name);
		}
		if ((r = fs__dir_add(d, name, nn, ch.has_lower)) < 0)
			goto unlock;
		fs__inval_add(inval, 0, dir->ino, name);
		changed = true;
	}
	for (size_t q = 0; q < d->n; q++) {
		const char *nm = d->ent[q].name;
		if (!d->ent[q].node || bsearch(&nm, keep, nkeep, sizeof(*keep), cmp_str))
			continue;
		fs__inval_add(inval, 0, dir->ino, nm);
		detach(d->ent[q].node, dir, nm);
		fs__dir_remove(d, nm);
		changed = true;
	}
	if (changed)
		fs__inval_add(inval, dir->ino, 0, NULL); /* the cached listing */
	r = 0;
unlock:
	pthread_rwlock_unlock(&fs->dirlock[dir->ino & 255]);
done:
	free(keep);
	cands_release(&c);
	return r;
}

void fs__inval_add(struct fs_inval *iv, uint64_t ino, uint64_t parent, const char *name)
{
	if (iv->n == iv->cap) {
		size_t nc = iv->cap ? iv->cap * 2 : 64;
		struct fs_inval_item *nv = realloc(iv->v, nc * sizeof(*nv));
		if (!nv)
			return; /* the kernel keeps a stale entry until its timeout */
		iv->v = nv;
		iv->cap = nc;
	}
	iv->v[iv->n++] = (struct fs_inval_item){.ino = ino, .parent = parent, .name = name ? strdup(name) : NULL};
}

void fs__inval_send(struct fs *fs, struct fs_inval *iv)
{
	for (size_t i = 0; i < iv->n; i++) {
		struct fs_inval_item *it = &iv->v[i];
		if (fs->se) {
			if (it->name)
				(void)fuse_lowlevel_notify_inval_entry(fs->se, it->parent, it->name, strlen(it->name));
			else
				(void)fuse_lowlevel_notify_inval_inode(fs->se, it->ino, 0, 0);
		}
		free(it->name);
	}
	free(iv->v);
	iv->v = NULL;
	iv->n = iv->cap = 0;
}

static pthread_rwlock_t *dirlock(struct fs *fs, struct fs_node *dir)
{
	return &fs->dirlock[dir->ino & 255];
}

static int ensure_loaded(struct fs *fs, struct fs_node *dir)
{
	if (atomic_load_explicit(&dir->dir, memory_order_acquire))
		return 0;
	if (!S_ISDIR(dir->mode))
		return -ENOTDIR;
	if (atomic_load(&dir->flags) & FS_NODE_DOTGIT) {
		int r = fs__dotgit_wait(fs);
		if (r < 0)
			return r;
	}
	pthread_rwlock_wrlock(dirlock(fs, dir));
	struct fs_dir *d = atomic_load_explicit(&dir->dir, memory_order_acquire);
	int r = 0;
	if (!d && (r = load(fs, dir, &d)) == 0)
		atomic_store_explicit(&dir->dir, d, memory_order_release);
	pthread_rwlock_unlock(dirlock(fs, dir));
	return r;
}

int fs__dir_rdlock(struct fs *fs, struct fs_node *dir, struct fs_dir **out)
{
	int r = ensure_loaded(fs, dir);
	if (r < 0)
		return r;
	pthread_rwlock_rdlock(dirlock(fs, dir));
	*out = atomic_load_explicit(&dir->dir, memory_order_acquire);
	return 0;
}

int fs__dir_wrlock(struct fs *fs, struct fs_node *dir, struct fs_dir **out)
{
	int r = ensure_loaded(fs, dir);
	if (r < 0)
		return r;
	pthread_rwlock_wrlock(dirlock(fs, dir));
	*out = atomic_load_explicit(&dir->dir, memory_order_acquire);
	return 0;
}

void fs__dir_unlock(struct fs *fs, struct fs_node *dir)
{
	pthread_rwlock_unlock(dirlock(fs, dir));
}

struct fs_node *fs__dir_child(struct fs *fs, struct fs_node *dir, const char *name, int *err)
{
	struct fs_dir *d;
	*err = fs__dir_rdlock(fs, dir, &d);
	if (*err < 0)
		return NULL;
	struct fs_dirent *e = fs__dir_lookup(d, name);
	struct fs_node *n = e ? e->node : NULL;
	fs__dir_unlock(fs, dir);
	return n;
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
	fs__event(fs, json_pack("{s:s,s:s,s:s,s:s,s:s}", "event", "error", "kind", "object", "object", hex, "path", path,
	                        "error", what));
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
	if (n->up != FS_UP_NONE && (n->parent || n->orphan)) {
		int r = fs__upper_stat(fs, n, st);
		if (r < 0)
			return r;
		st->st_ino = n->ino;
		if (S_ISDIR(st->st_mode))
			st->st_nlink = 1;
		return 0;
	}
	int r = fs__node_size(fs, n, &size);
	if (r < 0)
		return r;
	st->st_ino = n->ino;
	st->st_mode = n->mode;
	st->st_nlink = 1;
	st->st_uid = n->uid;
	st->st_gid = n->gid;
	if (S_ISCHR(n->mode) || S_ISBLK(n->mode)) {
		st->st_rdev = (dev_t)size; /* a lower device keeps its rdev in size */
		size = 0;
	}
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
