/*
 * ttfr: time to first read. Runs setup commands (fork/exec, wait, in order),
 * then opens a path and reads one byte from it, and prints the elapsed time
 * measured with CLOCK_MONOTONIC from just before the first setup command is
 * started to just after the byte arrived. No shell is involved, so shell
 * start-up is not measured.
 *
 *   ttfr [--label TEXT] [--json] [--quiet] [-C DIR] [--pids-out FILE]
 *        [--setup "CMD ARGS..."]... [--read PATH] [-- CMD ARGS...]
 *
 * --setup takes one command line split on blanks (no quoting, no globbing;
 * use the form after "--" for arguments with blanks). Several --setup are run
 * in order; the command after "--" runs last. A setup command that exits
 * non-zero aborts with exit status 1.
 *
 * Output on stdout, one line:
 *   default:   TOTAL_MS SETUP_MS READ_MS
 *   --label:   LABEL: TOTAL ms (setup SETUP ms, open+read READ ms)
 *   --json:    {"total_ms":..,"setup_ms":..,"read_ms":..}
 * Setup commands' stdout goes to ttfr's stderr (to /dev/null with --quiet),
 * so stdout carries only the figures. -C DIR runs the commands in DIR (the
 * read path is not affected). Without --read, ttfr times the commands alone
 * (READ_MS is 0): the benchmark uses it as a timer without shell overhead.
 *
 * ttfr makes itself a child subreaper: a setup command that daemonizes (a
 * FUSE file system) leaves its daemon as ttfr's child, and --pids-out FILE
 * records those daemons' pids (one per line) so the caller can wait for them
 * exactly, without matching process names. Recorded after the timing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "banned.h"

#define MAX_SETUPS 16
#define MAX_ARGS 256

struct cmd {
	char *argv[MAX_ARGS + 1];
};

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: ttfr [--label TEXT] [--json] [--quiet] [-C DIR] [--pids-out FILE]\n"
	        "            [--setup \"CMD ARGS\"]... [--read PATH] [-- CMD ARGS...]\n"
	        "\n"
	        "Runs the setup commands in order (fork/exec, wait), then opens PATH and\n"
	        "reads one byte. Prints the elapsed milliseconds (CLOCK_MONOTONIC) from\n"
	        "starting the first command to receiving the byte:\n"
	        "  default   TOTAL_MS SETUP_MS READ_MS\n"
	        "  --label   LABEL: TOTAL ms (setup SETUP ms, open+read READ ms)\n"
	        "  --json    {\"total_ms\":T,\"setup_ms\":S,\"read_ms\":R}\n"
	        "--setup splits its argument on blanks (no quoting); use \"-- CMD ARGS\" for\n"
	        "arguments with blanks. --pids-out FILE records the pids of daemons the\n"
	        "setup commands left behind (ttfr is a child subreaper). Commands' stdout\n"
	        "goes to stderr (--quiet: to /dev/null); -C DIR runs them in DIR.\n");
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int split(char *s, struct cmd *c)
{
	int n = 0;
	char *save = NULL;
	for (char *tok = strtok_r(s, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
		if (n >= MAX_ARGS)
			return -1;
		c->argv[n++] = tok;
	}
	c->argv[n] = NULL;
	return n;
}

static const char *g_chdir;
static int g_quiet;

static int run(char *const argv[])
{
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "ttfr: fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		/* Setup output must not mix with the figures on stdout. */
		int out = g_quiet ? open("/dev/null", O_WRONLY) : STDERR_FILENO;
		if (out < 0 || dup2(out, STDOUT_FILENO) < 0)
			_exit(127);
		if (g_chdir && chdir(g_chdir) < 0) {
			fprintf(stderr, "ttfr: cd %s: %s\n", g_chdir, strerror(errno));
			_exit(127);
		}
		execvp(argv[0], argv);
		fprintf(stderr, "ttfr: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "ttfr: waitpid: %s\n", strerror(errno));
			return -1;
		}
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFEXITED(st))
		fprintf(stderr, "ttfr: %s exited with status %d\n", argv[0], WEXITSTATUS(st));
	else
		fprintf(stderr, "ttfr: %s killed by signal %d\n", argv[0], WTERMSIG(st));
	return -1;
}

/* Children of ours that we did not fork directly: adopted daemons. */
static int write_adopted(const char *file)
{
	FILE *out = fopen(file, "w");
	if (!out) {
		fprintf(stderr, "ttfr: %s: %s\n", file, strerror(errno));
		return -1;
	}
	DIR *d = opendir("/proc");
	if (!d) {
		fclose(out);
		return -1;
	}
	pid_t self = getpid();
	struct dirent *de;
	while ((de = readdir(d))) {
		char path[300], buf[512];
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		/* pid (comm) state ppid ...: comm may hold blanks and parens. */
		char *rp = strrchr(buf, ')');
		char state;
		int ppid;
		if (rp && sscanf(rp + 1, " %c %d", &state, &ppid) == 2 && ppid == self && state != 'Z')
			fprintf(out, "%s\n", de->d_name);
	}
	closedir(d);
	return fclose(out) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct cmd setups[MAX_SETUPS + 1];
	int nsetups = 0;
	const char *label = NULL, *path = NULL, *pids_out = NULL;
	int json = 0;

	int i = 1;
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--json")) {
			json = 1;
		} else if (!strcmp(a, "--quiet")) {
			g_quiet = 1;
		} else if (i + 1 < argc && !strcmp(a, "-C")) {
			g_chdir = argv[++i];
		} else if (!strcmp(a, "--")) {
			i++;
			break;
		} else if (i + 1 < argc && !strcmp(a, "--label")) {
			label = argv[++i];
		} else if (i + 1 < argc && !strcmp(a, "--read")) {
			path = argv[++i];
		} else if (i + 1 < argc && !strcmp(a, "--pids-out")) {
			pids_out = argv[++i];
		} else if (i + 1 < argc && !strcmp(a, "--setup")) {
			if (nsetups >= MAX_SETUPS) {
				fprintf(stderr, "ttfr: at most %d --setup\n", MAX_SETUPS);
				return 2;
			}
			if (split(argv[++i], &setups[nsetups]) <= 0) {
				fprintf(stderr, "ttfr: empty or too long --setup\n");
				return 2;
			}
			nsetups++;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (i < argc) {
		if (argc - i > MAX_ARGS) {
			fprintf(stderr, "ttfr: too many arguments\n");
			return 2;
		}
		for (int k = i; k < argc; k++)
			setups[nsetups].argv[k - i] = argv[k];
		setups[nsetups].argv[argc - i] = NULL;
		nsetups++;
	}
	if (nsetups == 0 && !path) {
		usage(stderr);
		return 2;
	}
	if (pids_out && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
		fprintf(stderr, "ttfr: PR_SET_CHILD_SUBREAPER: %s\n", strerror(errno));
		return 1;
	}
	fflush(NULL);

	double t0 = now_ms();
	for (int k = 0; k < nsetups; k++)
		if (run(setups[k].argv) < 0)
			return 1;
	double t1 = now_ms();
	if (path) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "ttfr: open %s: %s\n", path, strerror(errno));
			return 1;
		}
		char c;
		ssize_t n;
		while ((n = read(fd, &c, 1)) < 0 && errno == EINTR)
			;
		if (n != 1) {
			fprintf(stderr, "ttfr: read %s: %s\n", path, n == 0 ? "empty file" : strerror(errno));
			close(fd);
			return 1;
		}
		close(fd);
	}
	double t2 = now_ms();

	if (pids_out && write_adopted(pids_out) < 0)
		return 1;
	if (json)
		printf("{\"total_ms\":%.3f,\"setup_ms\":%.3f,\"read_ms\":%.3f}\n", t2 - t0, t1 - t0, t2 - t1);
	else if (label)
		printf("%s: %.3f ms (setup %.3f ms, open+read %.3f ms)\n", label, t2 - t0, t1 - t0, t2 - t1);
	else
		printf("%.3f %.3f %.3f\n", t2 - t0, t1 - t0, t2 - t1);
	return fflush(stdout) == 0 ? 0 : 1;
}
