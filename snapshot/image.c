/*
 * Image builds (snap_image_build): an image build is a short-lived session.
 *
 *   1. mount a workspace with thawfs: the previous image's chain at its
 *      synced commit (--store STORE --layer ID...), or the bare commit of the
 *      branch when there is no previous image; a fresh upper in a scratch
 *      directory; --remote/--branch so thawfs syncs to the branch tip;
 *   2. wait until the control socket's status says the sync is done (gate
 *      open, writes_ready); sync-failed fails the build;
 *   3. run each setup command with `sh -c` inside bubblewrap, the workspace
 *      bound at /workspace, one deadline for the whole build (at the
 *      deadline the command's process group is killed: a timeout);
 *      stdout+stderr go to the build log and to the progress callback, line
 *      by line;
 *   4. freeze the upper layer as an SNAP_KIND_IMAGE layer (snap_freeze): its
 *      parent is the previous image, so only what the commands changed is in
 *      the new layer;
 *   4b. when the chain would pass IMAGE_MAX_CHAIN layers, write its merged
 *      view as one image layer without parent (flatten, below) and remove
 *      the chained layer;
 *   5. copy the build log to STORE/layers/ID/build.log and write
 *      STORE/layers/ID/build.json (duration, commands);
 *   6. unmount, remove the scratch directory.
 *
 * A failure anywhere leaves no new layer (the freeze is the last step that
 * writes to the store) and says why in out->error.
 *
 * Sidecar files in the layer directory (written after the layer exists,
 * never read by thawfs):
 *
 *   | file       | what                                                       |
 *   |------------|------------------------------------------------------------|
 *   | build.log  | everything the build printed: phases, commands' output     |
 *   | build.json | {"duration_ms":F,"commands":[S...],"commit":SHA,"previous":ID|null} |
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "snapshot.h"
#include "snapshot_int.h"
#include "image_int.h"

#include "banned.h"

void snap__image_fail(struct image_build *b, const char *fmt, ...)
{
	if (b->out->error[0])
		return; /* the first reason wins */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b->out->error, sizeof(b->out->error), fmt, ap);
	va_end(ap);
	if (b->log)
		fprintf(b->log, "[error] %s\n", b->out->error);
}

/* A line for the log and the progress callback. */
void snap__image_emit(struct image_build *b, const char *phase, const char *fmt, ...)
{
	char line[IMAGE_LINE_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (b->log) {
		fprintf(b->log, "[%s] %s\n", phase, line);
		fflush(b->log);
	}
	if (b->o->progress)
		b->o->progress(b->o->progress_arg, phase, line);
}

/* One line of a command's output. */
/* ---- the control socket (line-delimited JSON, fs/fs.h) ---- */

static int ctl_request(const char *sock, const char *req, int timeout_ms, json_t **out)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t plen = strlen(sock);
	if (plen >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, sock, plen + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int r = 0;
	char *buf = NULL;
	size_t have = 0, cap = 0;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		goto done;
	}
	size_t len = strlen(req);
	if (send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len) {
		r = -EIO;
		goto done;
	}
	for (;;) {
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		int pr = poll(&pf, 1, timeout_ms);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0) {
			r = pr == 0 ? -ETIMEDOUT : -errno;
			goto done;
		}
		if (have + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 16384;
			if (cap > (16u << 20)) {
				r = -E2BIG;
				goto done;
			}
			char *nb = realloc(buf, cap);
			if (!nb) {
				r = -ENOMEM;
				goto done;
			}
			buf = nb;
		}
		ssize_t n = read(fd, buf + have, cap - have - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n == 0 ? -ECONNRESET : -errno;
			goto done;
		}
		have += (size_t)n;
		buf[have] = '\0';
		char *nl = memchr(buf, '\n', have);
		if (nl) {
			*nl = '\0';
			json_error_t jerr;
			json_t *j = json_loads(buf, 0, &jerr);
			if (!j) {
				r = -EPROTO;
				goto done;
			}
			*out = j;
			goto done;
		}
	}
done:
	free(buf);
	close(fd);
	return r;
}

/* ---- processes ---- */

/* The thawfs binary: o->thawfs, else next to this program (or in the build
 * tree's fs/), else "thawfs" from PATH. */
static void find_thawfs(const char *given, char *buf, size_t size)
{
	if (given) {
		snprintf(buf, size, "%s", given);
		return;
	}
	char exe[PATH_MAX - 32]; /* room for "/../fs/thawfs" in buf */
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			snprintf(buf, size, "%s/thawfs", exe);
			if (access(buf, X_OK) == 0)
				return;
			snprintf(buf, size, "%s/../fs/thawfs", exe);
			if (access(buf, X_OK) == 0)
				return;
		}
	}
	snprintf(buf, size, "thawfs");
}

/* Runs argv with stdout/stderr into fd_out (or /dev/null when -1), waits up
 * to wait_ms; returns the exit status (>= 0), -ETIMEDOUT (killed) or -errno. */
static int run_wait(char *const argv[], int fd_out, int64_t wait_ms)
{
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);
		if (nul >= 0) {
			dup2(nul, 0);
			if (fd_out < 0) {
				dup2(nul, 1);
				dup2(nul, 2);
			}
		}
		if (fd_out >= 0) {
			dup2(fd_out, 1);
			dup2(fd_out, 2);
		}
		execvp(argv[0], argv);
		dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	int64_t end = image_now_ms() + wait_ms;
	for (;;) {
		int st;
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		if (w < 0 && errno != EINTR)
			return -errno;
		if (image_now_ms() >= end) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
				;
			return -ETIMEDOUT;
		}
		struct timespec ts = {0, 5 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

static bool pid_alive(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

/* in made absolute against the current directory (no symlinks resolved). */
static void abs_path(const char *in, char *out, size_t size)
{
	char cwd[PATH_MAX - 256];
	if (in[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		snprintf(out, size, "%s", in);
	else
		snprintf(out, size, "%s/%s", cwd, in);
}

/* ---- scratch directory ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	(void)remove(path);
	return 0;
}

static void rm_tree(const char *dir)
{
	/* FTW_MOUNT: never walk into a mount that is still up */
	(void)nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static int make_scratch(struct image_build *b)
{
	const struct snap_image_opts *o = b->o;
	char tmpl[PATH_MAX];
	if (o->workdir) {
		if (mkdir(o->workdir, 0700) < 0 && errno != EEXIST) {
			int e = errno;
			snap__image_fail(b, "cannot create work directory %s: %s", o->workdir, strerror(e));
			return -e;
		}
		char wd[PATH_MAX - 64];
		abs_path(o->workdir, wd, sizeof(wd));
		snprintf(tmpl, sizeof(tmpl), "%s/build.XXXXXX", wd);
	} else {
		const char *t = getenv("TMPDIR");
		snprintf(tmpl, sizeof(tmpl), "%s/thaw-image.XXXXXX", t && *t ? t : "/tmp");
	}
	if (!mkdtemp(tmpl)) {
		int e = errno;
		snap__image_fail(b, "cannot create a scratch directory (%s): %s", tmpl, strerror(e));
		return -e;
	}
	snprintf(b->work, sizeof(b->work), "%s", tmpl);
	int n1 = snprintf(b->mnt, sizeof(b->mnt), "%s/mnt", b->work);
	int n2 = snprintf(b->upper, sizeof(b->upper), "%s/upper", b->work);
	int n3 = snprintf(b->sock, sizeof(b->sock), "%s/ctl.sock", b->work);
	int n4 = snprintf(b->fslog, sizeof(b->fslog), "%s/thawfs.log", b->work);
	if (n1 >= (int)sizeof(b->mnt) || n2 >= (int)sizeof(b->upper) || n3 >= (int)sizeof(b->sock) ||
	    n4 >= (int)sizeof(b->fslog)) {
		snap__image_fail(b, "scratch directory path too long for a control socket: %s", b->work);
		return -ENAMETOOLONG;
	}
	if (mkdir(b->mnt, 0755) < 0 || mkdir(b->upper, 0755) < 0) {
		int e = errno;
		snap__image_fail(b, "cannot create %s/{mnt,upper}: %s", b->work, strerror(e));
		return -e;
	}
	return 0;
}

/* ---- git: the branch and the bare commit ---- */

static int resolve_base(struct image_build *b, bool need_commit)
{
	const struct snap_image_opts *o = b->o;
	git_repository *repo = NULL;
	git_reference *head = NULL;
	int r = 0;
	if (git_repository_open_ext(&repo, o->repo, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) < 0) {
		const git_error *e = git_error_last();
		snap__image_fail(b, "cannot open repository %s: %s", o->repo, e ? e->message : "unknown error");
		return -ENOENT;
	}
	if (o->branch) {
		snprintf(b->branch, sizeof(b->branch), "%s", o->branch);
	} else if (git_reference_lookup(&head, repo, "HEAD") == 0 && git_reference_type(head) == GIT_REFERENCE_SYMBOLIC &&
	           !strncmp(git_reference_symbolic_target(head), "refs/heads/", 11)) {
		snprintf(b->branch, sizeof(b->branch), "%s", git_reference_symbolic_target(head) + 11);
	} else {
		snprintf(b->branch, sizeof(b->branch), "main");
	}
	if (need_commit) {
		char ref[300];
		git_oid oid;
		snprintf(ref, sizeof(ref), "refs/heads/%s", b->branch);
		if (git_reference_name_to_id(&oid, repo, ref) < 0 && git_reference_name_to_id(&oid, repo, "HEAD") < 0) {
			snap__image_fail(b, "repository %s has no branch %s and no HEAD commit", o->repo, b->branch);
			r = -ENOENT;
			goto done;
		}
		git_oid_tostr(b->commit, sizeof(b->commit), &oid);
	}
done:
	git_reference_free(head);
	git_repository_free(repo);
	return r;
}

/* ---- mount and sync ---- */

static int mount_ws(struct image_build *b, char **chain, size_t nchain)
{
	const struct snap_image_opts *o = b->o;
	char thawfs[PATH_MAX];
	find_thawfs(o->thawfs, thawfs, sizeof(thawfs));
	const char *argv[64 + 2 * 32];
	size_t n = 0;
	argv[n++] = thawfs;
	argv[n++] = "--repo";
	argv[n++] = b->repo;
	argv[n++] = "--commit";
	argv[n++] = b->commit;
	if (nchain) {
		if (nchain > 31) {
			snap__image_fail(b, "the previous image's chain has %zu layers (thawfs mounts at most 31)", nchain);
			return -E2BIG;
		}
		argv[n++] = "--store";
		argv[n++] = b->store_dir;
		for (size_t i = 0; i < nchain; i++) {
			argv[n++] = "--layer";
			argv[n++] = chain[i];
		}
	}
	argv[n++] = "--upper";
	argv[n++] = b->upper;
	argv[n++] = "--remote";
	argv[n++] = b->remote;
	argv[n++] = "--branch";
	argv[n++] = b->branch;
	argv[n++] = "--control";
	argv[n++] = b->sock;
	argv[n++] = "--log";
	argv[n++] = b->fslog;
	if (o->cache) {
		argv[n++] = "--cache";
		argv[n++] = b->cache;
	}
	argv[n++] = b->mnt;
	argv[n] = NULL;

	char errpath[PATH_MAX + 16];
	snprintf(errpath, sizeof(errpath), "%s/thawfs.err", b->work);
	int efd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (efd < 0) {
		int e = errno;
		snap__image_fail(b, "cannot create %s: %s", errpath, strerror(e));
		return -e;
	}
	snap__image_emit(b, "mount", "thawfs at %s%s%s (%zu layer%s), upper in the scratch directory", b->commit,
	     nchain ? " with image " : "", nchain ? chain[0] : "", nchain, nchain == 1 ? "" : "s");
	int64_t left = b->deadline_ms - image_now_ms();
	int st = run_wait((char *const *)argv, efd, left > 0 ? left : 1);
	close(efd);
	if (st != 0) {
		char msg[300] = "";
		FILE *f = fopen(errpath, "r");
		if (f) {
			if (!fgets(msg, sizeof(msg), f))
				msg[0] = '\0';
			fclose(f);
			msg[strcspn(msg, "\n")] = '\0';
		}
		if (st == -ETIMEDOUT) {
			b->out->exit_status = -1;
			snap__image_fail(b, "timed out after %u s while mounting the workspace", o->timeout_s ? o->timeout_s : IMAGE_DEFAULT_TIMEOUT_S);
			return -ETIMEDOUT;
		}
		snap__image_fail(b, "thawfs failed (%s %d): %s", st < 0 ? "error" : "exit status", st < 0 ? -st : st,
		     msg[0] ? msg : "no message");
		return -EIO;
	}
	b->mounted = true;
	json_t *j = NULL;
	int r = ctl_request(b->sock, "{\"cmd\":\"status\"}\n", 10000, &j);
	if (r < 0) {
		snap__image_fail(b, "no status from the workspace's control socket: %s", strerror(-r));
		return r;
	}
	b->fs_pid = (pid_t)json_integer_value(json_object_get(j, "pid"));
	json_decref(j);
	return 0;
}

/* Waits until the sync is done (gate open and writes_ready) or failed. */
static int wait_synced(struct image_build *b)
{
	snap__image_emit(b, "sync", "syncing to the tip of %s from %s", b->branch, b->o->remote ? b->o->remote : b->o->repo);
	int64_t t0 = image_now_ms();
	for (;;) {
		json_t *j = NULL;
		int r = ctl_request(b->sock, "{\"cmd\":\"status\"}\n", 10000, &j);
		if (r < 0) {
			snap__image_fail(b, "workspace status failed during the sync: %s", strerror(-r));
			return r;
		}
		json_t *gate = json_object_get(j, "gate"), *sync = json_object_get(j, "sync");
		const char *state = json_string_value(json_object_get(gate, "state"));
		json_int_t writes_ready = json_integer_value(json_object_get(sync, "writes_ready"));
		if (state && !strcmp(state, "sync-failed")) {
			const char *err = json_string_value(json_object_get(sync, "last_error"));
			snap__image_fail(b, "sync of %s failed: %s", b->branch, err ? err : "unknown error");
			json_decref(j);
			return -EIO;
		}
		if (state && !strcmp(state, "open") && writes_ready > 0) {
			const char *c = json_string_value(json_object_get(sync, "synced_commit"));
			if (!c)
				c = json_string_value(json_object_get(j, "commit"));
			snprintf(b->out->commit, sizeof(b->out->commit), "%s", c ? c : b->commit);
			snap__image_emit(b, "sync", "at %s after %.0f ms (%lld paths changed)", b->out->commit, (double)(image_now_ms() - t0),
			     (long long)json_integer_value(json_object_get(sync, "changed")));
			json_decref(j);
			return 0;
		}
		json_decref(j);
		if (image_now_ms() >= b->deadline_ms) {
			b->out->exit_status = -1;
			snap__image_fail(b, "timed out after %u s while syncing %s",
			     b->o->timeout_s ? b->o->timeout_s : IMAGE_DEFAULT_TIMEOUT_S, b->branch);
			return -ETIMEDOUT;
		}
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

static void unmount_ws(struct image_build *b)
{
	if (!b->mounted)
		return;
	char *const argv[] = {(char *)"fusermount3", (char *)"-u", b->mnt, NULL};
	int st = run_wait(argv, -1, 30000);
	if (st != 0 && umount2(b->mnt, MNT_DETACH) < 0)
		snap__image_emit(b, "cleanup", "cannot unmount %s: %s", b->mnt, strerror(errno));
	b->mounted = false;
	/* thawfs exits once the kernel lets it go; wait so its log is complete */
	int64_t end = image_now_ms() + 20000;
	while (pid_alive(b->fs_pid) && image_now_ms() < end) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (pid_alive(b->fs_pid)) {
		snap__image_emit(b, "cleanup", "thawfs %d did not exit after the unmount: killing it", (int)b->fs_pid);
		kill(b->fs_pid, SIGKILL);
	}
}

/* ---- after the freeze ---- */

static void freeze_progress(void *arg, const char *phase, uint64_t done, uint64_t total)
{
	struct image_build *b = arg;
	/* one line per phase, and the totals when a phase reports them */
	if (total && done == total)
		snap__image_emit(b, "freeze", "%s: %llu/%llu", phase, (unsigned long long)done, (unsigned long long)total);
	else if (strcmp(b->freeze_phase, phase)) {
		snap__image_emit(b, "freeze", "%s", phase);
	}
	snprintf(b->freeze_phase, sizeof(b->freeze_phase), "%s", phase);
}

/* Copies src into dst atomically (temporary + rename). */
static int copy_file(const char *src, const char *dst)
{
	char tmp[PATH_MAX + 64];
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", dst, (int)getpid());
	int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	int r = 0;
	int outfd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (outfd < 0) {
		r = -errno;
		close(in);
		return r;
	}
	char buf[65536];
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(outfd, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				r = -errno;
				goto out;
			}
			off += w;
		}
	}
out:
	if (r == 0 && fsync(outfd) < 0)
		r = -errno;
	close(outfd);
	close(in);
	if (r == 0 && rename(tmp, dst) < 0)
		r = -errno;
	if (r < 0)
		(void)unlink(tmp);
	return r;
}

static int write_sidecar(struct image_build *b, const char *id)
{
	const struct snap_image_opts *o = b->o;
	char dir[PATH_MAX], path[PATH_MAX + 32], tmp[PATH_MAX + 64];
	snprintf(dir, sizeof(dir), "%s/layers/%s", snap_store_dir(b->store), id);
	snprintf(path, sizeof(path), "%s/build.log", dir);
	if (b->log)
		fflush(b->log);
	int r = copy_file(b->log_path, path);
	if (r < 0)
		return r;
	json_t *j = json_object(), *cmds = json_array();
	if (!j || !cmds) {
		json_decref(j);
		json_decref(cmds);
		return -ENOMEM;
	}
	for (size_t i = 0; i < o->ncommands; i++)
		json_array_append_new(cmds, json_string(o->commands[i]));
	json_object_set_new(j, "duration_ms", json_real(b->out->duration_ms));
	json_object_set_new(j, "commands", cmds);
	json_object_set_new(j, "commit", json_string(b->out->commit));
	json_object_set_new(j, "previous", b->previous[0] ? json_string(b->previous) : json_null());
	json_object_set_new(j, "branch", json_string(b->branch));
	snprintf(path, sizeof(path), "%s/build.json", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	if (json_dump_file(j, tmp, JSON_COMPACT) < 0) {
		r = -EIO;
	} else if (rename(tmp, path) < 0) {
		r = -errno;
		(void)unlink(tmp);
	}
	json_decref(j);
	return r;
}

/* The thawfs log goes into the build log (so sanitizer reports and errors
 * of the mount are kept after the scratch directory is gone). */
static void append_fslog(struct image_build *b)
{
	if (!b->log)
		return;
	FILE *f = fopen(b->fslog, "r");
	if (!f)
		return;
	char line[IMAGE_LINE_MAX];
	while (fgets(line, sizeof(line), f))
		fprintf(b->log, "[thawfs] %s%s", line, strchr(line, '\n') ? "" : "\n");
	fclose(f);
	fflush(b->log);
}

/* ---- the build ---- */

static int join_commands(const struct snap_image_opts *o, char *buf, size_t size)
{
	size_t len = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < o->ncommands; i++) {
		int r = snprintf(buf + len, size - len, "%s%s", i ? "\n" : "", o->commands[i]);
		if (r < 0 || (size_t)r >= size - len)
			return -ENAMETOOLONG;
		len += (size_t)r;
	}
	return 0;
}

int snap_image_build(struct snap_store *s, const struct snap_image_opts *o, struct snap_image_result *out)
{
	struct image_build b = {.store = s, .o = o, .out = out};
	char **chain = NULL;
	size_t nchain = 0;
	char commands[sizeof(((struct snap_meta *)0)->commands)];
	int r = 0;

	memset(out, 0, sizeof(*out));
	b.start_ms = image_now_ms();
	b.deadline_ms = b.start_ms + 1000 * (int64_t)(o->timeout_s ? o->timeout_s : IMAGE_DEFAULT_TIMEOUT_S);
	git_libgit2_init();

	if (!s || !o->repo || (o->ncommands && !o->commands)) {
		snap__image_fail(&b, "snap_image_build: store and repository are required");
		r = -EINVAL;
		goto done;
	}
	for (size_t i = 0; i < o->ncommands; i++) {
		if (!o->commands[i] || !o->commands[i][0]) {
			snap__image_fail(&b, "command %zu is empty", i + 1);
			r = -EINVAL;
			goto done;
		}
	}
	if (join_commands(o, commands, sizeof(commands)) < 0) {
		snap__image_fail(&b, "the setup commands are longer than %zu bytes together", sizeof(commands) - 1);
		r = -ENAMETOOLONG;
		goto done;
	}

	/* The previous image: must be an image; its chain must be complete. */
	if (o->previous) {
		struct snap_layer *l = NULL;
		r = snap_layer_open(&l, s, o->previous);
		if (r < 0) {
			snap__image_fail(&b, "previous image %s: %s", o->previous, snap_last_error()[0] ? snap_last_error() : strerror(-r));
			goto done;
		}
		const struct snap_meta *m = snap_layer_meta(l);
		if (m->kind != SNAP_KIND_IMAGE) {
			snap__image_fail(&b, "layer %s is a %s snapshot, not an image", m->id, snap_kind_name(m->kind));
			snap_layer_free(l);
			r = -EINVAL;
			goto done;
		}
		snprintf(b.commit, sizeof(b.commit), "%s", m->synced_commit);
		char id[SNAP_ID_HEXLEN + 1];
		snprintf(id, sizeof(id), "%s", m->id);
		snap_layer_free(l);
		r = snap_layer_chain(s, id, &chain, &nchain);
		if (r < 0) {
			snap__image_fail(&b, "chain of image %s: %s", id, snap_last_error()[0] ? snap_last_error() : strerror(-r));
			goto done;
		}
		for (size_t i = 0; i < nchain; i++) {
			uint64_t missing = 0;
			r = snap_layer_open(&l, s, chain[i]);
			if (r == 0) {
				r = snap_layer_check(l, &missing);
				snap_layer_free(l);
			}
			if (r == 0 && missing)
				r = -ENOENT;
			if (r < 0) {
				if (r == -ENOENT)
					snap__image_fail(&b, "layer %s of the previous image's chain is not usable (%llu objects missing)",
					     chain[i], (unsigned long long)missing);
				else
					snap__image_fail(&b, "layer %s of the previous image's chain is not usable: %s", chain[i],
					     snap_last_error()[0] ? snap_last_error() : strerror(-r));
				goto done;
			}
		}
	}
	abs_path(o->repo, b.repo, sizeof(b.repo));
	abs_path(snap_store_dir(s), b.store_dir, sizeof(b.store_dir));
	if (o->cache)
		abs_path(o->cache, b.cache, sizeof(b.cache));
	/* a remote that is a local path (not a URL) is made absolute too */
	if (!o->remote)
		snprintf(b.remote, sizeof(b.remote), "%s", b.repo);
	else if (!strstr(o->remote, "://") && access(o->remote, F_OK) == 0)
		abs_path(o->remote, b.remote, sizeof(b.remote));
	else
		snprintf(b.remote, sizeof(b.remote), "%s", o->remote);
	if (nchain > 31) {
		snap__image_fail(&b, "the previous image's chain has %zu layers (thawfs mounts at most 31)", nchain);
		r = -E2BIG;
		goto done;
	}
	r = resolve_base(&b, nchain == 0);
	if (r < 0)
		goto done;

	r = make_scratch(&b);
	if (r < 0)
		goto done;
	if (o->log_path)
		snprintf(b.log_path, sizeof(b.log_path), "%s", o->log_path);
	else
		snprintf(b.log_path, sizeof(b.log_path), "%s/build.log", b.work);
	b.log = fopen(b.log_path, "we");
	if (!b.log) {
		r = -errno;
		snap__image_fail(&b, "cannot write the build log %s: %s", b.log_path, strerror(-r));
		goto done;
	}
	snap__image_emit(&b, "start", "image build of %s (branch %s) from %s", o->repo_name ? o->repo_name : o->repo, b.branch,
	     nchain ? chain[0] : "the bare commit");

	if (nchain)
		snprintf(b.previous, sizeof(b.previous), "%s", chain[0]);
	r = mount_ws(&b, chain, nchain);
	if (r < 0)
		goto done;
	r = wait_synced(&b);
	if (r < 0)
		goto done;
	for (size_t i = 0; i < o->ncommands; i++) {
		r = snap__image_run_command(&b, i, o->commands[i]);
		if (r < 0)
			goto done;
	}

	snap__image_emit(&b, "freeze", "packing the workspace's changes");
	struct snap_freeze_opts fo = {
		.control = b.sock,
		.kind = SNAP_KIND_IMAGE,
		.repo_name = o->repo_name,
		.commands = commands,
		.progress = freeze_progress,
		.progress_arg = &b,
	};
	struct snap_freeze_stats fst = {0};
	char id[SNAP_ID_HEXLEN + 1] = "";
	r = snap_freeze(s, &fo, id, &fst);
	if (r < 0) {
		snap__image_fail(&b, "freeze failed: %s", snap_last_error()[0] ? snap_last_error() : strerror(-r));
		goto done;
	}
	snap__image_emit(&b, "freeze", "image %s: %llu entries, %llu bytes, %llu new objects (%llu bytes) in %.0f ms", id,
	     (unsigned long long)fst.files, (unsigned long long)fst.bytes, (unsigned long long)fst.new_objects,
	     (unsigned long long)fst.new_bytes, fst.total_ms);
	if (nchain + 1 > snap__image_max_chain()) {
		/* the chain's merged view as one layer; the chained layer goes */
		char flat[SNAP_ID_HEXLEN + 1];
		size_t nent = 0, nlay = 0;
		snap__image_emit(&b, "flatten", "the chain has %zu layers (at most %zu): writing its merged view as one layer",
		     nchain + 1, snap__image_max_chain());
		r = snap__image_flatten(s, id, flat, &nent, &nlay);
		if (r < 0)
			snap__image_fail(&b, "%s", snap_last_error());
		else
			snap__image_emit(&b, "flatten", "image %s: %zu entries from %zu layers", flat, nent, nlay);
		if (snap_layer_remove(s, id) < 0)
			snap__image_emit(&b, "flatten", "warning: cannot remove the chained layer %s: %s", id, snap_last_error());
		if (r < 0)
			goto done;
		snprintf(id, sizeof(id), "%s", flat);
	}
	out->duration_ms = (double)(image_now_ms() - b.start_ms);
	snap__image_emit(&b, "done", "image %s at %s in %.0f ms", id, out->commit, out->duration_ms);
	int sr = write_sidecar(&b, id);
	if (sr < 0)
		snap__image_emit(&b, "done", "warning: cannot keep the build log in the layer directory: %s", strerror(-sr));
	snprintf(out->id, sizeof(out->id), "%s", id);

done:
	unmount_ws(&b);
	append_fslog(&b);
	if (r < 0 && !out->error[0])
		snap__image_fail(&b, "%s", strerror(-r));
	if (r < 0)
		snap__err(r, "%s", out->error); /* snap_last_error() for callers */
	if (!out->duration_ms)
		out->duration_ms = (double)(image_now_ms() - b.start_ms);
	if (b.log)
		fclose(b.log);
	if (b.work[0])
		rm_tree(b.work);
	snap_ids_free(chain, nchain);
	git_libgit2_shutdown();
	return r;
}
