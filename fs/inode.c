/*
 * The inode table: inode number -> node, read without locks.
 *
 * Numbers are handed out in order from 1 (the root) and never reused, so a
 * path keeps its number for the life of the mount. The table is a two-level
 * array: fixed chunks of FS_ITAB_CHUNK pointers that never move once
 * allocated, so a reader needs two acquire loads and no lock; only a writer
 * that starts a new chunk takes t->grow.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs_int.h"

int fs__itable_init(struct fs_itable *t)
{
	memset(t, 0, sizeof(*t));
	atomic_init(&t->next, 1);
	return -pthread_mutex_init(&t->grow, NULL);
}

void fs__itable_release(struct fs_itable *t)
{
	if (!t)
		return;
	uint64_t n = atomic_load(&t->next);
	for (uint64_t c = 0; c < FS_ITAB_CHUNKS; c++) {
		_Atomic(struct fs_node *) *chunk = atomic_load(&t->chunk[c]);
		if (!chunk)
			break;
		for (uint64_t i = 0; i < FS_ITAB_CHUNK; i++) {
			uint64_t ino = (c << FS_ITAB_CHUNK_BITS) | i;
			if (ino >= n)
				break;
			struct fs_node *node = atomic_load_explicit(&chunk[i], memory_order_relaxed);
			if (!node)
				continue;
			fs__dir_free(atomic_load(&node->dir));
			int upfd = atomic_load(&node->upfd);
			if (upfd >= 0)
				close(upfd);
			for (struct fs_link *l = node->links, *nx; l; l = nx) {
				nx = l->next;
				free(l->name);
				free(l);
			}
			free(node->origin);
			free(node->name);
			free(node);
		}
		free(chunk);
	}
	pthread_mutex_destroy(&t->grow);
}

int fs__itable_add(struct fs_itable *t, struct fs_node *node)
{
	uint64_t ino = atomic_fetch_add(&t->next, 1);
	uint64_t c = ino >> FS_ITAB_CHUNK_BITS;
	if (c >= FS_ITAB_CHUNKS)
		return -ENOSPC;
	_Atomic(struct fs_node *) *chunk = atomic_load_explicit(&t->chunk[c], memory_order_acquire);
	if (!chunk) {
		pthread_mutex_lock(&t->grow);
		chunk = atomic_load_explicit(&t->chunk[c], memory_order_acquire);
		if (!chunk) {
			chunk = calloc(FS_ITAB_CHUNK, sizeof(*chunk));
			if (!chunk) {
				pthread_mutex_unlock(&t->grow);
				return -ENOMEM;
			}
			atomic_store_explicit(&t->chunk[c], chunk, memory_order_release);
		}
		pthread_mutex_unlock(&t->grow);
	}
	node->ino = ino;
	atomic_store_explicit(&chunk[ino & (FS_ITAB_CHUNK - 1)], node, memory_order_release);
	return 0;
}

struct fs_node *fs__itable_get(struct fs_itable *t, uint64_t ino)
{
	uint64_t c = ino >> FS_ITAB_CHUNK_BITS;
	if (ino == 0 || c >= FS_ITAB_CHUNKS)
		return NULL;
	_Atomic(struct fs_node *) *chunk = atomic_load_explicit(&t->chunk[c], memory_order_acquire);
	if (!chunk)
		return NULL;
	return atomic_load_explicit(&chunk[ino & (FS_ITAB_CHUNK - 1)], memory_order_acquire);
}

uint64_t fs__itable_count(struct fs_itable *t)
{
	return atomic_load_explicit(&t->next, memory_order_relaxed) - 1;
}
