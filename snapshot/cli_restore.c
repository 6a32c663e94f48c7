/*
 * thaw-snapshot restore: mount a new workspace from a layer and its chain.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "snapshot.h"
#include "cli.h"
#include "snapshot_int.h"
#include "banned.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: thaw-snapshot restore [--store DIR] ID --repo PATH --upper DIR [--cache DIR]\n"
	           "                             [--control SOCK] [--log FILE] [--remote URL --branch B]\n"
	           "                             [--git-author \"Name <email>\"] [--thawfs PATH] [-f] [--json]\n"
	           "                             MOUNTPOINT\n"
	           "\n"
	           "Mounts a new workspace at MOUNTPOINT whose stack is [the new upper DIR, layer\n"
	           "ID, the layers below it, the git tree of the layer's synced commit in PATH].\n"
	           "Nothing is copied. Before mounting, the chain is verified (every manifest\n"
	           "opens, every object exists), the commit must exist in PATH and DIR must be\n"
	           "absent or empty; any failure is one line on stderr, exit status 1 and\n"
	           "nothing mounted. thawfs returns once the mount is up (-f: runs in the\n"
	           "foreground until unmounted). --remote/--branch: sync to the branch tip\n"
	           "after mounting. --thawfs: the binary (default: next to this program, then\n"
	           "PATH). --json prints {\"id\",\"chain\",\"commit\",\"mountpoint\",\"ms\"}.\n"
	           "Exit status: 0 mounted, 1 error, 2 usage error.\n");
}

int snap_cli_restore(int argc, char **argv)
{
	enum { O_STORE = 256, O_REPO, O_UPPER, O_CACHE, O_CONTROL, O_LOG, O_REMOTE, O_BRANCH, O_AUTHOR, O_THAWFS,
	       O_JSON, O_HELP };
	static const struct option opts[] = {
		{"store", required_argument, NULL, O_STORE},     {"repo", required_argument, NULL, O_REPO},
		{"upper", required_argument, NULL, O_UPPER},     {"cache", required_argument, NULL, O_CACHE},
		{"control", required_argument, NULL, O_CONTROL}, {"log", required_argument, NULL, O_LOG},
		{"remote", required_argument, NULL, O_REMOTE},   {"branch", required_argument, NULL, O_BRANCH},
		{"git-author", required_argument, NULL, O_AUTHOR}, {"thawfs", required_argument, NULL, O_THAWFS},
		{"json", no_argument, NULL, O_JSON},             {"help", no_argument, NULL, O_HELP},
		{NULL, 0, NULL, 0},
	};
	const char *store = NULL;
	struct snap_restore_opts o = {0};
	bool json = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		switch (c) {
		case O_STORE: store = optarg; break;
		case O_REPO: o.repo = optarg; break;
		case O_UPPER: o.upper = optarg; break;
		case O_CACHE: o.cache = optarg; break;
		case O_CONTROL: o.control = optarg; break;
		case O_LOG: o.log = optarg; break;
		case O_REMOTE: o.remote = optarg; break;
		case O_BRANCH: o.branch = optarg; break;
		case O_AUTHOR: o.git_author = optarg; break;
		case O_THAWFS: o.thawfs = optarg; break;
		case O_JSON: json = true; break;
		case 'f': o.foreground = true; break;
		case 'h':
		case O_HELP: usage(stdout); return 0;
		default: return snap_cli_usage("restore", "unknown option");
		}
	}
	if (argc - optind != 2)
		return snap_cli_usage("restore", "expected ID and MOUNTPOINT");
	if (!o.repo || !o.upper)
		return snap_cli_usage("restore", "--repo and --upper are required");
	if (o.branch && !o.remote)
		return snap_cli_usage("restore", "--branch needs --remote");
	o.id = argv[optind];
	o.mountpoint = argv[optind + 1];

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct snap_store *s = NULL;
	/* Light: libgit2 starts only after thawfs was started (restore.c). */
	const char *dir = snap_cli_store_path("restore", store);
	if (!dir)
		return SNAP_EXIT_USAGE;
	int r = snap__store_open_light(&s, dir);
	if (r < 0)
		return snap_cli_fail("restore", json, r, NULL);
	char **ids = NULL;
	size_t n = 0;
	r = snap_restore(s, &o);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (r < 0) {
		r = snap_cli_fail("restore", json, r, NULL);
		snap_store_free(s);
		return r;
	}
	if (json) {
		json_t *chain = json_array();
		char commit[41] = "";
		if (snap_layer_chain(s, o.id, &ids, &n) == 0) {
			for (size_t i = 0; i < n; i++)
				json_array_append_new(chain, json_string(ids[i]));
			struct snap_layer *l = NULL;
			if (n && snap_layer_open(&l, s, ids[0]) == 0)
				snprintf(commit, sizeof(commit), "%s", snap_layer_meta(l)->synced_commit);
			snap_layer_free(l);
		}
		double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
		json_t *j = json_pack("{s:s,s:o,s:s,s:s,s:f}", "id", n ? ids[0] : o.id, "chain", chain, "commit", commit,
		                      "mountpoint", o.mountpoint, "ms", ms);
		r = snap_cli_print_json(j);
		snap_ids_free(ids, n);
	}
	snap_store_free(s);
	return r;
}
