/*
 * fs_run: everything between the parsed command line and a served mount.
 *
 * Every check that can fail (repository, revision, mount point, cache, layers,
 * control socket) runs before the mount, so an error is one line on stderr,
 * a non-zero exit, and nothing mounted. Threads start only after the process
 * has daemonized (fork keeps only the calling thread).
 */
#include <dirent.h>
#include <malloc.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs_int.h"

static int fail(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "thawfs: ");
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
	return 1;
}

static int check_mountpoint(const char *mp)
{
	struct stat st;
	if (stat(mp, &st) < 0)
		return fail("mount point %s: %s", mp, errno == ENOENT ? "does not exist" : strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return fail("mount point %s: %s", mp, "is not a directory");
	DIR *d = opendir(mp);
	if (!d)
		return fail("mount point %s: %s", mp, strerror(errno));
	struct dirent *de;
	bool empty = true;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			empty = false;
	closedir(d);
	if (!empty)
		return fail("mount point %s: %s", mp, "is not empty");
	return 0;
}

static char *default_cache_dir(void)
{
	char buf[PATH_MAX];
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	if (xdg && xdg[0] == '/')
		snprintf(buf, sizeof(buf), "%s/thaw", xdg);
	else if (home && home[0] == '/')
		snprintf(buf, sizeof(buf), "%s/.cache/thaw", home);
	else
		snprintf(buf, sizeof(buf), "/var/cache/thaw");
	return strdup(buf);
}

/* Removes run directories of mounts that are gone (their lock is free). */
static void clean_stale_runs(const char *rundir_parent)
{
	DIR *d = opendir(rundir_parent);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		char path[PATH_MAX], lock[PATH_MAX + 8];
		if (de->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", rundir_parent, de->d_name) >= (int)sizeof(path) ||
		    snprintf(lock, sizeof(lock), "%s/lock", path) >= (int)sizeof(lock))
			continue;
		int fd = open(lock, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			(void)fs_rm_rf(path);
		close(fd);
	}
	closedir(d);
}

static int make_rundir(struct fs *fs)
{
	char parent[PATH_MAX], tmpl[PATH_MAX], lock[PATH_MAX + 8];
	if (snprintf(parent, sizeof(parent), "%s/run", fs_cache_dir(fs->cache)) >= (int)sizeof(parent) - 16)
		return -ENAMETOOLONG;
	int r = fs_mkdir_p(parent, 0755);
	if (r < 0)
		return r;
	clean_stale_runs(parent);
	if (snprintf(tmpl, sizeof(tmpl), "%s/m.XXXXXX", parent) >= (int)sizeof(tmpl))
		return -ENAMETOOLONG;
	if (!mkdtemp(tmpl))
		return -errno;
	fs->rundir = strdup(tmpl);
	if (!fs->rundir)
		return -ENOMEM;
	if (snprintf(lock, sizeof(lock), "%s/lock", tmpl) >= (int)sizeof(lock))
		return -ENAMETOOLONG;
	fs->runlock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fs->runlock_fd < 0 || flock(fs->runlock_fd, LOCK_EX) < 0)
		return -errno;
	return 0;
}

static void configure_libgit2(void)
{
	git_libgit2_init();
	/* Blob bytes are served from the hydration cache and the page cache;
	 * keep only trees in libgit2's cache, and bound the pack windows that
	 * count towards RSS. */
	git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, GIT_OBJECT_BLOB, (size_t)0);
	git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, (ssize_t)(2 << 20));
	git_libgit2_opts(GIT_OPT_SET_MWINDOW_SIZE, (size_t)(1 << 20));
	git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, (size_t)(8 << 20));
	/* Many worker threads, little heap each: a few malloc arenas, not one
	 * per thread (each arena keeps its freed memory). */
	mallopt(M_ARENA_MAX, 2);
	git_libgit2_opts(GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 0);
}

static void fs_free(struct fs *fs)
{
	if (!fs)
		return;
	fs__itable_release(&fs->itable);
	fs__store_release(fs);
	for (int i = 0; i < fs->nlayers; i++) {
		if (fs->layer[i].rootfd >= 0)
			close(fs->layer[i].rootfd);
		free(fs->layer[i].path);
	}
	if (fs->rundir) {
		(void)fs_rm_rf(fs->rundir);
		free(fs->rundir);
	}
	if (fs->runlock_fd >= 0)
		close(fs->runlock_fd);
	fs_cache_free(fs->cache);
	fs_git_free(fs->git);
	for (int i = 0; i < 256; i++) {
		pthread_rwlock_destroy(&fs->dirlock[i]);
		pthread_mutex_destroy(&fs->nodelock[i]);
	}
	pthread_rwlock_destroy(&fs->rename_lock);
	pthread_rwlock_destroy(&fs->swap_lock);
	fs__gate_release(fs);
	fs__events_release(fs);
	pthread_mutex_destroy(&fs->links_lock);
	free(fs->hl);
	if (fs->upper_fd >= 0)
		close(fs->upper_fd);
	if (fs->work_fd >= 0)
		close(fs->work_fd);
	if (fs->orphan_fd >= 0)
		close(fs->orphan_fd);
	free((char *)fs->upper);
	free(fs->log);
	pthread_mutex_destroy(&fs->dotgit_lock);
	pthread_cond_destroy(&fs->dotgit_cond);
	free((char *)fs->opt.repo);
	free((char *)fs->opt.mountpoint);
	free((char *)fs->opt.cache_dir);
	free(fs);
}

/* Absolute form of p (the daemon runs in "/"), resolved where it exists. */
static char *abs_path(const char *p)
{
	char *r = realpath(p, NULL);
	if (r || p[0] == '/')
		return r ? r : strdup(p);
	char cwd[PATH_MAX], buf[PATH_MAX * 2];
	if (!getcwd(cwd, sizeof(cwd)))
		return strdup(p);
	snprintf(buf, sizeof(buf), "%s/%s", cwd, p);
	return strdup(buf);
}

int fs_run(const struct fs_options *opt)
{
	struct fs *fs = calloc(1, sizeof(*fs));
	struct fs_control *ctl = NULL;
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_lowlevel_ops ops = {0};
	char err[512], buf[PATH_MAX];
	int status = 1, r;
	bool mounted = false;

	if (!fs)
		return fail("%s%s", "out of memory", "");
	clock_gettime(CLOCK_MONOTONIC, &fs->started);
	fs->opt = *opt;
	fs->opt.repo = abs_path(opt->repo);
	fs->opt.mountpoint = abs_path(opt->mountpoint);
	fs->opt.cache_dir = opt->cache_dir ? abs_path(opt->cache_dir) : default_cache_dir();
	fs->runlock_fd = -1;
	for (int i = 0; i < FS_MAX_LAYERS; i++)
		fs->layer[i].rootfd = -1;
	for (int i = 0; i < 256; i++) {
		pthread_rwlock_init(&fs->dirlock[i], NULL);
		pthread_mutex_init(&fs->nodelock[i], NULL);
	}
	pthread_rwlock_init(&fs->rename_lock, NULL);
	pthread_rwlockattr_t rwa;
	pthread_rwlockattr_init(&rwa);
	/* A swap must get in under a steady stream of reads. */
	pthread_rwlockattr_setkind_np(&rwa, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&fs->swap_lock, &rwa);
	pthread_rwlockattr_destroy(&rwa);
	fs__gate_init(fs);
	fs->events.wake[0] = fs->events.wake[1] = -1;
	pthread_mutex_init(&fs->links_lock, NULL);
	fs->upper_fd = fs->work_fd = fs->orphan_fd = -1;
	pthread_mutex_init(&fs->dotgit_lock, NULL);
	pthread_cond_init(&fs->dotgit_cond, NULL);
	fs->uid = getuid();
	fs->gid = getgid();
	if ((r = fs__itable_init(&fs->itable)) < 0 || !fs->opt.repo || !fs->opt.mountpoint || !fs->opt.cache_dir) {
		fail("%s%s", "out of memory", "");
		goto done;
	}

	if (check_mountpoint(fs->opt.mountpoint))
		goto done;
	configure_libgit2();
	if (fs_git_open(&fs->git, fs->opt.repo, opt->rev, err, sizeof(err)) < 0) {
		fail("%s%s", err, "");
		goto done;
	}
	git_oid_cpy(&fs->mounted_commit, fs_git_commit_id(fs->git));
	if (opt->remote && !opt->branch && !(fs->opt.branch = fs_git_branch(fs->git))) {
		fail("--remote needs --branch: revision '%s' names no branch%s", opt->rev, "");
		goto done;
	}
	if (fs__events_init(fs) < 0 || fs__sync_init(fs) < 0) {
		fail("%s%s", "cannot set up events", "");
		goto done;
	}
	if ((r = fs_cache_open(&fs->cache, fs->opt.cache_dir, opt->cache_cap)) < 0) {
		fail("cache directory %s cannot be written: %s", fs->opt.cache_dir, strerror(-r));
		goto done;
	}
	if ((r = make_rundir(fs)) < 0) {
		fail("cannot create a run directory in %s: %s", fs->opt.cache_dir, strerror(-r));
		goto done;
	}
	if (opt->upper) {
		fs->upper = abs_path(opt->upper);
		if (!fs->upper || (r = fs__upper_init(fs)) < 0) {
			fail("upper directory %s cannot be used: %s", opt->upper, strerror(fs->upper ? -r : ENOMEM));
			goto done;
		}
	}
	/* Layer 0: the synthesized .git; then the --layer directories. */
	snprintf(buf, sizeof(buf), "%s/dotgit", fs->rundir);
	fs->layer[0].path = strdup(buf);
	fs->nlayers = 1;
	for (int i = 0; i < opt->nlayers; i++) {
		struct fs_layer *l = &fs->layer[fs->nlayers];
		bool is_store;
		fs->nlayers++;
		/* A store layer (id in --store, or a layer directory), else a
		 * plain directory with OCI whiteouts. */
		if (fs__store_open(fs, opt->layers[i], l, &is_store, err, sizeof(err)) < 0) {
			fail("%s%s", err, "");
			goto done;
		}
		if (is_store)
			continue;
		l->path = abs_path(opt->layers[i]);
		l->rootfd = open(opt->layers[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (l->rootfd < 0) {
			fail("layer %s: %s", opt->layers[i], errno == ENOTDIR ? "is not a directory" : strerror(errno));
			goto done;
		}
	}
	if ((r = fs__dotgit_prepare(fs)) < 0) {
		fail("cannot prepare the workspace's .git in %s: %s", fs->rundir, strerror(-r));
		goto done;
	}
	fs->layer[0].rootfd = open(fs->layer[0].path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fs->layer[0].rootfd < 0) {
		fail("%s: %s", fs->layer[0].path, strerror(errno));
		goto done;
	}

	/* Git content carries the commit time, never in the future (git would
	 * then call every entry racily clean and read the files). */
	fs->mounted_wall = time(NULL);
	fs->time_sec = fs_git_commit_time(fs->git);
	if (fs->time_sec > fs->mounted_wall - 2)
		fs->time_sec = fs->mounted_wall - 2;
	if ((r = fs__node_new(fs, NULL, "", 0, &fs->root)) < 0 || fs->root->ino != FUSE_ROOT_ID) {
		fail("%s%s", "cannot create the root inode", "");
		goto done;
	}
	fs->root->mode = S_IFDIR | 0755;
	fs->root->layer = FS_LAYER_GIT;
	fs->root->dir_layers = (fs->nlayers >= 32) ? 0xffffffffu : ((1u << fs->nlayers) - 1);
	fs->root->dir_git = true;
	fs->root->dir_upper = fs->upper != NULL;
	if (fs->upper)
		fs->root->up = FS_UP_FULL; /* its xattrs live on the upper root */
	git_oid_cpy(&fs->root->oid, fs_git_tree_id(fs->git));
	fs->root->mtime_sec = fs->root->ctime_sec = fs->time_sec;
	fs->root->uid = fs->uid;
	fs->root->gid = fs->gid;
	atomic_store(&fs->root->size, 4096);
	atomic_store(&fs->root->flags, FS_NODE_SIZE_KNOWN);

	fs->log = opt->log ? abs_path(opt->log) : NULL;
	char *control = opt->control ? abs_path(opt->control) : NULL;
	if (control && (r = fs_control_bind(&ctl, fs, control)) < 0) {
		free(control);
		fail("control socket %s: %s", opt->control, r == -EADDRINUSE ? "in use by a live process" : strerror(-r));
		goto done;
	}
	free(control);

	char fuse_o[1400];
	snprintf(fuse_o, sizeof(fuse_o), "fsname=thawfs,subtype=thawfs,default_permissions%s%s",
	         opt->fuse_opts[0] ? "," : "", opt->fuse_opts);
	if (fuse_opt_add_arg(&args, "thawfs") || fuse_opt_add_arg(&args, "-o") || fuse_opt_add_arg(&args, fuse_o) ||
	    (opt->debug && fuse_opt_add_arg(&args, "-d"))) {
		fail("%s%s", "out of memory", "");
		goto done;
	}
	fs__ops_read_init(&ops);
	fs__ops_dir_init(&ops);
	fs__ops_write_init(&ops);
	fs->se = fuse_session_new(&args, &ops, sizeof(ops), fs);
	if (!fs->se) {
		fail("%s%s", "invalid FUSE options (see -o)", "");
		goto done;
	}
	if (fuse_set_signal_handlers(fs->se) != 0) {
		fail("%s%s", "cannot set signal handlers", "");
		goto done;
	}
	if (fuse_session_mount(fs->se, fs->opt.mountpoint) != 0) {
		fail("cannot mount %s%s", fs->opt.mountpoint, " (is /dev/fuse available, and are you root?)");
		goto done;
	}
	mounted = true;
	clock_gettime(CLOCK_MONOTONIC, &fs->mounted);
	if (fuse_daemonize(opt->foreground) != 0)
		goto done;
	if (fs->log && fs_log_open(fs->log) < 0 && opt->foreground)
		fprintf(stderr, "thawfs: cannot open log %s\n", fs->log);
	/* A SQLite handle should not cross fork(): the store layers' handles
	 * are opened again in the daemon. */
	if (!opt->foreground && fs->has_store_layers)
		(void)fs__store_reopen(fs);

	if (ctl && (r = fs_control_start(ctl)) < 0)
		fs_log("thawfs: control socket thread: %s", strerror(-r));
	fs__dotgit_start(fs);
	fs_cache_scan_async(fs->cache);
	{
		struct timespec wall;
		clock_gettime(CLOCK_REALTIME, &wall);
		fs->sync.reads_ready_ms = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
	}
	if ((r = fs__sync_start(fs)) < 0)
		fs_log("thawfs: cannot start the sync thread: %s", strerror(-r));

	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	if (!cfg)
		goto done;
	fuse_loop_cfg_set_clone_fd(cfg, 0);
	fuse_loop_cfg_set_max_threads(cfg, opt->max_threads ? opt->max_threads : 16);
	fuse_loop_cfg_set_idle_threads(cfg, 8);
	r = fuse_session_loop_mt(fs->se, cfg);
	fuse_loop_cfg_destroy(cfg);
	status = r == 0 ? 0 : 1;
done:
	if (fs->se) {
		if (mounted)
			fuse_session_unmount(fs->se);
		fuse_remove_signal_handlers(fs->se);
		fuse_session_destroy(fs->se);
	}
	atomic_store(&fs->stopping, true); /* the index walk gives up */
	fs__sync_stop(fs);
	fs__gate_shutdown(fs);
	fs_control_stop(ctl);
	if (fs->dotgit_started)
		pthread_join(fs->dotgit_thread, NULL);
	fuse_opt_free_args(&args);
	fs_free(fs);
	git_libgit2_shutdown();
	return status;
}
