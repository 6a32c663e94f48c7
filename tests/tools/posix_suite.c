/*
 * posix_suite: POSIX behaviour checks in the spirit of pjdfstest, run in a
 * directory of a writable workspace and, as a control, in a plain directory
 * (the assertions must hold on both).
 *
 *   posix_suite ROOT
 *
 * ROOT must contain, before the run, the "lower" fixture as the test script
 * makes it (in the workspace it comes from the git tree):
 *   lower/f0 .. lower/f9     regular files, 0644, content "lower fN\n"
 *   lower/x                  0755 file
 *   lower/d0/a, lower/d0/b   a directory with two files
 *   lower/d1/sub/c           a nested directory
 *   lower/empty/             an empty directory (a .keep file in git: removed by the script)
 *   lower/ln -> f0           a symlink
 * Each group runs on entries that exist only in the lower layer, only in the
 * upper layer (made by the suite), and in both (lower entries changed once,
 * so copied up). Prints one line per failure and a summary; exit 1 on any.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

static int failures, checks;
static const char *group = "";

#define CHECK(cond, ...)                                             \
	do {                                                             \
		checks++;                                                    \
		if (!(cond)) {                                               \
			failures++;                                              \
			fprintf(stderr, "FAIL [%s] %s:%d: ", group, __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                            \
			fprintf(stderr, " (errno %d %s)\n", errno, strerror(errno)); \
		}                                                            \
	} while (0)
#define OK(call) CHECK((call) == 0, "%s", #call)
#define FAILS(call, e) CHECK((call) == -1 && errno == (e), "%s should fail with %s", #call, #e)

static void put(const char *p, const char *s, mode_t mode)
{
	int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, mode);
	CHECK(fd >= 0, "create %s", p);
	if (fd >= 0) {
		CHECK(write(fd, s, strlen(s)) == (ssize_t)strlen(s), "write %s", p);
		close(fd);
	}
}

static int content_is(const char *p, const char *want)
{
	char buf[4096];
	int fd = open(p, O_RDONLY);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return 0;
	buf[n] = '\0';
	return !strcmp(buf, want);
}

static mode_t mode_of(const char *p)
{
	struct stat st;
	return lstat(p, &st) == 0 ? st.st_mode : 0;
}

static int exists(const char *p)
{
	struct stat st;
	return lstat(p, &st) == 0;
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void t_chmod(void)
{
	group = "chmod";
	OK(chmod("lower/f0", 0600));
	CHECK((mode_of("lower/f0") & 07777) == 0600, "lower file mode after chmod");
	CHECK(content_is("lower/f0", "lower f0\n"), "content kept after chmod of a lower file");
	put("up_chmod", "u\n", 0644);
	OK(chmod("up_chmod", 0751));
	CHECK((mode_of("up_chmod") & 07777) == 0751, "upper file mode");
	OK(chmod("lower/d0", 0700));
	CHECK((mode_of("lower/d0") & 07777) == 0700, "lower dir mode");
	CHECK(exists("lower/d0/a"), "lower dir keeps its entries after chmod");
	OK(chmod("lower/f0", 04755));
	CHECK((mode_of("lower/f0") & 07777) == 04755, "setuid bit");
	FAILS(chmod("lower/nonexistent", 0644), ENOENT);
	FAILS(chmod("lower/f0/x", 0644), ENOTDIR);
	OK(chmod("lower/f0", 0644));
}

static void t_chown(void)
{
	group = "chown";
	struct stat st;
	OK(chown("lower/f1", 1234, 5678));
	CHECK(lstat("lower/f1", &st) == 0 && st.st_uid == 1234 && st.st_gid == 5678, "lower file owner");
	CHECK(content_is("lower/f1", "lower f1\n"), "content kept after chown");
	OK(lchown("lower/ln", 42, 43));
	CHECK(lstat("lower/ln", &st) == 0 && st.st_uid == 42 && S_ISLNK(st.st_mode), "symlink owner (lchown)");
	put("up_chown", "u\n", 0644);
	OK(chown("up_chown", 7, -1));
	CHECK(lstat("up_chown", &st) == 0 && st.st_uid == 7 && st.st_gid == getgid(), "upper owner, gid unchanged");
	FAILS(chown("nonexistent", 1, 1), ENOENT);
	OK(chown("lower/f1", 0, 0));
}

static void t_link(void)
{
	group = "link";
	struct stat a, b;
	OK(link("lower/f2", "lower/f2.hard"));
	CHECK(lstat("lower/f2", &a) == 0 && lstat("lower/f2.hard", &b) == 0 && a.st_ino == b.st_ino &&
	          a.st_nlink == 2, "hard link to a lower file shares the inode (nlink %d)", (int)a.st_nlink);
	put("lower/f2.hard", "changed through the link\n", 0644);
	CHECK(content_is("lower/f2", "changed through the link\n"), "write through one link shows in the other");
	OK(unlink("lower/f2"));
	CHECK(lstat("lower/f2.hard", &b) == 0 && b.st_nlink == 1, "nlink after unlink");
	put("up_link", "u\n", 0644);
	OK(link("up_link", "up_link2"));
	FAILS(link("up_link", "up_link2"), EEXIST);
	FAILS(link("lower/d0", "dirlink"), EPERM);
	FAILS(link("nonexistent", "x"), ENOENT);
	OK(unlink("up_link2"));
	CHECK(lstat("up_link", &a) == 0 && a.st_nlink == 1, "nlink back to 1");
}

static void t_mkdir(void)
{
	group = "mkdir";
	OK(mkdir("newdir", 0750));
	CHECK(S_ISDIR(mode_of("newdir")) && (mode_of("newdir") & 0777) == 0750, "mkdir mode");
	FAILS(mkdir("newdir", 0755), EEXIST);
	FAILS(mkdir("lower/d0", 0755), EEXIST);
	FAILS(mkdir("lower/f3", 0755), EEXIST);
	FAILS(mkdir("nonexistent/x", 0755), ENOENT);
	FAILS(mkdir("lower/f3/x", 0755), ENOTDIR);
	OK(mkdir("lower/d0/newsub", 0755));
	CHECK(exists("lower/d0/a") && exists("lower/d0/newsub"), "mkdir in a lower dir keeps the lower entries");
	char longname[300];
	memset(longname, 'n', 256);
	longname[256] = '\0';
	FAILS(mkdir(longname, 0755), ENAMETOOLONG);
	/* Delete a lower directory, make one of the same name: it is empty. */
	OK(unlink("lower/d1/sub/c"));
	OK(rmdir("lower/d1/sub"));
	OK(mkdir("lower/d1/sub", 0755));
	CHECK(count_entries("lower/d1/sub") == 0, "a new directory over a deleted lower one is empty");
	OK(rmdir("newdir"));
}

static void t_mkfifo(void)
{
	group = "mkfifo";
	OK(mkfifo("fifo", 0640));
	CHECK(S_ISFIFO(mode_of("fifo")), "fifo type");
	FAILS(mkfifo("fifo", 0640), EEXIST);
	FAILS(mkfifo("lower/f3", 0640), EEXIST);
	OK(unlink("fifo"));
	OK(mknod("lower/d0/fifo2", S_IFIFO | 0600, 0));
	CHECK(S_ISFIFO(mode_of("lower/d0/fifo2")), "mknod fifo in a lower dir");
	OK(unlink("lower/d0/fifo2"));
}

static void t_open(void)
{
	group = "open";
	int fd = open("lower/f3", O_RDONLY);
	CHECK(fd >= 0, "open lower file");
	if (fd >= 0)
		close(fd);
	fd = open("lower/f3", O_WRONLY | O_APPEND);
	CHECK(fd >= 0 && write(fd, "appended\n", 9) == 9, "append to a lower file");
	if (fd >= 0)
		close(fd);
	CHECK(content_is("lower/f3", "lower f3\nappended\n"), "lower content kept before the append");
	fd = open("lower/f4", O_WRONLY | O_TRUNC);
	CHECK(fd >= 0, "O_TRUNC a lower file");
	if (fd >= 0)
		close(fd);
	struct stat st;
	CHECK(lstat("lower/f4", &st) == 0 && st.st_size == 0, "truncated by O_TRUNC");
	fd = open("excl.lock", O_CREAT | O_EXCL | O_WRONLY, 0644);
	CHECK(fd >= 0, "O_EXCL create");
	if (fd >= 0)
		close(fd);
	FAILS(open("excl.lock", O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST);
	FAILS(open("lower/f5", O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST);
	FAILS(open("lower/d0", O_WRONLY), EISDIR);
	FAILS(open("nonexistent", O_RDONLY), ENOENT);
	FAILS(open("lower/f5/x", O_RDONLY), ENOTDIR);
	FAILS(open("lower/ln", O_RDONLY | O_NOFOLLOW), ELOOP);
	OK(unlink("excl.lock"));
	/* read after write, at offsets */
	fd = open("lower/f5", O_RDWR);
	CHECK(fd >= 0 && pwrite(fd, "XY", 2, 2) == 2, "pwrite into a lower file");
	char buf[32] = {0};
	CHECK(fd >= 0 && pread(fd, buf, sizeof(buf) - 1, 0) == 9 && !strcmp(buf, "loXYr f5\n"), "read after write: '%s'", buf);
	if (fd >= 0)
		close(fd);
	/* unlink while open: the data stays readable and writable */
	fd = open("up_open", O_CREAT | O_RDWR, 0644);
	CHECK(fd >= 0 && write(fd, "still here", 10) == 10, "write");
	OK(unlink("up_open"));
	memset(buf, 0, sizeof(buf));
	CHECK(fd >= 0 && pread(fd, buf, 10, 0) == 10 && !strcmp(buf, "still here"), "read after unlink");
	CHECK(fd >= 0 && pwrite(fd, "!", 1, 10) == 1, "write after unlink");
	CHECK(fd >= 0 && fstat(fd, &st) == 0 && st.st_size == 11, "fstat after unlink");
	if (fd >= 0)
		close(fd);
	CHECK(!exists("up_open"), "unlinked name is gone");
}

static void t_rename(void)
{
	group = "rename";
	OK(rename("lower/f6", "lower/f6.renamed"));
	CHECK(!exists("lower/f6") && content_is("lower/f6.renamed", "lower f6\n"), "rename a lower file");
	struct stat a, b;
	OK(lstat("lower/f7", &a));
	OK(rename("lower/f7", "lower/d0/f7"));
	CHECK(lstat("lower/d0/f7", &b) == 0 && a.st_ino == b.st_ino, "inode kept across rename");
	put("up_r1", "one\n", 0644);
	OK(rename("up_r1", "lower/f8"));
	CHECK(content_is("lower/f8", "one\n") && !exists("up_r1"), "rename over a lower file");
	/* directories with lower content */
	OK(rename("lower/d0", "moved_d0"));
	CHECK(!exists("lower/d0") && exists("moved_d0/a") && exists("moved_d0/b") && exists("moved_d0/f7"),
	      "rename a lower directory with its contents");
	CHECK(content_is("moved_d0/a", "lower d0/a\n"), "content inside a renamed lower directory");
	OK(mkdir("lower/d0", 0755));
	CHECK(count_entries("lower/d0") == 0, "a new dir where a renamed lower dir was is empty");
	OK(rename("moved_d0", "lower/d0.back"));
	FAILS(rename("lower/d0.back", "lower/f9"), ENOTDIR);
	FAILS(rename("lower/f9", "lower/d0.back"), EISDIR);
	FAILS(rename("lower/d0.back", "lower/d1"), ENOTEMPTY);
	OK(rename("lower/d0.back", "lower/d0"));
	FAILS(rename("nonexistent", "x"), ENOENT);
	FAILS(rename("lower/d0", "lower/d0/inside"), EINVAL);
	/* RENAME_NOREPLACE and RENAME_EXCHANGE */
	FAILS(renameat2(AT_FDCWD, "lower/f9", AT_FDCWD, "lower/f8", RENAME_NOREPLACE), EEXIST);
	OK(renameat2(AT_FDCWD, "lower/f9", AT_FDCWD, "lower/f9.nr", RENAME_NOREPLACE));
	OK(renameat2(AT_FDCWD, "lower/f9.nr", AT_FDCWD, "lower/f8", RENAME_EXCHANGE));
	CHECK(content_is("lower/f8", "lower f9\n") && content_is("lower/f9.nr", "one\n"), "exchange");
	OK(renameat2(AT_FDCWD, "lower/d1", AT_FDCWD, "lower/d0", RENAME_EXCHANGE));
	CHECK(exists("lower/d0/sub") && exists("lower/d1/a"), "exchange of directories");
	FAILS(renameat2(AT_FDCWD, "lower/f8", AT_FDCWD, "nonexistent", RENAME_EXCHANGE), ENOENT);
	char longname[300];
	memset(longname, 'r', 256);
	longname[256] = '\0';
	FAILS(rename("lower/f8", longname), ENAMETOOLONG);
}

static void t_rmdir(void)
{
	group = "rmdir";
	FAILS(rmdir("lower/d1"), ENOTEMPTY);
	FAILS(rmdir("lower/f8"), ENOTDIR);
	FAILS(rmdir("nonexistent"), ENOENT);
	OK(rmdir("lower/empty"));
	CHECK(!exists("lower/empty"), "lower empty dir removed");
	OK(mkdir("rmme", 0755));
	OK(rmdir("rmme"));
	/* remove everything of a lower directory, then it */
	OK(unlink("lower/d1/a"));
	OK(unlink("lower/d1/b"));
	OK(unlink("lower/d1/f7"));
	OK(rmdir("lower/d1/newsub"));
	CHECK(count_entries("lower/d1") == 0, "emptied lower dir lists nothing (%d)", count_entries("lower/d1"));
	OK(rmdir("lower/d1"));
	CHECK(!exists("lower/d1"), "removed");
}

static void t_symlink(void)
{
	group = "symlink";
	char buf[256];
	OK(symlink("target/elsewhere", "sl"));
	ssize_t n = readlink("sl", buf, sizeof(buf));
	CHECK(n == 16 && !memcmp(buf, "target/elsewhere", 16), "readlink of a new symlink");
	FAILS(symlink("x", "sl"), EEXIST);
	FAILS(symlink("x", "lower/f9.nr"), EEXIST);
	n = readlink("lower/ln", buf, sizeof(buf));
	CHECK(n == 2 && !memcmp(buf, "f0", 2), "readlink of a lower symlink");
	OK(rename("lower/ln", "ln.moved"));
	n = readlink("ln.moved", buf, sizeof(buf));
	CHECK(n == 2 && !memcmp(buf, "f0", 2), "readlink of a renamed lower symlink");
	OK(unlink("sl"));
	OK(unlink("ln.moved"));
}

static void t_truncate(void)
{
	group = "truncate";
	struct stat st;
	OK(truncate("lower/x", 3));
	CHECK(lstat("lower/x", &st) == 0 && st.st_size == 3 && (st.st_mode & 0777) == 0755, "truncate lower, mode kept");
	OK(truncate("lower/x", 10000));
	CHECK(lstat("lower/x", &st) == 0 && st.st_size == 10000, "extend");
	FAILS(truncate("lower/d0", 0), EISDIR);
	FAILS(truncate("nonexistent", 0), ENOENT);
	put("up_tr", "0123456789", 0644);
	OK(truncate("up_tr", 4));
	CHECK(content_is("up_tr", "0123"), "truncate upper");
	group = "ftruncate";
	int fd = open("lower/f9.nr", O_RDWR);
	CHECK(fd >= 0 && ftruncate(fd, 2) == 0, "ftruncate");
	CHECK(fd >= 0 && fstat(fd, &st) == 0 && st.st_size == 2, "size after ftruncate");
	if (fd >= 0)
		close(fd);
	fd = open("lower/f9.nr", O_RDONLY);
	FAILS(ftruncate(fd, 0), EINVAL);
	if (fd >= 0)
		close(fd);
	fd = open("up_fall", O_CREAT | O_RDWR, 0644);
	CHECK(fd >= 0 && posix_fallocate(fd, 0, 1 << 20) == 0, "fallocate");
	CHECK(fd >= 0 && fstat(fd, &st) == 0 && st.st_size == 1 << 20, "size after fallocate");
	if (fd >= 0)
		close(fd);
}

static void t_unlink(void)
{
	group = "unlink";
	OK(unlink("lower/f9.nr"));
	CHECK(!exists("lower/f9.nr"), "gone");
	FAILS(unlink("lower/f9.nr"), ENOENT);
	FAILS(unlink("lower/d0"), EISDIR);
	put("lower/f0", "recreated\n", 0644);
	OK(unlink("lower/f0"));
	put("lower/f0", "recreated again\n", 0600);
	CHECK(content_is("lower/f0", "recreated again\n") && (mode_of("lower/f0") & 0777) == 0600,
	      "a file recreated over a deleted lower one");
}

static void t_utimensat(void)
{
	group = "utimensat";
	struct timespec ts[2] = {{.tv_sec = 1000000000, .tv_nsec = 5}, {.tv_sec = 1200000000, .tv_nsec = 7}};
	struct stat st;
	OK(utimensat(AT_FDCWD, "lower/f5", ts, 0));
	CHECK(lstat("lower/f5", &st) == 0 && st.st_mtim.tv_sec == 1200000000 && st.st_atim.tv_sec == 1000000000,
	      "times of a lower file");
	OK(utimensat(AT_FDCWD, "lower/x", NULL, 0));
	CHECK(lstat("lower/x", &st) == 0 && st.st_mtim.tv_sec > 1600000000, "UTIME_NOW");
	struct timespec omit[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_sec = 1300000000}};
	OK(utimensat(AT_FDCWD, "lower/f5", omit, 0));
	CHECK(lstat("lower/f5", &st) == 0 && st.st_atim.tv_sec == 1000000000 && st.st_mtim.tv_sec == 1300000000,
	      "UTIME_OMIT");
	OK(utimensat(AT_FDCWD, "lower/d0", ts, 0));
	CHECK(lstat("lower/d0", &st) == 0 && st.st_mtim.tv_sec == 1200000000, "times of a directory");
	FAILS(utimensat(AT_FDCWD, "nonexistent", ts, 0), ENOENT);
}

static void t_mmap(void)
{
	group = "mmap";
	/* A shared writable mapping of a lower file: the change reaches the
	 * file (and is copied up), the rest of the content is kept. */
	int fd = open("lower/f6.renamed", O_RDWR);
	CHECK(fd >= 0, "open for mmap");
	if (fd < 0)
		return;
	char *p = mmap(NULL, 9, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED, "mmap shared writable");
	if (p != MAP_FAILED) {
		memcpy(p, "LOWER", 5);
		CHECK(msync(p, 9, MS_SYNC) == 0, "msync");
		munmap(p, 9);
	}
	close(fd);
	CHECK(content_is("lower/f6.renamed", "LOWER f6\n"), "content after a shared mapping wrote to it");
}

static void t_xattr(void)
{
	group = "xattr";
	char buf[64];
	OK(setxattr("lower/x", "user.test", "v1", 2, 0));
	ssize_t n = getxattr("lower/x", "user.test", buf, sizeof(buf));
	CHECK(n == 2 && !memcmp(buf, "v1", 2), "xattr on a lower file");
	FAILS(setxattr("lower/x", "user.test", "v2", 2, XATTR_CREATE), EEXIST);
	OK(removexattr("lower/x", "user.test"));
	CHECK(getxattr("lower/x", "user.test", buf, sizeof(buf)) < 0 && errno == ENODATA, "removed");
	/* on the workspace's root directory and on a lower directory */
	OK(setxattr(".", "user.root", "r", 1, 0));
	CHECK(getxattr(".", "user.root", buf, sizeof(buf)) == 1 && buf[0] == 'r', "xattr on the root");
	OK(removexattr(".", "user.root"));
	OK(setxattr("lower/d0", "user.dir", "d", 1, 0));
	CHECK(getxattr("lower/d0", "user.dir", buf, sizeof(buf)) == 1 && buf[0] == 'd', "xattr on a directory");
}

int main(int argc, char **argv)
{
	if (argc != 2 || chdir(argv[1]) < 0) {
		fprintf(stderr, "usage: posix_suite ROOT\n");
		return 2;
	}
	umask(022);
	t_chmod();
	t_chown();
	t_link();
	t_mkdir();
	t_mkfifo();
	t_open();
	t_rename();
	t_rmdir();
	t_symlink();
	t_truncate();
	t_unlink();
	t_utimensat();
	t_mmap();
	t_xattr();
	fprintf(stderr, "posix_suite: %d checks, %d failures\n", checks, failures);
	return failures ? 1 : 0;
}
