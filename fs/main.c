/* thawfs: command line. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "banned.h"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: thawfs --repo PATH --commit REV [options] MOUNTPOINT\n"
	        "\n"
	        "Mounts the tree of REV from the git repository PATH (bare or not) as a\n"
	        "workspace whose files are readable at once: nothing is checked out;\n"
	        "a file's content is hydrated from its blob on first read into a cache\n"
	        "shared by every mount on the host. The workspace is a git working tree\n"
	        "(.git with HEAD at REV and an index that matches, objects by alternates).\n"
	        "\n"
	        "options:\n"
	        "  --repo PATH         git repository (bare or with a working tree)\n"
	        "  --commit REV        any revision: branch, tag, commit id, HEAD~2, ...\n"
	        "  --layer DIR|ID      read-only layer stacked above the git tree; repeatable,\n"
	        "                      the first given is topmost (at most 31): a directory\n"
	        "                      with OCI layer semantics (.wh.NAME, .wh..wh..opq), a\n"
	        "                      store layer directory (holding manifest.db), or a\n"
	        "                      layer id of --store (40 hex or a unique prefix of at\n"
	        "                      least 8)\n"
	        "  --store DIR         snapshot store in which --layer ids are looked up\n"
	        "  --upper DIR         writable upper layer (created if missing): every change\n"
	        "                      goes there, copy-on-write; without it every\n"
	        "                      mutation answers EROFS. Remounting the same DIR\n"
	        "                      shows the same workspace\n"
	        "  --git-author 'Name <email>'\n"
	        "                      identity for commits made in the workspace (written\n"
	        "                      to its .git/config)\n"
	        "  --remote URL        origin of the base branch (file://, a path, git://);\n"
	        "                      at mount, reads are served at once while the branch\n"
	        "                      is fetched and the tree swapped to its tip; every\n"
	        "                      mutation waits (parked) until then\n"
	        "  --branch NAME       the base branch (default: the branch REV names)\n"
	        "  --sync-timeout S    seconds of failing sync before the policy applies\n"
	        "                      (default 60)\n"
	        "  --on-sync-failure open|readonly\n"
	        "                      open: writes proceed on the stale base (default);\n"
	        "                      readonly: writes answer EROFS; retries go on\n"
	        "  --cache DIR         hydration cache (default $XDG_CACHE_HOME/thaw,\n"
	        "                      else ~/.cache/thaw)\n"
	        "  --cache-size SIZE   cap of the cache, LRU eviction above it (default 8G;\n"
	        "                      suffixes K, M, G)\n"
	        "  --inline-max SIZE   blobs up to SIZE bytes are served straight from the\n"
	        "                      object database, not through the cache (default 2048)\n"
	        "  --control SOCKET    Unix socket for line-delimited JSON control:\n"
	        "                      {\"cmd\":\"status\"} answers commit, layers, counters\n"
	        "  --log FILE          append log lines here once in the background\n"
	        "  --threads N         maximum FUSE worker threads (default 16)\n"
	        "  -f                  stay in the foreground\n"
	        "  -d                  FUSE debug output (implies -f)\n"
	        "  -o OPT[,OPT...]     mount options, e.g. allow_other\n"
	        "  --help, --version\n"
	        "\n"
	        "Unmount with: fusermount3 -u MOUNTPOINT\n");
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return -EINVAL;
	uint64_t mul = 1;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': mul = 1ull << 10; end++; break;
	case 'm': case 'M': mul = 1ull << 20; end++; break;
	case 'g': case 'G': mul = 1ull << 30; end++; break;
	case 't': case 'T': mul = 1ull << 40; end++; break;
	default: return -EINVAL;
	}
	if (*end == 'i' || *end == 'B')
		end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
	if (*end != '\0' || (mul > 1 && v > UINT64_MAX / mul))
		return -EINVAL;
	*out = v * mul;
	return 0;
}

int main(int argc, char **argv)
{
	enum { O_REPO = 256, O_UPPER, O_AUTHOR, O_REMOTE, O_BRANCH, O_SYNC_TIMEOUT, O_ON_FAILURE, O_COMMIT, O_LAYER, O_STORE, O_CACHE, O_CACHE_SIZE, O_INLINE, O_CONTROL, O_LOG, O_THREADS, O_HELP, O_VERSION };
	static const struct option lo[] = {
		{"repo", required_argument, NULL, O_REPO},
		{"commit", required_argument, NULL, O_COMMIT},
		{"upper", required_argument, NULL, O_UPPER},
		{"git-author", required_argument, NULL, O_AUTHOR},
		{"remote", required_argument, NULL, O_REMOTE},
		{"branch", required_argument, NULL, O_BRANCH},
		{"sync-timeout", required_argument, NULL, O_SYNC_TIMEOUT},
		{"on-sync-failure", required_argument, NULL, O_ON_FAILURE},
		{"layer", required_argument, NULL, O_LAYER},
		{"store", required_argument, NULL, O_STORE},
		{"cache", required_argument, NULL, O_CACHE},
		{"cache-size", required_argument, NULL, O_CACHE_SIZE},
		{"inline-max", required_argument, NULL, O_INLINE},
		{"control", required_argument, NULL, O_CONTROL},
		{"log", required_argument, NULL, O_LOG},
		{"threads", required_argument, NULL, O_THREADS},
		{"help", no_argument, NULL, O_HELP},
		{"version", no_argument, NULL, O_VERSION},
		{NULL, 0, NULL, 0},
	};
	struct fs_options o;
	uint64_t v;
	int c;

	memset(&o, 0, sizeof(o));
	o.cache_cap = FS_DEFAULT_CACHE_CAP;
	o.inline_max = FS_DEFAULT_INLINE_MAX;
	o.sync_timeout = FS_DEFAULT_SYNC_TIMEOUT;
	while ((c = getopt_long(argc, argv, "fdo:h", lo, NULL)) != -1) {
		switch (c) {
		case O_REPO: o.repo = optarg; break;
		case O_COMMIT: o.rev = optarg; break;
		case O_UPPER: o.upper = optarg; break;
		case O_REMOTE: o.remote = optarg; break;
		case O_BRANCH: o.branch = optarg; break;
		case O_SYNC_TIMEOUT:
			if (parse_size(optarg, &v) < 0 || v > 86400) {
				fprintf(stderr, "thawfs: invalid --sync-timeout '%s' (seconds, at most 86400)\n", optarg);
				return 2;
			}
			o.sync_timeout = (unsigned)v;
			break;
		case O_ON_FAILURE:
			if (strcmp(optarg, "open") && strcmp(optarg, "readonly")) {
				fprintf(stderr, "thawfs: invalid --on-sync-failure '%s' (open or readonly)\n", optarg);
				return 2;
			}
			o.on_sync_failure_readonly = !strcmp(optarg, "readonly");
			break;
		case O_AUTHOR: {
			const char *lt = strchr(optarg, '<'), *gt = strrchr(optarg, '>');
			if (!lt || !gt || gt < lt || lt == optarg || gt[1] || strchr(optarg, '\n')) {
				fprintf(stderr, "thawfs: invalid --git-author '%s' (expected \"Name <email>\")\n", optarg);
				return 2;
			}
			o.git_author = optarg;
			break;
		}
		case O_LAYER:
			if (o.nlayers >= (int)(sizeof(o.layers) / sizeof(o.layers[0]))) {
				fprintf(stderr, "thawfs: at most %zu --layer directories\n", sizeof(o.layers) / sizeof(o.layers[0]));
				return 2;
			}
			o.layers[o.nlayers++] = optarg;
			break;
		case O_STORE: o.store = optarg; break;
		case O_CACHE: o.cache_dir = optarg; break;
		case O_CACHE_SIZE:
			if (parse_size(optarg, &o.cache_cap) < 0 || o.cache_cap == 0) {
				fprintf(stderr, "thawfs: invalid --cache-size '%s'\n", optarg);
				return 2;
			}
			break;
		case O_INLINE:
			if (parse_size(optarg, &v) < 0 || v > (1u << 20)) {
				fprintf(stderr, "thawfs: invalid --inline-max '%s' (at most 1M)\n", optarg);
				return 2;
			}
			o.inline_max = (uint32_t)v;
			break;
		case O_CONTROL: o.control = optarg; break;
		case O_LOG: o.log = optarg; break;
		case O_THREADS:
			if (parse_size(optarg, &v) < 0 || v < 1 || v > 1024) {
				fprintf(stderr, "thawfs: invalid --threads '%s' (1-1024)\n", optarg);
				return 2;
			}
			o.max_threads = (unsigned)v;
			break;
		case 'f': o.foreground = true; break;
		case 'd': o.debug = o.foreground = true; break;
		case 'o': {
			size_t have = strlen(o.fuse_opts), add = strlen(optarg);
			if (have + add + 2 > sizeof(o.fuse_opts)) {
				fprintf(stderr, "thawfs: -o options too long\n");
				return 2;
			}
			if (have)
				o.fuse_opts[have++] = ',';
			memcpy(o.fuse_opts + have, optarg, add + 1);
			break;
		}
		case 'h':
		case O_HELP: usage(stdout); return 0;
		case O_VERSION: printf("thawfs %s\n", FS_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc - 1 || !o.repo || !o.rev) {
		fprintf(stderr, "thawfs: %s (usage: thawfs --repo PATH --commit REV [options] MOUNTPOINT; see --help)\n",
		        !o.repo ? "missing --repo PATH" : !o.rev ? "missing --commit REV" :
		        optind >= argc ? "missing MOUNTPOINT" : "too many arguments");
		return 2;
	}
	o.mountpoint = argv[optind];
	if (o.remote && !o.upper) {
		fprintf(stderr, "thawfs: --remote needs --upper (a read-only workspace has no writes to hold)\n");
		return 2;
	}
	return fs_run(&o);
}
