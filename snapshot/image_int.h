/* Internals of image builds shared by snapshot/image.c and
 * snapshot/image_flatten.c (not a contract). */
#ifndef THAW_IMAGE_INT_H
#define THAW_IMAGE_INT_H

#include <stddef.h>

#include "snapshot.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#define IMAGE_DEFAULT_TIMEOUT_S 1800u
#define IMAGE_TAIL_LINES 4
#define IMAGE_LINE_MAX 4096

/* One build in progress (snapshot/image.c owns it; image_run.c runs its
 * commands). Used by the building thread only. */
struct image_build {
	struct snap_store *store;
	const struct snap_image_opts *o;
	struct snap_image_result *out;
	int64_t start_ms, deadline_ms;
	char work[PATH_MAX];   /* scratch directory (ours, removed after) */
	char mnt[PATH_MAX];
	char upper[PATH_MAX];
	char sock[108];
	char fslog[PATH_MAX];
	char log_path[PATH_MAX + 32];
	FILE *log;
	pid_t fs_pid;          /* the thawfs daemon, 0 when not mounted */
	bool mounted;
	char branch[256];
	char commit[41];       /* commit mounted */
	/* absolute paths for thawfs, which daemonizes into "/" */
	char repo[PATH_MAX], remote[PATH_MAX], cache[PATH_MAX], store_dir[PATH_MAX];
	char previous[SNAP_ID_HEXLEN + 1]; /* the image built upon, "" for none */
	char freeze_phase[32];
	/* the last lines of output, for the error message */
	char tail[IMAGE_TAIL_LINES][160];
	unsigned ntail;
};

static inline int64_t image_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Records why the build failed (the first reason wins) in b->out->error and
 * the log. */
void snap__image_fail(struct image_build *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A "[phase] line" for the log and the progress callback. */
void snap__image_emit(struct image_build *b, const char *phase, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Runs setup command idx (sh -c cmd) in bubblewrap with the workspace at
 * /workspace until b->deadline_ms: 0, -ECHILD (non-zero exit: status in
 * b->out->exit_status), -ETIMEDOUT (killed at the deadline), -errno. */
int snap__image_run_command(struct image_build *b, size_t idx, const char *cmd);

/* A new image whose chain would have more layers than this is flattened:
 * the chain's merged view is written as one layer without parent (thawfs
 * stacks at most 31 layers, and every layer costs a lookup on a miss). */
#define IMAGE_MAX_CHAIN 16

/* IMAGE_MAX_CHAIN, or THAW_IMAGE_MAX_CHAIN from the environment (1 to 31). */
size_t snap__image_max_chain(void);

/* Writes the merged view of top's chain as a new image layer without parent
 * (top's metadata otherwise) and returns its id. top is left in place (the
 * caller removes it). *out_entries, *out_layers: entries written, layers
 * merged. Errors: a negative errno, message in snap_last_error(). */
int snap__image_flatten(struct snap_store *s, const char *top, char out_id[SNAP_ID_HEXLEN + 1],
                        size_t *out_entries, size_t *out_layers);

#endif
