/*
 * Freeze: a mounted workspace's upper layer becomes a layer of the store.
 *
 *   1. status (control socket, fs/fs.h): upper, repository, lower layers;
 *      a workspace with a plain directory layer cannot be frozen into a
 *      chain (a restore could not rebuild it): -EXDEV, nothing parked;
 *   2. {"cmd":"freeze"}: thawfs parks new mutations, waits for the running
 *      ones and syncfs's the upper. From its answer on, the upper does not
 *      change: every write acknowledged before is in it, none after;
 *   3. status again (the commit below the layer, read while frozen), pack the
 *      upper (pack_upper.c), status once more: if a background sync swapped
 *      the git tree meanwhile, pack again against the new commit;
 *   4. write the layer (snap_writer), whose parent is the topmost store
 *      layer of the workspace;
 *   5. {"cmd":"thaw"} on every path, success or failure, on the same
 *      connection (a fresh one if that breaks).
 * A failure leaves no layer (an uncommitted writer leaves nothing) and the
 * workspace as it was; objects already put are unreferenced and gc removes
 * them.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "freeze_int.h"
#include "snapshot_int.h"
#include "banned.h"

#define CTL_TIMEOUT_MS 30000
#define CTL_FREEZE_TIMEOUT_MS 300000 /* waits for running mutations (a large write) */
#define CTL_MAX_LINE (16u << 20)
#define PACK_ATTEMPTS 3
/* The freeze is leased to our connection (fs/fs.h): if this process dies,
 * thawfs reopens the gate at once (the connection closes); if it hangs, after
 * the lease. Renewed after every batch of the pack and before the layer is
 * written; a lease that ran out fails the freeze (the upper was not still). */
#define FREEZE_LEASE_MS 120000

int snap__freeze_err(int r, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap); /* may quote snap_last_error(): format first */
	va_end(ap);
	return snap__err(r, "%s", msg);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- control socket client ---- */

static int ctl_connect(const char *path, int *out)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return snap__freeze_err(-ENAMETOOLONG, "control socket path too long: %s", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return snap__freeze_err(-errno, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		return snap__freeze_err(-e, "cannot connect to control socket %s: %s", path, strerror(e));
	}
	*out = fd;
	return 0;
}

/* Sends {"cmd":cmd} (or req, a whole request line, when given) and reads the
 * one-line answer; an {"ok":false} answer is -EIO with its message. *out: the
 * answer (caller decrefs). */
static int ctl_request(int fd, const char *cmd, const char *line, int timeout_ms, json_t **out)
{
	char req[256];
	int n = line ? snprintf(req, sizeof(req), "%s\n", line) : snprintf(req, sizeof(req), "{\"cmd\":\"%s\"}\n", cmd);
	for (int off = 0; off < n;) {
		ssize_t w = send(fd, req + off, (size_t)(n - off), MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return snap__freeze_err(-errno, "control %s: send: %s", cmd, strerror(errno));
		off += (int)w;
	}
	char *buf = NULL;
	size_t have = 0, cap = 0;
	double deadline = now_ms() + timeout_ms;
	int r = 0;
	for (;;) {
		char *nl = have ? memchr(buf, '\n', have) : NULL;
		if (nl) {
			*nl = '\0';
			break;
		}
		int left = (int)(deadline - now_ms());
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		int pr = left > 0 ? poll(&pf, 1, left) : 0;
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0) {
			r = snap__freeze_err(-ETIMEDOUT, "control %s: no answer within %d s", cmd, timeout_ms / 1000);
			goto done;
		}
		if (have + 4096 + 1 > cap) {
			if (cap >= CTL_MAX_LINE) {
				r = snap__freeze_err(-EMSGSIZE, "control %s: answer too long", cmd);
				goto done;
			}
			cap = cap ? cap * 2 : 8192;
			char *nb = realloc(buf, cap);
			if (!nb) {
				r = -ENOMEM;
				goto done;
			}
			buf = nb;
		}
		ssize_t got = recv(fd, buf + have, cap - have - 1, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			r = snap__freeze_err(got < 0 ? -errno : -ECONNRESET, "control %s: connection closed without an answer",
			                     cmd);
			goto done;
		}
		have += (size_t)got;
	}
	json_error_t jerr;
	json_t *j = json_loads(buf, 0, &jerr);
	if (!j || !json_is_object(j)) {
		json_decref(j);
		r = snap__freeze_err(-EPROTO, "control %s: malformed answer", cmd);
		goto done;
	}
	if (!json_is_true(json_object_get(j, "ok"))) {
		const char *m = json_string_value(json_object_get(j, "error"));
		r = snap__freeze_err(-EIO, "control %s: %s", cmd, m ? m : "error");
		json_decref(j);
		goto done;
	}
	*out = j;
done:
	free(buf);
	return r;
}

static int ctl_call(int fd, const char *cmd, int timeout_ms, json_t **out)
{
	return ctl_request(fd, cmd, NULL, timeout_ms, out);
}

static int lease_renew(void *arg)
{
	int fd = *(int *)arg;
	json_t *j = NULL;
	char line[96];
	snprintf(line, sizeof(line), "{\"cmd\":\"freeze\",\"lease_ms\":%d,\"renew\":true}", FREEZE_LEASE_MS);
	int r = ctl_request(fd, "freeze (renew)", line, CTL_TIMEOUT_MS, &j);
	json_decref(j);
	if (r < 0)
		return snap__freeze_err(-ETIMEDOUT, "the workspace's freeze ended before the pack did (%s): no layer",
		                        snap_last_error());
	return 0;
}

/* ---- what the status says ---- */

struct ws {
	char *upper, *repo, *commit, *base, *mountpoint;
	char parent[SNAP_ID_HEXLEN + 1];
	struct snap__ws_layer *layers;
	size_t nlayers;
};

static void ws_release(struct ws *w)
{
	free(w->upper);
	free(w->repo);
	free(w->commit);
	free(w->base);
	free(w->mountpoint);
	for (size_t i = 0; i < w->nlayers; i++) {
		free(w->layers[i].path);
		free(w->layers[i].store_id);
	}
	free(w->layers);
	memset(w, 0, sizeof(*w));
}

static char *jstrdup(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? strdup(s) : NULL;
}

static int ws_parse(json_t *st, struct ws *w)
{
	memset(w, 0, sizeof(*w));
	if (!json_is_true(json_object_get(st, "writable")) || !json_string_value(json_object_get(st, "upper")))
		return snap__freeze_err(-EROFS, "read-only workspace (no --upper): nothing to freeze");
	w->upper = jstrdup(st, "upper");
	w->repo = jstrdup(st, "repo");
	w->commit = jstrdup(st, "commit");
	w->mountpoint = jstrdup(st, "mountpoint");
	w->base = jstrdup(json_object_get(st, "sync"), "mounted_commit");
	if (!w->base && w->commit)
		w->base = strdup(w->commit);
	if (!w->upper || !w->repo || !w->commit || !w->base) {
		ws_release(w);
		return snap__freeze_err(-EPROTO, "status lacks upper, repo or commit");
	}
	json_t *li = json_object_get(st, "layer_info");
	json_t *lp = json_object_get(st, "layers");
	size_t n = json_is_array(li) ? json_array_size(li) : json_is_array(lp) ? json_array_size(lp) : 0;
	if (n && !(w->layers = calloc(n, sizeof(*w->layers)))) {
		ws_release(w);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct snap__ws_layer *L = &w->layers[w->nlayers++];
		json_t *o = json_is_array(li) ? json_array_get(li, i) : NULL;
		const char *path = o ? json_string_value(json_object_get(o, "path")) : json_string_value(json_array_get(lp, i));
		const char *kind = o ? json_string_value(json_object_get(o, "kind")) : "dir";
		const char *id = o ? json_string_value(json_object_get(o, "id")) : NULL;
		L->path = strdup(path ? path : "");
		if (kind && !strcmp(kind, "store") && id && strlen(id) == SNAP_ID_HEXLEN)
			L->store_id = strdup(id);
		if (!L->path || (kind && !strcmp(kind, "store") && !L->store_id)) {
			ws_release(w);
			return L->path ? snap__freeze_err(-EPROTO, "status: store layer without an id") : -ENOMEM;
		}
	}
	/* The chain: every lower layer must be a store layer, and the new layer
	 * sits on the topmost one. A plain directory could not be restored. */
	for (size_t i = 0; i < w->nlayers; i++) {
		if (!w->layers[i].store_id) {
			int r = snap__freeze_err(-EXDEV,
			                         "the workspace has a plain directory layer (%s): only workspaces whose "
			                         "layers all come from the store can be frozen into a chain",
			                         w->layers[i].path);
			ws_release(w);
			return r;
		}
	}
	if (w->nlayers)
		snprintf(w->parent, sizeof(w->parent), "%s", w->layers[0].store_id);
	return 0;
}

/* The chain below must come from s: the parent has to be one of its layers. */
static int check_parent(struct snap_store *s, const char *parent)
{
	if (!parent[0])
		return 0;
	struct snap_layer *l = NULL;
	int r = snap_layer_open(&l, s, parent);
	snap_layer_free(l);
	if (r < 0)
		return snap__freeze_err(r, "the workspace's top layer %s is not in the store %s", parent,
		                        snap_store_dir(s));
	return 0;
}

/* ---- writing ---- */

static int write_layer(struct snap_store *s, const struct snap_freeze_opts *o, const struct ws *w,
                       struct snap__pack *p, double t0, char out_id[SNAP_ID_HEXLEN + 1])
{
	struct snap_meta m;
	memset(&m, 0, sizeof(m));
	m.kind = o->kind;
	snprintf(m.parent, sizeof(m.parent), "%s", w->parent);
	snprintf(m.repo, sizeof(m.repo), "%s", o->repo_name ? o->repo_name : w->repo);
	snprintf(m.base_commit, sizeof(m.base_commit), "%s", w->base);
	snprintf(m.synced_commit, sizeof(m.synced_commit), "%s", w->commit);
	m.created_ms = snap__now_ms();
	snprintf(m.author, sizeof(m.author), "%s", o->author ? o->author : "");
	snprintf(m.commands, sizeof(m.commands), "%s", o->commands ? o->commands : "");
	m.bytes = p->bytes;
	m.stored_bytes = p->new_bytes;
	m.files = p->n;
	m.duration_ms = now_ms() - t0;

	struct snap_writer *wr = NULL;
	int r = snap_writer_new(&wr, s, &m);
	if (r < 0)
		return snap__freeze_err(r, "new layer: %s", snap_last_error());
	for (size_t i = 0; i < p->n; i++) {
		if ((r = snap_writer_add(wr, &p->v[i].e)) < 0) {
			r = snap__freeze_err(r, "adding %s: %s", p->v[i].e.path, snap_last_error());
			goto done;
		}
		if (o->progress && (i & 1023) == 1023)
			o->progress(o->progress_arg, "write", i + 1, p->n);
	}
	if ((r = snap_writer_commit(wr, out_id)) < 0)
		r = snap__freeze_err(r, "committing the layer: %s", snap_last_error());
done:
	snap_writer_free(wr);
	return r;
}

static void progress(const struct snap_freeze_opts *o, const char *phase, uint64_t done, uint64_t total)
{
	if (o->progress)
		o->progress(o->progress_arg, phase, done, total);
}

/* Reopens the gate: on fd, else on a new connection. */
static int thaw(const struct snap_freeze_opts *o, int fd)
{
	json_t *j = NULL;
	char keep[1024];
	snprintf(keep, sizeof(keep), "%s", snap_last_error()); /* the failure being reported, if any */
	int r = fd >= 0 ? ctl_call(fd, "thaw", CTL_TIMEOUT_MS, &j) : -ENOTCONN;
	if (r < 0) {
		int fd2 = -1;
		if (ctl_connect(o->control, &fd2) == 0) {
			r = ctl_call(fd2, "thaw", CTL_TIMEOUT_MS, &j);
			close(fd2);
		}
	}
	json_decref(j);
	if (r < 0)
		return snap__freeze_err(r, "could not reopen the workspace's gate (%s); earlier: %s", snap_last_error(),
		                        keep[0] ? keep : "none");
	snap__err(0, "%s", keep);
	return 0;
}

int snap_freeze(struct snap_store *s, const struct snap_freeze_opts *o, char out_id[SNAP_ID_HEXLEN + 1],
                struct snap_freeze_stats *out_stats)
{
	double t0 = now_ms(), tpark = 0, tpacked = 0;
	json_t *st = NULL;
	struct ws w = {0};
	struct snap__pack p = {0};
	bool frozen = false, was_packing = false;
	int fd = -1, upfd = -1, r;
	char id[SNAP_ID_HEXLEN + 1] = "";

	snap__clear_error();
	snap__git_init();
	if (!o || !o->control)
		return snap__freeze_err(-EINVAL, "freeze: no control socket given");
	if (o->kind < SNAP_KIND_IMAGE || o->kind > SNAP_KIND_PRE_EXIT)
		return snap__freeze_err(-EINVAL, "freeze: bad kind %d", o->kind);
	if ((r = ctl_connect(o->control, &fd)) < 0)
		return r;
	progress(o, "status", 0, 0);
	if ((r = ctl_call(fd, "status", CTL_TIMEOUT_MS, &st)) < 0 || (r = ws_parse(st, &w)) < 0 ||
	    (r = check_parent(s, w.parent)) < 0)
		goto done;
	json_decref(st);
	st = NULL;
	ws_release(&w);

	progress(o, "freeze", 0, 0);
	char freeze_line[64];
	snprintf(freeze_line, sizeof(freeze_line), "{\"cmd\":\"freeze\",\"lease_ms\":%d}", FREEZE_LEASE_MS);
	if ((r = ctl_request(fd, "freeze", freeze_line, CTL_FREEZE_TIMEOUT_MS, &st)) < 0)
		goto done;
	frozen = true;
	tpark = now_ms();
	json_decref(st);
	st = NULL;
	/* A session's new objects go into one pack (objpack.c): no inode each.
	 * An image's stay loose objects (built off the hot path, every 30
	 * minutes; tools and tests of the image pipeline look at objects/). */
	was_packing = s->packing;
	snap__store_set_packing(s, o->kind != SNAP_KIND_IMAGE);

	for (int attempt = 0;; attempt++) {
		/* What is below the layer, read while nothing can change above it. */
		if ((r = ctl_call(fd, "status", CTL_TIMEOUT_MS, &st)) < 0 || (r = ws_parse(st, &w)) < 0)
			goto done;
		json_decref(st);
		st = NULL;
		if (upfd < 0 && (upfd = open(w.upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
			r = snap__freeze_err(-errno, "upper directory %s: %s", w.upper, strerror(errno));
			goto done;
		}
		p.store = s;
		p.repo = w.repo;
		p.layers = w.layers;
		p.nlayers = w.nlayers;
		p.progress = o->progress;
		p.progress_arg = o->progress_arg;
		p.renew = lease_renew;
		p.renew_arg = &fd;
		progress(o, "pack", 0, 0);
		if ((r = snap__pack_upper(&p, upfd)) < 0 ||
		    (w.mountpoint && (r = snap__pack_git_head(&p, w.mountpoint)) < 0) || (r = lease_renew(&fd)) < 0)
			goto done;
		if ((r = ctl_call(fd, "status", CTL_TIMEOUT_MS, &st)) < 0)
			goto done;
		const char *now_commit = json_string_value(json_object_get(st, "commit"));
		bool same = now_commit && !strcmp(now_commit, w.commit);
		json_decref(st);
		st = NULL;
		if (same)
			break;
		/* A sync swapped the tree under the frozen upper: pack again. */
		if (attempt + 1 >= PACK_ATTEMPTS) {
			r = snap__freeze_err(-EAGAIN, "the workspace kept syncing during the freeze; try again");
			goto done;
		}
		uint64_t keep_new = p.new_objects, keep_bytes = p.new_bytes;
		snap__pack_release(&p);
		p.new_objects = keep_new;
		p.new_bytes = keep_bytes;
		ws_release(&w);
	}
	tpacked = now_ms();
	progress(o, "write", 0, p.n);
	if ((r = write_layer(s, o, &w, &p, t0, id)) < 0)
		goto done;
	(void)snap__pack_save_cache(&p, upfd); /* only speed depends on it */
done:
	json_decref(st);
	if (upfd >= 0)
		close(upfd);
	if (frozen)
		snap__store_set_packing(s, was_packing);
	if (frozen) {
		progress(o, "thaw", 0, 0);
		int tr = thaw(o, fd);
		if (r == 0 && tr < 0)
			r = tr; /* the layer exists, but the caller must know the workspace is stuck */
	}
	if (fd >= 0)
		close(fd);
	if (r == 0) {
		memcpy(out_id, id, sizeof(id));
		if (out_stats) {
			double t1 = now_ms();
			out_stats->files = p.n;
			out_stats->bytes = p.bytes;
			out_stats->new_objects = p.new_objects;
			out_stats->new_bytes = p.new_bytes;
			out_stats->park_ms = tpark - t0;
			out_stats->pack_ms = tpacked - tpark;
			out_stats->total_ms = t1 - t0;
		}
		progress(o, "done", p.n, p.n);
	}
	snap__pack_release(&p);
	ws_release(&w);
	return r;
}
