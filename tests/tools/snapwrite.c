/* snapwrite: a test helper that writes a layer from a directory tree with
 * snap_writer (no thawfs needed). Conventions of the tree (as in OCI layers):
 * a file ".wh.NAME" is a whiteout of NAME, a file ".wh..wh..opq" makes its
 * directory opaque. Hard links become link entries, user.* xattrs are kept.
 *
 *   snapwrite --store DIR [--kind K] [--parent ID] [--repo NAME] [--base C]
 *             [--synced C] [--author "N <e>"] TREE
 * prints the new layer id. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "snapshot.h"

struct seen {
	dev_t dev;
	ino_t ino;
	char *path;
};

static struct seen *links;
static size_t nlinks;
static struct snap_store *store;
static struct snap_writer *writer;

static int die(const char *what)
{
	fprintf(stderr, "snapwrite: %s: %s\n", what, snap_last_error());
	exit(1);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t get_xattrs(const char *full, char *out, size_t cap)
{
	char names[4096];
	ssize_t n = llistxattr(full, names, sizeof(names));
	size_t len = 0;
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(names + i) + 1) {
		const char *nm = names + i;
		if (strncmp(nm, "user.", 5))
			continue;
		char val[1024];
		ssize_t vl = lgetxattr(full, nm, val, sizeof(val));
		if (vl < 0 || len + strlen(nm) + 1 + 4 + (size_t)vl > cap)
			continue;
		memcpy(out + len, nm, strlen(nm) + 1);
		len += strlen(nm) + 1;
		uint32_t v = (uint32_t)vl;
		unsigned char le[4] = {v & 255, (v >> 8) & 255, (v >> 16) & 255, v >> 24};
		memcpy(out + len, le, 4);
		len += 4;
		memcpy(out + len, val, (size_t)vl);
		len += (size_t)vl;
	}
	return len;
}

static void add_tree(const char *root, const char *rel)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s%s%s", root, *rel ? "/" : "", rel);
	DIR *d = opendir(dir);
	if (!d) {
		perror(dir);
		exit(1);
	}
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n; i++) {
		char full[PATH_MAX], path[PATH_MAX];
		const char *name = names[i];
		snprintf(full, sizeof(full), "%s/%s", dir, name);
		struct stat st;
		if (lstat(full, &st) < 0) {
			perror(full);
			exit(1);
		}
		if (!strcmp(name, ".wh..wh..opq"))
			continue; /* handled with its directory */
		struct snap_entry e = {0};
		bool whiteout = !strncmp(name, ".wh.", 4);
		snprintf(path, sizeof(path), "%s%s%s", rel, *rel ? "/" : "", whiteout ? name + 4 : name);
		e.path = path;
		e.mode = st.st_mode & 07777;
		e.uid = st.st_uid;
		e.gid = st.st_gid;
		e.mtime_sec = st.st_mtim.tv_sec;
		e.mtime_nsec = (uint32_t)st.st_mtim.tv_nsec;
		char target[PATH_MAX], xa[8192];
		e.xattrs_len = get_xattrs(full, xa, sizeof(xa));
		e.xattrs = e.xattrs_len ? xa : NULL;
		if (whiteout) {
			e.type = SNAP_T_WHITEOUT;
			e.mode = 0;
			e.xattrs = NULL;
			e.xattrs_len = 0;
		} else if (S_ISREG(st.st_mode)) {
			e.type = SNAP_T_REG;
			int fd = open(full, O_RDONLY);
			bool isnew;
			if (fd < 0 || snap_object_put_fd(store, fd, &e.cid, &e.size, &isnew) < 0)
				die(full);
			close(fd);
			if (st.st_nlink > 1) {
				for (size_t k = 0; k < nlinks; k++)
					if (links[k].dev == st.st_dev && links[k].ino == st.st_ino)
						e.link = links[k].path;
				if (!e.link) {
					links = realloc(links, (nlinks + 1) * sizeof(*links));
					links[nlinks++] = (struct seen){st.st_dev, st.st_ino, strdup(path)};
				}
			}
		} else if (S_ISDIR(st.st_mode)) {
			e.type = SNAP_T_DIR;
			char opq[PATH_MAX + 16];
			snprintf(opq, sizeof(opq), "%s/.wh..wh..opq", full);
			e.opaque = access(opq, F_OK) == 0;
		} else if (S_ISLNK(st.st_mode)) {
			e.type = SNAP_T_SYMLINK;
			ssize_t tl = readlink(full, target, sizeof(target) - 1);
			if (tl < 0) {
				perror(full);
				exit(1);
			}
			target[tl] = '\0';
			e.target = target;
		} else if (S_ISFIFO(st.st_mode)) {
			e.type = SNAP_T_FIFO;
		} else if (S_ISSOCK(st.st_mode)) {
			e.type = SNAP_T_SOCK;
		} else {
			e.type = S_ISCHR(st.st_mode) ? SNAP_T_CHR : SNAP_T_BLK;
			e.rdev = st.st_rdev;
		}
		if (snap_writer_add(writer, &e) < 0)
			die(path);
		if (e.type == SNAP_T_DIR)
			add_tree(root, path);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"store", required_argument, NULL, 's'},  {"kind", required_argument, NULL, 'k'},
		{"parent", required_argument, NULL, 'p'}, {"repo", required_argument, NULL, 'r'},
		{"base", required_argument, NULL, 'b'},   {"synced", required_argument, NULL, 'y'},
		{"author", required_argument, NULL, 'a'}, {NULL, 0, NULL, 0},
	};
	const char *sdir = NULL;
	struct snap_meta m;
	memset(&m, 0, sizeof(m));
	m.kind = SNAP_KIND_SESSION;
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 's': sdir = optarg; break;
		case 'k':
			if (snap_kind_parse(optarg, &m.kind) < 0)
				die("--kind");
			break;
		case 'p': snprintf(m.parent, sizeof(m.parent), "%s", optarg); break;
		case 'r': snprintf(m.repo, sizeof(m.repo), "%s", optarg); break;
		case 'b': snprintf(m.base_commit, sizeof(m.base_commit), "%s", optarg); break;
		case 'y': snprintf(m.synced_commit, sizeof(m.synced_commit), "%s", optarg); break;
		case 'a': snprintf(m.author, sizeof(m.author), "%s", optarg); break;
		default: return 2;
		}
	}
	if (!sdir || argc - optind != 1) {
		fprintf(stderr, "usage: snapwrite --store DIR [--kind K] [--parent ID] [--repo NAME] [--base C] "
		                "[--synced C] [--author A] TREE\n");
		return 2;
	}
	if (snap_store_open(&store, sdir, true) < 0)
		die(sdir);
	if (snap_writer_new(&writer, store, &m) < 0)
		die("writer");
	add_tree(argv[optind], "");
	char id[SNAP_ID_HEXLEN + 1];
	if (snap_writer_commit(writer, id) < 0)
		die("commit");
	snap_writer_free(writer);
	snap_store_free(store);
	for (size_t k = 0; k < nlinks; k++)
		free(links[k].path);
	free(links);
	printf("%s\n", id);
	return 0;
}
