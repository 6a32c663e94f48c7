/* thaw-snapshot diff and export. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#include "banned.h"

struct diff_ctx {
	bool json;
	json_t *arr;
	size_t added, modified, deleted;
};

static int diff_one(void *arg, int change, const struct snap_entry *e)
{
	struct diff_ctx *c = arg;
	static const char letter[] = {[SNAP_ADDED] = 'A', [SNAP_MODIFIED] = 'M', [SNAP_DELETED] = 'D'};
	static const char *const word[] = {[SNAP_ADDED] = "added", [SNAP_MODIFIED] = "modified",
	                                   [SNAP_DELETED] = "deleted"};
	if (change == SNAP_ADDED)
		c->added++;
	else if (change == SNAP_MODIFIED)
		c->modified++;
	else
		c->deleted++;
	if (c->json) {
		json_t *j = change == SNAP_DELETED ? json_pack("{s:s}", "path", e->path) : snap_cli_entry_json(e);
		if (!j)
			return -ENOMEM;
		json_object_set_new(j, "change", json_string(word[change]));
		return json_array_append_new(c->arr, j) == 0 ? 0 : -ENOMEM;
	}
	printf("%c %s\n", letter[change], e->path);
	return 0;
}

int snap_cli_diff(int argc, char **argv)
{
	static const struct option opts[] = {
		{"store", required_argument, NULL, 's'}, {"repo", required_argument, NULL, 'r'},
		{"json", no_argument, NULL, 'j'},        {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *store = NULL, *repo = NULL;
	struct diff_ctx c = {0};
	int o;
	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 's': store = optarg; break;
		case 'r': repo = optarg; break;
		case 'j': c.json = true; break;
		case 'h':
			printf("usage: thaw-snapshot diff [--store DIR] --repo PATH [--json] ID\n"
			       "What the layer changed against what is below it (its parent layers and the\n"
			       "git tree of its synced commit in PATH): one line per path, sorted,\n"
			       "\"A path\" added, \"M path\" modified, \"D path\" deleted.\n"
			       "--json: {\"id\", \"changes\": [{\"change\", \"path\", ...}], \"added\", ...}.\n");
			return SNAP_EXIT_OK;
		default: return snap_cli_usage("diff", "unknown option");
		}
	}
	if (argc - optind != 1)
		return snap_cli_usage("diff", "expected one layer ID");
	if (!repo)
		return snap_cli_usage("diff", "--repo PATH is required");
	struct snap_store *s;
	struct snap_layer *l;
	int r = snap_cli_open_layer("diff", store, c.json, argv[optind], &s, &l);
	if (r)
		return r;
	if (c.json && !(c.arr = json_array())) {
		r = snap_cli_fail("diff", c.json, -ENOMEM, "out of memory");
		goto done;
	}
	if ((r = snap_diff(l, repo, diff_one, &c)) < 0) {
		json_decref(c.arr);
		r = snap_cli_fail("diff", c.json, r, NULL);
		goto done;
	}
	if (c.json)
		r = snap_cli_print_json(json_pack("{s:s, s:o, s:I, s:I, s:I}", "id", snap_layer_meta(l)->id, "changes",
		                                  c.arr, "added", (json_int_t)c.added, "modified",
		                                  (json_int_t)c.modified, "deleted", (json_int_t)c.deleted));
	else
		r = fflush(stdout) == 0 ? SNAP_EXIT_OK : SNAP_EXIT_FAIL;
done:
	snap_layer_free(l);
	snap_store_free(s);
	return r;
}

int snap_cli_export(int argc, char **argv)
{
	static const struct option opts[] = {
		{"store", required_argument, NULL, 's'},     {"repo", required_argument, NULL, 'r'},
		{"branch", required_argument, NULL, 'b'},    {"author", required_argument, NULL, 'a'},
		{"committer", required_argument, NULL, 'c'}, {"message", required_argument, NULL, 'm'},
		{"force", no_argument, NULL, 'f'},           {"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0},
	};
	const char *store = NULL, *repo = NULL, *branch = NULL, *author = NULL, *committer = NULL, *msg = NULL;
	bool json = false, force = false;
	int o;
	optind = 0;
	while ((o = getopt_long(argc, argv, "m:f", opts, NULL)) != -1) {
		switch (o) {
		case 's': store = optarg; break;
		case 'r': repo = optarg; break;
		case 'b': branch = optarg; break;
		case 'a': author = optarg; break;
		case 'c': committer = optarg; break;
		case 'm': msg = optarg; break;
		case 'f': force = true; break;
		case 'j': json = true; break;
		case 'h':
			printf("usage: thaw-snapshot export [--store DIR] --repo PATH --branch B --author \"N <e>\"\n"
			       "                            [--committer \"N <e>\"] [-m MSG] [--force] [--json] ID\n"
			       "Commits the layer's changes on refs/heads/B of PATH: the tree of its synced\n"
			       "commit plus every non-image layer of its chain and the layer itself, with the\n"
			       "synced commit as parent. B must not exist unless --force. Prints the commit.\n");
			return SNAP_EXIT_OK;
		default: return snap_cli_usage("export", "unknown option");
		}
	}
	if (argc - optind != 1)
		return snap_cli_usage("export", "expected one layer ID");
	if (!repo || !branch || !author)
		return snap_cli_usage("export", "--repo, --branch and --author are required");
	struct snap_store *s;
	struct snap_layer *l;
	int r = snap_cli_open_layer("export", store, json, argv[optind], &s, &l);
	if (r)
		return r;
	git_oid commit;
	if ((r = snap_export(l, repo, branch, author, committer, msg, force, &commit)) < 0) {
		r = snap_cli_fail("export", json, r, NULL);
		goto done;
	}
	char hex[GIT_OID_HEXSZ + 1];
	git_oid_tostr(hex, sizeof(hex), &commit);
	if (json)
		r = snap_cli_print_json(
			json_pack("{s:s, s:s, s:s}", "id", snap_layer_meta(l)->id, "branch", branch, "commit", hex));
	else
		r = printf("%s\n", hex) > 0 ? SNAP_EXIT_OK : SNAP_EXIT_FAIL;
done:
	snap_layer_free(l);
	snap_store_free(s);
	return r;
}
