/*
 * pool_cadence: the image cadence of every repository inside thawd
 * (pool/cadence.c decides). When a check is due, the remote's branch tip is
 * read on the thread pool (git_remote_ls, no download); a build starts only
 * when it moved away from the current image's commit (or there is no image
 * yet), through thawd_repo_build_image; its end is seen when the
 * repository's build counters move. A failure keeps the image and backs off.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pool_glue.h"

#include "banned.h"

struct tip_job {
	struct pg_repo *gr;
	char url[PATH_MAX + 16], branch[256];
	char tip[41];
	int err;
};

static void tip_work(void *arg)
{
	struct tip_job *j = arg;
	git_remote *remote = NULL;
	const git_remote_head **heads = NULL;
	size_t n = 0;
	char ref[300];
	snprintf(ref, sizeof(ref), "refs/heads/%s", j->branch);
	if (git_remote_create_detached(&remote, j->url) < 0 ||
	    git_remote_connect(remote, GIT_DIRECTION_FETCH, NULL, NULL, NULL) < 0 || git_remote_ls(&heads, &n, remote) < 0) {
		j->err = -EIO;
		goto done;
	}
	j->err = -ENOENT;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(heads[i]->name, ref)) {
			git_oid_tostr(j->tip, sizeof(j->tip), &heads[i]->oid);
			j->err = 0;
			break;
		}
done:
	if (remote)
		git_remote_disconnect(remote);
	git_remote_free(remote);
}

static void tip_after(void *arg, int status)
{
	struct tip_job *j = arg;
	struct pg_repo *gr = j->gr;
	struct pg *g = gr->g;
	g->inflight--;
	gr->tip_checking = false;
	struct thawd_repo *r = g->stopping ? NULL : thawd_repo_find(g->d, gr->name);
	if (r && r->ready && !r->building) {
		int64_t now = thawd_now_ms();
		if (!j->err)
			snprintf(gr->tip, sizeof(gr->tip), "%s", j->tip);
		int dec = pool_cadence_decide(&gr->cad, j->err ? NULL : j->tip, now);
		if (dec == POOL_CAD_BUILD) {
			gr->builds_seen = r->builds;
			gr->failures_seen = r->build_failures;
			int e = thawd_repo_build_image(g->d, r);
			if (e == 0 || e == -EBUSY) {
				gr->cad_waiting = true;
			} else {
				pool_cadence_done(&gr->cad, false, NULL, NULL, strerror(-e), now);
			}
			thawd_event(g->d, NULL, "pool",
			            json_pack("{s:s, s:s, s:s?}", "repo", gr->name, "phase", "cadence-build", "tip",
			                      j->err ? NULL : j->tip));
		}
	}
	free(j);
	pg__maybe_free(g);
}

void pg__cadence_tick(struct pg_repo *gr, struct thawd_repo *r, int64_t now)
{
	struct pg *g = gr->g;
	if (gr->cad_interval_s != r->build_interval_s) {
		gr->cad_interval_s = r->build_interval_s;
		pool_cadence_init(&gr->cad, (int64_t)r->build_interval_s * 1000, now);
		int64_t base = r->image_created_ms ? r->image_created_ms : r->created_ms;
		gr->cad.next_due_ms = base + gr->cad.interval_ms;
	}
	if (strcmp(gr->cad.image, r->image) != 0)
		pool_cadence_set_image(&gr->cad, r->image, r->image_commit, r->image_created_ms);
	if (gr->cad_waiting) {
		if (!r->building && r->builds != gr->builds_seen) {
			bool ok = r->build_failures == gr->failures_seen;
			pool_cadence_done(&gr->cad, ok, r->image, r->image_commit, r->last_error, now);
			gr->cad_waiting = false;
		}
		return;
	}
	if (!r->build_interval_s || r->building || gr->tip_checking || !pool_cadence_due(&gr->cad, now))
		return;
	struct tip_job *j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->gr = gr;
	snprintf(j->url, sizeof(j->url), "%s", r->url);
	snprintf(j->branch, sizeof(j->branch), "%s", r->branch);
	gr->tip_checking = true;
	g->inflight++;
	if (thawd_work(g->d, tip_work, tip_after, j) < 0) {
		g->inflight--;
		gr->tip_checking = false;
		free(j);
	}
}
