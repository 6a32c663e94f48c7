/*
 * Fetching the base branch and diffing trees (libgit2), for the background
 * sync (sync.c). The fetched tip lands in a private ref of this process,
 * refs/thaw/sync/PID/BRANCH, so mounts sharing a repository never race on
 * one ref and FETCH_HEAD is not written; the ref is removed after use.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs_int.h"

struct progress {
	fs_fetch_progress_fn fn;
	void *arg;
};

static int on_transfer(const git_indexer_progress *st, void *payload)
{
	struct progress *p = payload;
	if (p->fn)
		p->fn(p->arg, st->received_objects, st->total_objects, st->received_bytes);
	return 0;
}

int fs_git_fetch(struct fs_git *g, const char *url, const char *branch, fs_fetch_progress_fn fn, void *arg,
                 git_oid *out_tip, char *err, size_t errlen)
{
	git_repository *repo = fs_git_repo(g);
	git_remote *remote = NULL;
	char spec[512], ref[400];
	int r = -EIO;

	if (!repo) {
		snprintf(err, errlen, "cannot open the repository");
		return -EIO;
	}
	snprintf(ref, sizeof(ref), "refs/thaw/sync/%d/%s", (int)getpid(), branch);
	snprintf(spec, sizeof(spec), "+refs/heads/%s:%s", branch, ref);
	char *specp = spec;
	git_strarray specs = {&specp, 1};
	git_fetch_options fo;
	git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
	struct progress p = {fn, arg};
	fo.callbacks.transfer_progress = on_transfer;
	fo.callbacks.payload = &p;
	fo.update_fetchhead = 0;
	fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	fo.prune = GIT_FETCH_NO_PRUNE;
	if (git_remote_create_anonymous(&remote, repo, url) < 0 ||
	    git_remote_fetch(remote, &specs, &fo, "thaw sync") < 0) {
		const git_error *e = git_error_last();
		snprintf(err, errlen, "fetch %s from %s: %s", branch, url, e && e->message ? e->message : "failed");
		goto done;
	}
	if (git_reference_name_to_id(out_tip, repo, ref) < 0) {
		snprintf(err, errlen, "fetch %s from %s: the remote has no branch %s", branch, url, branch);
		r = -ENOENT;
		goto done;
	}
	r = 0;
done:
	{
		git_reference *rf = NULL;
		if (git_reference_lookup(&rf, repo, ref) == 0) {
			(void)git_reference_delete(rf);
			git_reference_free(rf);
		}
	}
	git_remote_free(remote);
	return r;
}

int fs_git_commit_info(struct fs_git *g, const git_oid *commit, git_oid *out_tree, int64_t *out_time)
{
	git_repository *repo = fs_git_repo(g);
	git_commit *c = NULL;
	if (!repo || git_commit_lookup(&c, repo, commit) < 0)
		return -EIO;
	git_oid_cpy(out_tree, git_commit_tree_id(c));
	*out_time = git_commit_time(c);
	git_commit_free(c);
	return 0;
}

static int add_path(char ***v, size_t *n, size_t *cap, const char *p)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		char **nv = realloc(*v, nc * sizeof(**v));
		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = nc;
	}
	(*v)[*n] = strdup(p);
	if (!(*v)[*n])
		return -ENOMEM;
	(*n)++;
	return 0;
}

int fs_git_diff_paths(struct fs_git *g, const git_oid *old_tree, const git_oid *new_tree, char ***out,
                      size_t *out_n)
{
	git_repository *repo = fs_git_repo(g);
	git_tree *a = NULL, *b = NULL;
	git_diff *diff = NULL;
	git_diff_options opts;
	git_diff_options_init(&opts, GIT_DIFF_OPTIONS_VERSION);
	char **v = NULL;
	size_t n = 0, cap = 0;
	int r = -EIO;

	opts.flags |= GIT_DIFF_INCLUDE_TYPECHANGE | GIT_DIFF_IGNORE_SUBMODULES;
	if (!repo || git_tree_lookup(&a, repo, old_tree) < 0 || git_tree_lookup(&b, repo, new_tree) < 0 ||
	    git_diff_tree_to_tree(&diff, repo, a, b, &opts) < 0)
		goto done;
	size_t nd = git_diff_num_deltas(diff);
	for (size_t i = 0; i < nd; i++) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);
		if ((r = add_path(&v, &n, &cap, d->new_file.path)) < 0)
			goto done;
		if (strcmp(d->old_file.path, d->new_file.path) && (r = add_path(&v, &n, &cap, d->old_file.path)) < 0)
			goto done;
	}
	r = 0;
done:
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			free(v[i]);
		free(v);
	} else {
		*out = v;
		*out_n = n;
	}
	git_diff_free(diff);
	git_tree_free(a);
	git_tree_free(b);
	return r;
}

int fs_git_subtree(struct fs_git *g, const git_oid *root, const char *path, git_oid *out)
{
	if (!path[0]) {
		git_oid_cpy(out, root);
		return 0;
	}
	git_repository *repo = fs_git_repo(g);
	git_tree *t = NULL;
	git_tree_entry *e = NULL;
	int r = -ENOENT;
	if (repo && git_tree_lookup(&t, repo, root) == 0 && git_tree_entry_bypath(&e, t, path) == 0 &&
	    git_tree_entry_type(e) == GIT_OBJECT_TREE) {
		git_oid_cpy(out, git_tree_entry_id(e));
		r = 0;
	}
	git_tree_entry_free(e);
	git_tree_free(t);
	return r;
}
