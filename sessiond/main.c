/*
 * thawd: the session daemon. Options, the state directory, the pid lock,
 * the loop; small helpers shared by the daemon's files.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "snapshot.h"
#include "thawd.h"

#include "banned.h"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: thawd [--state DIR] [--listen 127.0.0.1:PORT] [--thawfs PATH] [--max-sessions N]\n"
	        "             [--foreground] [--log FILE] [--json] [--image-max-chain N]\n"
	        "             [--image-gc-interval DUR] [--snapshot-retention DUR] [--gc-grace DUR]\n"
	        "\n"
	        "The Thaw session daemon: serves the HTTP/JSON API (docs/api.md) on STATE/thawd.sock\n"
	        "and supervises one thawfs process per session workspace.\n"
	        "\n"
	        "  --state DIR        state directory (default $THAW_STATE, else $XDG_STATE_HOME/thaw,\n"
	        "                     else ~/.local/state/thaw)\n"
	        "  --listen ADDR      also listen on loopback TCP (bearer token in STATE/token)\n"
	        "  --thawfs PATH      the thawfs binary (default: next to thawd, ../fs/thawfs, then PATH)\n"
	        "  --max-sessions N   concurrent sessions (default %u); more answer 429\n"
	        "  --foreground       stay attached (thawd never forks; accepted for scripts)\n"
	        "  --log FILE         log here instead of stderr\n"
	        "  --json             log one JSON object per line\n"
	        "  --image-max-chain N  flatten an image chain longer than N layers (1..31, default 16;\n"
	        "                     sets THAW_IMAGE_MAX_CHAIN for the image builder)\n"
	        "  --image-gc-interval DUR  store garbage collection every DUR (default 10m; 0: only\n"
	        "                     after a new image landed)\n"
	        "  --snapshot-retention DUR  keep snapshots of ended sessions this long (default 7d)\n"
	        "  --gc-grace DUR     unreferenced objects younger than this stay (default 10m)\n"
	        "  DUR: a number with an optional unit s, m, h or d (seconds without one;\n"
	        "  --snapshot-retention: days without one)\n",
	        THAWD_DEFAULT_MAX_SESSIONS);
}

static int default_state(char *out, size_t n)
{
	const char *e = getenv("THAW_STATE");
	if (e && *e)
		return snprintf(out, n, "%s", e) < (int)n ? 0 : -ENAMETOOLONG;
	e = getenv("XDG_STATE_HOME");
	if (e && *e)
		return snprintf(out, n, "%s/thaw", e) < (int)n ? 0 : -ENAMETOOLONG;
	e = getenv("HOME");
	if (!e || !*e)
		return -ENOENT;
	return snprintf(out, n, "%s/.local/state/thaw", e) < (int)n ? 0 : -ENAMETOOLONG;
}

/* "90", "90s", "15m", "12h", "7d" -> seconds (a number without unit is in
 * unit_s seconds). -EINVAL on anything else or above 10 years. */
static int parse_duration(const char *v, int64_t unit_s, int64_t *out)
{
	char *end = NULL;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (!*v || !isdigit((unsigned char)*v) || errno || n < 0)
		return -EINVAL;
	int64_t mul = unit_s;
	if (*end) {
		if (end[1])
			return -EINVAL;
		switch (*end) {
		case 's': mul = 1; break;
		case 'm': mul = 60; break;
		case 'h': mul = 3600; break;
		case 'd': mul = 86400; break;
		default: return -EINVAL;
		}
	}
	if (n > 10LL * 366 * 86400 / mul)
		return -EINVAL;
	*out = (int64_t)n * mul;
	return 0;
}

static int find_thawfs(char *out, size_t n)
{
	char self[PATH_MAX];
	ssize_t l = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (l > 0) {
		self[l] = 0;
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = 0;
			const char *cands[] = {"%s/thawfs", "%s/../fs/thawfs"};
			for (size_t i = 0; i < 2; i++) {
				char p[PATH_MAX + 32];
				snprintf(p, sizeof(p), cands[i], self);
				if (access(p, X_OK) == 0 && realpath(p, out))
					return 0;
			}
		}
	}
	const char *path = getenv("PATH");
	if (!path)
		return -ENOENT;
	char *dup = strdup(path), *save = NULL;
	for (char *dir = strtok_r(dup, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		char p[PATH_MAX + 16];
		snprintf(p, sizeof(p), "%s/thawfs", dir);
		if (access(p, X_OK) == 0) {
			snprintf(out, n, "%s", p);
			free(dup);
			return 0;
		}
	}
	free(dup);
	return -ENOENT;
}

/* STATE/token: 0600, 32 random bytes as hex, created once. */
static int load_token(struct thawd *d, char *tok, size_t n)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/token", d->cfg.state);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t r = read(fd, tok, n - 1);
		close(fd);
		if (r <= 0)
			return -EIO;
		tok[r] = 0;
		tok[strcspn(tok, "\r\n")] = 0;
		return strlen(tok) >= 16 ? 0 : -EINVAL;
	}
	unsigned char rnd[32];
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		return -EIO;
	for (size_t i = 0; i < sizeof(rnd) && 2 * i + 2 < n; i++)
		snprintf(tok + 2 * i, 3, "%02x", rnd[i]);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	size_t len = strlen(tok);
	bool ok = write(fd, tok, len) == (ssize_t)len && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
	close(fd);
	return ok ? 0 : -EIO;
}

/* STATE/thawd.pid, flock'd for the daemon's lifetime. */
static int lock_pid(struct thawd *d)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/thawd.pid", d->cfg.state);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		char buf[32] = "";
		ssize_t r = pread(fd, buf, sizeof(buf) - 1, 0);
		if (r > 0)
			buf[r] = 0;
		buf[strcspn(buf, "\n")] = 0;
		fprintf(stderr, "thawd: another thawd (pid %s) already runs on %s\n", *buf ? buf : "?", d->cfg.state);
		close(fd);
		return e == EWOULDBLOCK ? -EBUSY : -e;
	}
	char buf[32];
	int len = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)len, 0) != len) {
		close(fd);
		return -EIO;
	}
	d->pidfd = fd;
	return 0;
}

static void tick_cb(uv_timer_t *t)
{
	struct thawd *d = t->data;
	thawd_sessions_tick(d);
	thawd_repos_tick(d);
	thawd_image_gc_tick(d);
}

static void stop_all(struct thawd *d)
{
	if (d->stopping)
		return;
	d->stopping = true;
	thawd_log(d, "info", "stopping (sessions stay mounted; the next thawd reattaches)");
	if (d->pool_stop)
		d->pool_stop(d);
	uv_timer_stop(&d->tick);
	thawd_events_close_all(d);
	for (struct thawd_session *s = d->sessions; s; s = s->next)
		thawd_sup_detach(s);
	if (d->http)
		http_server_stop(d->http);
	d->http = NULL;
	uv_close((uv_handle_t *)&d->tick, NULL);
	uv_close((uv_handle_t *)&d->sigterm, NULL);
	uv_close((uv_handle_t *)&d->sigint, NULL);
	thawd_db_stop(d);
}

static void signal_cb(uv_signal_t *h, int sig)
{
	(void)sig;
	stop_all(h->data);
}

/* The route table passed to the server: thawd_routes without the entries
 * whose handler is not linked (the weak pool handlers). */
static struct http_route *routes_linked(size_t *n)
{
	struct http_route *t = calloc(thawd_nroutes, sizeof(*t));
	size_t k = 0;
	if (!t)
		return NULL;
	for (size_t i = 0; i < thawd_nroutes; i++)
		if (thawd_routes[i].fn)
			t[k++] = thawd_routes[i];
	*n = k;
	return t;
}

int main(int argc, char **argv)
{
	static struct thawd daemon;
	struct thawd *d = &daemon;
	const char *state = NULL, *thawfs = NULL;
	d->cfg.max_sessions = THAWD_DEFAULT_MAX_SESSIONS;
	d->pidfd = -1;
	d->cfg.image_gc_interval_s = THAWD_GC_DEFAULT_INTERVAL_S;
	d->cfg.snapshot_retention_s = THAWD_GC_DEFAULT_RETENTION_S;
	d->cfg.gc_grace_s = THAWD_GC_DEFAULT_GRACE_S;
	enum { O_STATE = 256, O_LISTEN, O_THAWFS, O_MAX, O_FG, O_LOG, O_JSON, O_CHAIN, O_GC_INT, O_RETENTION, O_GRACE };
	static const struct option opts[] = {
		{"state", required_argument, NULL, O_STATE},
		{"listen", required_argument, NULL, O_LISTEN},
		{"thawfs", required_argument, NULL, O_THAWFS},
		{"max-sessions", required_argument, NULL, O_MAX},
		{"foreground", no_argument, NULL, O_FG},
		{"log", required_argument, NULL, O_LOG},
		{"json", no_argument, NULL, O_JSON},
		{"image-max-chain", required_argument, NULL, O_CHAIN},
		{"image-gc-interval", required_argument, NULL, O_GC_INT},
		{"snapshot-retention", required_argument, NULL, O_RETENTION},
		{"gc-grace", required_argument, NULL, O_GRACE},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "hf", opts, NULL)) != -1) {
		switch (c) {
		case O_STATE: state = optarg; break;
		case O_LISTEN: d->cfg.listen = optarg; break;
		case O_THAWFS: thawfs = optarg; break;
		case O_MAX: {
			char *end = NULL;
			long v = strtol(optarg, &end, 10);
			if (!*optarg || *end || v < 1 || v > 100000) {
				fprintf(stderr, "thawd: --max-sessions: expected 1..100000, got '%s'\n", optarg);
				return 2;
			}
			d->cfg.max_sessions = (unsigned)v;
			break;
		}
		case 'f':
		case O_FG: d->cfg.foreground = true; break;
		case O_LOG: d->cfg.log_path = optarg; break;
		case O_JSON: d->cfg.json_log = true; break;
		case O_CHAIN: {
			char *end = NULL;
			long v = strtol(optarg, &end, 10);
			if (!*optarg || *end || v < 1 || v > 31) {
				fprintf(stderr, "thawd: --image-max-chain: expected 1..31, got '%s'\n", optarg);
				return 2;
			}
			/* the image builder (snapshot/image_flatten.c) reads it on the worker thread */
			setenv("THAW_IMAGE_MAX_CHAIN", optarg, 1);
			break;
		}
		case O_GC_INT:
		case O_GRACE:
		case O_RETENTION: {
			int64_t v = 0;
			if (parse_duration(optarg, c == O_RETENTION ? 86400 : 1, &v) < 0 ||
			    (c != O_RETENTION && v > UINT32_MAX)) {
				fprintf(stderr, "thawd: --%s: expected a duration such as 90, 90s, 15m, 12h or 7d, got '%s'\n",
				        c == O_GC_INT ? "image-gc-interval" : c == O_GRACE ? "gc-grace" : "snapshot-retention",
				        optarg);
				return 2;
			}
			if (c == O_GC_INT)
				d->cfg.image_gc_interval_s = (unsigned)v;
			else if (c == O_GRACE)
				d->cfg.gc_grace_s = (unsigned)v;
			else
				d->cfg.snapshot_retention_s = v;
			break;
		}
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "thawd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	FILE *log_file = NULL;
	if (d->cfg.log_path) {
		log_file = fopen(d->cfg.log_path, "ae");
		if (!log_file) {
			fprintf(stderr, "thawd: --log %s: %s\n", d->cfg.log_path, strerror(errno));
			return 1;
		}
	}
	thawd_log_setup(log_file, d->cfg.json_log);
	char st[PATH_MAX];
	if (state) {
		if (snprintf(st, sizeof(st), "%s", state) >= (int)sizeof(st)) {
			fprintf(stderr, "thawd: --state: path too long\n");
			return 2;
		}
	} else if (default_state(st, sizeof(st)) < 0) {
		fprintf(stderr, "thawd: no state directory: set --state, $THAW_STATE or $HOME\n");
		return 2;
	}
	int r = thawd_mkdirs(st, 0700);
	if (r < 0 || !realpath(st, d->cfg.state)) {
		fprintf(stderr, "thawd: state directory %s: %s\n", st, strerror(r < 0 ? -r : errno));
		return 1;
	}
	/* STATE/sessions/s-XXXXXXXXXXXXXXXX/ctl.sock must fit a Unix socket address */
	if (strlen(d->cfg.state) > 64) {
		fprintf(stderr, "thawd: state directory path too long (at most 64 bytes for socket paths): %s\n",
		        d->cfg.state);
		return 2;
	}
	if (thawfs) {
		if (!realpath(thawfs, d->cfg.thawfs) || access(d->cfg.thawfs, X_OK) < 0) {
			fprintf(stderr, "thawd: --thawfs %s: %s\n", thawfs, strerror(errno));
			return 1;
		}
	} else if (find_thawfs(d->cfg.thawfs, sizeof(d->cfg.thawfs)) < 0) {
		fprintf(stderr, "thawd: thawfs not found (next to thawd, ../fs/thawfs, PATH): use --thawfs\n");
		return 1;
	}
	if (lock_pid(d) < 0)
		return 1;
	const char *subdirs[] = {"sessions", "repos", "cache", "store", "builds"};
	for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		char p[PATH_MAX + 16];
		snprintf(p, sizeof(p), "%s/%s", d->cfg.state, subdirs[i]);
		if ((r = thawd_mkdirs(p, 0700)) < 0) {
			fprintf(stderr, "thawd: %s: %s\n", p, strerror(-r));
			return 1;
		}
	}
	/* Blocking work (mounts, git, freezes) runs on the thread pool: give it
	 * room for many concurrent session creations. */
	setenv("UV_THREADPOOL_SIZE", "32", 0);
	signal(SIGPIPE, SIG_IGN);
	git_libgit2_init();

	char storedir[PATH_MAX + 16];
	snprintf(storedir, sizeof(storedir), "%s/store", d->cfg.state);
	if ((r = snap_store_open(&d->store, storedir, true)) < 0) {
		fprintf(stderr, "thawd: store %s: %s (%s)\n", storedir, strerror(-r), snap_last_error());
		return 1;
	}
	d->loop = uv_default_loop();
	if (thawd_state_open(d) < 0 || thawd_state_load(d) < 0) {
		fprintf(stderr, "thawd: cannot open %s/thaw.db\n", d->cfg.state);
		return 1;
	}

	char token[128] = "";
	if (d->cfg.listen && (r = load_token(d, token, sizeof(token))) < 0) {
		fprintf(stderr, "thawd: %s/token: %s\n", d->cfg.state, strerror(-r));
		return 1;
	}
	char sock[PATH_MAX + 16];
	snprintf(sock, sizeof(sock), "%s/thawd.sock", d->cfg.state);
	size_t nroutes = 0;
	struct http_route *routes = routes_linked(&nroutes);
	struct http_server_opts ho = {
		.unix_path = sock,
		.tcp_listen = d->cfg.listen,
		.token = d->cfg.listen ? token : NULL,
		.routes = routes,
		.nroutes = nroutes,
		.ctx = d,
	};
	if ((r = http_server_start(&d->http, d->loop, &ho)) < 0) {
		fprintf(stderr, "thawd: cannot listen on %s%s%s: %s\n", sock, d->cfg.listen ? " and " : "",
		        d->cfg.listen ? d->cfg.listen : "", uv_strerror(r));
		return 1;
	}
	if ((r = thawd_db_start(d)) < 0) {
		fprintf(stderr, "thawd: database thread: %s\n", strerror(-r));
		return 1;
	}
	uv_timer_init(d->loop, &d->tick);
	d->tick.data = d;
	uv_signal_init(d->loop, &d->sigterm);
	uv_signal_init(d->loop, &d->sigint);
	d->sigterm.data = d->sigint.data = d;
	uv_signal_start(&d->sigterm, signal_cb, SIGTERM);
	uv_signal_start(&d->sigint, signal_cb, SIGINT);

	thawd_log(d, "info", "thawd %s pid %d on %s (thawfs %s, max %u sessions)", THAWD_VERSION, (int)getpid(), sock,
	          d->cfg.thawfs, d->cfg.max_sessions);
	thawd_log(d, "info", "store gc every %u s (0: after new images only), snapshot retention %lld s, object grace %u s, image chain at most %s layers",
	          d->cfg.image_gc_interval_s, (long long)d->cfg.snapshot_retention_s, d->cfg.gc_grace_s,
	          getenv("THAW_IMAGE_MAX_CHAIN") ? getenv("THAW_IMAGE_MAX_CHAIN") : "16");
	thawd_event(d, NULL, "lifecycle", json_pack("{s:s, s:i}", "state", "daemon-started", "pid", (int)getpid()));
	thawd_repos_restore(d);
	thawd_sessions_restore(d);
	if (thawd_pool_init && (r = thawd_pool_init(d)) < 0)
		thawd_log(d, "error", "pool: %s (continuing without warm pools)", strerror(-r));
	uv_timer_start(&d->tick, tick_cb, 500, 500);

	uv_run(d->loop, UV_RUN_DEFAULT);
	stop_all(d);
	uv_run(d->loop, UV_RUN_DEFAULT);
	free(routes);
	thawd_free_all(d);
	thawd_image_gc_free();
	sqlite3_close(d->db);
	snap_store_free(d->store);
	git_libgit2_shutdown();
	uv_loop_close(d->loop);
	thawd_log(d, "info", "stopped");
	if (log_file)
		fclose(log_file);
	close(d->pidfd);
	return 0;
}
