/* What the generated tree holds: a few top-level directories grown into a
 * nested tree of realistic fan-out, depth and file sizes, the fixed entries
 * tests rely on (the deep file, the C project, awkward names, symlinks, a
 * submodule, ignore and attribute files), and each later commit's changes. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* strdup, realpath */
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "genrepo.h"
#include "banned.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_DEPTH 8 /* directories above the deepest files */
#define KIB 1024u
#define MIB (1024u * 1024u)

enum area { A_CODE, A_TESTS, A_DOCS, A_TOOLS, A_ASSETS, A_MISC };

static const struct {
	const char *name;
	unsigned permille;
	enum area area;
} tops[] = {
	{"src", 360, A_CODE},	 {"lib", 140, A_CODE},	  {"include", 50, A_CODE},
	{"tests", 140, A_TESTS}, {"docs", 80, A_DOCS},	  {"tools", 40, A_TOOLS},
	{"vendor", 100, A_CODE}, {"assets", 60, A_ASSETS}, {"examples", 30, A_CODE},
};

/* Text files with names that trip up careless code. */
static const char *const special_paths[] = {
	"docs/données/été.txt",
	"docs/日本語/ファイル.md",
	"docs/release notes 2026.txt",
	"docs/-leading-dash.md",
};
#define LONG_DIR "docs/long"
#define LONG_NAME_LEN 200

static const struct {
	const char *path, *target;
} fixed_links[] = {
	{"tools/engine-src", "../src/core/engine"}, /* to a directory */
	{"tools/hostname", "/etc/hostname"},	    /* absolute */
	{"tests/broken-link", "does/not/exist"},    /* dangling */
};

static enum area area_of(const char *top)
{
	for (size_t i = 0; i < COUNT(tops); i++)
		if (strcmp(top, tops[i].name) == 0)
			return tops[i].area;
	return A_MISC;
}

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

unsigned layout_path_flags(const char *path)
{
	const char *base = strrchr(path, '/');
	size_t nfixed;
	const struct fixed_file *fixed = content_fixed_files(&nfixed);

	base = base ? base + 1 : path;
	if (strcmp(path, GEN_DEEP_PATH) == 0)
		return NF_NODELETE | NF_DEEP;
	if (has_prefix(path, "cproject/") || strcmp(base, ".gitignore") == 0 ||
	    strcmp(base, ".gitattributes") == 0 || strcmp(base, ".gitmodules") == 0)
		return NF_NODELETE | NF_NOMODIFY;
	for (size_t i = 0; i < nfixed; i++)
		if (strcmp(path, fixed[i].path) == 0)
			return NF_NODELETE | NF_NOMODIFY;
	for (size_t i = 0; i < COUNT(special_paths); i++)
		if (strcmp(path, special_paths[i]) == 0)
			return NF_NODELETE;
	if (has_prefix(path, LONG_DIR "/"))
		return NF_NODELETE;
	return 0;
}

/* Extensions by area: text files, then binary files. */
static const char *const code_ext[] = {".c", ".c", ".c", ".c", ".h", ".h", ".h", ".cpp",
				       ".py", ".go", ".rs", ".S", ".inc", ".txt"};
static const char *const tests_ext[] = {".c", ".c", ".py", ".py", ".txt", ".json", ".h"};
static const char *const docs_ext[] = {".md", ".md", ".md", ".txt", ".rst", ".html"};
static const char *const tools_ext[] = {".py", ".py", ".sh", ".pl", ".c", ".txt", ".cfg"};
static const char *const assets_ext[] = {".svg", ".json", ".css", ".txt", ".xml"};
static const char *const misc_ext[] = {".md", ".txt", ".yml", ".toml", ".cfg"};
static const char *const bin_ext[] = {".png", ".bin", ".dat", ".jpg", ".ico", ".gz",
				      ".ttf", ".wav", ".wasm"};
static const char *const script_ext[] = {".sh", ".sh", ".sh", ".sh", ".sh", ".sh", ".sh",
					 ".py", ".py", ""};

#define PICK(r, a) ((a)[rng_below((r), COUNT(a))])

static const char *text_ext(struct rng *r, enum area area)
{
	switch (area) {
	case A_CODE:
		return PICK(r, code_ext);
	case A_TESTS:
		return PICK(r, tests_ext);
	case A_DOCS:
		return PICK(r, docs_ext);
	case A_TOOLS:
		return PICK(r, tools_ext);
	case A_ASSETS:
		return PICK(r, assets_ext);
	default:
		return PICK(r, misc_ext);
	}
}

/* name: stem + ext, made unique in dir with a number. */
static int unique_name(const struct node *dir, const char *stem, const char *ext, char *out,
		       size_t size)
{
	for (unsigned i = 1; i < 100000; i++) {
		int n = i == 1 ? snprintf(out, size, "%s%s", stem, ext)
			       : snprintf(out, size, "%s_%u%s", stem, i, ext);

		if (n < 0 || (size_t)n >= size)
			return -ENAMETOOLONG;
		if (!node_child(dir, out))
			return 0;
	}
	return -EEXIST;
}

static void random_stem(struct rng *r, enum area area, bool code, char *out, size_t size)
{
	const char *a = content_file_word(r);

	if (area == A_TESTS && code)
		snprintf(out, size, "test_%s", a);
	else if (rng_chance(r, 350))
		snprintf(out, size, "%s%s%s", a, rng_chance(r, 700) ? "_" : "-",
			 content_file_word(r));
	else
		snprintf(out, size, "%s", a);
}

static int add_file(struct model *m, struct node *dir, const char *name, enum ckind kind,
		    uint64_t size, uint64_t seed, bool exec, struct node **out)
{
	struct node *n;
	int rc;

	if ((rc = model_add(m, dir, name, NT_FILE,
			    exec ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB, &n)) < 0)
		return rc;
	n->kind = (uint8_t)kind;
	n->size = size;
	n->seed = seed;
	if (out)
		*out = n;
	return 0;
}

/* A file of a random class (text, small, binary, script) in dir. */
static int add_random_file(struct model *m, struct rng *r, struct node *dir)
{
	enum area area = area_of(node_top(dir));
	unsigned u = (unsigned)rng_below(r, 1000);
	char stem[128], name[160];
	enum ckind kind = CK_TEXT;
	const char *ext;
	uint64_t size;
	bool exec = false;
	int rc;

	if (u < 50) { /* small, sometimes empty */
		ext = text_ext(r, area);
		size = rng_chance(r, 150) ? 0 : rng_below(r, KIB);
	} else if (u < 80) {
		kind = CK_BINARY;
		ext = PICK(r, bin_ext);
		size = rng_logsize(r, 4 * KIB, 200 * KIB + 1);
	} else {
		size = rng_logsize(r, KIB, 20 * KIB + 1);
		exec = rng_chance(r, area == A_TOOLS ? 300 : 45);
		ext = exec ? PICK(r, script_ext) : text_ext(r, area);
	}
	random_stem(r, area, kind == CK_TEXT && !exec && strcmp(ext, ".txt") != 0, stem,
		    sizeof(stem));
	if ((rc = unique_name(dir, stem, ext, name, sizeof(name))) < 0)
		return rc;
	return add_file(m, dir, name, kind, size, rng_next(r), exec, NULL);
}

static int add_subdir(struct model *m, struct rng *r, struct node *dir, struct node **out)
{
	char name[128];
	const char *w = content_dir_word(r);
	int rc;

	for (int i = 0; i < 8 && node_child(dir, w); i++)
		w = content_dir_word(r);
	if ((rc = unique_name(dir, w, "", name, sizeof(name))) < 0)
		return rc;
	return model_add(m, dir, name, NT_DIR, GIT_FILEMODE_TREE, out);
}

/* Puts budget files into dir and new subdirectories of it: a few files
 * here, the rest split unevenly among 3-12 subdirectories (fewer when the
 * budget is small), down to directories of 10-40 files. */
static int grow(struct model *m, struct rng *r, struct node *dir, uint64_t budget,
		unsigned depth)
{
	uint64_t here, rest, weights[12], sum = 0, given = 0, parts[12];
	unsigned k, heavy = 0;
	int rc = 0;

	if (budget <= rng_range(r, 10, 40) || depth >= MAX_DEPTH) {
		here = budget;
	} else {
		here = depth <= 1 ? rng_range(r, 1, 6) : rng_range(r, 2, 12);
		if (here > budget)
			here = budget;
	}
	for (uint64_t i = 0; i < here; i++)
		if ((rc = add_random_file(m, r, dir)) < 0)
			goto done;
	rest = budget - here;
	if (rest == 0)
		goto done;
	k = (unsigned)(rng_chance(r, 800) ? rng_range(r, 3, 7) : rng_range(r, 8, 12));
	if (k > rest / 8)
		k = rest / 8 ? (unsigned)(rest / 8) : 1;
	for (unsigned i = 0; i < k; i++) {
		uint64_t w = 1 + rng_below(r, 6);

		weights[i] = w * w;
		sum += weights[i];
		if (weights[i] > weights[heavy])
			heavy = i;
	}
	for (unsigned i = 0; i < k; i++) {
		parts[i] = rest * weights[i] / sum;
		given += parts[i];
	}
	parts[heavy] += rest - given;
	/* No tiny directories: their files go to the heaviest one. */
	for (unsigned i = 0; i < k; i++) {
		if (i != heavy && parts[i] < 5) {
			parts[heavy] += parts[i];
			parts[i] = 0;
		}
	}
	for (unsigned i = 0; i < k; i++) {
		struct node *sub;

		if (parts[i] == 0)
			continue;
		if ((rc = add_subdir(m, r, dir, &sub)) < 0)
			goto done;
		if ((rc = grow(m, r, sub, parts[i], depth + 1)) < 0)
			goto done;
	}
done:
	return rc;
}

/* A file at a slash-separated path with its directories. */
static int add_path(struct model *m, const char *path, enum ntype type, uint32_t mode,
		    struct node **out)
{
	const char *slash = strrchr(path, '/');
	struct node *dir = m->root;
	char dirpath[512];
	int rc;

	if (slash) {
		size_t len = (size_t)(slash - path);

		if (len >= sizeof(dirpath))
			return -ENAMETOOLONG;
		memcpy(dirpath, path, len);
		dirpath[len] = '\0';
		if ((rc = model_mkdirs(m, dirpath, &dir)) < 0)
			return rc;
	}
	if ((rc = model_add(m, dir, slash ? slash + 1 : path, type, mode, out)) < 0)
		return rc;
	(*out)->flags = (uint8_t)layout_path_flags(path);
	return 0;
}

static int set_data(struct node *n, const char *data)
{
	n->kind = CK_DATA;
	n->dlen = strlen(data);
	n->data = strdup(data);
	n->size = n->dlen;
	return n->data ? 0 : -ENOMEM;
}

static int add_fixed(struct model *m, struct rng *r, struct gerr *e)
{
	size_t nfixed;
	const struct fixed_file *fixed = content_fixed_files(&nfixed);
	char longname[LONG_NAME_LEN + 1], longpath[LONG_NAME_LEN + 32];
	struct node *n;
	int rc = 0;

	for (size_t i = 0; i < nfixed; i++) {
		if ((rc = add_path(m, fixed[i].path, NT_FILE,
				   fixed[i].exec ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB,
				   &n)) < 0 ||
		    (rc = set_data(n, fixed[i].text)) < 0) {
			rc = gerr_sys(e, -rc, "adding %s", fixed[i].path);
			goto done;
		}
	}
	if ((rc = add_path(m, "vendor/submod", NT_GITLINK, GIT_FILEMODE_COMMIT, &n)) < 0) {
		rc = gerr_sys(e, -rc, "adding vendor/submod");
		goto done;
	}
	if ((rc = git_oid_fromstr(&n->oid, GEN_SUBMODULE_ID)) < 0) {
		rc = gerr_git(e, rc, "submodule id");
		goto done;
	}
	n->have_oid = true;
	if ((rc = add_path(m, GEN_DEEP_PATH, NT_FILE, GIT_FILEMODE_BLOB, &n)) < 0) {
		rc = gerr_sys(e, -rc, "adding %s", GEN_DEEP_PATH);
		goto done;
	}
	n->kind = CK_TEXT;
	n->size = rng_range(r, 4 * KIB, 12 * KIB);
	n->seed = rng_next(r);
	/* The long name: words up to exactly LONG_NAME_LEN bytes, ".txt" last. */
	for (size_t i = 0; i < LONG_NAME_LEN - 4; i++)
		longname[i] = "a_rather_long_file_name-"[i % 24];
	memcpy(longname + LONG_NAME_LEN - 4, ".txt", 5);
	snprintf(longpath, sizeof(longpath), "%s/%s", LONG_DIR, longname);
	for (size_t i = 0; i <= COUNT(special_paths); i++) {
		const char *p = i < COUNT(special_paths) ? special_paths[i] : longpath;

		if ((rc = add_path(m, p, NT_FILE, GIT_FILEMODE_BLOB, &n)) < 0) {
			rc = gerr_sys(e, -rc, "adding %s", p);
			goto done;
		}
		n->kind = CK_TEXT;
		n->size = rng_logsize(r, 200, 8 * KIB);
		n->seed = rng_next(r);
	}
	for (size_t i = 0; i < COUNT(fixed_links); i++) {
		if ((rc = add_path(m, fixed_links[i].path, NT_LINK, GIT_FILEMODE_LINK, &n)) < 0 ||
		    (rc = set_data(n, fixed_links[i].target)) < 0) {
			rc = gerr_sys(e, -rc, "adding %s", fixed_links[i].path);
			goto done;
		}
	}
done:
	return rc;
}

static size_t fixed_entry_count(void)
{
	size_t nfixed;

	content_fixed_files(&nfixed);
	return nfixed + 1 /* deep */ + COUNT(special_paths) + 1 /* long */ + COUNT(fixed_links);
}

/* A random file whose flags have none of forbid; with fresh, also one not
 * changed by the current commit. NULL after many misses. */
static struct node *pick_file(struct model *m, struct rng *r, unsigned forbid, bool fresh)
{
	for (int i = 0; i < 256 && m->nfiles; i++) {
		struct node *n = m->files[rng_below(r, m->nfiles)];

		if ((n->flags & forbid) == 0 && (!fresh || n->stamp != m->stamp))
			return n;
	}
	return NULL;
}

/* The parent of a random ordinary file: directories weighted by files. */
static struct node *pick_dir(struct model *m, struct rng *r)
{
	struct node *f = pick_file(m, r, NF_NOMODIFY | NF_NODELETE, false);

	return f ? f->parent : NULL;
}

static unsigned node_depth(const struct node *n)
{
	unsigned d = 0;

	for (; n->parent; n = n->parent)
		d++;
	return d;
}

/* The path from directory `from` to node `to`, like ../x/y.c */
static int relative_path(const struct node *from, const struct node *to, struct buf *out)
{
	const struct node *a = from, *b = to->parent;
	unsigned da = node_depth(a), db = node_depth(b), ups;
	struct buf base = {0};
	size_t skip;
	int rc;

	while (da > db) {
		a = a->parent;
		da--;
	}
	while (db > da) {
		b = b->parent;
		db--;
	}
	while (a != b) {
		a = a->parent;
		b = b->parent;
	}
	/* a is the common ancestor */
	ups = node_depth(from) - node_depth(a);
	if ((rc = node_path(a, &base)) < 0 || (rc = node_path(to, out)) < 0)
		goto done;
	skip = base.len ? base.len + 1 : 0;
	memmove(out->p, out->p + skip, out->len - skip + 1);
	out->len -= skip;
	for (unsigned i = 0; i < ups; i++) {
		buf_reserve(out, 3);
		if ((rc = buf_error(out)) < 0)
			goto done;
		memmove(out->p + 3, out->p, out->len + 1);
		memcpy(out->p, "../", 3);
		out->len += 3;
	}
done:
	buf_free(&base);
	return rc;
}

static int add_links(struct model *m, struct rng *r, uint64_t count, struct gerr *e)
{
	struct buf target = {0};
	char stem[160], name[200];
	int rc = 0;

	for (uint64_t i = 0; i < count; i++) {
		struct node *to = pick_file(m, r, NF_NOMODIFY, false);
		struct node *dir = pick_dir(m, r), *n;
		const char *dot;

		if (!to || !dir)
			break;
		if ((rc = relative_path(dir, to, &target)) < 0) {
			rc = gerr_sys(e, -rc, "symlink target");
			goto done;
		}
		dot = strrchr(to->name, '.');
		snprintf(stem, sizeof(stem), "link-to-%.*s",
			 (int)(dot ? (size_t)(dot - to->name) : strlen(to->name)), to->name);
		if ((rc = unique_name(dir, stem, dot ? dot : "", name, sizeof(name))) < 0 ||
		    (rc = model_add(m, dir, name, NT_LINK, GIT_FILEMODE_LINK, &n)) < 0 ||
		    (rc = set_data(n, target.p)) < 0) {
			rc = gerr_sys(e, -rc, "adding a symlink");
			goto done;
		}
		to->flags |= NF_NODELETE; /* keep the link's target */
	}
done:
	buf_free(&target);
	return rc;
}

int layout_initial(struct model *m, struct rng *r, const struct layout_opts *o,
		   struct gerr *e)
{
	/* cproject/.gitignore and 2-4 more in subdirectories */
	uint64_t links = 3 + o->files / 2500, ignores = rng_range(r, 2, 4);
	uint64_t fixed, rest, given = 0, parts[COUNT(tops)];
	int rc;

	if (links > 24)
		links = 24;
	if ((rc = add_fixed(m, r, e)) < 0)
		goto done;
	fixed = fixed_entry_count() + links + ignores + o->big;
	rest = o->files > fixed ? o->files - fixed : 0;
	for (size_t i = 0; i < COUNT(tops); i++) {
		parts[i] = rest * tops[i].permille / 1000;
		given += parts[i];
	}
	parts[0] += rest - given;
	for (size_t i = 0; i < COUNT(tops); i++) {
		struct node *top;

		if ((rc = model_mkdirs(m, tops[i].name, &top)) < 0 ||
		    (rc = grow(m, r, top, parts[i], 1)) < 0) {
			rc = gerr_sys(e, -rc, "laying out %s", tops[i].name);
			goto done;
		}
	}
	for (uint64_t i = 0; i < o->big; i++) {
		bool random = i % 2 == 0;
		struct node *dir = pick_dir(m, r);
		char stem[32], name[64];

		if (!dir)
			dir = m->root;
		snprintf(stem, sizeof(stem), random ? "dataset-%03u" : "disk-%03u", (unsigned)i + 1);
		if ((rc = unique_name(dir, stem, random ? ".bin" : ".img", name, sizeof(name))) < 0 ||
		    (rc = add_file(m, dir, name, random ? CK_BIG_RANDOM : CK_BIG_IMAGE,
				   rng_range(r, 2 * MIB, 8 * MIB), rng_next(r), false, NULL)) < 0) {
			rc = gerr_sys(e, -rc, "adding a big file");
			goto done;
		}
	}
	for (uint64_t i = 0; i < ignores; i++) {
		struct node *dir = pick_dir(m, r), *n;

		if (!dir || dir == m->root || node_child(dir, ".gitignore"))
			continue;
		if ((rc = model_add(m, dir, ".gitignore", NT_FILE, GIT_FILEMODE_BLOB, &n)) < 0 ||
		    (rc = set_data(n, content_sub_gitignore(i))) < 0) {
			rc = gerr_sys(e, -rc, "adding a .gitignore");
			goto done;
		}
		n->flags = NF_NODELETE | NF_NOMODIFY;
	}
	rc = add_links(m, r, links, e);
done:
	return rc;
}

static int mark_modified(struct model *m, struct rng *r, struct node *n)
{
	n->kind = CK_MODIFY;
	n->seed = rng_next(r);
	n->stamp = m->stamp;
	return model_set_pending(m, n);
}

static bool is_script(const struct node *n)
{
	const char *dot = strrchr(n->name, '.');

	return dot && (strcmp(dot, ".sh") == 0 || strcmp(dot, ".py") == 0);
}

int layout_change(struct model *m, struct rng *r, const struct change_opts *o,
		  struct buf *msg, struct gerr *e)
{
	uint64_t modified = 0, added = 0, removed = 0;
	struct buf from = {0}, to = {0};
	struct node *n;
	int rc = 0;

	m->stamp++;
	n = model_lookup(m, GEN_DEEP_PATH);
	if (o->deep && n && n->type == NT_FILE) {
		if ((rc = mark_modified(m, r, n)) < 0)
			goto done;
		modified++;
	}
	while (modified < o->modify && (n = pick_file(m, r, NF_NOMODIFY, true))) {
		if ((rc = mark_modified(m, r, n)) < 0)
			goto done;
		modified++;
	}
	for (uint64_t i = 0; i < o->add; i++) {
		struct node *dir = pick_dir(m, r);

		if (!dir)
			break;
		if ((rc = add_random_file(m, r, dir)) < 0)
			goto done;
		added++;
	}
	for (uint64_t i = 0; i < o->remove; i++) {
		if (!(n = pick_file(m, r, NF_NODELETE, true)))
			break;
		model_remove(m, n);
		removed++;
	}
	buf_addf(msg, "modify %llu files, add %llu, delete %llu\n\n",
		 (unsigned long long)modified, (unsigned long long)added,
		 (unsigned long long)removed);
	/* One rename, to another directory where possible. */
	if ((n = pick_file(m, r, NF_NODELETE, true))) {
		struct node *dir = pick_dir(m, r);
		const char *dot = strrchr(n->name, '.');
		char stem[128], name[200];

		if (!dir)
			dir = n->parent;
		snprintf(stem, sizeof(stem), "%s_%s", content_file_word(r), content_file_word(r));
		if ((rc = node_path(n, &from)) < 0 ||
		    (rc = unique_name(dir, stem, dot && dot != n->name ? dot : "", name,
				      sizeof(name))) < 0 ||
		    (rc = model_move(m, n, dir, name)) < 0 || (rc = node_path(n, &to)) < 0)
			goto done;
		buf_addf(msg, "Rename %s to %s.\n", from.p, to.p);
	}
	/* One mode change, preferably of a script. */
	n = NULL;
	for (int i = 0; i < 32 && !n; i++) {
		n = pick_file(m, r, NF_NODELETE, true);
		if (n && !is_script(n) && i < 31)
			n = NULL;
	}
	if (n) {
		n->mode = n->mode == GIT_FILEMODE_BLOB_EXECUTABLE ? GIT_FILEMODE_BLOB
								  : GIT_FILEMODE_BLOB_EXECUTABLE;
		n->stamp = m->stamp;
		model_touch(n);
		if ((rc = node_path(n, &from)) < 0)
			goto done;
		buf_addf(msg, "Make %s %sexecutable.\n", from.p,
			 n->mode == GIT_FILEMODE_BLOB ? "not " : "");
	}
	rc = buf_error(msg);
done:
	if (rc < 0)
		rc = gerr_sys(e, -rc, "changing the tree");
	buf_free(&from);
	buf_free(&to);
	return rc;
}
