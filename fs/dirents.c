/*
 * A directory's entries: name -> node, with offsets that stay valid while
 * the directory changes.
 *
 * Entries are appended in creation order and never move relative to each
 * other; a removed entry becomes a tombstone (its slot is reclaimed when more
 * than half of the array is tombstones, offsets kept). An entry's offset is
 * its creation sequence number, so a readdir that resumes at an offset sees
 * every entry that existed throughout exactly once, whatever was created or
 * removed in between (what POSIX asks of readdir). Names are found through
 * an open-addressing hash table of indices.
 *
 * Not thread-safe: the caller holds the directory's lock (fs__dir_rdlock /
 * fs__dir_wrlock in dir.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs_int.h"

#define SLOT_EMPTY 0u
#define SLOT_DELETED UINT32_MAX
#define FIRST_OFF 3 /* 1 and 2 are "." and ".." */

static uint64_t hash_name(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

static int rehash(struct fs_dir *d, size_t hcap)
{
	uint32_t *h = calloc(hcap, sizeof(*h));
	if (!h)
		return -ENOMEM;
	for (size_t i = 0; i < d->n; i++) {
		if (!d->ent[i].node)
			continue;
		size_t j = hash_name(d->ent[i].name) & (hcap - 1);
		while (h[j] != SLOT_EMPTY)
			j = (j + 1) & (hcap - 1);
		h[j] = (uint32_t)i + 1;
	}
	free(d->hash);
	d->hash = h;
	d->hcap = hcap;
	return 0;
}

static void compact(struct fs_dir *d)
{
	size_t w = 0;
	for (size_t i = 0; i < d->n; i++)
		if (d->ent[i].node)
			d->ent[w++] = d->ent[i];
	d->n = w;
	(void)rehash(d, d->hcap); /* same size: cannot need more memory than it has */
}

struct fs_dir *fs__dir_new(void)
{
	struct fs_dir *d = calloc(1, sizeof(*d));
	if (d)
		d->next_off = FIRST_OFF;
	return d;
}

void fs__dir_free(struct fs_dir *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->ent[i].name);
	free(d->ent);
	free(d->hash);
	free(d);
}

static size_t find_slot(const struct fs_dir *d, const char *name)
{
	if (!d->hcap)
		return SIZE_MAX;
	size_t j = hash_name(name) & (d->hcap - 1);
	for (size_t probes = 0; probes < d->hcap; probes++) {
		uint32_t v = d->hash[j];
		if (v == SLOT_EMPTY)
			return SIZE_MAX;
		if (v != SLOT_DELETED && !strcmp(d->ent[v - 1].name, name))
			return j;
		j = (j + 1) & (d->hcap - 1);
	}
	return SIZE_MAX;
}

struct fs_dirent *fs__dir_lookup(struct fs_dir *d, const char *name)
{
	size_t j = find_slot(d, name);
	return j == SIZE_MAX ? NULL : &d->ent[d->hash[j] - 1];
}

int fs__dir_add(struct fs_dir *d, const char *name, struct fs_node *node, bool lower)
{
	if (find_slot(d, name) != SIZE_MAX)
		return -EEXIST;
	if (d->n == d->cap) {
		if (d->live < d->n / 2 && d->n >= 16) {
			compact(d);
		} else {
			size_t ncap = d->cap ? d->cap * 2 : 8;
			struct fs_dirent *ne = realloc(d->ent, ncap * sizeof(*ne));
			if (!ne)
				return -ENOMEM;
			d->ent = ne;
			d->cap = ncap;
		}
	}
	/* Keep the hash table at most half full (tombstones count). */
	if ((d->n + 1) * 2 > d->hcap) {
		size_t hcap = d->hcap ? d->hcap : 16;
		while (hcap < (d->n + 1) * 2)
			hcap *= 2;
		int r = rehash(d, hcap);
		if (r < 0)
			return r;
	}
	char *nm = strdup(name);
	if (!nm)
		return -ENOMEM;
	size_t i = d->n++;
	d->ent[i] = (struct fs_dirent){.name = nm, .node = node, .off = d->next_off++, .lower = lower};
	size_t j = hash_name(name) & (d->hcap - 1);
	while (d->hash[j] != SLOT_EMPTY && d->hash[j] != SLOT_DELETED)
		j = (j + 1) & (d->hcap - 1);
	d->hash[j] = (uint32_t)i + 1;
	d->live++;
	return 0;
}

int fs__dir_remove(struct fs_dir *d, const char *name)
{
	size_t j = find_slot(d, name);
	if (j == SIZE_MAX)
		return -ENOENT;
	struct fs_dirent *e = &d->ent[d->hash[j] - 1];
	d->hash[j] = SLOT_DELETED;
	e->node = NULL;
	free(e->name);
	e->name = NULL;
	d->live--;
	return 0;
}

size_t fs__dir_seek(const struct fs_dir *d, uint64_t off)
{
	size_t lo = 0, hi = d->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (d->ent[mid].off <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}
