/*
 * The control socket: line-delimited JSON over a Unix stream socket (the
 * protocol is in fs.h). One thread polls the listening socket and up to
 * CTL_MAX_CLIENTS connections; requests are small and answered at once.
 *
 * A freeze with "lease_ms" belongs to the connection that asked for it: the
 * gate reopens by itself when that connection closes (the freezer exited or
 * was killed) or when the lease runs out without a renewal (the freezer
 * hangs). At most one lease exists; a thaw or a plain freeze ends it. The
 * lease lives in this thread only (the poll timeout is its timer).
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
#include <limits.h>
#include <unistd.h>

#include "fs_int.h"

#define CTL_MAX_CLIENTS 32
#define CTL_MAX_LINE 65536
#define CTL_MAX_LEASE_MS (24ll * 3600 * 1000)

struct client {
	int fd;
	char *buf;
	size_t len;
	bool subscribed;
	uint64_t next;  /* next event sequence number to send */
};

struct fs_control {
	struct fs *fs;
	char *path;
	int lfd;
	int wake[2];
	pthread_t thread;
	bool running;
	struct client cl[CTL_MAX_CLIENTS];
	int ncl;
	int lease_fd;           /* the connection holding the freeze lease, -1: none */
	int64_t lease_ms;       /* its length */
	int64_t lease_deadline; /* CLOCK_MONOTONIC ms */
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The freezer is gone or silent: reopen the gate as a thaw would. */
static void lease_end(struct fs_control *c, const char *reason)
{
	c->lease_fd = -1;
	fs__gate_open(c->fs, true);
	fs_log("thawfs: freeze lease ended (%s): gate reopened", reason);
	fs__event(c->fs, json_pack("{s:s,s:s}", "event", "thawed", "reason", reason));
}

#define U64(field) json_integer((json_int_t)atomic_load_explicit(&fs->stats.field, memory_order_relaxed))

struct json_t *fs__status_json(struct fs *fs)
{
	char commit[GIT_OID_HEXSZ + 1], tree[GIT_OID_HEXSZ + 1];
	const char *branch = fs_git_branch(fs->git);
	pthread_rwlock_rdlock(&fs->swap_lock);
	git_oid_tostr(commit, sizeof(commit), fs_git_commit_id(fs->git));
	git_oid_tostr(tree, sizeof(tree), fs_git_tree_id(fs->git));
	pthread_rwlock_unlock(&fs->swap_lock);

	json_t *layers = json_array();
	for (int i = 1; i < fs->nlayers; i++)
		json_array_append_new(layers, json_string(fs->layer[i].path));

	pthread_mutex_lock(&fs->dotgit_lock);
	int state = fs->dotgit_state;
	uint64_t entries = fs->index_entries;
	double index_ms = fs->index_ms;
	pthread_mutex_unlock(&fs->dotgit_lock);

	json_t *counters = json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:I}",
	                             "lookups", U64(lookups), "getattrs", U64(getattrs),
	                             "readdirs", U64(readdirs), "reads", U64(reads),
	                             "bytes_read", U64(bytes_read), "hydrations", U64(hydrations),
	                             "bytes_hydrated", U64(bytes_hydrated), "cache_hits", U64(cache_hits),
	                             "inline_reads", U64(inline_reads),
	                             "evictions", json_integer((json_int_t)fs_cache_evictions(fs->cache)),
	                             "io_errors", U64(io_errors), "erofs", U64(erofs),
	                             "inodes", (json_int_t)fs__itable_count(&fs->itable));
	json_t *cache = json_pack("{s:s,s:I,s:I}", "dir", fs_cache_dir(fs->cache),
	                          "cap", (json_int_t)fs_cache_cap(fs->cache),
	                          "size", (json_int_t)fs_cache_size_estimate(fs->cache));
	double ready = (double)(fs->mounted.tv_sec - fs->started.tv_sec) * 1e3 +
	               (double)(fs->mounted.tv_nsec - fs->started.tv_nsec) / 1e6;
	json_t *j = json_pack("{s:b,s:s,s:s,s:s?,s:s,s:s,s:s?,s:b,s:o,s:s?,s:o,s:o,s:s,s:I,s:f,s:f,s:I,s:o,s:o,s:o}",
	                      "ok", 1, "commit", commit, "tree", tree, "branch", branch,
	                      "repo", fs->opt.repo, "mountpoint", fs->opt.mountpoint, "upper", fs->upper,
	                      "writable", fs->upper != NULL, "layers", layers, "store", fs->store_dir,
	                      "layer_info", fs__store_layer_info(fs), "cache", cache,
	                      "dotgit", state == 0 ? "preparing" : state > 0 ? "ready" : "failed",
	                      "index_entries", (json_int_t)entries, "index_ms", index_ms,
	                      "reads_ready_ms", ready, "pid", (json_int_t)getpid(), "counters", counters,
	                      "gate", fs__gate_json(fs), "sync", fs__sync_json(fs));
	return j;
}

static json_t *error_json(const char *msg)
{
	return json_pack("{s:b,s:s}", "ok", 0, "error", msg);
}

static json_t *handle(struct fs_control *c, struct client *cl, const char *line)
{
	json_error_t jerr;
	json_t *req = json_loads(line, 0, &jerr);
	json_t *resp;
	if (!req || !json_is_object(req)) {
		json_decref(req);
		return error_json("malformed request: expected a JSON object");
	}
	const char *cmd = json_string_value(json_object_get(req, "cmd"));
	if (!cmd) {
		resp = error_json("missing \"cmd\"");
	} else if (!strcmp(cmd, "status")) {
		resp = fs__status_json(c->fs);
		json_t *gate = json_object_get(resp, "gate");
		if (gate)
			json_object_set_new(gate, "lease_ms_left",
			                    c->lease_fd >= 0 ? json_integer(c->lease_deadline - mono_ms()) : json_null());
	} else if (!strcmp(cmd, "sync")) {
		int r = fs__sync_request(c->fs);
		resp = r < 0 ? error_json("no --remote: this workspace does not sync")
		             : json_pack("{s:b,s:b}", "ok", 1, "started", 1);
	} else if (!strcmp(cmd, "freeze")) {
		json_t *jl = json_object_get(req, "lease_ms");
		json_int_t lease = json_is_integer(jl) ? json_integer_value(jl) : 0;
		bool renew = json_is_true(json_object_get(req, "renew"));
		if (!c->fs->upper) {
			resp = error_json("read-only workspace: nothing to freeze");
		} else if ((jl && !json_is_integer(jl)) || lease < 0 || lease > CTL_MAX_LEASE_MS || (renew && !lease)) {
			resp = error_json("\"lease_ms\" must be an integer from 1 to 86400000 (and given with \"renew\")");
		} else if (renew) {
			/* Extend this connection's lease; it may have run out. */
			if (c->lease_fd != cl->fd) {
				resp = error_json("this connection holds no freeze lease (it ran out or a thaw ended it): "
				                  "the gate was reopened");
			} else {
				c->lease_ms = lease;
				c->lease_deadline = mono_ms() + lease;
				resp = json_pack("{s:b,s:I}", "ok", 1, "lease_ms", (json_int_t)lease);
			}
		} else {
			/* Park new mutations, wait for the running ones, flush. */
			fs__gate_close(c->fs, true);
			int r = syncfs(c->fs->upper_fd) < 0 ? -errno : 0;
			resp = r < 0 ? error_json(strerror(-r)) : json_pack("{s:b,s:o}", "ok", 1, "gate", fs__gate_json(c->fs));
			if (r < 0)
				fs__gate_open(c->fs, true);
			fs__event(c->fs, json_pack("{s:s}", "event", r < 0 ? "freeze-failed" : "frozen"));
			c->lease_fd = -1; /* a plain freeze holds the gate until a thaw */
			if (r == 0 && lease > 0) {
				c->lease_fd = cl->fd;
				c->lease_ms = lease;
				c->lease_deadline = mono_ms() + lease;
				json_object_set_new(resp, "lease_ms", json_integer(lease));
			}
		}
	} else if (!strcmp(cmd, "thaw")) {
		c->lease_fd = -1;
		fs__gate_open(c->fs, true);
		fs__event(c->fs, json_pack("{s:s}", "event", "thawed"));
		resp = json_pack("{s:b,s:o}", "ok", 1, "gate", fs__gate_json(c->fs));
	} else if (!strcmp(cmd, "subscribe")) {
		cl->subscribed = true;
		pthread_mutex_lock(&c->fs->events.lock);
		cl->next = c->fs->events.seq;
		pthread_mutex_unlock(&c->fs->events.lock);
		atomic_fetch_add(&c->fs->events.subscribers, 1);
		resp = json_pack("{s:b,s:b}", "ok", 1, "subscribed", 1);
	} else if (!strcmp(cmd, "evict")) {
		uint64_t n = 0;
		int r = fs_cache_evict(c->fs->cache, &n);
		resp = r < 0 ? error_json(strerror(-r)) : json_pack("{s:b,s:I}", "ok", 1, "evicted", (json_int_t)n);
	} else {
		char msg[128];
		snprintf(msg, sizeof(msg), "unknown command \"%.64s\"", cmd);
		resp = error_json(msg);
	}
	json_decref(req);
	return resp;
}

static void client_close(struct fs_control *c, int i)
{
	if (c->cl[i].fd == c->lease_fd)
		lease_end(c, "freezer gone");
	if (c->cl[i].subscribed)
		atomic_fetch_sub(&c->fs->events.subscribers, 1);
	close(c->cl[i].fd);
	free(c->cl[i].buf);
	c->cl[i] = c->cl[--c->ncl];
}

static int send_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Sends a subscriber the events it has not seen. */
static int send_events(struct fs_control *c, struct client *cl)
{
	struct fs_events *ev = &c->fs->events;
	for (;;) {
		pthread_mutex_lock(&ev->lock);
		if (cl->next >= ev->seq) {
			pthread_mutex_unlock(&ev->lock);
			return 0;
		}
		if (ev->seq - cl->next > 1024)
			cl->next = ev->seq - 1024; /* fell behind: the oldest are gone */
		char *line = strdup(ev->ring[cl->next % 1024]);
		cl->next++;
		pthread_mutex_unlock(&ev->lock);
		if (!line)
			return -1;
		int r = send_all(cl->fd, line, strlen(line));
		free(line);
		if (r < 0)
			return -1;
	}
}

int fs__events_init(struct fs *fs)
{
	struct fs_events *ev = &fs->events;
	memset(ev->ring, 0, sizeof(ev->ring));
	pthread_mutex_init(&ev->lock, NULL);
	if (pipe2(ev->wake, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

void fs__events_release(struct fs *fs)
{
	struct fs_events *ev = &fs->events;
	for (int i = 0; i < 1024; i++)
		free(ev->ring[i]);
	pthread_mutex_destroy(&ev->lock);
	if (ev->wake[0] >= 0) {
		close(ev->wake[0]);
		close(ev->wake[1]);
	}
}

bool fs__events_wanted(struct fs *fs)
{
	return atomic_load_explicit(&fs->events.subscribers, memory_order_relaxed) > 0;
}

void fs__event(struct fs *fs, json_t *e)
{
	struct fs_events *ev = &fs->events;
	if (!e)
		return;
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	json_object_set_new(e, "time_ms", json_integer((json_int_t)t.tv_sec * 1000 + t.tv_nsec / 1000000));
	pthread_mutex_lock(&ev->lock);
	json_object_set_new(e, "seq", json_integer((json_int_t)ev->seq));
	char *s = json_dumps(e, JSON_COMPACT);
	if (s) {
		size_t l = strlen(s);
		char *line = realloc(s, l + 2);
		if (line) {
			line[l] = '\n';
			line[l + 1] = '\0';
			free(ev->ring[ev->seq % 1024]);
			ev->ring[ev->seq % 1024] = line;
			ev->seq++;
		} else {
			free(s);
		}
	}
	pthread_mutex_unlock(&ev->lock);
	json_decref(e);
	if (ev->wake[1] >= 0)
		(void)!write(ev->wake[1], "e", 1);
}

void fs__event_change(struct fs *fs, const char *op, struct fs_node *parent, const char *name, struct fs_node *n)
{
	if (!fs__events_wanted(fs))
		return;
	char path[PATH_MAX];
	if (parent) {
		char pp[PATH_MAX];
		if (fs__node_relpath(parent, pp, sizeof(pp)) < 0)
			return;
		if (snprintf(path, sizeof(path), "%s%s%s", strcmp(pp, ".") ? pp : "", strcmp(pp, ".") ? "/" : "", name) >=
		    (int)sizeof(path))
			return;
	} else if (fs__node_relpath(n, path, sizeof(path)) < 0) {
		return;
	}
	fs__event(fs, json_pack("{s:s,s:s,s:s}", "event", "change", "op", op, "path", path));
}

/* Returns <0 when the client must be dropped. */
static int client_read(struct fs_control *c, struct client *cl)
{
	char tmp[4096];
	ssize_t n = recv(cl->fd, tmp, sizeof(tmp), 0);
	if (n <= 0)
		return -1;
	if (cl->len + (size_t)n > CTL_MAX_LINE)
		return -1;
	char *nb = realloc(cl->buf, cl->len + (size_t)n + 1);
	if (!nb)
		return -1;
	cl->buf = nb;
	memcpy(cl->buf + cl->len, tmp, (size_t)n);
	cl->len += (size_t)n;
	cl->buf[cl->len] = '\0';
	char *nl;
	while ((nl = memchr(cl->buf, '\n', cl->len))) {
		*nl = '\0';
		json_t *resp = handle(c, cl, cl->buf);
		char *out = json_dumps(resp, JSON_COMPACT);
		json_decref(resp);
		int r = -1;
		if (out) {
			size_t ol = strlen(out);
			out[ol] = '\0';
			r = send_all(cl->fd, out, ol);
			if (r == 0)
				r = send_all(cl->fd, "\n", 1);
			free(out);
		}
		size_t rest = cl->len - (size_t)(nl + 1 - cl->buf);
		memmove(cl->buf, nl + 1, rest);
		cl->len = rest;
		cl->buf[cl->len] = '\0';
		if (r < 0)
			return -1;
	}
	return 0;
}

static void *control_thread(void *arg)
{
	struct fs_control *c = arg;
	for (;;) {
		struct pollfd pf[CTL_MAX_CLIENTS + 3];
		pf[0] = (struct pollfd){.fd = c->wake[0], .events = POLLIN};
		pf[1] = (struct pollfd){.fd = c->lfd, .events = c->ncl < CTL_MAX_CLIENTS ? POLLIN : 0};
		for (int i = 0; i < c->ncl; i++)
			pf[i + 2] = (struct pollfd){.fd = c->cl[i].fd, .events = POLLIN};
		int nfds = c->ncl + 2;
		pf[nfds] = (struct pollfd){.fd = c->fs->events.wake[0], .events = POLLIN};
		int timeout = -1;
		if (c->lease_fd >= 0) {
			int64_t left = c->lease_deadline - mono_ms();
			timeout = left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
		}
		int pr = poll(pf, (nfds_t)nfds + 1, timeout);
		if (pr < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[0].revents)
			break;
		if (c->lease_fd >= 0 && mono_ms() >= c->lease_deadline) {
			lease_end(c, "lease expired");
			continue; /* the poll set is rebuilt */
		}
		if (pr == 0)
			continue;
		if (pf[nfds].revents) {
			char drain[256];
			bool closed = false;
			while (read(c->fs->events.wake[0], drain, sizeof(drain)) > 0)
				;
			for (int i = c->ncl - 1; i >= 0; i--)
				if (c->cl[i].subscribed && send_events(c, &c->cl[i]) < 0) {
					client_close(c, i);
					closed = true;
				}
			/* client_close moved the last client into a closed slot: pf[]
			 * no longer matches c->cl[], so reading by pf index would use
			 * a stale copy (a closed descriptor, a freed buffer). Poll
			 * again; pending input is still there (level-triggered). */
			if (closed)
				continue;
		}
		for (int i = nfds - 3; i >= 0; i--)
			if (pf[i + 2].revents && client_read(c, &c->cl[i]) < 0)
				client_close(c, i);
		if (pf[1].revents & POLLIN) {
			int fd = accept4(c->lfd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0) {
				c->cl[c->ncl].fd = fd;
				c->cl[c->ncl].buf = NULL;
				c->cl[c->ncl].len = 0;
				c->ncl++;
			}
		}
	}
	return NULL;
}

int fs_control_bind(struct fs_control **out, struct fs *fs, const char *path)
{
	struct fs_control *c = calloc(1, sizeof(*c));
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int r;

	if (!c)
		return -ENOMEM;
	c->fs = fs;
	c->lfd = c->wake[0] = c->wake[1] = -1;
	c->lease_fd = -1;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		r = -ENAMETOOLONG;
		goto fail;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	c->path = strdup(path);
	if (!c->path || pipe2(c->wake, O_CLOEXEC) < 0) {
		r = c->path ? -errno : -ENOMEM;
		goto fail;
	}
	/* A socket file left by a dead process is replaced; a live one is not. */
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0) {
		int live = connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		close(probe);
		if (live) {
			r = -EADDRINUSE;
			goto fail;
		}
	}
	c->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->lfd < 0) {
		r = -errno;
		goto fail;
	}
	(void)unlink(path);
	if (bind(c->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(c->lfd, 16) < 0) {
		r = -errno;
		goto fail;
	}
	(void)chmod(path, 0600);
	*out = c;
	return 0;
fail:
	if (c->lfd >= 0)
		close(c->lfd);
	if (c->wake[0] >= 0) {
		close(c->wake[0]);
		close(c->wake[1]);
	}
	free(c->path);
	free(c);
	return r;
}

int fs_control_start(struct fs_control *c)
{
	int r = pthread_create(&c->thread, NULL, control_thread, c);
	if (r == 0)
		c->running = true;
	return -r;
}

void fs_control_stop(struct fs_control *c)
{
	if (!c)
		return;
	if (c->running) {
		(void)!write(c->wake[1], "x", 1);
		pthread_join(c->thread, NULL);
	}
	c->lease_fd = -1; /* shutting down: the gate stays as fs_run left it */
	for (int i = c->ncl - 1; i >= 0; i--)
		client_close(c, i);
	close(c->lfd);
	close(c->wake[0]);
	close(c->wake[1]);
	(void)unlink(c->path);
	free(c->path);
	free(c);
}
