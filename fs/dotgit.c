/*
 * The workspace's .git: a real git directory made for this mount, so that
 * git status, git diff and git log work inside the workspace.
 *
 * It is layer 0 of the stack, a private directory under the hydration
 * cache's run/ folder:
 *
 *   | file                      | content                                          |
 *   |---------------------------|--------------------------------------------------|
 *   | HEAD                      | "ref: refs/heads/B" when REV named branch B,     |
 *   |                           | else the commit id (detached)                    |
 *   | refs/heads/B              | the commit id                                    |
 *   | config                    | a plain non-bare repository                      |
 *   | objects/info/alternates   | the repository's object directory: nothing is    |
 *   |                           | copied, every object is read from there          |
 *   | index                     | synthesized from the tree (below)                |
 *
 * The index lists every path of the commit's tree with exactly the stat data
 * thawfs reports for it (inode, size from the object header, mtime = ctime =
 * the commit time, owner), so git's stat check finds every file clean and
 * reads no content: git status hydrates nothing. Paths that a --layer hides
 * or replaces get a zero mtime, so git looks at their content and reports
 * them as it should. The index is written by a background thread right
 * after the mount (it needs the size of every blob); the .git directory
 * itself waits for it, the rest of the workspace does not.
 */
#include <errno.h>
#include <malloc.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fs_int.h"

static int put(const char *base, const char *rel, const char *data)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/%s", base, rel) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	return fs_write_file(path, data, strlen(data), 0644);
}

/* HEAD (and the branch it names) at the current commit, each file replaced
 * atomically. */
static int write_head(struct fs *fs, const char *gitdir)
{
	char buf[PATH_MAX + 64], hex[GIT_OID_HEXSZ + 1], path[PATH_MAX], tmp[PATH_MAX + 8];
	const char *branch = fs_git_branch(fs->git);
	int r;

	git_oid_tostr(hex, sizeof(hex), fs_git_commit_id(fs->git));
	if (branch) {
		snprintf(buf, sizeof(buf), "ref: refs/heads/%s\n", branch);
		if ((r = put(gitdir, "HEAD", buf)) < 0)
			return r;
		if (snprintf(path, sizeof(path), "%s/refs/heads/%s", gitdir, branch) >= (int)sizeof(path))
			return -ENAMETOOLONG;
		char *slash = strrchr(path, '/');
		*slash = '\0';
		if ((r = fs_mkdir_p(path, 0755)) < 0)
			return r;
		*slash = '/';
	} else {
		snprintf(path, sizeof(path), "%s/HEAD", gitdir);
	}
	snprintf(buf, sizeof(buf), "%s\n", hex);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((r = fs_write_file(tmp, buf, strlen(buf), 0644)) < 0)
		return r;
	return rename(tmp, path) < 0 ? -errno : 0;
}

int fs__dotgit_prepare(struct fs *fs)
{
	char gitdir[PATH_MAX], buf[PATH_MAX + 64];
	static const char *const dirs[] = {"objects/info", "objects/pack", "refs/heads", "refs/tags", "info"};
	int r;

	if (snprintf(gitdir, sizeof(gitdir), "%s/dotgit/.git", fs->rundir) >= (int)sizeof(gitdir))
		return -ENAMETOOLONG;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(buf, sizeof(buf), "%s/%s", gitdir, dirs[i]);
		if ((r = fs_mkdir_p(buf, 0755)) < 0)
			return r;
	}
	if ((r = write_head(fs, gitdir)) < 0)
		return r;
	char config[1024], user[600] = "";
	if (fs->opt.git_author) {
		/* "Name <email>", validated by the command line */
		const char *a = fs->opt.git_author, *lt = strchr(a, '<'), *gt = strrchr(a, '>');
		int nlen = (int)(lt - a);
		while (nlen > 0 && a[nlen - 1] == ' ')
			nlen--;
		snprintf(user, sizeof(user), "[user]\n\tname = %.*s\n\temail = %.*s\n", nlen, a, (int)(gt - lt - 1), lt + 1);
	}
	snprintf(config, sizeof(config),
	         "[core]\n"
	         "\trepositoryformatversion = 0\n"
	         "\tfilemode = true\n"
	         "\tbare = false\n"
	         "\tlogallrefupdates = true\n"
	         "[gc]\n"
	         "\tauto = 0\n"
	         "%s",
	         user);
	if ((r = put(gitdir, "config", config)) < 0)
		return r;
	snprintf(buf, sizeof(buf), "%s\n", fs_git_objects_dir(fs->git));
	if ((r = put(gitdir, "objects/info/alternates", buf)) < 0)
		return r;
	if ((r = put(gitdir, "description", "thaw workspace\n")) < 0)
		return r;
	return put(gitdir, "info/exclude", "");
}

struct walk {
	struct fs *fs;
	uint64_t gen;   /* fs->tree_gen the walk started at */
	git_repository *repo;
	git_index *index;
	char path[PATH_MAX];
	uint64_t entries;
};

static void stat_of(struct fs *fs, struct fs_node *n, git_index_entry *e)
{
	struct stat st;
	if (fs__node_stat(fs, n, &st) < 0)
		return; /* unreadable: zero stat data, git will look (and fail) */
	e->ctime.seconds = (int32_t)st.st_ctim.tv_sec;
	e->ctime.nanoseconds = (uint32_t)st.st_ctim.tv_nsec;
	e->mtime.seconds = (int32_t)st.st_mtim.tv_sec;
	e->mtime.nanoseconds = (uint32_t)st.st_mtim.tv_nsec;
	e->ino = (uint32_t)st.st_ino;
	e->uid = st.st_uid;
	e->gid = st.st_gid;
	e->file_size = (uint32_t)st.st_size;
}

static int walk_tree(struct walk *w, const git_oid *tree_oid, struct fs_node *dir, size_t plen)
{
	git_tree *tree = NULL;
	int r;

	if (git_tree_lookup(&tree, w->repo, tree_oid) < 0)
		return -EIO;
	size_t n = git_tree_entrycount(tree);
	for (size_t i = 0; i < n; i++) {
		const git_tree_entry *te = git_tree_entry_byindex(tree, i);
		const char *name = git_tree_entry_name(te);
		const git_oid *id = git_tree_entry_id(te);
		git_filemode_t fm = git_tree_entry_filemode(te);
		size_t nlen = strlen(name);
		int err;

		if (plen + nlen + 2 > sizeof(w->path)) {
			r = -ENAMETOOLONG;
			goto done;
		}
		/* swap_lock per entry, not per walk: a sync's swap never waits
		 * for a whole index build; one that lands makes this walk moot. */
		pthread_rwlock_rdlock(&w->fs->swap_lock);
		if (atomic_load_explicit(&w->fs->stopping, memory_order_relaxed) ||
		    atomic_load(&w->fs->tree_gen) != w->gen) {
			pthread_rwlock_unlock(&w->fs->swap_lock);
			r = -ECANCELED;
			goto done;
		}
		struct fs_node *child = dir ? fs__dir_child(w->fs, dir, name, &err) : NULL;
		memcpy(w->path + plen, name, nlen + 1);
		if (fm == GIT_FILEMODE_TREE) {
			bool same = child && S_ISDIR(child->mode) && child->dir_git && git_oid_equal(&child->oid, id);
			pthread_rwlock_unlock(&w->fs->swap_lock);
			w->path[plen + nlen] = '/';
			w->path[plen + nlen + 1] = '\0';
			if ((r = walk_tree(w, id, same ? child : NULL, plen + nlen + 1)) < 0)
				goto done;
			continue;
		}
		git_index_entry e;
		memset(&e, 0, sizeof(e));
		e.path = w->path;
		e.mode = fm;
		git_oid_cpy(&e.id, id);
		if (child && ((fm == GIT_FILEMODE_COMMIT && child->layer == FS_LAYER_NONE) ||
		              (child->layer == FS_LAYER_GIT && git_oid_equal(&child->oid, id)))) {
			stat_of(w->fs, child, &e);
		} else {
			/* Hidden or replaced by a layer: zero stat data make git
			 * compare content, and report what the layer did. */
			uint64_t sz = 0;
			if (fm != GIT_FILEMODE_COMMIT)
				(void)fs_git_blob_size(w->fs->git, id, &sz);
			e.file_size = (uint32_t)sz;
		}
		pthread_rwlock_unlock(&w->fs->swap_lock);
		if (git_index_add(w->index, &e) < 0) {
			r = -EIO;
			goto done;
		}
		w->entries++;
	}
	r = 0;
done:
	w->path[plen] = '\0';
	git_tree_free(tree);
	return r;
}

static void finish(struct fs *fs, int state, uint64_t entries, double ms)
{
	pthread_mutex_lock(&fs->dotgit_lock);
	fs->dotgit_state = state;
	fs->index_entries = entries;
	fs->index_ms = ms;
	pthread_cond_broadcast(&fs->dotgit_cond);
	pthread_mutex_unlock(&fs->dotgit_lock);
}

/* Writes the index of the current tree (a fresh file, renamed into place). */
static int build_index(struct fs *fs, uint64_t *out_entries)
{
	struct walk w = {.fs = fs};
	char path[PATH_MAX];
	int r = -EIO;

	w.repo = fs_git_repo(fs->git);
	snprintf(path, sizeof(path), "%s/dotgit/.git/index", fs->rundir);
	/* A new in-memory index bound to the path: never read the old one. */
	if (!w.repo || git_index_open(&w.index, path) < 0 || git_index_clear(w.index) < 0)
		goto done;
	git_oid tree;
	pthread_rwlock_rdlock(&fs->swap_lock);
	w.gen = atomic_load(&fs->tree_gen);
	git_oid_cpy(&tree, fs_git_tree_id(fs->git));
	pthread_rwlock_unlock(&fs->swap_lock);
	if ((r = walk_tree(&w, &tree, fs->root, 0)) < 0)
		goto done;
	if (git_index_write(w.index) < 0) {
		r = -EIO;
		goto done;
	}
	r = 0;
done:
	if (r < 0 && r != -ECANCELED) {
		const git_error *e = git_error_last();
		fs_log("thawfs: cannot synthesize the git index: %s", e && e->message ? e->message : strerror(-r));
	}
	git_index_free(w.index);
	*out_entries = w.entries;
	return r;
}

static void *index_thread(void *arg)
{
	struct fs *fs = arg;
	struct timespec t0;
	uint64_t entries = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* Yield the CPU to the first reads of the workspace. */
	(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
	int r = build_index(fs, &entries);
	if (r == -ECANCELED && !atomic_load(&fs->stopping)) {
		/* A sync swapped the tree under the walk: the sync builds the
		 * index of the new tree (fs__dotgit_update) and opens .git. */
		pthread_mutex_lock(&fs->dotgit_lock);
		fs->index_thread_done = true;
		pthread_cond_broadcast(&fs->dotgit_cond);
		pthread_mutex_unlock(&fs->dotgit_lock);
	} else {
		finish(fs, r < 0 ? r : 1, entries, fs_ms_since(&t0));
	}
	malloc_trim(0); /* the walk's temporary memory goes back to the system */
	return NULL;
}

/* Re-merges the loaded directories of .git along path (e.g. "refs/heads"). */
static void refresh_dirs(struct fs *fs, const char *path, struct fs_inval *iv)
{
	char buf[PATH_MAX];
	snprintf(buf, sizeof(buf), ".git/%s", path);
	struct fs_node *cur = fs->root;
	for (char *save = NULL, *comp = strtok_r(buf, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
		struct fs_dir *d = atomic_load(&cur->dir);
		struct fs_dirent *e = d ? fs__dir_lookup(d, comp) : NULL;
		if (!e || !S_ISDIR(e->node->mode))
			return;
		cur = e->node;
		(void)fs__dir_remerge(fs, cur, 0, iv);
	}
}

int fs__dotgit_update(struct fs *fs, struct fs_inval *iv)
{
	char gitdir[PATH_MAX];
	uint64_t entries = 0;
	struct timespec t0;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* Let the first index build finish (or give up: see index_thread). */
	pthread_mutex_lock(&fs->dotgit_lock);
	while (fs->dotgit_state == 0 && !fs->index_thread_done)
		pthread_cond_wait(&fs->dotgit_cond, &fs->dotgit_lock);
	pthread_mutex_unlock(&fs->dotgit_lock);
	snprintf(gitdir, sizeof(gitdir), "%s/dotgit/.git", fs->rundir);
	if ((r = write_head(fs, gitdir)) < 0)
		return r;
	/* The new index must be newer than every file time it records. */
	if ((r = build_index(fs, &entries)) < 0)
		return r;
	pthread_rwlock_wrlock(&fs->swap_lock);
	const char *branch = fs_git_branch(fs->git);
	char refdir[PATH_MAX] = "refs/heads";
	if (branch) {
		snprintf(refdir, sizeof(refdir), "refs/heads/%s", branch);
		char *slash = strrchr(refdir, '/');
		*slash = '\0';
	}
	refresh_dirs(fs, refdir, iv);
	pthread_rwlock_unlock(&fs->swap_lock);
	finish(fs, 1, entries, fs_ms_since(&t0));
	return 0;
}

int fs__dotgit_start(struct fs *fs)
{
	int r = pthread_create(&fs->dotgit_thread, NULL, index_thread, fs);
	if (r == 0)
		fs->dotgit_started = true;
	if (r != 0) {
		finish(fs, -r, 0, 0);
		return -r;
	}
	return 0;
}

int fs__dotgit_wait(struct fs *fs)
{
	pthread_mutex_lock(&fs->dotgit_lock);
	while (fs->dotgit_state == 0)
		pthread_cond_wait(&fs->dotgit_cond, &fs->dotgit_lock);
	int r = fs->dotgit_state < 0 ? fs->dotgit_state : 0;
	pthread_mutex_unlock(&fs->dotgit_lock);
	return r;
}
