/* thaw-snapshot gc. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#include "banned.h"

int snap_cli_gc(int argc, char **argv)
{
	static const struct option opts[] = {
		{"store", required_argument, NULL, 's'}, {"grace", required_argument, NULL, 'g'},
		{"dry-run", no_argument, NULL, 'n'},     {"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
	};
	const char *store = NULL;
	bool json = false, dry = false;
	unsigned long grace = 3600;
	int o;
	optind = 0;
	while ((o = getopt_long(argc, argv, "n", opts, NULL)) != -1) {
		switch (o) {
		case 's': store = optarg; break;
		case 'g': {
			char *end;
			errno = 0;
			grace = strtoul(optarg, &end, 10);
			if (errno || *end || !*optarg || optarg[0] == '-' || grace > UINT_MAX)
				return snap_cli_usage("gc", "--grace takes a number of seconds");
			break;
		}
		case 'n': dry = true; break;
		case 'j': json = true; break;
		case 'h':
			printf("usage: thaw-snapshot gc [--store DIR] [--grace SECONDS] [--dry-run] [--json]\n"
			       "Removes objects that no layer references and that are older than the grace\n"
			       "period (default 3600 s), and temporaries older than an hour. Safe while\n"
			       "workspaces are mounted; waits for running writers. --dry-run only reports.\n");
			return SNAP_EXIT_OK;
		default: return snap_cli_usage("gc", "unknown option");
		}
	}
	if (optind < argc)
		return snap_cli_usage("gc", "unexpected argument '%s'", argv[optind]);
	struct snap_store *s;
	int r = snap_cli_open_store("gc", store, false, json, &s);
	if (r)
		return r;
	struct snap_gc_stats st;
	r = snap_store_gc(s, (unsigned)grace, dry, &st);
	snap_store_free(s);
	if (r < 0)
		return snap_cli_fail("gc", json, r, NULL);
	if (json)
		return snap_cli_print_json(json_pack("{s:b, s:I, s:I, s:I, s:I, s:I}", "dry_run", dry, "layers",
		                                     (json_int_t)st.layers, "objects_kept", (json_int_t)st.objects_kept,
		                                     "objects_removed", (json_int_t)st.objects_removed, "bytes_removed",
		                                     (json_int_t)st.bytes_removed, "temporaries_removed",
		                                     (json_int_t)st.temporaries_removed));
	char sz[32];
	printf("%s%" PRIu64 " objects removed (%s), %" PRIu64 " kept, %" PRIu64 " layers, %" PRIu64
	       " temporaries removed\n",
	       dry ? "dry run: " : "", st.objects_removed, snap_cli_size(st.bytes_removed, sz, sizeof(sz)),
	       st.objects_kept, st.layers, st.temporaries_removed);
	return SNAP_EXIT_OK;
}
