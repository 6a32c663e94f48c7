/* The in-memory tree of one commit: directories with their entries, kept
 * between commits so that only changed directories get new tree objects.
 * Loading it from a git tree and writing it back with tree builders. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* strdup, realpath */
#endif
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "genrepo.h"
#include "banned.h"

static struct node *node_new(const char *name, enum ntype type, uint32_t mode)
{
	struct node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->name = strdup(name);
	if (!n->name) {
		free(n);
		return NULL;
	}
	n->type = (uint8_t)type;
	n->mode = mode;
	n->fidx = SIZE_MAX;
	n->dirty = type == NT_DIR;
	return n;
}

static void node_free(struct node *n)
{
	if (!n)
		return;
	for (uint32_t i = 0; i < n->nkids; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n->data);
	free(n->name);
	free(n);
}

int model_init(struct model *m)
{
	memset(m, 0, sizeof(*m));
	m->root = node_new("", NT_DIR, GIT_FILEMODE_TREE);
	return m->root ? 0 : -ENOMEM;
}

void model_free(struct model *m)
{
	node_free(m->root);
	free(m->files);
	free(m->pending);
	memset(m, 0, sizeof(*m));
}

struct node *node_child(const struct node *dir, const char *name)
{
	for (uint32_t i = 0; i < dir->nkids; i++)
		if (strcmp(dir->kids[i]->name, name) == 0)
			return dir->kids[i];
	return NULL;
}

struct node *model_lookup(const struct model *m, const char *path)
{
	struct node *n = m->root;
	char part[1024];

	while (n && *path) {
		const char *slash = strchr(path, '/');
		size_t len = slash ? (size_t)(slash - path) : strlen(path);

		if (len >= sizeof(part) || n->type != NT_DIR)
			return NULL;
		memcpy(part, path, len);
		part[len] = '\0';
		n = node_child(n, part);
		path += len + (slash ? 1 : 0);
	}
	return n;
}

void model_touch(struct node *n)
{
	for (struct node *d = n->parent; d; d = d->parent)
		d->dirty = true;
}

static int files_add(struct model *m, struct node *n)
{
	if (m->nfiles == m->fcap) {
		size_t cap = m->fcap ? m->fcap * 2 : 1024;
		struct node **p = realloc(m->files, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		m->files = p;
		m->fcap = cap;
	}
	n->fidx = m->nfiles;
	m->files[m->nfiles++] = n;
	return 0;
}

static void files_del(struct model *m, struct node *n)
{
	size_t i = n->fidx;

	if (i == SIZE_MAX)
		return;
	m->files[i] = m->files[--m->nfiles];
	m->files[i]->fidx = i;
	n->fidx = SIZE_MAX;
}

int model_set_pending(struct model *m, struct node *n)
{
	if (n->pending)
		return 0;
	if (m->npending == m->pcap) {
		size_t cap = m->pcap ? m->pcap * 2 : 1024;
		struct node **p = realloc(m->pending, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		m->pending = p;
		m->pcap = cap;
	}
	m->pending[m->npending++] = n;
	n->pending = true;
	model_touch(n);
	return 0;
}

static int kids_add(struct node *dir, struct node *n)
{
	if (dir->nkids == dir->kcap) {
		uint32_t cap = dir->kcap ? dir->kcap * 2 : 8;
		struct node **p = realloc(dir->kids, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		dir->kids = p;
		dir->kcap = cap;
	}
	dir->kids[dir->nkids++] = n;
	n->parent = dir;
	return 0;
}

static void kids_del(struct node *n)
{
	struct node *dir = n->parent;

	for (uint32_t i = 0; i < dir->nkids; i++) {
		if (dir->kids[i] == n) {
			dir->kids[i] = dir->kids[--dir->nkids];
			break;
		}
	}
	n->parent = NULL;
}

static int add_node(struct model *m, struct node *dir, const char *name, enum ntype type,
		    uint32_t mode, bool pending, struct node **out)
{
	struct node *n = NULL;
	int rc = 0;

	if (node_child(dir, name)) {
		rc = -EEXIST;
		goto done;
	}
	n = node_new(name, type, mode);
	if (!n) {
		rc = -ENOMEM;
		goto done;
	}
	if ((rc = kids_add(dir, n)) < 0)
		goto done;
	model_touch(n);
	if (type == NT_FILE && (rc = files_add(m, n)) < 0) {
		kids_del(n);
		goto done;
	}
	if (pending && (type == NT_FILE || type == NT_LINK) &&
	    (rc = model_set_pending(m, n)) < 0) {
		files_del(m, n);
		kids_del(n);
		goto done;
	}
	n->stamp = m->stamp;
	if (out)
		*out = n;
	n = NULL;
done:
	node_free(n);
	return rc;
}

int model_add(struct model *m, struct node *dir, const char *name, enum ntype type,
	      uint32_t mode, struct node **out)
{
	return add_node(m, dir, name, type, mode, true, out);
}

int model_mkdirs(struct model *m, const char *path, struct node **out)
{
	struct node *d = m->root;
	char part[1024];
	int rc = 0;

	while (*path) {
		const char *slash = strchr(path, '/');
		size_t len = slash ? (size_t)(slash - path) : strlen(path);
		struct node *k;

		if (len == 0 || len >= sizeof(part)) {
			rc = -EINVAL;
			goto done;
		}
		memcpy(part, path, len);
		part[len] = '\0';
		k = node_child(d, part);
		if (!k && (rc = model_add(m, d, part, NT_DIR, GIT_FILEMODE_TREE, &k)) < 0)
			goto done;
		if (k->type != NT_DIR) {
			rc = -ENOTDIR;
			goto done;
		}
		d = k;
		path += len + (slash ? 1 : 0);
	}
	*out = d;
done:
	return rc;
}

static void pending_del(struct model *m, struct node *n)
{
	if (!n->pending)
		return;
	for (size_t i = m->npending; i-- > 0;) {
		if (m->pending[i] == n) {
			memmove(&m->pending[i], &m->pending[i + 1],
				(m->npending - i - 1) * sizeof(*m->pending));
			m->npending--;
			break;
		}
	}
	n->pending = false;
}

static void forget(struct model *m, struct node *n)
{
	for (uint32_t i = 0; i < n->nkids; i++)
		forget(m, n->kids[i]);
	files_del(m, n);
	pending_del(m, n);
}

/* Removes dir and its empty ancestors while they are empty. */
static void prune(struct model *m, struct node *dir)
{
	while (dir && dir != m->root && dir->nkids == 0) {
		struct node *up = dir->parent;

		model_touch(dir);
		kids_del(dir);
		node_free(dir);
		dir = up;
	}
}

void model_remove(struct model *m, struct node *n)
{
	struct node *dir = n->parent;

	if (!dir)
		return;
	forget(m, n);
	model_touch(n);
	kids_del(n);
	node_free(n);
	prune(m, dir);
}

int model_move(struct model *m, struct node *n, struct node *dir, const char *name)
{
	struct node *old = n->parent;
	char *copy = NULL;
	int rc = 0;

	if (node_child(dir, name)) {
		rc = -EEXIST;
		goto done;
	}
	copy = strdup(name);
	if (!copy) {
		rc = -ENOMEM;
		goto done;
	}
	/* Make room first so that failing leaves n where it was. */
	if (dir->nkids == dir->kcap) {
		uint32_t cap = dir->kcap ? dir->kcap * 2 : 8;
		struct node **p = realloc(dir->kids, cap * sizeof(*p));

		if (!p) {
			rc = -ENOMEM;
			goto done;
		}
		dir->kids = p;
		dir->kcap = cap;
	}
	model_touch(n);
	kids_del(n);
	free(n->name);
	n->name = copy;
	copy = NULL;
	dir->kids[dir->nkids++] = n;
	n->parent = dir;
	n->stamp = m->stamp;
	model_touch(n);
	prune(m, old);
done:
	free(copy);
	return rc;
}

static void path_rec(const struct node *n, struct buf *out)
{
	if (!n->parent)
		return;
	path_rec(n->parent, out);
	if (n->parent->parent)
		buf_addc(out, '/');
	buf_adds(out, n->name);
}

int node_path(const struct node *n, struct buf *out)
{
	buf_reset(out);
	buf_add(out, "", 0);
	path_rec(n, out);
	return buf_error(out);
}

const char *node_top(const struct node *n)
{
	if (!n->parent)
		return "";
	while (n->parent->parent)
		n = n->parent;
	return n->name;
}

/* ---- git trees ------------------------------------------------------- */

static int load_dir(struct model *m, git_repository *repo, git_odb *odb, struct node *dir,
		    const git_tree *tree, struct buf *path, struct gerr *e)
{
	size_t count = git_tree_entrycount(tree), plen = path->len;
	int rc = 0;

	for (size_t i = 0; i < count; i++) {
		const git_tree_entry *te = git_tree_entry_byindex(tree, i);
		const char *name = git_tree_entry_name(te);
		git_filemode_t mode = git_tree_entry_filemode(te);
		enum ntype type;
		struct node *n = NULL;

		switch (mode) {
		case GIT_FILEMODE_TREE:
			type = NT_DIR;
			break;
		case GIT_FILEMODE_BLOB:
		case GIT_FILEMODE_BLOB_EXECUTABLE:
			type = NT_FILE;
			break;
		case GIT_FILEMODE_LINK:
			type = NT_LINK;
			break;
		case GIT_FILEMODE_COMMIT:
			type = NT_GITLINK;
			break;
		default:
			rc = gerr_set(e, -EINVAL, "%s/%s: unsupported file mode %o", path->p, name,
				      (unsigned)mode);
			goto done;
		}
		/* Loaded entries are as they are in git: nothing to write. */
		if ((rc = add_node(m, dir, name, type, (uint32_t)mode, false, &n)) < 0) {
			rc = gerr_sys(e, -rc, "loading %s/%s", path->p, name);
			goto done;
		}
		git_oid_cpy(&n->oid, git_tree_entry_id(te));
		n->have_oid = true;
		n->stamp = 0;
		if (plen)
			buf_addc(path, '/');
		buf_adds(path, name);
		if ((rc = buf_error(path)) < 0) {
			rc = gerr_sys(e, ENOMEM, "loading tree");
			goto done;
		}
		n->flags = (uint8_t)layout_path_flags(path->p);
		if (type == NT_FILE) {
			size_t len;
			git_object_t otype;

			if ((rc = git_odb_read_header(&len, &otype, odb, &n->oid)) < 0) {
				rc = gerr_git(e, rc, "reading %s", path->p);
				goto done;
			}
			n->size = len;
		} else if (type == NT_DIR) {
			git_tree *sub = NULL;

			if ((rc = git_tree_lookup(&sub, repo, &n->oid)) < 0) {
				rc = gerr_git(e, rc, "reading tree %s", path->p);
				goto done;
			}
			rc = load_dir(m, repo, odb, n, sub, path, e);
			git_tree_free(sub);
			if (rc < 0)
				goto done;
			n->dirty = false;
		}
		path->len = plen;
		path->p[plen] = '\0';
	}
done:
	return rc;
}

int model_load(struct model *m, git_repository *repo, const git_tree *tree, struct gerr *e)
{
	struct buf path = {0};
	git_odb *odb = NULL;
	int rc;

	if ((rc = git_repository_odb(&odb, repo)) < 0) {
		rc = gerr_git(e, rc, "opening the object database");
		goto done;
	}
	buf_add(&path, "", 0);
	if ((rc = buf_error(&path)) < 0) {
		rc = gerr_sys(e, ENOMEM, "loading tree");
		goto done;
	}
	if ((rc = load_dir(m, repo, odb, m->root, tree, &path, e)) < 0)
		goto done;
	git_oid_cpy(&m->root->oid, git_tree_id(tree));
	m->root->have_oid = true;
	m->root->dirty = false;
done:
	git_odb_free(odb);
	buf_free(&path);
	return rc;
}

static int write_dir(git_repository *repo, struct node *dir, struct gerr *e)
{
	git_treebuilder *tb = NULL;
	int rc = 0;

	if (!dir->dirty)
		goto done;
	if ((rc = git_treebuilder_new(&tb, repo, NULL)) < 0) {
		rc = gerr_git(e, rc, "creating a tree builder");
		goto done;
	}
	for (uint32_t i = 0; i < dir->nkids; i++) {
		struct node *k = dir->kids[i];

		if (k->type == NT_DIR && (rc = write_dir(repo, k, e)) < 0)
			goto done;
		if (!k->have_oid) {
			rc = gerr_set(e, -EINVAL, "internal error: %s has no object", k->name);
			goto done;
		}
		if ((rc = git_treebuilder_insert(NULL, tb, k->name, &k->oid,
						 (git_filemode_t)k->mode)) < 0) {
			rc = gerr_git(e, rc, "adding %s to a tree", k->name);
			goto done;
		}
	}
	if ((rc = git_treebuilder_write(&dir->oid, tb)) < 0) {
		rc = gerr_git(e, rc, "writing a tree");
		goto done;
	}
	dir->have_oid = true;
	dir->dirty = false;
done:
	git_treebuilder_free(tb);
	return rc;
}

int model_write_trees(struct model *m, git_repository *repo, git_oid *out, struct gerr *e)
{
	int rc;

	if ((rc = write_dir(repo, m->root, e)) < 0)
		return rc;
	git_oid_cpy(out, &m->root->oid);
	return 0;
}

static void stats_rec(const struct node *n, struct stats *st)
{
	for (uint32_t i = 0; i < n->nkids; i++) {
		const struct node *k = n->kids[i];

		switch (k->type) {
		case NT_DIR:
			st->dirs++;
			stats_rec(k, st);
			break;
		case NT_FILE:
			st->files++;
			st->bytes += k->size;
			break;
		case NT_LINK:
			st->symlinks++;
			break;
		default:
			st->dirs++; /* a submodule is an empty directory in a checkout */
			break;
		}
	}
}

void model_stats(const struct model *m, struct stats *st)
{
	memset(st, 0, sizeof(*st));
	stats_rec(m->root, st);
}
