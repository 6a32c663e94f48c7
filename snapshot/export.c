/* snapshot: a layer's changes as a git commit.
 *
 * The tree is built as a sorted list of leaves (path, git file mode, blob
 * id): the synced commit's tree flattened, then each layer of the chain that
 * is not an image, bottom first, and the layer itself applied in turn:
 *
 *   | layer entry        | effect on the leaves                                |
 *   |--------------------|-----------------------------------------------------|
 *   | regular file       | replaces path and anything under it; blob = content |
 *   |                    | (mode 100755 when the owner may execute, else 100644)|
 *   | symlink            | replaces path and anything under it (mode 120000)   |
 *   | whiteout           | removes path and anything under it                  |
 *   | opaque directory   | removes path and anything under it                  |
 *   | directory          | removes a leaf at path (a file became a directory)  |
 *   | fifo, device, sock | removes path and anything under it (git cannot hold)|
 * and every entry removes a leaf at one of its ancestors. The leaves become
 * trees with git_treebuilder, bottom up; empty directories vanish (git has
 * none). Blobs already in the repository (the content id is their git id)
 * are not written again.
 */
#include "snapshot_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "banned.h"

#define EXPORT_MEM_MAX (4u << 20)

struct leaf {
	char *path;
	git_filemode_t mode;
	git_oid oid;
};

struct leaves {
	struct leaf *v;
	size_t n, cap;
};

static int leaves_add(struct leaves *l, const char *path, git_filemode_t mode, const git_oid *oid)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		struct leaf *nv = realloc(l->v, cap * sizeof(*nv));
		if (!nv)
			return snap__err(-ENOMEM, "out of memory");
		l->v = nv;
		l->cap = cap;
	}
	if (!(l->v[l->n].path = strdup(path)))
		return snap__err(-ENOMEM, "out of memory");
	l->v[l->n].mode = mode;
	git_oid_cpy(&l->v[l->n].oid, oid);
	l->n++;
	return 0;
}

static void leaves_release(struct leaves *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].path);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int leaf_cmp(const void *a, const void *b)
{
	return strcmp(((const struct leaf *)a)->path, ((const struct leaf *)b)->path);
}

struct flatten {
	struct leaves *out;
	int err;
};

static int flatten_cb(const char *root, const git_tree_entry *te, void *payload)
{
	struct flatten *f = payload;
	if (git_tree_entry_type(te) == GIT_OBJECT_TREE)
		return 0;
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s%s", root, git_tree_entry_name(te));
	if ((f->err = leaves_add(f->out, path, git_tree_entry_filemode(te), git_tree_entry_id(te))) < 0)
		return -1;
	return 0;
}

/* ---- applying a layer ---- */

enum { DROP_EXACT = 1, DROP_CHILDREN = 2 };

struct op {
	char *path;
	int flags;
};

struct apply {
	struct snap_store *s;
	git_repository *repo;
	struct op *ops;
	size_t nops, capops;
	struct leaves add;
};

static int op_add(struct apply *a, const char *path, size_t len, int flags)
{
	if (a->nops == a->capops) {
		size_t cap = a->capops ? a->capops * 2 : 256;
		struct op *nv = realloc(a->ops, cap * sizeof(*nv));
		if (!nv)
			return snap__err(-ENOMEM, "out of memory");
		a->ops = nv;
		a->capops = cap;
	}
	if (!(a->ops[a->nops].path = strndup(path, len)))
		return snap__err(-ENOMEM, "out of memory");
	a->ops[a->nops++].flags = flags;
	return 0;
}

static int op_cmp(const void *x, const void *y)
{
	return strcmp(((const struct op *)x)->path, ((const struct op *)y)->path);
}

/* Makes sure the repository has the blob of a regular file's content. */
static int ensure_blob(struct apply *a, const struct snap_entry *e)
{
	git_odb *odb = NULL;
	char hex[GIT_OID_HEXSZ + 1];
	git_oid_tostr(hex, sizeof(hex), &e->cid);
	if (git_repository_odb(&odb, a->repo) < 0)
		return snap__git_err(-EIO, "export: object database");
	int exists = git_odb_exists(odb, &e->cid);
	git_odb_free(odb);
	if (exists)
		return 0;
	git_oid got;
	int r = 0;
	if (e->size <= EXPORT_MEM_MAX) {
		void *buf = NULL;
		size_t len = 0;
		if ((r = snap__object_read_mem(a->s, &e->cid, &buf, &len)) < 0)
			return r;
		if (git_blob_create_from_buffer(&got, a->repo, buf, len) < 0)
			r = snap__git_err(-EIO, "export: writing blob %s", hex);
		free(buf);
	} else {
		char tmp[PATH_MAX];
		int fd = snap__tmpfile(a->s, "export", tmp, sizeof(tmp));
		if (fd < 0)
			return fd;
		r = snap_object_read_fd(a->s, &e->cid, fd, NULL);
		close(fd);
		if (r == 0 && git_blob_create_from_disk(&got, a->repo, tmp) < 0)
			r = snap__git_err(-EIO, "export: writing blob %s", hex);
		(void)unlink(tmp);
	}
	if (r == 0 && !git_oid_equal(&got, &e->cid))
		r = snap__err(-EIO, "export: blob of %s came out as another id (object %s)", e->path, hex);
	return r;
}

static int apply_entry(void *arg, const struct snap_entry *e)
{
	struct apply *a = arg;
	int r = 0;
	for (const char *s = strchr(e->path, '/'); s && r == 0; s = strchr(s + 1, '/'))
		r = op_add(a, e->path, (size_t)(s - e->path), DROP_EXACT);
	if (r < 0)
		return r;
	size_t len = strlen(e->path);
	switch (e->type) {
	case SNAP_T_DIR:
		return op_add(a, e->path, len, e->opaque ? DROP_EXACT | DROP_CHILDREN : DROP_EXACT);
	case SNAP_T_REG:
		if ((r = ensure_blob(a, e)) < 0)
			return r;
		r = leaves_add(&a->add, e->path, (e->mode & 0100) ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB,
		               &e->cid);
		break;
	case SNAP_T_SYMLINK: {
		git_oid oid;
		if (git_blob_create_from_buffer(&oid, a->repo, e->target, strlen(e->target)) < 0)
			return snap__git_err(-EIO, "export: symlink %s", e->path);
		r = leaves_add(&a->add, e->path, GIT_FILEMODE_LINK, &oid);
		break;
	}
	default:
		break;
	}
	return r < 0 ? r : op_add(a, e->path, len, DROP_EXACT | DROP_CHILDREN);
}

static int ops_flags(const struct apply *a, const char *path)
{
	struct op key = {.path = (char *)path};
	const struct op *o = a->nops ? bsearch(&key, a->ops, a->nops, sizeof(*a->ops), op_cmp) : NULL;
	return o ? o->flags : 0;
}

static bool dropped(const struct apply *a, const char *path)
{
	if (ops_flags(a, path) & DROP_EXACT)
		return true;
	char buf[PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *s = strchr(buf, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		int f = ops_flags(a, buf);
		*s = '/';
		if (f & DROP_CHILDREN)
			return true;
	}
	return false;
}

static int apply_layer(struct snap_store *s, git_repository *repo, struct snap_layer *l, struct leaves *cur)
{
	struct apply a = {.s = s, .repo = repo};
	int r = snap_layer_walk(l, apply_entry, &a);
	struct leaves next = {0};
	if (r < 0)
		goto done;
	if (a.nops) {
		qsort(a.ops, a.nops, sizeof(*a.ops), op_cmp);
		size_t w = 0; /* merge duplicates */
		for (size_t i = 0; i < a.nops; i++) {
			if (w && !strcmp(a.ops[w - 1].path, a.ops[i].path)) {
				a.ops[w - 1].flags |= a.ops[i].flags;
				free(a.ops[i].path);
			} else {
				a.ops[w++] = a.ops[i];
			}
		}
		a.nops = w;
	}
	for (size_t i = 0; i < cur->n && r == 0; i++)
		if (!dropped(&a, cur->v[i].path))
			r = leaves_add(&next, cur->v[i].path, cur->v[i].mode, &cur->v[i].oid);
	for (size_t i = 0; i < a.add.n && r == 0; i++)
		r = leaves_add(&next, a.add.v[i].path, a.add.v[i].mode, &a.add.v[i].oid);
	if (r == 0) {
		if (next.n)
			qsort(next.v, next.n, sizeof(*next.v), leaf_cmp);
		leaves_release(cur);
		*cur = next;
		memset(&next, 0, sizeof(next));
	}
done:
	leaves_release(&next);
	leaves_release(&a.add);
	for (size_t i = 0; i < a.nops; i++)
		free(a.ops[i].path);
	free(a.ops);
	return r;
}

/* ---- leaves to trees ---- */

static int build_tree(git_repository *repo, const struct leaves *lv, size_t lo, size_t hi, size_t plen,
                      git_oid *out)
{
	git_treebuilder *tb = NULL;
	if (git_treebuilder_new(&tb, repo, NULL) < 0)
		return snap__git_err(-EIO, "export: tree builder");
	int r = 0;
	size_t i = lo;
	while (i < hi && r == 0) {
		const char *p = lv->v[i].path + plen;
		const char *slash = strchr(p, '/');
		if (!slash) {
			if (git_treebuilder_insert(NULL, tb, p, &lv->v[i].oid, lv->v[i].mode) < 0)
				r = snap__git_err(-EIO, "export: %s", lv->v[i].path);
			i++;
			continue;
		}
		size_t k = (size_t)(slash - p) + 1; /* "name/" */
		size_t j = i;
		while (j < hi && !strncmp(lv->v[j].path + plen, p, k))
			j++;
		git_oid sub;
		char name[256];
		if (k - 1 >= sizeof(name)) {
			r = snap__err(-ENAMETOOLONG, "export: name too long in %s", lv->v[i].path);
			break;
		}
		memcpy(name, p, k - 1);
		name[k - 1] = '\0';
		if ((r = build_tree(repo, lv, i, j, plen + k, &sub)) < 0)
			break;
		if (git_treebuilder_insert(NULL, tb, name, &sub, GIT_FILEMODE_TREE) < 0)
			r = snap__git_err(-EIO, "export: directory %.*s", (int)(plen + k - 1), lv->v[i].path);
		i = j;
	}
	if (r == 0 && git_treebuilder_write(out, tb) < 0)
		r = snap__git_err(-EIO, "export: writing a tree");
	git_treebuilder_free(tb);
	return r;
}

/* "Name <email>" */
static int parse_person(const char *s, git_signature **out, const char *what)
{
	const char *lt = s ? strchr(s, '<') : NULL;
	const char *gt = lt ? strchr(lt, '>') : NULL;
	if (!lt || !gt || gt[1] != '\0' || lt == s)
		return snap__err(-EINVAL, "%s must be \"Name <email>\", not \"%s\"", what, s ? s : "");
	size_t nl = (size_t)(lt - s);
	while (nl && s[nl - 1] == ' ')
		nl--;
	if (nl == 0)
		return snap__err(-EINVAL, "%s has no name: \"%s\"", what, s);
	char *name = strndup(s, nl), *email = strndup(lt + 1, (size_t)(gt - lt - 1));
	int r = 0;
	if (!name || !email)
		r = snap__err(-ENOMEM, "out of memory");
	else if (git_signature_now(out, name, email) < 0)
		r = snap__git_err(-EINVAL, "%s", what);
	free(name);
	free(email);
	return r;
}

int snap_export(struct snap_layer *l, const char *repo_path, const char *branch, const char *author,
                const char *committer, const char *message, bool force, git_oid *out_commit)
{
	git_repository *repo = NULL;
	git_signature *asig = NULL, *csig = NULL;
	git_commit *base = NULL;
	git_tree *tree = NULL;
	git_reference *ref = NULL;
	struct leaves lv = {0};
	char **ids = NULL;
	size_t nids = 0;
	char refname[512], msgbuf[256];
	int r, valid = 0;
	snap__git_init();
	if (!branch || !*branch)
		return snap__err(-EINVAL, "export: no branch given");
	snprintf(refname, sizeof(refname), "refs/heads/%s", branch);
	if (git_reference_name_is_valid(&valid, refname) < 0 || !valid)
		return snap__err(-EINVAL, "export: '%s' is not a valid branch name", branch);
	if ((r = parse_person(author, &asig, "author")) < 0 ||
	    (r = parse_person(committer ? committer : author, &csig, "committer")) < 0)
		goto done;
	if (git_repository_open(&repo, repo_path) < 0) {
		r = snap__git_err(-ENOENT, "export: cannot open repository %s", repo_path);
		goto done;
	}
	if (!force && git_reference_lookup(&ref, repo, refname) == 0) {
		r = snap__err(-EEXIST, "export: branch %s exists (use --force to replace it)", branch);
		goto done;
	}
	const char *sc = l->meta.synced_commit;
	if (sc[0]) {
		git_oid oid;
		if (git_oid_fromstr(&oid, sc) < 0 || git_commit_lookup(&base, repo, &oid) < 0) {
			r = snap__git_err(-ENOENT, "export: synced commit %s is not in %s", sc, repo_path);
			goto done;
		}
		if (git_commit_tree(&tree, base) < 0) {
			r = snap__git_err(-EIO, "export: tree of %s", sc);
			goto done;
		}
		struct flatten f = {.out = &lv};
		if (git_tree_walk(tree, GIT_TREEWALK_PRE, flatten_cb, &f) < 0) {
			r = f.err < 0 ? f.err : snap__git_err(-EIO, "export: reading the tree of %s", sc);
			goto done;
		}
		qsort(lv.v, lv.n, sizeof(*lv.v), leaf_cmp);
	}
	if ((r = snap_layer_chain(l->store, l->meta.id, &ids, &nids)) < 0)
		goto done;
	for (size_t i = nids; i-- > 0;) {
		struct snap_layer *cl = NULL;
		if (i == 0) {
			r = apply_layer(l->store, repo, l, &lv);
		} else if ((r = snap_layer_open(&cl, l->store, ids[i])) == 0) {
			if (cl->meta.kind != SNAP_KIND_IMAGE)
				r = apply_layer(l->store, repo, cl, &lv);
			snap_layer_free(cl);
		}
		if (r < 0)
			goto done;
	}
	git_oid tree_oid, commit_oid;
	if ((r = build_tree(repo, &lv, 0, lv.n, 0, &tree_oid)) < 0)
		goto done;
	git_tree_free(tree);
	tree = NULL;
	if (git_tree_lookup(&tree, repo, &tree_oid) < 0) {
		r = snap__git_err(-EIO, "export: the new tree");
		goto done;
	}
	if (!message || !*message) {
		snprintf(msgbuf, sizeof(msgbuf), "Snapshot %.12s (%s)\n", l->meta.id, snap_kind_name(l->meta.kind));
		message = msgbuf;
	}
	const git_commit *parents[1] = {base};
	if (git_commit_create(&commit_oid, repo, NULL, asig, csig, NULL, message, tree, base ? 1 : 0, parents) < 0) {
		r = snap__git_err(-EIO, "export: creating the commit");
		goto done;
	}
	git_reference_free(ref);
	ref = NULL;
	if (git_reference_create(&ref, repo, refname, &commit_oid, force ? 1 : 0, "thaw-snapshot export") < 0) {
		r = git_error_last() && git_error_last()->klass == GIT_ERROR_REFERENCE
		        ? snap__git_err(-EEXIST, "export: branch %s", branch)
		        : snap__git_err(-EIO, "export: branch %s", branch);
		goto done;
	}
	if (out_commit)
		git_oid_cpy(out_commit, &commit_oid);
	r = 0;
done:
	snap_ids_free(ids, nids);
	leaves_release(&lv);
	git_reference_free(ref);
	git_tree_free(tree);
	git_commit_free(base);
	git_signature_free(asig);
	git_signature_free(csig);
	git_repository_free(repo);
	return r;
}
