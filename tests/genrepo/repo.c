/* Repositories: create one (--out) or open one (--advance), write blobs,
 * trees and commits through the object database, tag the commits, pack the
 * new objects with a pack builder and check out a working tree.
 *
 * Unless --loose, objects are written to an in-memory backend (mempack)
 * that takes precedence over the loose backend, and the pack builder writes
 * them from there into one pack with its index: the repository never has
 * loose objects, as after a clone, and nothing is compressed twice. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* strdup, realpath */
#endif
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <git2/sys/commit.h>
#include <git2/sys/mempack.h>
#include <git2/sys/odb_backend.h>

#include "genrepo.h"
#include "banned.h"

#define HOUR 3600

struct gen {
	git_repository *repo;
	git_odb *odb;
	git_odb_backend *mempack; /* owned by odb; NULL with --loose */
	struct model m;
	struct rng r;
	git_oid *commits; /* main's history, oldest first */
	size_t ncommits, ccap;
	struct gerr *e;
};

void gen_result_free(struct gen_result *res)
{
	free(res->path);
	free(res->commits);
	memset(res, 0, sizeof(*res));
}

static void gen_free(struct gen *g)
{
	model_free(&g->m);
	git_odb_free(g->odb);
	git_repository_free(g->repo);
	free(g->commits);
}

static int push_commit(struct gen *g, const git_oid *id)
{
	if (g->ncommits == g->ccap) {
		size_t cap = g->ccap ? g->ccap * 2 : 16;
		git_oid *p = realloc(g->commits, cap * sizeof(*p));

		if (!p)
			return gerr_sys(g->e, ENOMEM, "recording commits");
		g->commits = p;
		g->ccap = cap;
	}
	git_oid_cpy(&g->commits[g->ncommits++], id);
	return 0;
}

/* Writes the blobs of every pending file and symlink. */
static int write_blobs(struct gen *g)
{
	struct model *m = &g->m;
	struct buf b = {0}, path = {0};
	git_odb_object *obj = NULL;
	int rc = 0;

	for (size_t i = 0; i < m->npending; i++) {
		struct node *n = m->pending[i];
		const char *data;
		size_t len;

		buf_reset(&b);
		switch (n->kind) {
		case CK_DATA:
			data = n->data;
			len = n->dlen;
			break;
		case CK_MODIFY: {
			bool deep = n->flags & NF_DEEP;

			if ((rc = git_odb_read(&obj, g->odb, &n->oid)) < 0) {
				(void)node_path(n, &path);
				rc = gerr_git(g->e, rc, "reading %s", path.p ? path.p : n->name);
				goto done;
			}
			rc = content_modify(&b, git_odb_object_data(obj), git_odb_object_size(obj),
					    n->name, n->seed, deep ? 4096 : 0, deep ? 12288 : 0);
			git_odb_object_free(obj);
			obj = NULL;
			if (rc < 0) {
				rc = gerr_sys(g->e, -rc, "editing %s", n->name);
				goto done;
			}
			data = b.p;
			len = b.len;
			break;
		}
		default:
			if ((rc = content_generate(&b, (enum ckind)n->kind, n->name,
						   n->mode == GIT_FILEMODE_BLOB_EXECUTABLE, n->size,
						   n->seed)) < 0) {
				rc = gerr_sys(g->e, -rc, "generating %s", n->name);
				goto done;
			}
			data = b.p;
			len = b.len;
			break;
		}
		if ((rc = git_odb_write(&n->oid, g->odb, data ? data : "", len,
					GIT_OBJECT_BLOB)) < 0) {
			rc = gerr_git(g->e, rc, "writing %s", n->name);
			goto done;
		}
		if (n->type == NT_FILE)
			n->size = len;
		n->have_oid = true;
		n->pending = false;
		n->kind = CK_NONE;
		free(n->data);
		n->data = NULL;
		n->dlen = 0;
		/* Big buffers are not kept for the next, mostly small, file. */
		if (b.cap > 32u << 20)
			buf_free(&b);
	}
	m->npending = 0;
done:
	buf_free(&b);
	buf_free(&path);
	return rc;
}

static int commit_tree(struct gen *g, const git_oid *parent, git_time_t when, const char *msg)
{
	git_signature *sig = NULL;
	const git_oid *parents[1] = {parent};
	git_oid tree, id;
	int rc;

	if ((rc = write_blobs(g)) < 0 || (rc = model_write_trees(&g->m, g->repo, &tree, g->e)) < 0)
		goto done;
	if ((rc = git_signature_new(&sig, GEN_NAME, GEN_EMAIL, when, 0)) < 0) {
		rc = gerr_git(g->e, rc, "creating a signature");
		goto done;
	}
	if ((rc = git_commit_create_from_ids(&id, g->repo, NULL, sig, sig, NULL, msg, &tree,
					     parent ? 1 : 0, parents)) < 0) {
		rc = gerr_git(g->e, rc, "creating a commit");
		goto done;
	}
	rc = push_commit(g, &id);
done:
	git_signature_free(sig);
	return rc;
}

/* Adds commits[from..] as tags gen-<from+1>... */
static int tag_commits(struct gen *g, size_t from)
{
	git_reference *ref = NULL;
	char name[64];
	int rc = 0;

	for (size_t i = from; i < g->ncommits; i++) {
		snprintf(name, sizeof(name), "refs/tags/gen-%zu", i + 1);
		if ((rc = git_reference_create(&ref, g->repo, name, &g->commits[i], 0, NULL)) < 0) {
			rc = gerr_git(g->e, rc, "creating tag gen-%zu", i + 1);
			goto done;
		}
		git_reference_free(ref);
		ref = NULL;
	}
done:
	return rc;
}

static int open_odb(struct gen *g, bool loose)
{
	int rc;

	if ((rc = git_repository_odb(&g->odb, g->repo)) < 0)
		return gerr_git(g->e, rc, "opening the object database");
	if (loose)
		return 0;
	if ((rc = git_mempack_new(&g->mempack)) < 0)
		return gerr_git(g->e, rc, "creating an in-memory object store");
	/* Above the loose (1) and pack (2) backends: it takes every write. */
	if ((rc = git_odb_add_backend(g->odb, g->mempack, 1000)) < 0) {
		g->mempack->free(g->mempack);
		g->mempack = NULL;
		return gerr_git(g->e, rc, "adding an in-memory object store");
	}
	return 0;
}

/* Packs the objects reachable from head but not from hide (pack.c). */
static int pack_objects(struct gen *g, const git_oid *head, const git_oid *hide,
			void (*on_write)(void *), void *arg)
{
	git_buf objects = {0};
	struct buf packdir = {0};
	int rc;

	if (!g->mempack) {
		if (on_write)
			on_write(arg);
		return 0;
	}
	if ((rc = git_repository_item_path(&objects, g->repo, GIT_REPOSITORY_ITEM_OBJECTS)) < 0) {
		rc = gerr_git(g->e, rc, "finding the object directory");
		goto done;
	}
	buf_addf(&packdir, "%s%spack", objects.ptr,
		 objects.size && objects.ptr[objects.size - 1] == '/' ? "" : "/");
	if ((rc = buf_error(&packdir)) < 0) {
		rc = gerr_sys(g->e, -rc, "packing");
		goto done;
	}
	rc = pack_write(g->odb, packdir.p, head, hide, on_write, arg, g->e);
done:
	git_buf_dispose(&objects);
	buf_free(&packdir);
	return rc;
}

/* A checkout of HEAD on its own thread while the main thread writes the
 * pack (compressing on one CPU): both only read the object database, which
 * is thread-safe, and the checkout has the repository handle to itself. */
struct checkout_job {
	git_repository *repo;
	pthread_t thread;
	bool started;
	int rc;
	char msg[512];
};

static void *checkout_main(void *arg)
{
	struct checkout_job *job = arg;
	git_checkout_options co;

	if ((job->rc = git_checkout_options_init(&co, GIT_CHECKOUT_OPTIONS_VERSION)) == 0) {
		co.checkout_strategy = GIT_CHECKOUT_FORCE;
		job->rc = git_checkout_head(job->repo, &co);
	}
	if (job->rc < 0) {
		const git_error *ge = git_error_last();

		snprintf(job->msg, sizeof(job->msg), "checking out main: %s",
			 ge && ge->message ? ge->message : "unknown error");
	}
	return NULL;
}

static void checkout_start(void *arg)
{
	struct checkout_job *job = arg;
	int rc = pthread_create(&job->thread, NULL, checkout_main, job);

	if (rc == 0) {
		job->started = true;
	} else {
		job->rc = -rc;
		snprintf(job->msg, sizeof(job->msg), "starting the checkout: %s", strerror(rc));
	}
}

/* Waits for the checkout, if it runs; its result. */
static int checkout_finish(struct checkout_job *job, struct gerr *e)
{
	if (job->started) {
		pthread_join(job->thread, NULL);
		job->started = false;
	}
	return job->rc < 0 ? gerr_set(e, job->rc, "%s", job->msg) : 0;
}

static int check_empty_dir(const char *dir, struct gerr *e)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int rc = 0;

	if (!d) {
		if (errno != ENOENT)
			rc = gerr_sys(e, errno, "%s", dir);
		goto done;
	}
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			rc = gerr_set(e, -EEXIST, "%s exists and is not empty", dir);
			break;
		}
	}
	closedir(d);
done:
	return rc;
}

static int fill_result(struct gen *g, const char *dir, struct gen_result *res)
{
	int rc = 0;

	memset(res, 0, sizeof(*res));
	res->path = realpath(dir, NULL);
	if (!res->path) {
		rc = gerr_sys(g->e, errno, "%s", dir);
		goto done;
	}
	model_stats(&g->m, &res->st);
	res->commits = g->commits;
	res->ncommits = g->ncommits;
	g->commits = NULL;
	g->ncommits = g->ccap = 0;
done:
	return rc;
}

static int set_ident(struct gen *g)
{
	int rc = git_repository_set_ident(g->repo, GEN_NAME, GEN_EMAIL);

	return rc < 0 ? gerr_git(g->e, rc, "setting the identity") : 0;
}

int gen_create(const struct gen_opts *o, struct gen_result *res, struct gerr *e)
{
	git_repository_init_options init;
	struct checkout_job job = {0};
	struct stats st;
	struct layout_opts lo = {.files = o->files, .big = o->big};
	struct gen g = {.e = e};
	struct buf msg = {0};
	git_reference *ref = NULL;
	int rc;

	rng_seed(&g.r, o->seed);
	if ((rc = git_repository_init_options_init(&init, GIT_REPOSITORY_INIT_OPTIONS_VERSION)) < 0) {
		rc = gerr_git(e, rc, "initializing options");
		goto done;
	}
	if ((rc = check_empty_dir(o->dir, e)) < 0)
		goto done;
	init.flags = GIT_REPOSITORY_INIT_MKPATH | (o->bare ? GIT_REPOSITORY_INIT_BARE : 0);
	init.initial_head = "main";
	if ((rc = git_repository_init_ext(&g.repo, o->dir, &init)) < 0) {
		rc = gerr_git(e, rc, "creating %s", o->dir);
		goto done;
	}
	if ((rc = set_ident(&g)) < 0 || (rc = open_odb(&g, o->loose)) < 0)
		goto done;
	if ((rc = model_init(&g.m)) < 0) {
		rc = gerr_sys(e, -rc, "creating the tree");
		goto done;
	}
	if ((rc = layout_initial(&g.m, &g.r, &lo, e)) < 0)
		goto done;
	model_stats(&g.m, &st);
	buf_addf(&msg, "gen-1: import %llu files and %llu symlinks\n",
		 (unsigned long long)st.files, (unsigned long long)st.symlinks);
	if ((rc = buf_error(&msg)) < 0) {
		rc = gerr_sys(e, -rc, "commit message");
		goto done;
	}
	if ((rc = commit_tree(&g, NULL, GEN_EPOCH, msg.p)) < 0)
		goto done;
	for (uint64_t i = 2; i <= o->commits; i++) {
		struct change_opts ch = {
			.modify = g.m.nfiles / 100 > 5 ? g.m.nfiles / 100 : 5,
			.add = rng_range(&g.r, 2, 5),
			.remove = rng_range(&g.r, 1, 3),
			.deep = i == 2 || rng_chance(&g.r, 500),
		};

		buf_reset(&msg);
		buf_addf(&msg, "gen-%llu: ", (unsigned long long)i);
		if ((rc = layout_change(&g.m, &g.r, &ch, &msg, e)) < 0 ||
		    (rc = commit_tree(&g, &g.commits[g.ncommits - 1],
				      GEN_EPOCH + (git_time_t)(i - 1) * HOUR, msg.p)) < 0)
			goto done;
	}
	if ((rc = git_reference_create(&ref, g.repo, GEN_BRANCH, &g.commits[g.ncommits - 1], 0,
				       "thaw-genrepo: create")) < 0) {
		rc = gerr_git(e, rc, "creating %s", GEN_BRANCH);
		goto done;
	}
	job.repo = g.repo;
	if ((rc = pack_objects(&g, &g.commits[g.ncommits - 1], NULL,
			       o->bare ? NULL : checkout_start, &job)) < 0 ||
	    (rc = checkout_finish(&job, e)) < 0 || (rc = tag_commits(&g, 0)) < 0)
		goto done;
	rc = fill_result(&g, o->dir, res);
done:
	if (job.started)
		pthread_join(job.thread, NULL);
	git_reference_free(ref);
	buf_free(&msg);
	gen_free(&g);
	return rc;
}

/* main's first-parent history, oldest first, into g->commits. */
static int load_history(struct gen *g, const git_oid *head)
{
	git_revwalk *walk = NULL;
	git_oid id;
	int rc;

	if ((rc = git_revwalk_new(&walk, g->repo)) < 0 ||
	    (rc = git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE)) < 0 ||
	    (rc = git_revwalk_simplify_first_parent(walk)) < 0 ||
	    (rc = git_revwalk_push(walk, head)) < 0) {
		rc = gerr_git(g->e, rc, "walking main");
		goto done;
	}
	while ((rc = git_revwalk_next(&id, walk)) == 0)
		if ((rc = push_commit(g, &id)) < 0)
			goto done;
	if (rc != GIT_ITEROVER) {
		rc = gerr_git(g->e, rc, "walking main");
		goto done;
	}
	rc = 0;
done:
	git_revwalk_free(walk);
	return rc;
}

/* Whether HEAD is the symbolic ref to main (then the work tree follows). */
static bool head_is_main(git_repository *repo)
{
	git_reference *head = NULL;
	bool yes = false;

	if (git_reference_lookup(&head, repo, "HEAD") == 0)
		yes = git_reference_type(head) == GIT_REFERENCE_SYMBOLIC &&
		      strcmp(git_reference_symbolic_target(head), GEN_BRANCH) == 0;
	git_reference_free(head);
	git_error_clear();
	return yes;
}

int gen_advance(const struct gen_opts *o, struct gen_result *res, struct gerr *e)
{
	git_checkout_options co;
	struct gen g = {.e = e};
	struct buf msg = {0};
	git_commit *head = NULL;
	git_tree *tree = NULL, *new_tree = NULL;
	git_commit *new_head = NULL;
	git_reference *ref = NULL;
	git_oid old;
	git_time_t when;
	size_t before;
	uint64_t mix;
	int rc;

	if ((rc = git_checkout_options_init(&co, GIT_CHECKOUT_OPTIONS_VERSION)) < 0) {
		rc = gerr_git(e, rc, "initializing options");
		goto done;
	}
	if ((rc = git_repository_open_ext(&g.repo, o->dir, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL)) < 0) {
		rc = gerr_git(e, rc, "opening %s", o->dir);
		goto done;
	}
	if ((rc = set_ident(&g)) < 0)
		goto done;
	if ((rc = git_reference_name_to_id(&old, g.repo, GEN_BRANCH)) < 0) {
		rc = gerr_git(e, rc, "%s: no branch main", o->dir);
		goto done;
	}
	if ((rc = git_commit_lookup(&head, g.repo, &old)) < 0 ||
	    (rc = git_commit_tree(&tree, head)) < 0) {
		rc = gerr_git(e, rc, "reading main");
		goto done;
	}
	when = git_commit_time(head);
	if ((rc = model_init(&g.m)) < 0) {
		rc = gerr_sys(e, -rc, "creating the tree");
		goto done;
	}
	if ((rc = model_load(&g.m, g.repo, tree, e)) < 0 || (rc = load_history(&g, &old)) < 0)
		goto done;
	/* Deterministic, but different for each starting commit. */
	memcpy(&mix, old.id, sizeof(mix));
	rng_seed(&g.r, o->seed ^ mix);
	if ((rc = open_odb(&g, o->loose)) < 0)
		goto done;
	before = g.ncommits;
	for (uint64_t i = 0; i < o->commits; i++) {
		struct change_opts ch = {
			.modify = o->changes,
			.add = 2 + o->changes / 50,
			.remove = 1 + o->changes / 100,
			.deep = rng_chance(&g.r, 500),
		};

		buf_reset(&msg);
		buf_addf(&msg, "gen-%zu: ", g.ncommits + 1);
		when += HOUR;
		if ((rc = layout_change(&g.m, &g.r, &ch, &msg, e)) < 0 ||
		    (rc = commit_tree(&g, &g.commits[g.ncommits - 1], when, msg.p)) < 0)
			goto done;
	}
	if (!git_repository_is_bare(g.repo) && head_is_main(g.repo)) {
		/* A fast-forward of the work tree that keeps local changes that
		 * do not conflict. */
		if ((rc = git_commit_lookup(&new_head, g.repo, &g.commits[g.ncommits - 1])) < 0 ||
		    (rc = git_commit_tree(&new_tree, new_head)) < 0) {
			rc = gerr_git(e, rc, "reading the new commit");
			goto done;
		}
		co.checkout_strategy = GIT_CHECKOUT_SAFE;
		co.baseline = tree;
		if ((rc = git_checkout_tree(g.repo, (const git_object *)new_tree, &co)) < 0) {
			rc = gerr_git(e, rc, "updating the work tree of %s", o->dir);
			goto done;
		}
	}
	/* main moves last: if anything fails, it still names the old commit. */
	if ((rc = pack_objects(&g, &g.commits[g.ncommits - 1], &old, NULL, NULL)) < 0 ||
	    (rc = tag_commits(&g, before)) < 0)
		goto done;
	if ((rc = git_reference_create_matching(&ref, g.repo, GEN_BRANCH,
						&g.commits[g.ncommits - 1], 1, &old,
						"thaw-genrepo: advance")) < 0) {
		rc = gerr_git(e, rc, "updating %s", GEN_BRANCH);
		goto done;
	}
	rc = fill_result(&g, o->dir, res);
done:
	git_reference_free(ref);
	git_tree_free(new_tree);
	git_commit_free(new_head);
	git_tree_free(tree);
	git_commit_free(head);
	buf_free(&msg);
	gen_free(&g);
	return rc;
}
