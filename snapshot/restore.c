/*
 * Restore: mount a new workspace whose stack is [new upper, the layer, the
 * layers below it (its chain), the git tree at the layer's synced commit].
 * Nothing is copied: thawfs reads the layers from the store.
 *
 * Verified before thawfs starts:
 *   - the layer and every layer of its chain open (manifest present, readable);
 *   - the upper directory is absent or empty; the mount point is a directory.
 * Verified while thawfs starts (the two overlap), and before restore returns:
 *   - every object each layer names exists (snap_layer_check; on a miss the
 *     layer is walked to name the first missing object and its path);
 *   - the synced commit exists in the repository: thawfs resolves it before
 *     it mounts; if thawfs fails, restore looks for it to name it.
 * thawfs is run (fork + exec) with --store and one --layer per layer of the
 * chain, topmost first; it daemonizes once the mount is up (unless -f), so
 * its exit status says whether the mount is up. If a check fails, the mount
 * that came up is taken down again before restore returns the error: restore
 * reports success only for a verified workspace. With -f (thawfs stays in the
 * foreground until unmounted) everything is checked first.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "freeze_int.h"
#include "snapshot_int.h"
#include "banned.h"

#define MAX_ARGS 160

/* ---- checks ---- */

struct miss {
	struct snap_store *s;
	char path[PATH_MAX];
	char hex[GIT_OID_HEXSZ + 1];
};

static int miss_cb(void *arg, const struct snap_entry *e)
{
	struct miss *m = arg;
	if (e->type != SNAP_T_REG || e->link)
		return 0;
	if (snap_object_has(m->s, &e->cid) == 0)
		return 0;
	snprintf(m->path, sizeof(m->path), "%s", e->path);
	git_oid_tostr(m->hex, sizeof(m->hex), &e->cid);
	return 1;
}

static int open_layer(struct snap_store *s, const char *id, struct snap_layer **out)
{
	int r = snap_layer_open(out, s, id);
	return r < 0 ? snap__freeze_err(r, "layer %s: %s", id, snap_last_error()) : 0;
}

/* Every object layer l names exists. */
static int check_layer(struct snap_store *s, const char *id, struct snap_layer *l)
{
	uint64_t missing = 0;
	int r;
	if ((r = snap_layer_check(l, &missing)) < 0) {
		r = snap__freeze_err(r, "checking layer %s: %s", id, snap_last_error());
		goto fail;
	}
	if (missing) {
		struct miss m = {.s = s};
		if (snap_layer_walk(l, miss_cb, &m) == 1)
			r = snap__freeze_err(-ENOENT, "layer %s: object %s (%s) is missing from the store (%llu missing)",
			                     id, m.hex, m.path, (unsigned long long)missing);
		else
			r = snap__freeze_err(-ENOENT, "layer %s: %llu objects are missing from the store", id,
			                     (unsigned long long)missing);
		goto fail;
	}
	return 0;
fail:
	return r;
}

static int check_commit(const char *repo, const char *hex)
{
	git_repository *g = NULL;
	git_commit *c = NULL;
	git_oid oid;
	int r = 0;
	snap__git_init(); /* not before: see snap__store_open_light */
	if (git_repository_open(&g, repo) < 0)
		return snap__git_err(-ENOENT, "repository %s", repo);
	if (git_oid_fromstr(&oid, hex) < 0 || git_commit_lookup(&c, g, &oid) < 0)
		r = snap__freeze_err(-ENOENT, "commit %s of the snapshot is missing from the repository %s", hex, repo);
	git_commit_free(c);
	git_repository_free(g);
	return r;
}

static int check_upper(const char *upper)
{
	DIR *d = opendir(upper);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return snap__freeze_err(-errno, "upper %s: %s", upper, strerror(errno));
	}
	int r = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			r = snap__freeze_err(-ENOTEMPTY, "upper %s is not empty: a restore needs a new upper directory",
			                     upper);
			break;
		}
	}
	closedir(d);
	return r;
}

/* The check that overlaps the mount: the objects of every layer. */
static int check_late(struct snap_store *s, char **ids, struct snap_layer **open_l, size_t n)
{
	int r;
	for (size_t i = 0; i < n; i++)
		if ((r = check_layer(s, ids[i], open_l[i])) < 0)
			return r;
	return 0;
}

/* Takes down a mount whose checks failed (thawfs then exits by itself). */
static void unmount(const char *mnt)
{
	pid_t pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (devnull >= 0) {
			dup2(devnull, 1);
			dup2(devnull, 2);
		}
		execlp("fusermount3", "fusermount3", "-u", "-z", mnt, (char *)NULL);
		_exit(127);
	}
	int status;
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

/* Puts the upper back as check_upper found it: absent, or empty. */
static void upper_reset(const char *upper, bool existed)
{
	if (!existed) {
		(void)snap__rm_rf(upper);
		return;
	}
	DIR *d = opendir(upper);
	if (!d)
		return;
	struct dirent *de;
	char p[PATH_MAX + 256];
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", upper, de->d_name);
		(void)snap__rm_rf(p);
	}
	closedir(d);
}

/* ---- finding and running thawfs ---- */

static bool executable(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

/* o->thawfs; else next to this program (../fs/thawfs in the build tree,
 * thawfs in the same directory once installed); else "thawfs" from PATH. */
static void find_thawfs(const struct snap_restore_opts *o, char *out, size_t len)
{
	if (o->thawfs) {
		snprintf(out, len, "%s", o->thawfs);
		return;
	}
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			if (snprintf(out, len, "%s/../fs/thawfs", self) < (int)len && executable(out))
				return;
			if (snprintf(out, len, "%s/thawfs", self) < (int)len && executable(out))
				return;
		}
	}
	snprintf(out, len, "thawfs");
}

static int start(const char *bin, char *const argv[], pid_t *out)
{
	pid_t pid = fork();
	if (pid < 0)
		return snap__freeze_err(-errno, "fork: %s", strerror(errno));
	if (pid == 0) {
		if (strchr(bin, '/'))
			execv(bin, argv);
		else
			execvp(bin, argv);
		dprintf(2, "thawfs: cannot run %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	*out = pid;
	return 0;
}

static int finish(const char *bin, pid_t pid, bool foreground)
{
	int status;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return snap__freeze_err(-errno, "waitpid: %s", strerror(errno));
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return snap__freeze_err(-ENOENT, "cannot run %s", bin);
	if (WIFEXITED(status))
		return snap__freeze_err(-ECHILD, "thawfs %s (exit status %d)",
		                        foreground ? "failed" : "did not mount", WEXITSTATUS(status));
	return snap__freeze_err(-ECHILD, "thawfs killed by signal %d", WTERMSIG(status));
}

int snap_restore(struct snap_store *s, const struct snap_restore_opts *o)
{
	char **ids = NULL;
	size_t n = 0;
	struct snap_layer **open_l = NULL;
	int r;
	char bin[PATH_MAX], commit[41];

	snap__clear_error();
	if (!o || !o->id || !o->repo || !o->upper || !o->mountpoint)
		return snap__freeze_err(-EINVAL, "restore needs a layer id, --repo, --upper and a mount point");
	if ((r = snap_layer_chain(s, o->id, &ids, &n)) < 0)
		return snap__freeze_err(r, "%s", snap_last_error()[0] ? snap_last_error() : strerror(-r));
	if (n == 0 || n > 30) {
		r = snap__freeze_err(n ? -E2BIG : -ENOENT, "layer %s: a chain of %zu layers (thawfs stacks at most 30)",
		                     o->id, n);
		goto done;
	}
	if (!(open_l = calloc(n, sizeof(*open_l)))) {
		r = -ENOMEM;
		goto done;
	}
	/* Held open (store lock shared) until thawfs holds them itself. */
	for (size_t i = 0; i < n; i++)
		if ((r = open_layer(s, ids[i], &open_l[i])) < 0)
			goto done;
	const struct snap_meta *top = snap_layer_meta(open_l[0]);
	snprintf(commit, sizeof(commit), "%s", top->synced_commit);
	if (strlen(commit) != GIT_OID_HEXSZ) {
		r = snap__freeze_err(-EINVAL, "layer %s records no synced commit", top->id);
		goto done;
	}
	if ((r = check_upper(o->upper)) < 0)
		goto done;
	if (o->foreground &&
	    ((r = check_late(s, ids, open_l, n)) < 0 || (r = check_commit(o->repo, commit)) < 0))
		goto done;
	struct stat st;
	if (stat(o->mountpoint, &st) < 0 || !S_ISDIR(st.st_mode)) {
		r = snap__freeze_err(-ENOTDIR, "mount point %s is not a directory", o->mountpoint);
		goto done;
	}

	find_thawfs(o, bin, sizeof(bin));
	const char *argv[MAX_ARGS];
	size_t a = 0;
	argv[a++] = "thawfs";
	argv[a++] = "--store";
	argv[a++] = snap_store_dir(s);
	for (size_t i = 0; i < n; i++) {
		argv[a++] = "--layer";
		argv[a++] = ids[i];
	}
	argv[a++] = "--repo";
	argv[a++] = o->repo;
	argv[a++] = "--commit";
	argv[a++] = commit;
	argv[a++] = "--upper";
	argv[a++] = o->upper;
#define OPT(flag, val)                                                                                             \
	do {                                                                                                       \
		if (val) {                                                                                         \
			argv[a++] = flag;                                                                          \
			argv[a++] = val;                                                                           \
		}                                                                                                  \
	} while (0)
	OPT("--cache", o->cache);
	OPT("--control", o->control);
	OPT("--log", o->log);
	OPT("--remote", o->remote);
	OPT("--branch", o->branch);
	OPT("--git-author", o->git_author);
#undef OPT
	if (o->foreground)
		argv[a++] = "-f";
	for (size_t i = 0; o->extra_args && o->extra_args[i]; i++) {
		if (a + 3 > MAX_ARGS) {
			r = snap__freeze_err(-E2BIG, "too many thawfs arguments");
			goto done;
		}
		argv[a++] = o->extra_args[i];
	}
	argv[a++] = o->mountpoint;
	argv[a] = NULL;
	pid_t pid = -1;
	bool upper_existed = access(o->upper, F_OK) == 0;
	if ((r = start(bin, (char *const *)argv, &pid)) < 0)
		goto done;
	/* While thawfs starts: the objects. (The commit: thawfs resolves it
	 * in --repo before it mounts, so a mount proves it exists; only when
	 * thawfs fails is it checked here, for a message naming it, without
	 * paying libgit2's start-up on the way to a mount.) */
	int cr = o->foreground ? 0 : check_late(s, ids, open_l, n);
	char keep[1024] = "";
	if (cr < 0)
		snprintf(keep, sizeof(keep), "%s", snap_last_error());
	r = finish(bin, pid, o->foreground);
	if (r < 0 && cr == 0 && !o->foreground && check_commit(o->repo, commit) < 0) {
		cr = -ENOENT;
		snprintf(keep, sizeof(keep), "%s", snap_last_error());
	}
	if (cr < 0) {
		if (r == 0) /* mounted, but not verified: take it down */
			unmount(o->mountpoint);
		upper_reset(o->upper, upper_existed);
		r = snap__freeze_err(cr, "%s", keep);
	}
done:
	for (size_t i = 0; open_l && i < n; i++)
		snap_layer_free(open_l[i]);
	free(open_l);
	snap_ids_free(ids, n);
	return r;
}
