/*
 * pool_trace: prefetch traces inside thawd. Once a session of a pooled
 * repository has run for trace_window_s, its change journal (session.db, on
 * the database thread) is the trace: the paths, sized from the session's
 * mount, go into the repository's table (pool/prefetch.c) on the thread
 * pool, which also makes the new hydration list and saves the table. One
 * trace per repository at a time (pf_busy: the worker owns the table).
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

struct trace_job {
	struct pg_repo *gr;
	struct thawd_session *s;
	char mount[PATH_MAX];
	json_t *journal;
	char save[PATH_MAX + 16];
	char **plan;
	size_t nplan;
	uint64_t plan_bytes;
	int err;
};

static void trace_db(struct thawd *d, void *arg)
{
	struct trace_job *j = arg;
	if (j->s->sdb)
		j->err = thawd__sdb_journal(j->s->sdb, j->journal);
	else
		j->err = -ENOENT;
}

/* Sizes of the touched paths (regular files as the session sees them),
 * the table updated, the plan made, the table saved. */
static void trace_work(void *arg)
{
	struct trace_job *j = arg;
	struct pool_trace *t = NULL;
	if (pool_trace_new(&t, 0, INT64_MAX) < 0)
		return;
	size_t i;
	json_t *row;
	json_array_foreach(j->journal, i, row) {
		const char *p = json_string_value(json_object_get(row, "path"));
		if (!p)
			continue;
		while (*p == '/')
			p++;
		if (!*p || !strncmp(p, ".git/", 5) || !strcmp(p, ".git"))
			continue;
		char full[PATH_MAX];
		struct stat st;
		if (snprintf(full, sizeof(full), "%s/%s", j->mount, p) >= (int)sizeof(full) || lstat(full, &st) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		(void)pool_trace_add(t, p, (uint64_t)st.st_size, 0);
	}
	j->err = pool_trace_commit(t, j->gr->pf);
	pool_trace_free(t);
	if (j->err == 0)
		j->err = pool_prefetch_plan(j->gr->pf, PG_PREFETCH_BUDGET, PG_PREFETCH_MIN_SESSIONS, &j->plan, &j->nplan,
		                            &j->plan_bytes);
	if (j->err == 0)
		(void)pool_prefetch_save(j->gr->pf, j->save);
}

static void trace_after(void *arg, int status)
{
	struct trace_job *j = arg;
	struct pg_repo *gr = j->gr;
	struct pg *g = gr->g;
	g->inflight--;
	gr->pf_busy = false;
	if (j->plan) {
		pool_strv_free(gr->plan, gr->nplan);
		gr->plan = j->plan;
		gr->nplan = j->nplan;
		gr->plan_bytes = j->plan_bytes;
		gr->traces++;
	}
	json_decref(j->journal);
	thawd_session_unref(j->s);
	free(j);
	pg__maybe_free(g);
}

static void trace_db_done(struct thawd *d, void *arg)
{
	struct trace_job *j = arg;
	struct pg *g = j->gr->g;
	if (j->err || g->stopping || thawd_work(d, trace_work, trace_after, j) < 0) {
		j->gr->pf_busy = false;
		json_decref(j->journal);
		thawd_session_unref(j->s);
		free(j);
		g->inflight--;
		pg__maybe_free(g);
	}
}

void pg__trace_tick(struct pg_repo *gr, int64_t now)
{
	struct pg *g = gr->g;
	for (struct thawd_session *s = g->d->sessions; s && !gr->pf_busy; s = s->next) {
		if (strcmp(s->repo, gr->name) || !s->ws || !pg__session_live(s) ||
		    now - s->created_ms < (int64_t)gr->trace_window_s * 1000 || json_object_get(g->traced, s->id))
			continue;
		json_object_set_new(g->traced, s->id, json_true());
		struct trace_job *j = calloc(1, sizeof(*j));
		if (!j)
			return;
		j->gr = gr;
		j->s = s;
		j->journal = json_array();
		snprintf(j->mount, sizeof(j->mount), "%s", s->ws->mount);
		snprintf(j->save, sizeof(j->save), "%s/prefetch", gr->dir);
		thawd_session_ref(s);
		gr->pf_busy = true;
		g->inflight++;
		thawd_db_submit(g->d, trace_db, trace_db_done, j);
	}
}
