/* thaw-snapshot ls, inspect, check and rm. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#include "banned.h"

/* ---- ls ---- */

struct ls_ctx {
	int kind; /* -1: all */
	bool json;
	json_t *arr;
	size_t n;
};

static int ls_one(void *arg, const struct snap_meta *m)
{
	struct ls_ctx *c = arg;
	if (c->kind >= 0 && m->kind != c->kind)
		return 0;
	c->n++;
	if (c->json)
		return json_array_append_new(c->arr, snap_cli_meta_json(m)) == 0 ? 0 : -ENOMEM;
	char t[32], sz[32];
	printf("%-40s  %-8s  %-19s  %6" PRIu64 "  %10s  %.12s  %s\n", m->id, snap_kind_name(m->kind),
	       snap_cli_time(m->created_ms, t, sizeof(t)), m->files, snap_cli_size(m->bytes, sz, sizeof(sz)),
	       m->parent[0] ? m->parent : "-", m->repo);
	return 0;
}

int snap_cli_ls(int argc, char **argv)
{
	static const struct option opts[] = {
		{"store", required_argument, NULL, 's'}, {"kind", required_argument, NULL, 'k'},
		{"json", no_argument, NULL, 'j'},        {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *store = NULL;
	struct ls_ctx c = {.kind = -1};
	int o;
	optind = 0;
	while ((o = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (o) {
		case 's': store = optarg; break;
		case 'k':
			if (snap_kind_parse(optarg, &c.kind) < 0)
				return snap_cli_usage("ls", "--kind is image, session or pre-exit");
			break;
		case 'j': c.json = true; break;
		case 'h':
			printf("usage: thaw-snapshot ls [--store DIR] [--kind image|session|pre-exit] [--json]\n"
			       "Lists the layers of the store, newest first: id, kind, created (UTC), entries,\n"
			       "bytes, parent, repository. --json: an array of layer objects.\n");
			return SNAP_EXIT_OK;
		default: return snap_cli_usage("ls", "unknown option");
		}
	}
	if (optind < argc)
		return snap_cli_usage("ls", "unexpected argument '%s'", argv[optind]);
	struct snap_store *s;
	int r = snap_cli_open_store("ls", store, false, c.json, &s);
	if (r)
		return r;
	if (c.json && !(c.arr = json_array())) {
		snap_store_free(s);
		return snap_cli_fail("ls", c.json, -ENOMEM, "out of memory");
	}
	if (!c.json)
		printf("%-40s  %-8s  %-19s  %6s  %10s  %-12s  %s\n", "ID", "KIND", "CREATED", "FILES", "BYTES",
		       "PARENT", "REPO");
	r = snap_store_list(s, ls_one, &c);
	snap_store_free(s);
	if (r < 0) {
		json_decref(c.arr);
		return snap_cli_fail("ls", c.json, r, NULL);
	}
	return c.json ? snap_cli_print_json(c.arr) : SNAP_EXIT_OK;
}

/* ---- options shared by inspect, check and rm ---- */

/* What "thaw-snapshot CMD [--store DIR] [--FLAG] [--json] ID" parsed to. */
struct id_args {
	const char *store;
	const char *id;
	bool json;
	bool flag; /* the subcommand's one switch (--entries, --verify), if any */
};

/* Parses the options of a one-layer subcommand: flag is the name of its one
 * extra switch (NULL: none), help its --help text. Returns -1 to go on with
 * *a filled, else the exit status to return (after --help or a usage error). */
static int parse_id_args(int argc, char **argv, const char *cmd, const char *flag, const char *help,
                         struct id_args *a)
{
	const struct option opts[] = {
		{"store", required_argument, NULL, 's'}, {"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},        {flag, no_argument, NULL, 'f'}, /* flag NULL: ends here */
		{NULL, 0, NULL, 0},
	};
	*a = (struct id_args){0};
	int o;
	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 's': a->store = optarg; break;
		case 'j': a->json = true; break;
		case 'f': a->flag = true; break;
		case 'h': fputs(help, stdout); return SNAP_EXIT_OK;
		default: return snap_cli_usage(cmd, "unknown option");
		}
	}
	if (argc - optind != 1)
		return snap_cli_usage(cmd, "expected one layer ID");
	a->id = argv[optind];
	return -1;
}

/* ---- inspect ---- */

static const char *type_name(int t)
{
	static const char *const n[] = {"file", "dir", "symlink", "fifo", "chr", "blk", "sock", "whiteout"};
	return t >= 0 && t <= SNAP_T_WHITEOUT ? n[t] : "?";
}

json_t *snap_cli_entry_json(const struct snap_entry *e)
{
	json_t *j = json_object();
	if (!j)
		return NULL;
	json_object_set_new(j, "path", json_string(e->path));
	json_object_set_new(j, "type", json_string(type_name(e->type)));
	json_object_set_new(j, "mode", json_integer(e->mode));
	json_object_set_new(j, "uid", json_integer(e->uid));
	json_object_set_new(j, "gid", json_integer(e->gid));
	json_object_set_new(j, "size", json_integer((json_int_t)e->size));
	json_object_set_new(j, "mtime_sec", json_integer(e->mtime_sec));
	json_object_set_new(j, "mtime_nsec", json_integer(e->mtime_nsec));
	if (e->type == SNAP_T_REG) {
		char hex[GIT_OID_HEXSZ + 1];
		json_object_set_new(j, "cid", json_string(git_oid_tostr(hex, sizeof(hex), &e->cid)));
	}
	if (e->type == SNAP_T_CHR || e->type == SNAP_T_BLK)
		json_object_set_new(j, "rdev", json_integer((json_int_t)e->rdev));
	if (e->target)
		json_object_set_new(j, "target", json_string(e->target));
	if (e->link)
		json_object_set_new(j, "link", json_string(e->link));
	if (e->opaque)
		json_object_set_new(j, "opaque", json_true());
	if (e->xattrs_len)
		json_object_set_new(j, "xattrs_bytes", json_integer((json_int_t)e->xattrs_len));
	return j;
}

struct entries_ctx {
	bool json;
	json_t *arr;
};

static int print_entry(void *arg, const struct snap_entry *e)
{
	struct entries_ctx *c = arg;
	if (c->json)
		return json_array_append_new(c->arr, snap_cli_entry_json(e)) == 0 ? 0 : -ENOMEM;
	char extra[4200] = "";
	if (e->type == SNAP_T_REG) {
		char hex[GIT_OID_HEXSZ + 1];
		snprintf(extra, sizeof(extra), "%s%s%s", git_oid_tostr(hex, sizeof(hex), &e->cid), e->link ? " = " : "",
		         e->link ? e->link : "");
	} else if (e->target) {
		snprintf(extra, sizeof(extra), "-> %s", e->target);
	} else if (e->opaque) {
		snprintf(extra, sizeof(extra), "opaque");
	}
	printf("%-8s %04o %5u:%-5u %10" PRIu64 "  %s  %s\n", type_name(e->type), e->mode, e->uid, e->gid, e->size,
	       e->path, extra);
	return 0;
}

int snap_cli_inspect(int argc, char **argv)
{
	struct id_args opt;
	int r = parse_id_args(argc, argv, "inspect", "entries",
	                      "usage: thaw-snapshot inspect [--store DIR] [--entries] [--json] ID\n"
	                      "Shows a layer's metadata, its chain (topmost first) and entry count; --entries\n"
	                      "lists every entry. ID: a layer id or a unique prefix of at least 8 digits.\n",
	                      &opt);
	if (r >= 0)
		return r;
	const bool json = opt.json, entries = opt.flag;
	struct snap_store *s;
	struct snap_layer *l;
	if ((r = snap_cli_open_layer("inspect", opt.store, json, opt.id, &s, &l)))
		return r;
	char **ids = NULL;
	size_t n = 0;
	json_t *j = NULL;
	if ((r = snap_layer_chain(s, snap_layer_meta(l)->id, &ids, &n)) < 0) {
		r = snap_cli_fail("inspect", json, r, NULL);
		goto done;
	}
	const struct snap_meta *m = snap_layer_meta(l);
	if (json) {
		j = snap_cli_meta_json(m);
		json_t *chain = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(chain, json_string(ids[i]));
		json_object_set_new(j, "chain", chain);
		if (entries) {
			struct entries_ctx c = {.json = true, .arr = json_array()};
			json_object_set_new(j, "entries", c.arr);
			if ((r = snap_layer_walk(l, print_entry, &c)) < 0) {
				r = snap_cli_fail("inspect", json, r, NULL);
				goto done;
			}
		}
		r = snap_cli_print_json(j);
		j = NULL;
		goto done;
	}
	char t[32], a[32], b[32];
	printf("id:            %s\nkind:          %s\nrepo:          %s\nbase commit:   %s\nsynced commit: %s\n"
	       "created:       %s UTC\nauthor:        %s\nentries:       %" PRIu64 "\nbytes:         %s\n"
	       "stored bytes:  %s\nduration:      %.1f ms\n",
	       m->id, snap_kind_name(m->kind), m->repo, m->base_commit[0] ? m->base_commit : "-",
	       m->synced_commit[0] ? m->synced_commit : "-", snap_cli_time(m->created_ms, t, sizeof(t)),
	       m->author[0] ? m->author : "-", m->files, snap_cli_size(m->bytes, a, sizeof(a)),
	       snap_cli_size(m->stored_bytes, b, sizeof(b)), m->duration_ms);
	if (m->commands[0])
		printf("commands:      %s\n", m->commands);
	printf("chain:        ");
	for (size_t i = 0; i < n; i++)
		printf(" %.12s", ids[i]);
	printf("\n");
	if (entries) {
		struct entries_ctx c = {.json = false};
		if ((r = snap_layer_walk(l, print_entry, &c)) < 0) {
			r = snap_cli_fail("inspect", json, r, NULL);
			goto done;
		}
	}
	r = SNAP_EXIT_OK;
done:
	json_decref(j);
	snap_ids_free(ids, n);
	snap_layer_free(l);
	snap_store_free(s);
	return r;
}

/* ---- check ---- */

struct verify_ctx {
	struct snap_store *s;
	int devnull;
	uint64_t objects, corrupt;
	int err;
};

static int verify_one(void *arg, const struct snap_entry *e)
{
	struct verify_ctx *c = arg;
	if (e->type != SNAP_T_REG)
		return 0;
	c->objects++;
	int r = snap_object_read_fd(c->s, &e->cid, c->devnull, NULL);
	if (r == -EIO) {
		c->corrupt++;
		fprintf(stderr, "thaw-snapshot check: %s: %s\n", e->path, snap_last_error());
	} else if (r < 0 && r != -ENOENT) {
		c->err = r;
		return r;
	}
	return 0;
}

int snap_cli_check(int argc, char **argv)
{
	struct id_args opt;
	int r = parse_id_args(argc, argv, "check", "verify",
	                      "usage: thaw-snapshot check [--store DIR] [--verify] [--json] ID\n"
	                      "Checks that every layer of ID's chain is present and every object it names\n"
	                      "exists; --verify also reads every object and checks its checksums and id.\n"
	                      "Exit 1 when something is missing or corrupt.\n",
	                      &opt);
	if (r >= 0)
		return r;
	const bool json = opt.json, verify = opt.flag;
	struct snap_store *s;
	if ((r = snap_cli_open_store("check", opt.store, false, json, &s)))
		return r;
	char **ids = NULL;
	size_t n = 0;
	uint64_t missing = 0;
	struct verify_ctx vc = {.s = s, .devnull = -1};
	if (verify && (vc.devnull = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0) {
		r = snap_cli_fail("check", json, -errno, "/dev/null: %s", strerror(errno));
		goto done;
	}
	if ((r = snap_layer_chain(s, opt.id, &ids, &n)) < 0) {
		r = snap_cli_fail("check", json, r, NULL);
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		struct snap_layer *l;
		uint64_t m = 0;
		if ((r = snap_layer_open(&l, s, ids[i])) < 0) {
			r = snap_cli_fail("check", json, r, NULL);
			goto done;
		}
		r = snap_layer_check(l, &m);
		if (verify && (r == 0 || r == -ENOENT)) {
			int r2 = snap_layer_walk(l, verify_one, &vc);
			if (r2 < 0) {
				snap_layer_free(l);
				r = snap_cli_fail("check", json, r2, NULL);
				goto done;
			}
		}
		snap_layer_free(l);
		if (r < 0 && r != -ENOENT) {
			r = snap_cli_fail("check", json, r, NULL);
			goto done;
		}
		if (m && !json)
			fprintf(stderr, "thaw-snapshot check: %s\n", snap_last_error());
		missing += m;
	}
	bool ok = missing == 0 && vc.corrupt == 0;
	if (json) {
		json_t *j = json_pack("{s:s, s:I, s:I, s:b}", "id", ids[0], "layers", (json_int_t)n, "missing_objects",
		                      (json_int_t)missing, "ok", ok);
		if (j && verify) {
			json_object_set_new(j, "verified_objects", json_integer((json_int_t)vc.objects));
			json_object_set_new(j, "corrupt_objects", json_integer((json_int_t)vc.corrupt));
		}
		r = snap_cli_print_json(j);
		if (r == 0 && !ok)
			r = SNAP_EXIT_FAIL;
	} else if (!ok) {
		fprintf(stderr, "thaw-snapshot check: %s: %" PRIu64 " objects missing, %" PRIu64 " corrupt\n", ids[0],
		        missing, vc.corrupt);
		r = SNAP_EXIT_FAIL;
	} else {
		printf("%s: %zu layers, all objects present%s\n", ids[0], n, verify ? " and intact" : "");
		r = SNAP_EXIT_OK;
	}
done:
	if (vc.devnull >= 0)
		close(vc.devnull);
	snap_ids_free(ids, n);
	snap_store_free(s);
	return r;
}

/* ---- rm ---- */

int snap_cli_rm(int argc, char **argv)
{
	struct id_args opt;
	int r = parse_id_args(argc, argv, "rm", NULL,
	                      "usage: thaw-snapshot rm [--store DIR] [--json] ID\n"
	                      "Removes a layer (its objects stay until gc). Refused while another layer has it\n"
	                      "as parent or a mount holds it open.\n",
	                      &opt);
	if (r >= 0)
		return r;
	struct snap_store *s;
	if ((r = snap_cli_open_store("rm", opt.store, false, opt.json, &s)))
		return r;
	r = snap_layer_remove(s, opt.id);
	snap_store_free(s);
	if (r < 0)
		return snap_cli_fail("rm", opt.json, r, NULL);
	if (opt.json)
		return snap_cli_print_json(json_pack("{s:s, s:b}", "id", opt.id, "removed", 1));
	return SNAP_EXIT_OK;
}
