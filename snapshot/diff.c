/* snapshot: what a layer changed against what is below it.
 *
 * "Below" is the stack the layer was frozen on: its parent chain (topmost
 * first) and then the git tree of its synced commit. A path resolves below
 * like thawfs resolves it: the first layer with an entry wins (a whiteout
 * means absent); a layer that has a whiteout, a non-directory or an opaque
 * directory at an ancestor of the path hides everything further down. The
 * layer's own entries are compared with what lies below them even under one
 * of its opaque directories; the names below such a directory that the layer
 * lacks are deleted (as the export's tree shows them).
 *
 *   | change   | when                                                         |
 *   |----------|--------------------------------------------------------------|
 *   | added    | the path is absent below                                     |
 *   | modified | present below with another type, content id, symlink target,|
 *   |          | mode (against git: only the executable bit), or device      |
 *   | deleted  | a whiteout of a path present below; for an opaque directory,|
 *   |          | each name present below that the layer does not have        |
 * Directories are never "modified" against the git tree (git has no modes
 * for them). Changes come out sorted by path.
 */
#include "snapshot_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"

struct below {
	struct snap_layer *top;
	struct snap_layer **layers; /* the chain under top, topmost first */
	size_t n;
	git_repository *repo;
	git_tree *tree;             /* NULL: nothing below the layers */
};

/* What a path resolves to below. */
struct ent {
	bool found, from_git, opaque;
	int type;
	uint32_t mode;
	uint64_t rdev;
	git_oid cid;
	char target[4096];
};

static int copy_ent(void *arg, const struct snap_entry *e)
{
	struct ent *x = arg;
	x->found = true;
	x->from_git = false;
	x->type = e->type;
	x->mode = e->mode;
	x->rdev = e->rdev;
	x->opaque = e->opaque;
	x->cid = e->cid;
	snprintf(x->target, sizeof(x->target), "%s", e->target ? e->target : "");
	return 0;
}

static int get(struct snap_layer *l, const char *path, struct ent *x)
{
	memset(x, 0, offsetof(struct ent, target));
	x->target[0] = '\0';
	int r = snap_layer_get(l, path, copy_ent, x);
	if (r == -ENOENT) {
		x->found = false;
		return 0;
	}
	return r;
}

/* 1 if some proper ancestor of path in l hides what is below l. */
static int ancestor_hides(struct snap_layer *l, const char *path, bool top)
{
	char buf[4097];
	snprintf(buf, sizeof(buf), "%s", path);
	struct ent a;
	for (char *slash = strchr(buf, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		int r = get(l, buf, &a);
		*slash = '/';
		if (r < 0)
			return r;
		if (!a.found)
			continue;
		if (a.opaque || (!top && (a.type == SNAP_T_WHITEOUT || a.type != SNAP_T_DIR)))
			return 1;
	}
	return 0;
}

static int git_lookup(struct below *b, const char *path, struct ent *x)
{
	git_tree_entry *te = NULL;
	int rc = git_tree_entry_bypath(&te, b->tree, path);
	if (rc == GIT_ENOTFOUND)
		return 0;
	if (rc < 0)
		return snap__git_err(-EIO, "diff: %s in the git tree", path);
	x->found = true;
	x->from_git = true;
	git_oid_cpy(&x->cid, git_tree_entry_id(te));
	int r = 0;
	switch (git_tree_entry_filemode(te)) {
	case GIT_FILEMODE_TREE:
	case GIT_FILEMODE_COMMIT:
		x->type = SNAP_T_DIR;
		x->mode = 0755;
		break;
	case GIT_FILEMODE_BLOB_EXECUTABLE:
		x->type = SNAP_T_REG;
		x->mode = 0755;
		break;
	case GIT_FILEMODE_LINK: {
		x->type = SNAP_T_SYMLINK;
		x->mode = 0777;
		git_blob *blob = NULL;
		if (git_blob_lookup(&blob, b->repo, &x->cid) < 0) {
			r = snap__git_err(-EIO, "diff: symlink %s", path);
			break;
		}
		size_t n = (size_t)git_blob_rawsize(blob);
		if (n >= sizeof(x->target))
			n = sizeof(x->target) - 1;
		memcpy(x->target, git_blob_rawcontent(blob), n);
		x->target[n] = '\0';
		git_blob_free(blob);
		break;
	}
	default:
		x->type = SNAP_T_REG;
		x->mode = 0644;
		break;
	}
	git_tree_entry_free(te);
	return r;
}

/* Resolves path below the top layer. */
static int lookup(struct below *b, const char *path, struct ent *x)
{
	memset(x, 0, offsetof(struct ent, target));
	x->target[0] = '\0';
	int r;
	for (size_t i = 0; i < b->n; i++) {
		if ((r = get(b->layers[i], path, x)) < 0)
			return r;
		if (x->found) {
			if (x->type == SNAP_T_WHITEOUT)
				x->found = false;
			return 0;
		}
		if ((r = ancestor_hides(b->layers[i], path, false)) != 0)
			return r < 0 ? r : 0;
	}
	if (b->tree)
		return git_lookup(b, path, x);
	return 0;
}

static bool differs(const struct snap_entry *e, const struct ent *x)
{
	if (e->type != x->type)
		return true;
	switch (e->type) {
	case SNAP_T_REG:
		if (!git_oid_equal(&e->cid, &x->cid))
			return true;
		return x->from_git ? ((e->mode & 0111) != 0) != ((x->mode & 0111) != 0) : e->mode != x->mode;
	case SNAP_T_SYMLINK:
		return strcmp(e->target ? e->target : "", x->target) != 0;
	case SNAP_T_DIR:
		return !x->from_git && e->mode != x->mode;
	case SNAP_T_CHR:
	case SNAP_T_BLK:
		return e->rdev != x->rdev || e->mode != x->mode;
	default:
		return e->mode != x->mode;
	}
}

/* ---- collected changes ---- */

struct change {
	int kind;
	struct snap_entry e; /* path, target, link owned */
};

struct changes {
	struct change *v;
	size_t n, cap;
};

static int add_change(struct changes *c, int kind, const struct snap_entry *e, const char *path)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct change *nv = realloc(c->v, cap * sizeof(*nv));
		if (!nv)
			return snap__err(-ENOMEM, "out of memory");
		c->v = nv;
		c->cap = cap;
	}
	struct change *ch = &c->v[c->n];
	memset(ch, 0, sizeof(*ch));
	ch->kind = kind;
	if (e && kind != SNAP_DELETED) {
		ch->e = *e;
		ch->e.xattrs = NULL;
		ch->e.xattrs_len = 0;
		ch->e.target = e->target ? strdup(e->target) : NULL;
		ch->e.link = e->link ? strdup(e->link) : NULL;
	}
	ch->e.path = strdup(path);
	c->n++;
	if (!ch->e.path || (e && e->target && kind != SNAP_DELETED && !ch->e.target) ||
	    (e && e->link && kind != SNAP_DELETED && !ch->e.link))
		return snap__err(-ENOMEM, "out of memory");
	return 0;
}

static void changes_free(struct changes *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free((char *)c->v[i].e.path);
		free((char *)c->v[i].e.target);
		free((char *)c->v[i].e.link);
	}
	free(c->v);
}

static int change_cmp(const void *a, const void *b)
{
	return strcmp(((const struct change *)a)->e.path, ((const struct change *)b)->e.path);
}

/* ---- names below an opaque directory ---- */

struct names {
	char **v;
	size_t n, cap;
};

static int names_add(struct names *s, const char *name)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 32;
		char **nv = realloc(s->v, cap * sizeof(*nv));
		if (!nv)
			return snap__err(-ENOMEM, "out of memory");
		s->v = nv;
		s->cap = cap;
	}
	if (!(s->v[s->n] = strdup(name)))
		return snap__err(-ENOMEM, "out of memory");
	s->n++;
	return 0;
}

static int names_add_entry(void *arg, const struct snap_entry *e)
{
	const char *slash = strrchr(e->path, '/');
	return names_add(arg, slash ? slash + 1 : e->path);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_free(struct names *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
}

static int opaque_deletions(struct below *b, const char *dir, struct changes *out)
{
	struct names cand = {0}, mine = {0};
	int r = 0;
	for (size_t i = 0; i < b->n && r == 0; i++)
		r = snap_layer_list(b->layers[i], dir, names_add_entry, &cand);
	if (r == 0 && b->tree) {
		git_tree_entry *te = NULL;
		git_tree *sub = NULL;
		if (git_tree_entry_bypath(&te, b->tree, dir) == 0 && git_tree_entry_type(te) == GIT_OBJECT_TREE &&
		    git_tree_lookup(&sub, b->repo, git_tree_entry_id(te)) == 0) {
			for (size_t i = 0; i < git_tree_entrycount(sub) && r == 0; i++)
				r = names_add(&cand, git_tree_entry_name(git_tree_entry_byindex(sub, i)));
		}
		git_tree_free(sub);
		git_tree_entry_free(te);
	}
	if (r == 0)
		r = snap_layer_list(b->top, dir, names_add_entry, &mine);
	if (r == 0 && cand.n) {
		qsort(cand.v, cand.n, sizeof(char *), str_cmp);
		if (mine.n)
			qsort(mine.v, mine.n, sizeof(char *), str_cmp);
		for (size_t i = 0; i < cand.n && r == 0; i++) {
			if (i > 0 && !strcmp(cand.v[i], cand.v[i - 1]))
				continue;
			if (mine.n && bsearch(&cand.v[i], mine.v, mine.n, sizeof(char *), str_cmp))
				continue;
			char path[4097];
			snprintf(path, sizeof(path), "%s/%s", dir, cand.v[i]);
			struct ent x;
			if ((r = lookup(b, path, &x)) == 0 && x.found)
				r = add_change(out, SNAP_DELETED, NULL, path);
		}
	}
	names_free(&cand);
	names_free(&mine);
	return r;
}

/* ---- the walk ---- */

struct walk {
	struct below *b;
	struct changes c;
};

static int diff_entry(void *arg, const struct snap_entry *e)
{
	struct walk *w = arg;
	struct ent x;
	int r = lookup(w->b, e->path, &x);
	if (r < 0)
		return r;
	if (e->type == SNAP_T_WHITEOUT)
		return x.found ? add_change(&w->c, SNAP_DELETED, NULL, e->path) : 0;
	if (!x.found)
		r = add_change(&w->c, SNAP_ADDED, e, e->path);
	else if (differs(e, &x))
		r = add_change(&w->c, SNAP_MODIFIED, e, e->path);
	if (r == 0 && e->type == SNAP_T_DIR && x.found && x.type == SNAP_T_DIR) {
		/* Under an opaque directory of this layer, what the layer lacks is gone. */
		int hidden = e->opaque ? 1 : ancestor_hides(w->b->top, e->path, true);
		if (hidden < 0)
			return hidden;
		if (hidden)
			r = opaque_deletions(w->b, e->path, &w->c);
	}
	return r;
}

static void below_release(struct below *b)
{
	for (size_t i = 0; i < b->n; i++)
		snap_layer_free(b->layers[i]);
	free(b->layers);
	git_tree_free(b->tree);
	git_repository_free(b->repo);
}

static int below_open(struct below *b, struct snap_layer *l, const char *repo)
{
	char **ids = NULL;
	size_t n = 0;
	memset(b, 0, sizeof(*b));
	b->top = l;
	snap__git_init();
	int r = snap_layer_chain(l->store, l->meta.id, &ids, &n);
	if (r < 0)
		return r;
	if (n > 1 && !(b->layers = calloc(n - 1, sizeof(*b->layers)))) {
		r = snap__err(-ENOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 1; i < n; i++) {
		if ((r = snap_layer_open(&b->layers[b->n], l->store, ids[i])) < 0)
			goto done;
		b->n++;
	}
	/* The git tree under the whole stack: the layer's synced commit (what a
	 * restore mounts). */
	const char *commit = l->meta.synced_commit;
	if (repo && commit[0]) {
		git_oid oid;
		git_commit *c = NULL;
		if (git_repository_open(&b->repo, repo) < 0) {
			r = snap__git_err(-ENOENT, "cannot open repository %s", repo);
			goto done;
		}
		if (git_oid_fromstr(&oid, commit) < 0 || git_commit_lookup(&c, b->repo, &oid) < 0) {
			r = snap__git_err(-ENOENT, "commit %s is not in %s", commit, repo);
			goto done;
		}
		r = git_commit_tree(&b->tree, c) < 0 ? snap__git_err(-EIO, "tree of %s", commit) : 0;
		git_commit_free(c);
	}
done:
	snap_ids_free(ids, n);
	if (r < 0)
		below_release(b);
	return r;
}

int snap_diff(struct snap_layer *l, const char *repo, snap_change_fn fn, void *arg)
{
	struct below b;
	int r = below_open(&b, l, repo);
	if (r < 0)
		return r;
	struct walk w = {.b = &b};
	r = snap_layer_walk(l, diff_entry, &w);
	if (r == 0) {
		if (w.c.n)
			qsort(w.c.v, w.c.n, sizeof(*w.c.v), change_cmp);
		for (size_t i = 0; i < w.c.n && r == 0; i++)
			r = fn(arg, w.c.v[i].kind, &w.c.v[i].e);
	}
	changes_free(&w.c);
	below_release(&b);
	return r;
}
