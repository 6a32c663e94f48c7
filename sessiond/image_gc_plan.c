/*
 * image_gc_plan.c: the store gc's decision, a pure function over a listing
 * of the store (no I/O, no clock, no daemon state), so that it is
 * unit-tested with made-up layers (tests/unit/test_thawd_image_gc.c).
 * image_gc.c gathers the roots and the listing and performs the removals.
 */
#include <stdio.h>
#include <string.h>

#include "snapshot.h"
#include "thawd.h"

#include "banned.h"

static bool repo_known(json_t *repos, const char *name)
{
	size_t i;
	json_t *v;
	json_array_foreach(repos, i, v) {
		if (!strcmp(json_string_value(v), name))
			return true;
	}
	return false;
}

static void root_add(json_t *roots, const char *id)
{
	if (id && id[0] && thawd_layer_id_valid(id))
		json_object_set_new(roots, id, json_true());
}

size_t thawd__gc_mark(struct thawd_gc_layer *v, size_t n, json_t *roots, json_t *repos, int64_t now_ms,
                      int64_t retention_ms)
{
	json_t *index = json_object(), *newest = json_object();
	size_t kept = 0;
	if (!index || !newest) {
		/* no memory: keep everything (removing nothing is always safe) */
		for (size_t i = 0; i < n; i++) {
			v[i].keep = true;
			v[i].removable = false;
		}
		json_decref(index);
		json_decref(newest);
		return n;
	}
	if (retention_ms < THAWD_GC_SNAPSHOT_FLOOR_S * 1000)
		retention_ms = THAWD_GC_SNAPSHOT_FLOOR_S * 1000;
	for (size_t i = 0; i < n; i++) {
		v[i].keep = v[i].removable = false;
		json_object_set_new(index, v[i].id, json_integer((json_int_t)i));
		if (v[i].kind == SNAP_KIND_IMAGE) {
			/* newest first: the first image of a repository is its newest */
			if (!json_object_get(newest, v[i].repo)) {
				json_object_set_new(newest, v[i].repo, json_true());
				root_add(roots, v[i].id);
			}
		} else if (v[i].created_ms >= now_ms - retention_ms) {
			root_add(roots, v[i].id);
		}
	}
	const char *rid;
	json_t *rv;
	json_object_foreach(roots, rid, rv) {
		json_t *pos = json_object_get(index, rid);
		while (pos) {
			struct thawd_gc_layer *x = &v[json_integer_value(pos)];
			if (x->keep)
				break; /* the rest of the chain is marked already */
			x->keep = true;
			kept++;
			pos = x->parent[0] ? json_object_get(index, x->parent) : NULL;
		}
	}
	for (size_t i = 0; i < n; i++)
		v[i].removable = !v[i].keep && repo_known(repos, v[i].repo);
	json_decref(index);
	json_decref(newest);
	return kept;
}
