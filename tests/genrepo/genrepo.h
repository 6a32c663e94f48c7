/* thaw-genrepo: a deterministic generator of realistic git repositories for
 * tests and benchmarks. Shared declarations of its parts:
 *   util.c    error messages, growable buffers
 *   content.c file contents (generated text and binary, fixed files, edits)
 *   tree.c    the in-memory tree of one commit, loading it from and writing
 *             it to git
 *   layout.c  what the tree holds: the initial layout and each later change
 *   pack.c    packing new objects into one pack with its index
 *   repo.c    repositories: create or open, blobs, commits, tags, checkout
 *   main.c    command line and output
 * Functions that can fail return 0 or a negative errno / libgit2 code and
 * describe the failure once in a struct gerr. */
#ifndef THAW_GENREPO_H
#define THAW_GENREPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <git2.h>

#define GEN_DEEP_PATH "src/core/engine/detail/impl/deep_file.c"
#define GEN_NAME "Thaw Generator"
#define GEN_EMAIL "gen@thaw.invalid"
#define GEN_EPOCH 1767225600 /* 2026-01-01T00:00:00Z */
#define GEN_BRANCH "refs/heads/main"
#define GEN_SUBMODULE_ID "5ca1ab1e0ddba11c0ffee0000000000000000001"

/* ---- util.c ---------------------------------------------------------- */

/* The first failure's one-line description. */
struct gerr {
	char msg[1024];
};

/* Each records the message unless one is already recorded, and returns rc
 * (gerr_sys: -errnum). gerr_git appends libgit2's last error message. */
int gerr_set(struct gerr *e, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int gerr_sys(struct gerr *e, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int gerr_git(struct gerr *e, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A growable byte buffer. A failed allocation makes it sticky-failed: later
 * appends do nothing and buf_error() reports -ENOMEM once at the end. */
struct buf {
	char *p;
	size_t len, cap;
	bool oom;
};

void buf_free(struct buf *b);
void buf_reserve(struct buf *b, size_t extra);
void buf_add(struct buf *b, const void *data, size_t n);
void buf_adds(struct buf *b, const char *s);
void buf_addc(struct buf *b, char c);
void buf_addu(struct buf *b, uint64_t v);
void buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Keeps a terminating NUL after len bytes (not counted). */
int buf_error(const struct buf *b);
static inline void buf_reset(struct buf *b) { b->len = 0; }

/* ---- the PRNG: xoshiro256** seeded through splitmix64 ----------------- */

struct rng {
	uint64_t s[4];
};

static inline uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline void rng_seed(struct rng *r, uint64_t seed)
{
	uint64_t x = seed;
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

static inline uint64_t rng_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static inline uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rng_rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rng_rotl(s[3], 45);
	return result;
}

/* Uniform in [0, n) (multiply-shift below 2^32, else modulo; the bias is
 * negligible for our ranges). */
static inline uint64_t rng_below(struct rng *r, uint64_t n)
{
	if (n <= UINT32_MAX)
		return ((rng_next(r) >> 32) * n) >> 32;
	return rng_next(r) % n;
}

/* Uniform in [lo, hi]. */
static inline uint64_t rng_range(struct rng *r, uint64_t lo, uint64_t hi)
{
	return lo + rng_below(r, hi - lo + 1);
}

/* True with probability permille/1000. */
static inline bool rng_chance(struct rng *r, unsigned permille)
{
	return rng_below(r, 1000) < permille;
}

/* Log-uniform in [lo, hi) computed in integers only, so that sizes (and so
 * object ids) do not depend on the floating-point library. */
uint64_t rng_logsize(struct rng *r, uint64_t lo, uint64_t hi);

/* ---- content.c -------------------------------------------------------- */

/* How a pending file gets its content. */
enum ckind {
	CK_NONE,	/* content already in the object database (oid) */
	CK_TEXT,	/* generated text of `size` bytes; language from the name */
	CK_BINARY,	/* random bytes of `size` bytes */
	CK_BIG_IMAGE,	/* compressible multi-MiB binary (zero, text, random pages) */
	CK_BIG_RANDOM,	/* incompressible multi-MiB bytes */
	CK_DATA,	/* the node's own data (fixed files, symlink targets) */
	CK_MODIFY,	/* an edit of the current content (oid) */
};

/* Generates `size` bytes of kind CK_TEXT/BINARY/BIG_* for a file called
 * name, from seed. exec: an executable script (gets a #! line). */
int content_generate(struct buf *out, enum ckind kind, const char *name, bool exec,
		     uint64_t size, uint64_t seed);

/* An edit of old: text gets a few line ranges replaced and sometimes lines
 * appended; binary gets a few ranges of bytes overwritten. With max > 0
 * the result is kept within [min, max] bytes. */
int content_modify(struct buf *out, const char *old, size_t len, const char *name,
		   uint64_t seed, size_t min, size_t max);

/* Fixed files every repository has (path, content, executable). */
struct fixed_file {
	const char *path;
	const char *text;
	bool exec;
};
const struct fixed_file *content_fixed_files(size_t *count);

/* Patterns for .gitignore files in subdirectories (one of them per file). */
const char *content_sub_gitignore(size_t i);
size_t content_sub_gitignore_count(void);

/* Word lists for names. */
const char *content_dir_word(struct rng *r);
const char *content_file_word(struct rng *r);

/* ---- tree.c ----------------------------------------------------------- */

enum ntype { NT_DIR, NT_FILE, NT_LINK, NT_GITLINK };

#define NF_NODELETE 1u /* never deleted, renamed or chmod'ed */
#define NF_NOMODIFY 2u /* content never changes; nothing is added next to it */
#define NF_DEEP 4u     /* the benchmarks' deep file: edits keep it 4-12 KiB */

struct node {
	char *name;
	struct node *parent;
	struct node **kids; /* NT_DIR */
	uint32_t nkids, kcap;
	uint32_t mode;	    /* git file mode */
	uint8_t type;	    /* enum ntype */
	uint8_t kind;	    /* enum ckind of a pending file */
	uint8_t flags;	    /* NF_* */
	bool dirty;	    /* NT_DIR: the tree must be written */
	bool pending;	    /* NT_FILE/NT_LINK: the blob must be written */
	bool have_oid;
	uint32_t stamp;	    /* change number of the last change */
	size_t fidx;	    /* index in model.files, SIZE_MAX if not there */
	uint64_t size;	    /* NT_FILE: content bytes */
	uint64_t seed;	    /* content seed of a pending file */
	char *data;	    /* CK_DATA content */
	size_t dlen;
	git_oid oid;
};

struct model {
	struct node *root;
	struct node **files; /* every NT_FILE, for random picks */
	size_t nfiles, fcap;
	struct node **pending; /* files and links whose blob must be written */
	size_t npending, pcap;
	uint32_t stamp; /* the current change number */
};

struct stats {
	uint64_t files, dirs, symlinks, bytes;
};

int model_init(struct model *m);
void model_free(struct model *m);
struct node *node_child(const struct node *dir, const char *name);
/* The node at a slash-separated path, or NULL. */
struct node *model_lookup(const struct model *m, const char *path);
/* Adds an entry to dir; -EEXIST if the name is taken. Files are added with
 * pending set. */
int model_add(struct model *m, struct node *dir, const char *name, enum ntype type,
	      uint32_t mode, struct node **out);
/* mkdir -p of a slash-separated path under the root. */
int model_mkdirs(struct model *m, const char *path, struct node **out);
/* Marks n's directories as needing new trees. */
void model_touch(struct node *n);
/* Queues a file or link for writing (idempotent). */
int model_set_pending(struct model *m, struct node *n);
/* Deletes n; directories left empty go too. */
void model_remove(struct model *m, struct node *n);
/* Moves n into dir under name; -EEXIST if taken. A directory left empty
 * goes. */
int model_move(struct model *m, struct node *n, struct node *dir, const char *name);
/* The slash-separated path of n (empty for the root). */
int node_path(const struct node *n, struct buf *out);
/* The first path component of n ("" for the root). */
const char *node_top(const struct node *n);
/* Reads a git tree into an empty model (flags from layout_path_flags). */
int model_load(struct model *m, git_repository *repo, const git_tree *tree,
	       struct gerr *e);
/* Writes the trees of dirty directories bottom-up; out: the root tree. */
int model_write_trees(struct model *m, git_repository *repo, git_oid *out,
		      struct gerr *e);
void model_stats(const struct model *m, struct stats *st);

/* ---- layout.c --------------------------------------------------------- */

struct layout_opts {
	uint64_t files; /* files and symlinks wanted */
	uint64_t big;	/* multi-MiB files */
};

struct change_opts {
	uint64_t modify, add, remove;
	bool deep; /* also modify the deep file */
};

/* The first commit's tree. */
int layout_initial(struct model *m, struct rng *r, const struct layout_opts *o,
		   struct gerr *e);
/* One commit's changes: modifies, adds, deletes, renames one file and
 * changes one file's mode. Appends a commit message body to msg. */
int layout_change(struct model *m, struct rng *r, const struct change_opts *o,
		  struct buf *msg, struct gerr *e);
/* NF_* flags of an existing path. */
unsigned layout_path_flags(const char *path);

/* ---- pack.c ----------------------------------------------------------- */

/* Writes the objects reachable from head and not from hide (may be NULL)
 * into one new pack with its index in packdir. on_write (may be NULL) is
 * called when the delta search is over and the (single-threaded) writing
 * starts: a good time to start other work. */
int pack_write(git_odb *odb, const char *packdir, const git_oid *head, const git_oid *hide,
	       void (*on_write)(void *), void *arg, struct gerr *e);

/* ---- repo.c ----------------------------------------------------------- */

struct gen_opts {
	const char *dir;
	uint64_t files, seed, commits, big, changes;
	bool bare, loose;
};

struct gen_result {
	char *path;	  /* absolute path of the repository (work tree) */
	git_oid *commits; /* history of main, oldest first */
	size_t ncommits;
	struct stats st;
};

void gen_result_free(struct gen_result *res);
/* --out: a new repository. */
int gen_create(const struct gen_opts *o, struct gen_result *res, struct gerr *e);
/* --advance: more commits on main of an existing repository. */
int gen_advance(const struct gen_opts *o, struct gen_result *res, struct gerr *e);

#endif
