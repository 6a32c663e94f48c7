/*
 * pool_gc: every 10 s, entry directories under STATE/pool that nobody uses
 * any more (claimed entries whose session ended, leftovers of a crash) are
 * removed. Only unmounted directories are candidates: a mounted one is an
 * entry being made or a session being torn down (restart cleans up mounted
 * leftovers: pool_glue.c's reattach).
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

struct gc_job {
	struct pg *g;
	char dir[PATH_MAX];
	json_t *names; /* out: [{dir, upper: exists}] of unmounted entry directories */
};

static void gc_work(void *arg)
{
	struct gc_job *j = arg;
	DIR *top = opendir(j->dir);
	if (!top)
		return;
	struct dirent *de;
	while ((de = readdir(top))) {
		if (de->d_name[0] == '.')
			continue;
		char sub[PATH_MAX];
		if (snprintf(sub, sizeof(sub), "%s/%s", j->dir, de->d_name) >= (int)sizeof(sub))
			continue;
		DIR *dd = opendir(sub);
		if (!dd)
			continue;
		struct dirent *ee;
		while ((ee = readdir(dd)))
			if (ee->d_name[0] == 'e' && ee->d_type == DT_DIR) {
				/* a mounted one belongs to an entry or a session being
				 * set up or torn down: never ours to take here */
				char full[PATH_MAX], mnt[PATH_MAX + 8], upper[PATH_MAX + 8];
				struct stat st;
				if (snprintf(full, sizeof(full), "%s/%s", sub, ee->d_name) < (int)sizeof(full) &&
				    snprintf(mnt, sizeof(mnt), "%s/mnt", full) < (int)sizeof(mnt) && !thawd__is_mounted(mnt)) {
					snprintf(upper, sizeof(upper), "%s/upper", full);
					json_array_append_new(j->names, json_pack("{s:s, s:b}", "dir", full, "upper",
					                                          lstat(upper, &st) == 0));
				}
			}
		closedir(dd);
	}
	closedir(top);
}

/* A pool directory is in use while the glue owns it as an entry or a live
 * session runs in it. A removed session whose upper layer is still there
 * (its pre-exit snapshot failed: the daemon keeps the upper) keeps it too;
 * gc_work reports whether the upper exists. */
bool pg__dir_in_use(struct pg *g, const char *dir, bool upper_exists)
{
	for (struct pg_entry *e = g->entries; e; e = e->next)
		if (!strcmp(e->dir, dir))
			return true;
	for (struct thawd_session *s = g->d->sessions; s; s = s->next)
		if (s->ws && !strcmp(s->ws->dir, dir) && (pg__session_live(s) || upper_exists))
			return true;
	return false;
}

static void gc_after(void *arg, int status)
{
	struct gc_job *j = arg;
	struct pg *g = j->g;
	g->inflight--;
	size_t i;
	json_t *v;
	if (!g->stopping)
		json_array_foreach(j->names, i, v) {
			const char *dir = json_string_value(json_object_get(v, "dir"));
			if (!dir || pg__dir_in_use(g, dir, json_is_true(json_object_get(v, "upper"))))
				continue;
			struct thawd_ws *ws = calloc(1, sizeof(*ws));
			if (!ws)
				break;
			snprintf(ws->dir, sizeof(ws->dir), "%s", dir);
			snprintf(ws->mount, sizeof(ws->mount), "%s/mnt", dir);
			snprintf(ws->upper, sizeof(ws->upper), "%s/upper", dir);
			snprintf(ws->ctl, sizeof(ws->ctl), "%s/ctl.sock", dir);
			pg__destroy_ws(g, ws, dir); /* unmounts if still mounted, then removes */
		}
	json_decref(j->names);
	free(j);
	pg__maybe_free(g);
}

void pg__gc_tick(struct pg *g, int64_t now)
{
	if (now - g->last_gc_ms < 10000)
		return;
	g->last_gc_ms = now;
	/* forget traced ids of sessions that are gone */
	const char *id;
	json_t *v, *tmp;
	json_object_foreach_safe(g->traced, tmp, id, v) {
		if (!thawd_session_find(g->d, id))
			json_object_del(g->traced, id);
	}
	struct gc_job *j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->g = g;
	snprintf(j->dir, sizeof(j->dir), "%s", g->dir);
	j->names = json_array();
	g->inflight++;
	if (thawd_work(g->d, gc_work, gc_after, j) < 0) {
		g->inflight--;
		json_decref(j->names);
		free(j);
	}
}
