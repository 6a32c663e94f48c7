/*
 * thawfs: the contract between fs/ and the rest of Thaw.
 *
 * A thawfs process mounts one workspace. Other components talk to it through
 * its control socket: a Unix stream socket speaking line-delimited JSON, one
 * request object per line, one response object per line.
 *
 *   request                      response
 *   {"cmd":"status"}             {"ok":true, "commit":SHA, "tree":SHA, "branch":NAME|null,
 *                                 "repo":PATH, "mountpoint":PATH, "layers":[PATH...],
 *                                 "cache":{"dir":PATH,"cap":N,"size":N},
 *                                 "dotgit":"preparing"|"ready"|"failed", "index_entries":N,
 *                                 "reads_ready_ms":F (process start -> mount up),
 *                                 "counters":{"lookups":N,"getattrs":N,"readdirs":N,"reads":N,
 *                                   "bytes_read":N,"hydrations":N,"bytes_hydrated":N,
 *                                   "cache_hits":N,"inline_reads":N,"evictions":N,
 *                                   "io_errors":N,"erofs":N,"inodes":N}}
 *   {"cmd":"evict"}              {"ok":true, "evicted":N}   (runs LRU eviction now)
 *   anything else                {"ok":false, "error":MESSAGE}
 */
#ifndef THAW_FS_H
#define THAW_FS_H

#include <stdbool.h>
#include <stdint.h>

#define FS_VERSION "0.1.0"
#define FS_DEFAULT_CACHE_CAP (8ull << 30)
#define FS_DEFAULT_INLINE_MAX 2048u
#define FS_DEFAULT_SYNC_TIMEOUT 60u

struct fs_options {
	const char *repo;          /* --repo */
	const char *rev;           /* --commit */
	const char *layers[31];    /* --layer, topmost first */
	int nlayers;
	const char *cache_dir;     /* --cache; NULL: the user's cache directory */
	uint64_t cache_cap;        /* --cache-size */
	uint32_t inline_max;       /* --inline-max: blobs up to this size bypass the cache */
	const char *upper;         /* --upper: the writable layer; NULL: read-only (EROFS) */
	const char *git_author;    /* --git-author "Name <email>": the workspace's git identity */
	const char *remote;        /* --remote URL: the base branch's origin */
	const char *branch;        /* --branch NAME */
	unsigned sync_timeout;     /* --sync-timeout seconds before the failure policy applies */
	bool on_sync_failure_readonly; /* --on-sync-failure=readonly (default open) */
	const char *control;       /* --control */
	const char *log;           /* --log */
	const char *mountpoint;
	bool foreground;           /* -f */
	bool debug;                /* -d */
	char fuse_opts[1024];      /* -o, comma separated, passed to the kernel/libfuse */
	unsigned max_threads;      /* --threads */
};

/* Mounts and serves until unmounted. Returns a process exit status. Errors
 * before the mount is up are printed as one line on stderr. */
int fs_run(const struct fs_options *opt);

#endif
