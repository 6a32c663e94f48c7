/* Packing: the objects reachable from a commit (and not from another) go
 * into one new pack with its index, as after a clone or a push.
 *
 * A git_packbuilder finds deltas and compresses; its output streams to an
 * indexer on a second thread, so that compressing and indexing overlap
 * (git_packbuilder_write does both on one thread). The builder runs on a
 * repository handle of its own that shares the object database and has
 * only the config below, so the repository's config is never touched. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* mkstemp */
#endif
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <git2/sys/repository.h>

#include "genrepo.h"
#include "banned.h"

#define CHUNK (1u << 20)       /* bytes handed to the indexer at a time */
#define QUEUE_MAX (64u << 20) /* bytes queued before the builder waits */

/* The delta window is narrowed to one object (pack.windowMemory = 1;
 * libgit2 has no API for the window). Versions of a file sort next to each
 * other, so they still become deltas, but the builder does not try ten
 * unrelated neighbours of every blob, which for a large repository takes
 * longer than everything else together. */
static const char pack_config[] = "[pack]\n\twindowMemory = 1\n";

struct chunk {
	struct chunk *next;
	size_t len;
	char data[];
};

/* The stream from the pack builder (this thread) to the indexer thread. */
struct pipe {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct chunk *head, *tail;
	struct chunk *fill; /* being filled by the builder */
	size_t queued;
	bool done;	    /* no more chunks will come */
	int error;	    /* the indexer failed */
	char msg[512];	    /* its message (errors are per thread) */
	git_indexer *idx;
	git_indexer_progress stats;
	void (*on_write)(void *); /* called once when writing starts */
	void *arg;
};

static void *indexer_main(void *arg)
{
	struct pipe *p = arg;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct chunk *c;
		int rc;

		while (!p->head && !p->done)
			pthread_cond_wait(&p->cond, &p->lock);
		if (!p->head)
			break;
		c = p->head;
		p->head = c->next;
		if (!p->head)
			p->tail = NULL;
		p->queued -= c->len;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
		rc = p->error ? 0 : git_indexer_append(p->idx, c->data, c->len, &p->stats);
		free(c);
		pthread_mutex_lock(&p->lock);
		if (rc < 0 && !p->error) {
			const git_error *ge = git_error_last();

			p->error = rc;
			snprintf(p->msg, sizeof(p->msg), "indexing the pack: %s",
				 ge && ge->message ? ge->message : "unknown error");
			pthread_cond_broadcast(&p->cond);
		}
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* Queues the chunk being filled; waits while too much is queued. */
static int pipe_flush(struct pipe *p)
{
	struct chunk *c = p->fill;
	int rc;

	p->fill = NULL;
	pthread_mutex_lock(&p->lock);
	if (c) {
		if (p->tail)
			p->tail->next = c;
		else
			p->head = c;
		p->tail = c;
		p->queued += c->len;
		pthread_cond_broadcast(&p->cond);
	}
	while (p->queued > QUEUE_MAX && !p->error)
		pthread_cond_wait(&p->cond, &p->lock);
	rc = p->error;
	pthread_mutex_unlock(&p->lock);
	return rc;
}

static int pipe_write(void *data, size_t size, void *payload)
{
	struct pipe *p = payload;
	const char *src = data;
	int rc = 0;

	if (p->on_write) {
		p->on_write(p->arg);
		p->on_write = NULL;
	}
	while (size > 0) {
		size_t n;

		if (!p->fill) {
			p->fill = malloc(sizeof(struct chunk) + CHUNK);
			if (!p->fill) {
				git_error_set_oom();
				return -1;
			}
			p->fill->next = NULL;
			p->fill->len = 0;
		}
		n = CHUNK - p->fill->len;
		if (n > size)
			n = size;
		memcpy(p->fill->data + p->fill->len, src, n);
		p->fill->len += n;
		src += n;
		size -= n;
		if (p->fill->len == CHUNK && (rc = pipe_flush(p)) < 0)
			break;
	}
	return rc < 0 ? GIT_EUSER : 0;
}

static int write_config(char *path, size_t size, struct gerr *e)
{
	const char *tmp = getenv("TMPDIR");
	int fd, rc = 0;

	if (!tmp || !*tmp)
		tmp = "/tmp";
	if ((size_t)snprintf(path, size, "%s/thaw-genrepo-XXXXXX", tmp) >= size) {
		path[0] = '\0';
		return gerr_set(e, -ENAMETOOLONG, "TMPDIR is too long");
	}
	fd = mkstemp(path);
	if (fd < 0) {
		rc = gerr_sys(e, errno, "creating a temporary file in %s", tmp);
		path[0] = '\0';
		goto done;
	}
	if (write(fd, pack_config, sizeof(pack_config) - 1) != (ssize_t)(sizeof(pack_config) - 1))
		rc = gerr_sys(e, errno ? errno : EIO, "writing %s", path);
	if (close(fd) < 0 && rc == 0)
		rc = gerr_sys(e, errno, "writing %s", path);
done:
	return rc;
}

/* The builder's output through the indexer thread into packdir. */
static int stream_pack(git_packbuilder *pb, const char *packdir, void (*on_write)(void *),
		       void *arg, struct gerr *e)
{
	git_indexer_options opts;
	struct pipe p = {
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.cond = PTHREAD_COND_INITIALIZER,
		.on_write = on_write,
		.arg = arg,
	};
	pthread_t thread;
	bool started = false;
	int rc;

	if ((rc = git_indexer_options_init(&opts, GIT_INDEXER_OPTIONS_VERSION)) < 0 ||
	    (rc = git_indexer_new(&p.idx, packdir, 0, NULL, &opts)) < 0) {
		rc = gerr_git(e, rc, "creating an indexer in %s", packdir);
		goto done;
	}
	if ((rc = pthread_create(&thread, NULL, indexer_main, &p)) != 0) {
		rc = gerr_sys(e, rc, "starting the indexer thread");
		goto done;
	}
	started = true;
	rc = git_packbuilder_foreach(pb, pipe_write, &p);
	if (rc == 0)
		rc = pipe_flush(&p) < 0 ? GIT_EUSER : 0;
	if (rc < 0 && rc != GIT_EUSER)
		rc = gerr_git(e, rc, "writing the pack");
	pthread_mutex_lock(&p.lock);
	p.done = true;
	pthread_cond_broadcast(&p.cond);
	pthread_mutex_unlock(&p.lock);
	pthread_join(thread, NULL);
	started = false;
	if (p.error) {
		rc = gerr_set(e, p.error, "%s", p.msg);
		goto done;
	}
	if (rc < 0)
		goto done;
	if ((rc = git_indexer_commit(p.idx, &p.stats)) < 0) {
		rc = gerr_git(e, rc, "finishing the pack");
		goto done;
	}
done:
	if (started) {
		pthread_mutex_lock(&p.lock);
		p.done = true;
		pthread_cond_broadcast(&p.cond);
		pthread_mutex_unlock(&p.lock);
		pthread_join(thread, NULL);
	}
	free(p.fill);
	while (p.head) {
		struct chunk *c = p.head;

		p.head = c->next;
		free(c);
	}
	git_indexer_free(p.idx);
	pthread_cond_destroy(&p.cond);
	pthread_mutex_destroy(&p.lock);
	return rc;
}

int pack_write(git_odb *odb, const char *packdir, const git_oid *head, const git_oid *hide,
	       void (*on_write)(void *), void *arg, struct gerr *e)
{
	char cfgpath[4096] = "";
	git_repository *repo = NULL;
	git_config *cfg = NULL;
	git_packbuilder *pb = NULL;
	git_revwalk *walk = NULL;
	int rc;

	if ((rc = write_config(cfgpath, sizeof(cfgpath), e)) < 0)
		goto done;
	if ((rc = git_config_new(&cfg)) < 0 ||
	    (rc = git_config_add_file_ondisk(cfg, cfgpath, GIT_CONFIG_LEVEL_APP, NULL, 0)) < 0 ||
	    (rc = git_repository_new(&repo)) < 0 || (rc = git_repository_set_odb(repo, odb)) < 0 ||
	    (rc = git_repository_set_config(repo, cfg)) < 0) {
		rc = gerr_git(e, rc, "preparing to pack");
		goto done;
	}
	if ((rc = git_packbuilder_new(&pb, repo)) < 0) {
		rc = gerr_git(e, rc, "creating a pack builder");
		goto done;
	}
	git_packbuilder_set_threads(pb, 0); /* one per CPU */
	if ((rc = git_revwalk_new(&walk, repo)) < 0 || (rc = git_revwalk_push(walk, head)) < 0 ||
	    (hide && (rc = git_revwalk_hide(walk, hide)) < 0)) {
		rc = gerr_git(e, rc, "walking the new commits");
		goto done;
	}
	if ((rc = git_packbuilder_insert_walk(pb, walk)) < 0) {
		rc = gerr_git(e, rc, "adding objects to the pack");
		goto done;
	}
	rc = stream_pack(pb, packdir, on_write, arg, e);
done:
	git_revwalk_free(walk);
	git_packbuilder_free(pb);
	git_repository_free(repo);
	git_config_free(cfg);
	if (cfgpath[0])
		unlink(cfgpath);
	return rc;
}
