/*
 * thawfs: the contract between fs/ and the rest of Thaw.
 *
 * A thawfs process mounts one workspace. Other components talk to it through
 * its control socket: a Unix stream socket speaking line-delimited JSON, one
 * request object per line, one response object per line.
 *
 *   request               response
 *   {"cmd":"status"}      {"ok":true, "commit":SHA (the tree shown now), "tree":SHA, "branch":NAME|null,
 *                          "repo":PATH, "mountpoint":PATH, "upper":PATH|null, "writable":BOOL,
 *                          "layers":[PATH...] (topmost first; a store layer's directory),
 *                          "store":PATH|null (--store),
 *                          "layer_info":[{"kind":"dir"|"store", "path":PATH, "id":ID|null,
 *                                         "layer_kind":"image"|"session"|"pre-exit"|null,
 *                                         "synced_commit":SHA|null}...] (topmost first),
 *                          "cache":{"dir","cap","size"},
 *                          "dotgit":"preparing"|"ready"|"failed", "index_entries":N, "index_ms":F,
 *                          "reads_ready_ms":F (process start -> mount up), "pid":N,
 *                          "gate":{"state":"open"|"syncing"|"frozen"|"sync-failed"|"readonly",
 *                                  "parked":N, "parked_bytes":N, "parked_total":N,
 *                                  "interrupted_total":N, "in_flight":N},
 *                          "sync":{"mounted_commit", "synced_commit"|null, "remote"|null,
 *                                  "branch"|null, "running", "duration_ms", "fetch_ms", "swap_ms",
 *                                  "changed", "failures", "last_error"|null,
 *                                  "reads_ready", "writes_ready" (wall clock ms, 0: not yet)},
 *                          "counters":{"lookups","getattrs","readdirs","reads","bytes_read",
 *                                      "hydrations","bytes_hydrated","cache_hits","inline_reads",
 *                                      "evictions","io_errors","erofs","inodes"}}
 *   {"cmd":"sync"}        {"ok":true,"started":true}: fetch and swap again now (needs --remote)
 *   {"cmd":"freeze"}      park new mutations, wait for running ones, syncfs the upper;
 *                         answers {"ok":true,"gate":{...}} once quiescent; the gate stays
 *                         frozen until a thaw (from any connection)
 *   {"cmd":"freeze","lease_ms":N}
 *                         the same, but the freeze is leased to this connection: the gate
 *                         reopens by itself (event {"event":"thawed","reason":"freezer gone"|
 *                         "lease expired"}) when the connection closes (the freezer exited or
 *                         was killed) or N ms pass without a renewal. Answer adds "lease_ms".
 *                         N: 1..86400000. One lease at a time; a thaw or a plain freeze ends it.
 *   {"cmd":"freeze","lease_ms":N,"renew":true}
 *                         extend this connection's lease to N ms from now (no new freeze);
 *                         {"ok":false} if it holds none any more (ran out, or thawed): the
 *                         gate was reopened meanwhile, so what was read since is not still.
 *                         status's "gate" has "lease_ms_left": N|null
 *   {"cmd":"thaw"}        reopen the gate; parked mutations run in order
 *   {"cmd":"subscribe"}   {"ok":true,"subscribed":true}, then one line per event:
 *                         {"event":"change","op":OP,"path":P,...}, {"event":"sync","phase":
 *                         "start"|"fetch"|"done"|"error"|"policy",...}, {"event":"frozen"|"thawed"},
 *                         {"event":"error","kind":"object","object":ID,"path":P,"error":MESSAGE}
 *                         (a missing or corrupt object: that file answers EIO; once per file),
 *                         each with "seq" (increasing) and "time_ms"
 *   {"cmd":"evict"}       {"ok":true, "evicted":N}   (runs LRU eviction now)
 *   anything else         {"ok":false, "error":MESSAGE}
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
	const char *layers[31];    /* --layer DIR|ID|LAYERDIR, topmost first */
	const char *store;         /* --store: the snapshot store layer ids are looked up in */
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
