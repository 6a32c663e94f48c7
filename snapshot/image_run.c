/*
 * Running an image build's setup commands (snapshot/image.c drives the
 * build): each command is `sh -c LINE` inside bubblewrap with the workspace
 * bound at /workspace, its output split into lines for the build log and the
 * progress callback, and the build's deadline enforced by killing the
 * command's process group. See docs/images.md ("The sandbox").
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "image_int.h"

#include "banned.h"

static void output_line(struct image_build *b, const char *line)
{
	if (b->log) {
		fprintf(b->log, "%s\n", line);
		fflush(b->log);
	}
	snprintf(b->tail[b->ntail % IMAGE_TAIL_LINES], sizeof(b->tail[0]), "%s", line);
	b->ntail++;
	if (b->o->progress)
		b->o->progress(b->o->progress_arg, "run", line);
}

/* "line1 | line2 | ..." of the last output lines, for an error message. */
static void tail_text(const struct image_build *b, char *buf, size_t size)
{
	buf[0] = '\0';
	unsigned n = b->ntail < IMAGE_TAIL_LINES ? b->ntail : IMAGE_TAIL_LINES;
	size_t len = 0;
	for (unsigned i = b->ntail - n; i < b->ntail && len < size; i++) {
		int r = snprintf(buf + len, size - len, "%s%s", len ? " | " : "", b->tail[i % IMAGE_TAIL_LINES]);
		if (r < 0)
			break;
		len += (size_t)r;
	}
}

/* ---- the setup commands ---- */

/* bubblewrap's arguments. The system is bound read-only entry by entry
 * (rather than --ro-bind / /) because bwrap must create /workspace, which a
 * read-only root does not allow; the new root is remounted read-only last. */
static int bwrap_argv(struct image_build *b, const char *cmd, char ***out, size_t *out_n)
{
	size_t cap = 64, n = 0;
	char **v = calloc(cap, sizeof(*v));
	if (!v)
		return -ENOMEM;
#define ADD(s)                                                                                   \
	do {                                                                                     \
		if (n + 2 >= cap) {                                                              \
			char **nv = realloc(v, (cap *= 2) * sizeof(*v));                         \
			if (!nv)                                                                 \
				goto nomem;                                                      \
			v = nv;                                                                  \
		}                                                                                \
		if (!(v[n++] = strdup(s)))                                                       \
			goto nomem;                                                              \
	} while (0)
	ADD("bwrap");
	ADD("--die-with-parent");
	ADD("--unshare-pid");
	ADD("--unshare-net");
	ADD("--unshare-ipc");
	DIR *root = opendir("/");
	if (!root)
		goto nomem;
	struct dirent *de;
	while ((de = readdir(root))) {
		const char *nm = de->d_name;
		if (!strcmp(nm, ".") || !strcmp(nm, "..") || !strcmp(nm, "dev") || !strcmp(nm, "proc") ||
		    !strcmp(nm, "tmp") || !strcmp(nm, "workspace"))
			continue;
		char path[PATH_MAX], target[PATH_MAX];
		snprintf(path, sizeof(path), "/%s", nm);
		struct stat st;
		if (lstat(path, &st) < 0)
			continue;
		if (S_ISLNK(st.st_mode)) {
			ssize_t tl = readlink(path, target, sizeof(target) - 1);
			if (tl <= 0)
				continue;
			target[tl] = '\0';
			ADD("--symlink");
			ADD(target);
			ADD(path);
		} else if (S_ISDIR(st.st_mode)) {
			ADD("--ro-bind");
			ADD(path);
			ADD(path);
		}
	}
	closedir(root);
	ADD("--dev");
	ADD("/dev");
	ADD("--proc");
	ADD("/proc");
	ADD("--tmpfs");
	ADD("/tmp");
	ADD("--bind");
	ADD(b->mnt);
	ADD("/workspace");
	ADD("--remount-ro");
	ADD("/");
	ADD("--chdir");
	ADD("/workspace");
	ADD("--setenv");
	ADD("HOME");
	ADD("/tmp");
	ADD("--setenv");
	ADD("THAW_IMAGE_BUILD");
	ADD("1");
	ADD("--");
	ADD("sh");
	ADD("-c");
	ADD(cmd);
#undef ADD
	v[n] = NULL;
	*out = v;
	*out_n = n;
	return 0;
nomem:
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return -ENOMEM;
}

static void kill_group(pid_t pgid)
{
	kill(-pgid, SIGTERM);
	int64_t end = image_now_ms() + 500;
	while (image_now_ms() < end && kill(-pgid, 0) == 0) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
		int st;
		(void)waitpid(pgid, &st, WNOHANG);
	}
	kill(-pgid, SIGKILL);
}

/* Runs one command; 0 on success, -ECHILD when it exited non-zero,
 * -ETIMEDOUT at the deadline. */
int snap__image_run_command(struct image_build *b, size_t idx, const char *cmd)
{
	char **argv = NULL;
	size_t argc = 0;
	int r = bwrap_argv(b, cmd, &argv, &argc);
	if (r < 0) {
		snap__image_fail(b, "cannot prepare the sandbox: %s", strerror(-r));
		return r;
	}
	snap__image_emit(b, "run", "$ %s", cmd);
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		r = -errno;
		snap__image_fail(b, "pipe: %s", strerror(-r));
		goto done_argv;
	}
	pid_t pid = fork();
	if (pid < 0) {
		r = -errno;
		close(pfd[0]);
		close(pfd[1]);
		snap__image_fail(b, "fork: %s", strerror(-r));
		goto done_argv;
	}
	if (pid == 0) {
		setpgid(0, 0);
		int nul = open("/dev/null", O_RDONLY);
		if (nul >= 0)
			dup2(nul, 0);
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[0], argv);
		dprintf(2, "cannot run bwrap: %s\n", strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid); /* both sides: no race with the kill below */
	close(pfd[1]);
	char buf[IMAGE_LINE_MAX];
	size_t have = 0;
	bool timed_out = false;
	for (;;) {
		int64_t left = b->deadline_ms - image_now_ms();
		if (left <= 0) {
			timed_out = true;
			break;
		}
		struct pollfd pf = {.fd = pfd[0], .events = POLLIN};
		int pr = poll(&pf, 1, left > 1000 ? 1000 : (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr == 0)
			continue;
		ssize_t n = read(pfd[0], buf + have, sizeof(buf) - 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
		size_t start = 0;
		for (size_t i = 0; i < have; i++) {
			if (buf[i] == '\n') {
				buf[i] = '\0';
				output_line(b, buf + start);
				start = i + 1;
			}
		}
		if (start == 0 && have == sizeof(buf) - 1) { /* an over-long line: cut it */
			buf[have] = '\0';
			output_line(b, buf);
			have = 0;
		} else {
			memmove(buf, buf + start, have - start);
			have -= start;
		}
	}
	if (have) {
		buf[have] = '\0';
		output_line(b, buf);
	}
	close(pfd[0]);
	/* The output may end before the command does (it closed its stdout):
	 * the deadline still applies. */
	int st = 0;
	while (!timed_out) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid || (w < 0 && errno != EINTR))
			break;
		if (image_now_ms() >= b->deadline_ms) {
			timed_out = true;
			break;
		}
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (timed_out) {
		kill_group(pid);
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
	}
	/* anything left in the group (the sandbox dies with bwrap) */
	kill(-pid, SIGKILL);
	char tail[300];
	if (timed_out) {
		b->out->exit_status = -1;
		snap__image_emit(b, "run", "timed out: killed");
		tail_text(b, tail, sizeof(tail));
		snap__image_fail(b, "timed out after %u s in command %zu `%.80s`%s%s", b->o->timeout_s ? b->o->timeout_s : IMAGE_DEFAULT_TIMEOUT_S,
		     idx + 1, cmd, tail[0] ? "; last output: " : "", tail);
		r = -ETIMEDOUT;
	} else {
		int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		snap__image_emit(b, "run", "exit status %d", code);
		if (code != 0) {
			b->out->exit_status = code;
			tail_text(b, tail, sizeof(tail));
			snap__image_fail(b, "command %zu `%.80s` exited with status %d%s%s", idx + 1, cmd, code,
			     tail[0] ? "; last output: " : "", tail);
			r = -ECHILD;
		}
	}
done_argv:
	for (size_t i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
	return r;
}

