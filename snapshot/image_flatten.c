/*
 * Flattening an image chain (snap__image_flatten, called by snapshot/image.c
 * when a new image's chain would pass the limit).
 *
 * The merged view of a chain (topmost first) as one layer without parent,
 * by the rules thawfs merges layers with: the topmost entry of a path
 * decides; a whiteout or a non-directory hides everything below it in lower
 * layers; an opaque directory hides what lower layers (and git) have below
 * it. Where an upper directory sits on a lower whiteout, file or opaque
 * directory, the flattened directory becomes opaque (git's entries below
 * were hidden) and keeps only the entries of the layers above the cut.
 * Hard links stay links when their group's first path comes from the same
 * layer; otherwise the entry becomes a plain file with the same content id.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image_int.h"
#include "snapshot_int.h"

#include "banned.h"

struct flat_ent {
	struct snap_entry e; /* path, target, link and xattrs owned */
	size_t layer;        /* index in the chain the entry comes from */
	size_t cut;          /* directories: layers below this index are hidden under it (SIZE_MAX: none) */
};

struct flat {
	struct flat_ent *v;
	size_t n, cap;
	size_t *slots; /* open addressing: index + 1, 0 = empty */
	size_t nslots;
	size_t layer;  /* the layer being walked */
};

static uint64_t flat_hash(const char *p, size_t len)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
	return h;
}

static struct flat_ent *flat_find(struct flat *f, const char *path, size_t len)
{
	if (!f->nslots)
		return NULL;
	for (size_t i = flat_hash(path, len) & (f->nslots - 1);; i = (i + 1) & (f->nslots - 1)) {
		size_t k = f->slots[i];
		if (!k)
			return NULL;
		struct flat_ent *x = &f->v[k - 1];
		if (strlen(x->e.path) == len && !memcmp(x->e.path, path, len))
			return x;
	}
}

static int flat_rehash(struct flat *f, size_t nslots)
{
	size_t *sl = calloc(nslots, sizeof(*sl));
	if (!sl)
		return -ENOMEM;
	for (size_t k = 0; k < f->n; k++) {
		size_t i = flat_hash(f->v[k].e.path, strlen(f->v[k].e.path)) & (nslots - 1);
		while (sl[i])
			i = (i + 1) & (nslots - 1);
		sl[i] = k + 1;
	}
	free(f->slots);
	f->slots = sl;
	f->nslots = nslots;
	return 0;
}

static int flat_push(struct flat *f, const struct snap_entry *e)
{
	if (f->n == f->cap) {
		size_t nc = f->cap ? f->cap * 2 : 1024;
		struct flat_ent *nv = realloc(f->v, nc * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		f->v = nv;
		f->cap = nc;
	}
	struct flat_ent *x = &f->v[f->n];
	memset(x, 0, sizeof(*x));
	x->e = *e;
	x->e.path = strdup(e->path);
	x->e.target = e->target ? strdup(e->target) : NULL;
	x->e.link = e->link ? strdup(e->link) : NULL;
	x->e.xattrs = NULL;
	if (e->xattrs_len) {
		void *xa = malloc(e->xattrs_len);
		if (xa)
			memcpy(xa, e->xattrs, e->xattrs_len);
		x->e.xattrs = xa;
	}
	if (!x->e.path || (e->target && !x->e.target) || (e->link && !x->e.link) || (e->xattrs_len && !x->e.xattrs)) {
		free((char *)x->e.path);
		free((char *)x->e.target);
		free((char *)x->e.link);
		free((void *)x->e.xattrs);
		return -ENOMEM;
	}
	x->layer = f->layer;
	x->cut = e->type == SNAP_T_DIR && e->opaque ? f->layer : SIZE_MAX;
	f->n++;
	if (f->n * 2 > f->nslots)
		return flat_rehash(f, f->nslots ? f->nslots * 2 : 4096);
	size_t i = flat_hash(x->e.path, strlen(x->e.path)) & (f->nslots - 1);
	while (f->slots[i])
		i = (i + 1) & (f->nslots - 1);
	f->slots[i] = f->n;
	return 0;
}

static int flat_add(void *arg, const struct snap_entry *e)
{
	struct flat *f = arg;
	/* hidden by an ancestor decided above */
	for (const char *p = strchr(e->path, '/'); p; p = strchr(p + 1, '/')) {
		struct flat_ent *a = flat_find(f, e->path, (size_t)(p - e->path));
		if (!a)
			continue;
		if (a->e.type != SNAP_T_DIR) {
			if (a->layer < f->layer)
				return 0;
		} else if (a->cut != SIZE_MAX && f->layer > a->cut) {
			return 0;
		}
	}
	struct flat_ent *k = flat_find(f, e->path, strlen(e->path));
	if (k) {
		/* an upper directory on a lower whiteout, file or opaque directory */
		if (k->e.type == SNAP_T_DIR && k->layer < f->layer && (k->cut == SIZE_MAX || f->layer <= k->cut) &&
		    (e->type != SNAP_T_DIR || e->opaque)) {
			k->e.opaque = true;
			k->cut = f->layer;
		}
		return 0;
	}
	return flat_push(f, e);
}

static void flat_release(struct flat *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free((char *)f->v[i].e.path);
		free((char *)f->v[i].e.target);
		free((char *)f->v[i].e.link);
		free((void *)f->v[i].e.xattrs);
	}
	free(f->v);
	free(f->slots);
}

size_t snap__image_max_chain(void)
{
	const char *v = getenv("THAW_IMAGE_MAX_CHAIN");
	if (v && *v) {
		char *end;
		unsigned long n = strtoul(v, &end, 10);
		if (!*end && n >= 1 && n <= 31)
			return n;
	}
	return IMAGE_MAX_CHAIN;
}

int snap__image_flatten(struct snap_store *s, const char *top, char out_id[SNAP_ID_HEXLEN + 1],
                        size_t *out_entries, size_t *out_layers)
{
	char **chain = NULL;
	size_t n = 0;
	struct flat f = {0};
	struct snap_writer *w = NULL;
	struct snap_meta meta;
	int r = snap_layer_chain(s, top, &chain, &n);
	if (r < 0)
		return snap__err(r, "flatten: chain of %s: %s", top, snap_last_error());
	for (size_t i = 0; i < n; i++) {
		struct snap_layer *l = NULL;
		if ((r = snap_layer_open(&l, s, chain[i])) < 0) {
			snap__err(r, "flatten: layer %s: %s", chain[i], snap_last_error());
			goto done;
		}
		if (i == 0)
			meta = *snap_layer_meta(l);
		f.layer = i;
		r = snap_layer_walk(l, flat_add, &f);
		snap_layer_free(l);
		if (r < 0) {
			snap__err(r, "flatten: reading layer %s: %s", chain[i],
			          r == -ENOMEM ? "out of memory" : snap_last_error());
			goto done;
		}
	}
	for (size_t i = 0; i < f.n; i++) {
		struct flat_ent *x = &f.v[i];
		if (!x->e.link)
			continue;
		struct flat_ent *t = flat_find(&f, x->e.link, strlen(x->e.link));
		if (!t || t->layer != x->layer || t->e.link) {
			free((char *)x->e.link);
			x->e.link = NULL;
		}
	}
	meta.id[0] = '\0';
	meta.parent[0] = '\0';
	meta.created_ms = 0;
	meta.bytes = meta.stored_bytes = meta.files = 0;
	if ((r = snap_writer_new(&w, s, &meta)) < 0) {
		snap__err(r, "flatten: %s", snap_last_error());
		goto done;
	}
	for (size_t i = 0; i < f.n; i++) {
		if ((r = snap_writer_add(w, &f.v[i].e)) < 0) {
			snap__err(r, "flatten: %s: %s", f.v[i].e.path, snap_last_error());
			goto done;
		}
	}
	if ((r = snap_writer_commit(w, out_id)) < 0) {
		snap__err(r, "flatten: %s", snap_last_error());
		goto done;
	}
	*out_entries = f.n;
	*out_layers = n;
done:
	snap_writer_free(w); /* before any removal: it holds the store's lock shared */
	flat_release(&f);
	snap_ids_free(chain, n);
	return r;
}
