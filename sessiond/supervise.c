/*
 * supervise.c: thawfs processes. Mounting a workspace (spawn thawfs on the
 * thread pool; it daemonizes once the mount is up), the control socket
 * (blocking requests on the thread pool, one subscription per session on
 * the loop), liveness (the tick polls kill(pid, 0)), remount after a crash
 * with the same upper layer, and unmount.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "snapshot.h"
#include "thawd.h"

#include "banned.h"

extern char **environ;

int thawd_ctl_request(const char *sock, const char *cmd, int timeout_ms, json_t **out)
{
	char req[4096];
	if (cmd[0] == '{')
		snprintf(req, sizeof(req), "%s\n", cmd);
	else
		snprintf(req, sizeof(req), "{\"cmd\":\"%.64s\"}\n", cmd);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(sock) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int r = 0;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		goto done;
	}
	size_t len = strlen(req);
	if (send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len) {
		r = -EPIPE;
		goto done;
	}
	char buf[65536];
	size_t have = 0;
	double end = thawd_mono_ms() + timeout_ms;
	for (;;) {
		int left = (int)(end - thawd_mono_ms());
		if (left <= 0) {
			r = -ETIMEDOUT;
			goto done;
		}
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		int p = poll(&pf, 1, left);
		if (p < 0 && errno == EINTR)
			continue;
		if (p <= 0) {
			r = p < 0 ? -errno : -ETIMEDOUT;
			goto done;
		}
		ssize_t n = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -ECONNRESET;
			goto done;
		}
		have += (size_t)n;
		buf[have] = 0;
		char *nl = memchr(buf, '\n', have);
		if (nl) {
			*nl = 0;
			break;
		}
		if (have >= sizeof(buf) - 1) {
			r = -EPROTO;
			goto done;
		}
	}
	json_t *o = json_loads(buf, 0, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		r = -EPROTO;
		goto done;
	}
	*out = o;
done:
	close(fd);
	return r;
}

bool thawd__pid_alive(pid_t pid)
{
	if (pid <= 0 || (kill(pid, 0) < 0 && errno == ESRCH))
		return false;
	/* a zombie (not reaped by an init that does not reap) is dead */
	char p[64], buf[256];
	snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno != ENOENT;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = 0;
	char *rp = strrchr(buf, ')');
	return !(rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X'));
}

bool thawd__is_mounted(const char *mnt)
{
	FILE *f = fopen("/proc/self/mounts", "re");
	if (!f)
		return false;
	char line[PATH_MAX * 2 + 64];
	size_t l = strlen(mnt);
	bool found = false;
	while (fgets(line, sizeof(line), f)) {
		char *sp = strchr(line, ' ');
		if (sp && !strncmp(sp + 1, mnt, l) && sp[1 + l] == ' ') {
			found = true;
			break;
		}
	}
	fclose(f);
	return found;
}

/* Runs argv, waits, returns the exit status (or -errno). stderr to errfile. */
static int run_wait(char *const argv[], const char *errfile)
{
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, errfile ? errfile : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawnattr_t at;
	posix_spawnattr_init(&at);
	sigset_t none;
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&at, &none);
	sigset_t def;
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGTERM);
	sigaddset(&def, SIGINT);
	posix_spawnattr_setsigdefault(&at, &def);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	pid_t pid;
	int r = posix_spawnp(&pid, argv[0], &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (r)
		return -r;
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void first_line(const char *file, char *out, size_t n)
{
	out[0] = 0;
	FILE *f = fopen(file, "re");
	if (!f)
		return;
	char line[1024];
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		if (line[0] && !strstr(line, "Sanitizer")) {
			snprintf(out, n, "%s", line);
			break;
		}
	}
	fclose(f);
}

struct mount_job {
	struct thawd *d;
	struct thawd_ws *ws;
	char mirror[PATH_MAX], remote[PATH_MAX], branch[256], store[PATH_MAX], cache[PATH_MAX];
	char thawfs[PATH_MAX], git_author[300];
	bool reuse_upper;
	int err;
	char msg[600];
	thawd_ws_done_fn done;
	void *arg;
	double t0;
};

static void mount_work(void *arg)
{
	struct mount_job *j = arg;
	struct thawd_ws *ws = j->ws;
	char **chain = NULL;
	size_t nchain = 0;
	int r;
	if ((r = thawd_mkdirs(ws->upper, 0755)) < 0 || (r = thawd_mkdirs(ws->mount, 0755)) < 0) {
		snprintf(j->msg, sizeof(j->msg), "%s: %s", ws->dir, strerror(-r));
		j->err = r;
		return;
	}
	if (thawd__is_mounted(ws->mount)) { /* a dead mount left by a crashed thawfs */
		char *um[] = {(char *)"fusermount3", (char *)"-u", (char *)"-z", ws->mount, NULL};
		(void)run_wait(um, NULL);
	}
	(void)unlink(ws->ctl);
	/* the commit below the stack */
	if (ws->layer[0]) {
		struct snap_layer *l = NULL;
		if ((r = snap_layer_chain(j->d->store, ws->layer, &chain, &nchain)) < 0 ||
		    (r = snap_layer_open(&l, j->d->store, ws->layer)) < 0) {
			snprintf(j->msg, sizeof(j->msg), "layer %s: %s", ws->layer, snap_last_error());
			j->err = r;
			goto done;
		}
		const struct snap_meta *m = snap_layer_meta(l);
		snprintf(ws->base_commit, sizeof(ws->base_commit), "%s", m->synced_commit[0] ? m->synced_commit : m->base_commit);
		for (size_t i = 0; i < nchain; i++) {
			struct snap_layer *cl = NULL;
			if (snap_layer_open(&cl, j->d->store, chain[i]) == 0) {
				if (snap_layer_meta(cl)->kind == SNAP_KIND_IMAGE && !ws->image[0])
					snprintf(ws->image, sizeof(ws->image), "%s", snap_layer_meta(cl)->id);
				snap_layer_free(cl);
			}
		}
		snap_layer_free(l);
	} else if (!ws->base_commit[0]) {
		git_repository *repo = NULL;
		git_object *obj = NULL;
		char ref[300];
		snprintf(ref, sizeof(ref), "refs/heads/%s", j->branch);
		if (git_repository_open_bare(&repo, j->mirror) < 0 || git_revparse_single(&obj, repo, ref) < 0) {
			const git_error *e = git_error_last();
			snprintf(j->msg, sizeof(j->msg), "%s %s: %s", j->mirror, ref, e ? e->message : "not found");
			git_repository_free(repo);
			j->err = -ENOENT;
			goto done;
		}
		git_oid_tostr(ws->base_commit, sizeof(ws->base_commit), git_object_id(obj));
		git_object_free(obj);
		git_repository_free(repo);
	}
	char *argv[96];
	int a = 0;
	argv[a++] = j->thawfs;
	argv[a++] = (char *)"--repo";
	argv[a++] = j->mirror;
	argv[a++] = (char *)"--commit";
	argv[a++] = ws->base_commit;
	if (nchain) {
		argv[a++] = (char *)"--store";
		argv[a++] = j->store;
		for (size_t i = 0; i < nchain && a < 80; i++) {
			argv[a++] = (char *)"--layer";
			argv[a++] = chain[i];
		}
	}
	argv[a++] = (char *)"--upper";
	argv[a++] = ws->upper;
	argv[a++] = (char *)"--remote";
	argv[a++] = j->remote;
	argv[a++] = (char *)"--branch";
	argv[a++] = j->branch;
	argv[a++] = (char *)"--control";
	argv[a++] = ws->ctl;
	argv[a++] = (char *)"--log";
	argv[a++] = ws->log;
	argv[a++] = (char *)"--cache";
	argv[a++] = j->cache;
	if (j->git_author[0]) {
		argv[a++] = (char *)"--git-author";
		argv[a++] = j->git_author;
	}
	argv[a++] = ws->mount;
	argv[a] = NULL;
	char errfile[PATH_MAX + 16];
	snprintf(errfile, sizeof(errfile), "%s/thawfs.err", ws->dir);
	r = run_wait(argv, errfile);
	if (r != 0) {
		char line[512];
		first_line(errfile, line, sizeof(line));
		snprintf(j->msg, sizeof(j->msg), "thawfs exited with %d: %s", r, line[0] ? line : "(no message)");
		j->err = -ECHILD;
		goto done;
	}
	ws->mounted_ms = thawd_mono_ms() - j->t0;
	json_t *st = NULL;
	if ((r = thawd_ctl_request(ws->ctl, "status", 10000, &st)) < 0) {
		snprintf(j->msg, sizeof(j->msg), "%s: status: %s", ws->ctl, strerror(-r));
		j->err = r;
		goto done;
	}
	ws->pid = (pid_t)json_integer_value(json_object_get(st, "pid"));
	ws->reads_ready_ms = json_number_value(json_object_get(st, "reads_ready_ms"));
	json_t *sync = json_object_get(st, "sync");
	int64_t wr = json_integer_value(json_object_get(sync, "writes_ready"));
	if (wr > 0) {
		ws->writes_ready = true;
		ws->writes_ready_ms = (double)(wr - ws->started_ms);
		if (ws->writes_ready_ms < ws->mounted_ms)
			ws->writes_ready_ms = ws->mounted_ms;
		const char *sc = json_string_value(json_object_get(sync, "synced_commit"));
		snprintf(ws->synced_commit, sizeof(ws->synced_commit), "%s", sc ? sc : ws->base_commit);
	}
	json_decref(st);
done:
	snap_ids_free(chain, nchain);
}

static void mount_after(void *arg, int status)
{
	struct mount_job *j = arg;
	struct thawd_ws *ws = j->ws;
	if (!j->err && status < 0)
		j->err = status;
	if (j->err) {
		thawd_log(j->d, "error", "mount %s: %s", ws->dir, j->msg[0] ? j->msg : strerror(-j->err));
		if (thawd__is_mounted(ws->mount)) { /* mounted but unusable: do not leak it */
			thawd_ws_unmount(j->d, ws, false, NULL, NULL);
			ws = NULL;
		}
		thawd_ws_free(ws);
		j->done(j->arg, j->err, NULL);
	} else {
		j->done(j->arg, 0, ws);
	}
	free(j);
}

int thawd_ws_mount_opts(struct thawd *d, const struct thawd_ws_opts *o, thawd_ws_done_fn done, void *arg)
{
	struct thawd_repo *r = thawd_repo_find(d, o->repo);
	if (!r || !r->ready)
		return -ENOENT;
	const char *layer = o->layer ? o->layer : r->image;
	if (layer[0] && !thawd_layer_id_valid(layer))
		return -EINVAL;
	struct mount_job *j = calloc(1, sizeof(*j));
	struct thawd_ws *ws = calloc(1, sizeof(*ws));
	if (!j || !ws) {
		free(j);
		free(ws);
		return -ENOMEM;
	}
	snprintf(ws->repo, sizeof(ws->repo), "%s", r->name);
	snprintf(ws->dir, sizeof(ws->dir), "%s", o->dir);
	snprintf(ws->mount, sizeof(ws->mount), "%s/mnt", o->dir);
	snprintf(ws->upper, sizeof(ws->upper), "%s/upper", o->dir);
	snprintf(ws->ctl, sizeof(ws->ctl), "%s/ctl.sock", o->dir);
	snprintf(ws->log, sizeof(ws->log), "%s/thawfs.log", o->dir);
	snprintf(ws->layer, sizeof(ws->layer), "%s", layer);
	if (o->reuse_upper && o->base_commit && o->base_commit[0])
		snprintf(ws->base_commit, sizeof(ws->base_commit), "%s", o->base_commit);
	ws->started_ms = thawd_now_ms();
	j->d = d;
	j->ws = ws;
	j->t0 = thawd_mono_ms();
	snprintf(j->mirror, sizeof(j->mirror), "%s", r->mirror);
	snprintf(j->remote, sizeof(j->remote), "%s", r->url);
	snprintf(j->branch, sizeof(j->branch), "%s", r->branch);
	snprintf(j->store, sizeof(j->store), "%s/store", d->cfg.state);
	snprintf(j->cache, sizeof(j->cache), "%s/cache", d->cfg.state);
	snprintf(j->thawfs, sizeof(j->thawfs), "%s", d->cfg.thawfs);
	snprintf(j->git_author, sizeof(j->git_author), "%s", o->git_author ? o->git_author : "");
	j->reuse_upper = o->reuse_upper;
	j->done = done;
	j->arg = arg;
	int e = thawd_work(d, mount_work, mount_after, j);
	if (e < 0) {
		free(ws);
		free(j);
	}
	return e;
}

int thawd_ws_mount(struct thawd *d, const char *repo, const char *layer_id_or_null, const char *dir,
                   thawd_ws_done_fn done, void *arg)
{
	struct thawd_ws_opts o = {.repo = repo, .layer = layer_id_or_null, .dir = dir};
	return thawd_ws_mount_opts(d, &o, done, arg);
}

void thawd_ws_free(struct thawd_ws *ws)
{
	free(ws);
}

struct unmount_job {
	struct thawd *d;
	struct thawd_ws *ws;
	bool remove;
	int err;
	void (*done)(void *arg, int err);
	void *arg;
};

static bool wait_dead(pid_t pid, int ms)
{
	for (int i = 0; i < ms / 20; i++) {
		if (!thawd__pid_alive(pid))
			return true;
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return !thawd__pid_alive(pid);
}

static void unmount_work(void *arg)
{
	struct unmount_job *j = arg;
	struct thawd_ws *ws = j->ws;
	if (thawd__is_mounted(ws->mount)) {
		char *um[] = {(char *)"fusermount3", (char *)"-u", ws->mount, NULL};
		if (run_wait(um, NULL) != 0) {
			/* busy (a process inside): retry briefly, then detach lazily */
			bool ok = false;
			for (int i = 0; i < 10 && !ok; i++) {
				struct timespec ts = {0, 100 * 1000 * 1000};
				nanosleep(&ts, NULL);
				ok = run_wait(um, NULL) == 0 || !thawd__is_mounted(ws->mount);
			}
			if (!ok) {
				char *lz[] = {(char *)"fusermount3", (char *)"-u", (char *)"-z", ws->mount, NULL};
				if (run_wait(lz, NULL) != 0)
					j->err = -EBUSY;
			}
		}
	}
	if (ws->pid > 0 && !wait_dead(ws->pid, 10000)) {
		(void)kill(ws->pid, SIGTERM);
		if (!wait_dead(ws->pid, 5000)) {
			(void)kill(ws->pid, SIGKILL);
			(void)wait_dead(ws->pid, 2000);
		}
	}
	if (j->remove && !j->err && !thawd__is_mounted(ws->mount))
		(void)thawd_rm_rf(ws->upper);
}

static void unmount_after(void *arg, int status)
{
	struct unmount_job *j = arg;
	if (j->err)
		thawd_log(j->d, "error", "unmount %s: %s", j->ws->mount, strerror(-j->err));
	if (j->done)
		j->done(j->arg, j->err ? j->err : status);
	thawd_ws_free(j->ws);
	free(j);
}

void thawd_ws_unmount(struct thawd *d, struct thawd_ws *ws, bool remove_upper, void (*done)(void *arg, int err),
                      void *arg)
{
	struct unmount_job *j = calloc(1, sizeof(*j));
	if (!j) {
		thawd_log(d, "error", "unmount %s: out of memory", ws->mount);
		if (done)
			done(arg, -ENOMEM);
		thawd_ws_free(ws);
		return;
	}
	j->d = d;
	j->ws = ws;
	j->remove = remove_upper;
	j->done = done;
	j->arg = arg;
	if (thawd_work(d, unmount_work, unmount_after, j) < 0) {
		if (done)
			done(arg, -ENOMEM);
		thawd_ws_free(ws);
		free(j);
	}
}

/* ---- the subscription (loop thread) ---- */

struct sub_ctx {
	uv_pipe_t pipe;
	uv_connect_t conn;
	uv_write_t wr;
	struct thawd_session *s; /* NULL once detached */
	char *buf;
	size_t len;
};

static void sub_closed(uv_handle_t *h)
{
	struct sub_ctx *c = h->data;
	free(c->buf);
	free(c);
}

static void sub_close(struct sub_ctx *c)
{
	if (c->s) {
		c->s->sub = NULL;
		thawd_session_unref(c->s);
		c->s = NULL;
	}
	if (!uv_is_closing((uv_handle_t *)&c->pipe))
		uv_close((uv_handle_t *)&c->pipe, sub_closed);
}

static void sub_line(struct thawd_session *s, const char *line)
{
	json_t *o = json_loads(line, 0, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		return;
	}
	const char *ev = json_string_value(json_object_get(o, "event"));
	if (!ev) {
		json_decref(o);
		return;
	}
	if (!strcmp(ev, "change")) {
		/* a burst of writes to one file is one change per second (thawfs
		 * reports every write call) */
		const char *op = json_string_value(json_object_get(o, "op")) ?: "";
		const char *path = json_string_value(json_object_get(o, "path")) ?: "";
		uint64_t h = 1469598103934665603ull;
		for (const char *c = op; *c; c++)
			h = (h ^ (unsigned char)*c) * 1099511628211ull;
		h = (h ^ 0xff) * 1099511628211ull;
		for (const char *c = path; *c; c++)
			h = (h ^ (unsigned char)*c) * 1099511628211ull;
		int64_t now = thawd_now_ms();
		if (h == s->last_change_hash && now - s->last_change_ms < 1000 && !strcmp(op, "write")) {
			thawd_session_touch(s);
			json_decref(o);
			return;
		}
		s->last_change_hash = h;
		s->last_change_ms = now;
		json_t *e = json_object();
		json_object_set(e, "op", json_object_get(o, "op"));
		json_object_set(e, "path", json_object_get(o, "path"));
		if (json_object_get(o, "to"))
			json_object_set(e, "to", json_object_get(o, "to"));
		const char *name = s->author_name, *email = s->author_email;
		uint64_t prompt = 0;
		if (s->prompt_current) {
			name = s->prompt_current->author_name;
			email = s->prompt_current->author_email;
			prompt = s->prompt_current->id;
		}
		json_object_set_new(e, "author", json_pack("{s:s, s:s}", "name", name, "email", email));
		json_object_set_new(e, "prompt", json_integer((json_int_t)prompt));
		thawd_session_touch(s);
		thawd_event(s->d, s, "change", e);
		/* a rename also changes its destination */
		const char *to = json_string_value(json_object_get(o, "to"));
		if (to) {
			json_t *e2 = json_pack("{s:s, s:s, s:{s:s, s:s}, s:I}", "op", "create", "path", to, "author", "name",
			                       name, "email", email, "prompt", (json_int_t)prompt);
			thawd_event(s->d, s, "change", e2);
		}
	} else if (!strcmp(ev, "sync")) {
		json_t *e = json_copy(o);
		json_object_del(e, "event");
		json_object_del(e, "seq");
		json_object_del(e, "time_ms");
		thawd_event(s->d, s, "sync", e);
		const char *phase = json_string_value(json_object_get(o, "phase"));
		if (phase && (!strcmp(phase, "done") || !strcmp(phase, "policy") || !strcmp(phase, "error")))
			thawd_sup_check(s);
	} else if (!strcmp(ev, "frozen") || !strcmp(ev, "thawed")) {
		snprintf(s->gate, sizeof(s->gate), "%s", !strcmp(ev, "frozen") ? "frozen" : "open");
	}
	json_decref(o);
}

static void sub_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	(void)hint;
	struct sub_ctx *c = h->data;
	size_t want = c->len + 65536;
	char *nb = realloc(c->buf, want);
	if (!nb) {
		*b = uv_buf_init(NULL, 0);
		return;
	}
	c->buf = nb;
	*b = uv_buf_init(c->buf + c->len, 65536);
}

static void sub_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	(void)b;
	struct sub_ctx *c = st->data;
	if (n < 0) {
		struct thawd_session *s = c->s;
		sub_close(c);
		if (s && !s->d->stopping)
			thawd_sup_check(s); /* thawfs went away? */
		return;
	}
	c->len += (size_t)n;
	size_t start = 0;
	for (size_t i = 0; i < c->len; i++) {
		if (c->buf[i] != '\n')
			continue;
		c->buf[i] = 0;
		if (c->s)
			sub_line(c->s, c->buf + start);
		start = i + 1;
	}
	if (start) {
		memmove(c->buf, c->buf + start, c->len - start);
		c->len -= start;
	}
	if (c->len > (1u << 20)) /* a line over 1 MiB: not thawfs */
		sub_close(c);
}

static void sub_written(uv_write_t *w, int status)
{
	struct sub_ctx *c = w->data;
	if (status < 0)
		sub_close(c);
}

static void sub_connected(uv_connect_t *req, int status)
{
	struct sub_ctx *c = req->data;
	if (status < 0 || !c->s) {
		if (c->s)
			thawd_log(c->s->d, "warn", "%s: subscribe: %s", c->s->id, uv_strerror(status));
		sub_close(c);
		return;
	}
	static char msg[] = "{\"cmd\":\"subscribe\"}\n";
	uv_buf_t b = uv_buf_init(msg, sizeof(msg) - 1);
	c->wr.data = c;
	if (uv_write(&c->wr, (uv_stream_t *)&c->pipe, &b, 1, sub_written) < 0 ||
	    uv_read_start((uv_stream_t *)&c->pipe, sub_alloc, sub_read) < 0)
		sub_close(c);
}

void thawd_sup_attach(struct thawd_session *s)
{
	if (s->sub || !s->ws || s->d->stopping) /* a new handle would keep a stopping loop alive */
		return;
	struct sub_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	uv_pipe_init(s->d->loop, &c->pipe, 0);
	c->pipe.data = c;
	c->conn.data = c;
	c->s = s;
	thawd_session_ref(s);
	s->sub = &c->pipe;
	uv_pipe_connect(&c->conn, &c->pipe, s->ws->ctl, sub_connected);
}

void thawd_sup_detach(struct thawd_session *s)
{
	if (!s->sub)
		return;
	sub_close(s->sub->data);
}

/* ---- liveness and status ---- */

struct status_job {
	struct thawd_session *s;
	char ctl[PATH_MAX];
	json_t *st;
	int err;
};

static void status_work(void *arg)
{
	struct status_job *j = arg;
	j->err = thawd_ctl_request(j->ctl, "status", 5000, &j->st);
}

static void remount_done(void *arg, int err, struct thawd_ws *ws)
{
	struct thawd_session *s = arg;
	s->remounting = false;
	if (s->teardown_pending) {
		if (!err) {
			thawd_ws_free(s->ws);
			s->ws = ws;
			s->restarts++;
			s->d->thawfs_restarts_total++;
			thawd_event(s->d, s, "lifecycle",
			            json_pack("{s:s, s:s, s:i, s:I}", "state", thawd_state_name(s->state), "reason",
			                      "remounted for the pre-exit snapshot", "restarts", (int)s->restarts, "pid",
			                      (json_int_t)ws->pid));
		}
		thawd__teardown_resume(s, err);
		thawd_session_unref(s);
		return;
	}
	if (err || s->state == TS_REMOVED || s->state == TS_STOPPING) {
		if (ws) /* removed meanwhile */
			thawd_ws_unmount(s->d, ws, false, NULL, NULL);
		if (err) {
			thawd_event(s->d, s, "error",
			            json_pack("{s:s, s:s}", "message", "remount failed (see the daemon log)", "error",
			                      strerror(-err)));
			thawd_session_set_state(s, TS_FAILED, "remount failed");
		}
		thawd_session_unref(s);
		return;
	}
	thawd_ws_free(s->ws);
	s->ws = ws;
	s->restarts++;
	s->d->thawfs_restarts_total++;
	thawd_event(s->d, s, "lifecycle",
	            json_pack("{s:s, s:s, s:i, s:I, s:f}", "state", thawd_state_name(s->state), "reason", "remounted",
	                      "restarts", (int)s->restarts, "pid", (json_int_t)ws->pid, "mounted_ms", ws->mounted_ms));
	thawd_sup_attach(s);
	thawd_session_save(s);
	thawd_sup_check(s);
	thawd_session_unref(s);
}

void thawd__session_remount(struct thawd_session *s, const char *reason)
{
	if (s->remounting || !s->ws)
		return;
	s->remounting = true;
	thawd_sup_detach(s);
	thawd_log(s->d, "warn", "%s: thawfs %d %s: remounting with the same upper", s->id, (int)s->ws->pid, reason);
	thawd_event(s->d, s, "lifecycle",
	            json_pack("{s:s, s:s, s:I}", "state", "remounting", "reason", reason, "pid", (json_int_t)s->ws->pid));
	char author[300];
	snprintf(author, sizeof(author), "%s <%s>", s->author_name, s->author_email);
	struct thawd_ws_opts o = {
		.repo = s->ws->repo,
		.layer = s->ws->layer,
		.dir = s->ws->dir,
		.git_author = author,
		.reuse_upper = true,
		.base_commit = s->ws->base_commit,
	};
	thawd_session_ref(s);
	int e = thawd_ws_mount_opts(s->d, &o, remount_done, s);
	if (e < 0) {
		s->remounting = false;
		if (s->teardown_pending)
			thawd__teardown_resume(s, e);
		else
			thawd_session_set_state(s, TS_FAILED, "remount failed");
		thawd_session_unref(s);
	}
}

static void status_after(void *arg, int status)
{
	struct status_job *j = arg;
	struct thawd_session *s = j->s;
	s->status_inflight = false;
	if (j->err == 0 && s->ws && (s->state == TS_READY || s->state == TS_WRITABLE || s->state == TS_FROZEN ||
	                             s->state == TS_SYNC_FAILED)) {
		json_t *gate = json_object_get(j->st, "gate");
		const char *g = json_string_value(json_object_get(gate, "state"));
		if (g)
			snprintf(s->gate, sizeof(s->gate), "%s", g);
		json_t *sync = json_object_get(j->st, "sync");
		uint64_t hyd = (uint64_t)json_integer_value(json_object_get(json_object_get(j->st, "counters"), "hydrations"));
		s->d->hydrations_total += hyd > s->hydrations ? hyd - s->hydrations : 0;
		s->hydrations = hyd;
		int64_t wr = json_integer_value(json_object_get(sync, "writes_ready"));
		if (wr > 0 && !s->ws->writes_ready) {
			s->ws->writes_ready = true;
			s->ws->writes_ready_ms = (double)(wr - s->ws->started_ms);
			if (s->ws->writes_ready_ms < s->ws->mounted_ms)
				s->ws->writes_ready_ms = s->ws->mounted_ms;
			double sync_ms = json_number_value(json_object_get(sync, "duration_ms"));
			thawd_hist_add(&s->d->sync_hist, sync_ms / 1000.0);
		}
		const char *sc = json_string_value(json_object_get(sync, "synced_commit"));
		if (sc && s->ws->writes_ready)
			snprintf(s->ws->synced_commit, sizeof(s->ws->synced_commit), "%s", sc);
		if (s->ws->writes_ready && s->state == TS_READY) {
			bool failed = g && !strcmp(g, "sync-failed");
			thawd_session_set_state(s, failed ? TS_SYNC_FAILED : TS_WRITABLE,
			                        failed ? "sync failed (gate opened on the stale base)" : "synced");
		}
	}
	json_decref(j->st);
	thawd_session_unref(s);
	free(j);
}

/* Called from the tick and on subscription events: is thawfs alive? Poll its
 * status while writes are not ready (and every few seconds for metrics). */
void thawd_sup_check(struct thawd_session *s)
{
	if (!s->ws || s->remounting || s->d->stopping)
		return;
	if (s->state != TS_READY && s->state != TS_WRITABLE && s->state != TS_FROZEN && s->state != TS_SYNC_FAILED)
		return;
	if (!thawd__pid_alive(s->ws->pid)) {
		if (!s->busy)
			thawd__session_remount(s, "exited");
		return;
	}
	if (!s->sub)
		thawd_sup_attach(s);
	int64_t now = thawd_now_ms();
	bool want = s->state == TS_READY || now - s->last_status_ms > 5000;
	if (!want || s->status_inflight)
		return;
	struct status_job *j = calloc(1, sizeof(*j));
	if (!j)
		return;
	s->status_inflight = true;
	s->last_status_ms = now;
	j->s = s;
	thawd_session_ref(s);
	snprintf(j->ctl, sizeof(j->ctl), "%s", s->ws->ctl);
	if (thawd_work(s->d, status_work, status_after, j) < 0) {
		s->status_inflight = false;
		thawd_session_unref(s);
		free(j);
	}
}
