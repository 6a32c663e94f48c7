/*
 * work.c: off-loop execution. Two kinds:
 *
 * - thawd_work: libuv's thread pool (parallel; spawning thawfs, control
 *   requests, libgit2, snapshot library calls).
 * - thawd_db_submit: one serial database thread. Every SQLite statement of
 *   thaw.db and the session databases runs there, in submission order, so an
 *   event inserted before a replay request is always seen by the replay and
 *   the loop never waits on SQLite. Completions come back to the loop
 *   through a uv_async_t.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "thawd.h"

#include "banned.h"

struct db_job {
	struct db_job *next;
	void (*work)(struct thawd *d, void *arg);
	void (*done)(struct thawd *d, void *arg);
	void *arg;
};

struct thawd_db {
	struct thawd *d;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct db_job *head, *tail;     /* protected by lock: to run */
	struct db_job *dhead, *dtail;   /* protected by lock: ran, done pending on the loop */
	bool stop;                      /* protected by lock */
	uv_async_t async;
};

static void *db_main(void *arg)
{
	struct thawd_db *t = arg;
	pthread_mutex_lock(&t->lock);
	for (;;) {
		while (!t->head && !t->stop)
			pthread_cond_wait(&t->cond, &t->lock);
		if (!t->head && t->stop)
			break;
		struct db_job *j = t->head;
		t->head = j->next;
		if (!t->head)
			t->tail = NULL;
		pthread_mutex_unlock(&t->lock);
		if (j->work)
			j->work(t->d, j->arg);
		pthread_mutex_lock(&t->lock);
		j->next = NULL;
		if (t->dtail)
			t->dtail->next = j;
		else
			t->dhead = j;
		t->dtail = j;
		uv_async_send(&t->async);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

static void db_async(uv_async_t *a)
{
	struct thawd_db *t = a->data;
	pthread_mutex_lock(&t->lock);
	struct db_job *j = t->dhead;
	t->dhead = t->dtail = NULL;
	pthread_mutex_unlock(&t->lock);
	while (j) {
		struct db_job *n = j->next;
		if (j->done)
			j->done(t->d, j->arg);
		free(j);
		j = n;
	}
}

int thawd_db_start(struct thawd *d)
{
	struct thawd_db *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->d = d;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	int r = uv_async_init(d->loop, &t->async, db_async);
	if (r < 0) {
		free(t);
		return r;
	}
	t->async.data = t;
	r = pthread_create(&t->thread, NULL, db_main, t);
	if (r) {
		uv_close((uv_handle_t *)&t->async, NULL);
		return -r;
	}
	d->dbt = t;
	return 0;
}

static void db_closed(uv_handle_t *h)
{
	struct thawd_db *t = h->data;
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->cond);
	free(t);
}

void thawd_db_stop(struct thawd *d)
{
	struct thawd_db *t = d->dbt;
	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	t->stop = true;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
	pthread_join(t->thread, NULL);
	db_async(&t->async); /* run the remaining completions */
	d->dbt = NULL;
	uv_close((uv_handle_t *)&t->async, db_closed);
}

void thawd_db_submit(struct thawd *d, void (*work)(struct thawd *d, void *arg), void (*done)(struct thawd *d, void *arg),
                     void *arg)
{
	struct thawd_db *t = d->dbt;
	if (!t) { /* before start or after stop: run inline (main thread, loop not running) */
		if (work)
			work(d, arg);
		if (done)
			done(d, arg);
		return;
	}
	struct db_job *j = calloc(1, sizeof(*j));
	if (!j) {
		thawd_log(d, "error", "database queue: out of memory");
		abort();
	}
	j->work = work;
	j->done = done;
	j->arg = arg;
	pthread_mutex_lock(&t->lock);
	if (t->tail)
		t->tail->next = j;
	else
		t->head = j;
	t->tail = j;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
}

struct work_req {
	uv_work_t w;
	void (*work)(void *arg);
	void (*done)(void *arg, int status);
	void *arg;
};

static void work_run(uv_work_t *w)
{
	struct work_req *q = w->data;
	q->work(q->arg);
}

static void work_after(uv_work_t *w, int status)
{
	struct work_req *q = w->data;
	if (q->done)
		q->done(q->arg, status);
	free(q);
}

int thawd_work(struct thawd *d, void (*work)(void *arg), void (*done)(void *arg, int status), void *arg)
{
	struct work_req *q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->work = work;
	q->done = done;
	q->arg = arg;
	q->w.data = q;
	int r = uv_queue_work(d->loop, &q->w, work_run, work_after);
	if (r < 0)
		free(q);
	return r;
}
