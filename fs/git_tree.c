/*
 * The git tree source: the only file of fs/ that reads the object database.
 *
 * libgit2 objects are not safe to share between threads, so every thread that
 * reads gets its own git_repository (opened on first use, closed when the
 * thread exits). Blobs are not kept in libgit2's object cache: their bytes
 * live in the hydration cache and the kernel's page cache, and caching them a
 * third time would only grow the daemon's RSS.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs_int.h"

struct fs_git {
	char *gitdir;       /* the repository's git directory */
	char *objects;      /* its object directory, absolute */
	char *branch;       /* local branch named by REV, or NULL */
	git_oid commit;
	git_oid tree;
	int64_t commit_time;
	pthread_key_t key;  /* per-thread git_repository */
	git_repository *main_repo; /* opened by fs_git_open's thread */
};

static void repo_free_tls(void *p)
{
	git_repository_free(p);
}

static int git_err(char *err, size_t errlen, const char *what, const char *arg)
{
	const git_error *e = git_error_last();
	snprintf(err, errlen, "%s %s: %s", what, arg, e && e->message ? e->message : "unknown error");
	return -EINVAL;
}

int fs_git_open(struct fs_git **out, const char *repo_path, const char *rev, char *err, size_t errlen)
{
	struct fs_git *g = calloc(1, sizeof(*g));
	git_object *obj = NULL;
	git_reference *ref = NULL;
	git_commit *commit = NULL;
	int r = -ENOMEM;

	if (!g)
		goto done;
	if (pthread_key_create(&g->key, repo_free_tls) != 0) {
		free(g);
		g = NULL;
		goto done;
	}
	if (access(repo_path, F_OK) != 0) {
		r = -errno;
		snprintf(err, errlen, "cannot open repository %s: %s", repo_path, strerror(errno));
		goto done;
	}
	if (git_repository_open_ext(&g->main_repo, repo_path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) < 0) {
		r = git_err(err, errlen, "cannot open repository", repo_path);
		goto done;
	}
	if (git_revparse_ext(&obj, &ref, g->main_repo, rev) < 0) {
		r = -ENOENT;
		snprintf(err, errlen, "unknown revision '%s' in %s", rev, repo_path);
		goto done;
	}
	if (git_object_peel((git_object **)&commit, obj, GIT_OBJECT_COMMIT) < 0) {
		r = -EINVAL;
		snprintf(err, errlen, "revision '%s' does not name a commit", rev);
		goto done;
	}
	git_oid_cpy(&g->commit, git_commit_id(commit));
	git_oid_cpy(&g->tree, git_commit_tree_id(commit));
	g->commit_time = git_commit_time(commit);
	if (ref && git_reference_is_branch(ref)) {
		const char *short_name = NULL;
		if (git_branch_name(&short_name, ref) == 0 && short_name)
			g->branch = strdup(short_name);
	}

	const char *common = git_repository_commondir(g->main_repo);
	char buf[PATH_MAX];
	if (!common || snprintf(buf, sizeof(buf), "%sobjects", common) >= (int)sizeof(buf)) {
		r = -ENAMETOOLONG;
		snprintf(err, errlen, "repository path too long: %s", repo_path);
		goto done;
	}
	char *abs = realpath(buf, NULL);
	g->objects = abs ? abs : strdup(buf);
	g->gitdir = strdup(git_repository_path(g->main_repo));
	if (!g->objects || !g->gitdir)
		goto done;
	pthread_setspecific(g->key, NULL);
	r = 0;
done:
	git_commit_free(commit);
	git_object_free(obj);
	git_reference_free(ref);
	if (r < 0) {
		fs_git_free(g);
		return r;
	}
	*out = g;
	return 0;
}

void fs_git_free(struct fs_git *g)
{
	if (!g)
		return;
	git_repository *mine = pthread_getspecific(g->key);
	if (mine) {
		pthread_setspecific(g->key, NULL);
		git_repository_free(mine);
	}
	pthread_key_delete(g->key);
	git_repository_free(g->main_repo);
	free(g->gitdir);
	free(g->objects);
	free(g->branch);
	free(g);
}

const git_oid *fs_git_commit_id(struct fs_git *g) { return &g->commit; }
const git_oid *fs_git_tree_id(struct fs_git *g) { return &g->tree; }
int64_t fs_git_commit_time(struct fs_git *g) { return g->commit_time; }
const char *fs_git_branch(struct fs_git *g) { return g->branch; }
const char *fs_git_objects_dir(struct fs_git *g) { return g->objects; }

git_repository *fs_git_repo(struct fs_git *g)
{
	git_repository *repo = pthread_getspecific(g->key);
	if (repo)
		return repo;
	if (git_repository_open_bare(&repo, g->gitdir) < 0)
		return NULL;
	pthread_setspecific(g->key, repo);
	return repo;
}

int fs_git_blob_size(struct fs_git *g, const git_oid *oid, uint64_t *out)
{
	git_repository *repo = fs_git_repo(g);
	git_odb *odb = NULL;
	size_t len = 0;
	git_object_t type;
	int r = -EIO;

	if (!repo || git_repository_odb(&odb, repo) < 0)
		goto done;
	if (git_odb_read_header(&len, &type, odb, oid) < 0 || type != GIT_OBJECT_BLOB)
		goto done;
	*out = len;
	r = 0;
done:
	git_odb_free(odb);
	return r;
}

int fs_git_blob_read(struct fs_git *g, const git_oid *oid, void **out, size_t *out_len)
{
	git_repository *repo = fs_git_repo(g);
	git_blob *blob = NULL;
	int r = -EIO;

	if (!repo || git_blob_lookup(&blob, repo, oid) < 0)
		goto done;
	size_t len = (size_t)git_blob_rawsize(blob);
	void *buf = malloc(len ? len : 1);
	if (!buf) {
		r = -ENOMEM;
		goto done;
	}
	memcpy(buf, git_blob_rawcontent(blob), len);
	*out = buf;
	*out_len = len;
	r = 0;
done:
	git_blob_free(blob);
	return r;
}

int fs_git_blob_fill(void *arg, const git_oid *oid, int fd, uint64_t *out_bytes)
{
	struct fs_git *g = arg;
	git_repository *repo = fs_git_repo(g);
	git_blob *blob = NULL;
	int r = -EIO;

	if (!repo || git_blob_lookup(&blob, repo, oid) < 0)
		goto done;
	const char *p = git_blob_rawcontent(blob);
	size_t left = (size_t)git_blob_rawsize(blob);
	*out_bytes = left;
	while (left > 0) {
		ssize_t w = write(fd, p, left);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto done;
		}
		p += w;
		left -= (size_t)w;
	}
	r = 0;
done:
	git_blob_free(blob);
	return r;
}

void fs_git_set_current(struct fs_git *g, const git_oid *commit, const git_oid *tree, int64_t time)
{
	git_oid_cpy(&g->commit, commit);
	git_oid_cpy(&g->tree, tree);
	g->commit_time = time;
}
