/*
 * thawfs-ctl: send one request to a thawfs control socket and print the
 * answer (one JSON line). For scripts, tests and people on a dev box.
 */
#include <errno.h>
#include <stdbool.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "banned.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: thawfs-ctl [--timeout SECONDS] [--follow] SOCKET [COMMAND | JSON]\n"
	           "\n"
	           "Sends COMMAND (default: status) to the control socket of a thawfs mount\n"
	           "and prints its one-line JSON answer. COMMAND is a word (status, sync,\n"
	           "freeze, thaw, subscribe, evict) or a whole JSON request object.\n"
	           "--follow keeps printing the lines that follow (events after subscribe)\n"
	           "until the connection closes or --timeout passes without a line.\n"
	           "Exit status: 0 when the answer has \"ok\":true, 1 on an error answer or\n"
	           "no answer, 2 on usage errors. Output is always JSON (--json is accepted).\n");
}

int main(int argc, char **argv)
{
	int timeout_ms = 10000, i = 1;
	bool follow = false;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--json")) {
			continue;
		} else if (!strcmp(argv[i], "--follow")) {
			follow = true;
		} else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			timeout_ms = atoi(argv[++i]) * 1000;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (i >= argc || argc - i > 2) {
		usage(stderr);
		return 2;
	}
	const char *path = argv[i];
	const char *cmd = i + 1 < argc ? argv[i + 1] : "status";
	char req[4096];
	if (cmd[0] == '{')
		snprintf(req, sizeof(req), "%s\n", cmd);
	else
		snprintf(req, sizeof(req), "{\"cmd\":\"%.64s\"}\n", cmd);

	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "thawfs-ctl: socket path too long\n");
		return 2;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "thawfs-ctl: cannot connect to %s: %s\n", path, strerror(errno));
		return 1;
	}
	size_t len = strlen(req);
	if (send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len) {
		fprintf(stderr, "thawfs-ctl: send: %s\n", strerror(errno));
		return 1;
	}
	char *buf = NULL;
	size_t have = 0;
	for (;;) {
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		int pr = poll(&pf, 1, timeout_ms);
		if (pr <= 0) {
			fprintf(stderr, "thawfs-ctl: no answer from %s\n", path);
			free(buf);
			return 1;
		}
		char tmp[4096];
		ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
		if (n <= 0)
			break;
		char *nb = realloc(buf, have + (size_t)n + 1);
		if (!nb)
			return 1;
		buf = nb;
		memcpy(buf + have, tmp, (size_t)n);
		have += (size_t)n;
		buf[have] = '\0';
		if (!follow && memchr(buf, '\n', have))
			break;
		if (follow) {
			/* print complete lines as they come */
			char *nl;
			while ((nl = memchr(buf, '\n', have))) {
				fwrite(buf, 1, (size_t)(nl - buf + 1), stdout);
				fflush(stdout);
				size_t rest = have - (size_t)(nl - buf + 1);
				memmove(buf, nl + 1, rest);
				have = rest;
				buf[have] = '\0';
			}
		}
	}
	if (follow) {
		free(buf);
		close(fd);
		return 0;
	}
	close(fd);
	if (!buf) {
		fprintf(stderr, "thawfs-ctl: connection closed without an answer\n");
		return 1;
	}
	fputs(buf, stdout);
	int ok = strstr(buf, "\"ok\":true") != NULL;
	free(buf);
	return ok ? 0 : 1;
}
