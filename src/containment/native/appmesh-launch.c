/*
 * appmesh-launch: the first program of every run, started by the daemon (root, or the daemon's
 * own account) and replaced by the command through exec, so the pid and exit status are the
 * command's. One small program instead of /bin/sh + setpriv + env: one exec per start instead of
 * up to three.
 *
 *   appmesh-launch <n> <cgroup.procs>... <uid|-> <gid|-> <m> <NAME=VALUE>... <command> <arg>...
 *
 *   1. stderr joins stdout (one pipe: both keep their relative order);
 *   2. its pid goes into each of the n cgroup.procs files, before any user code exists;
 *   3. with a uid: no supplementary groups, then the gid, then the uid (real, effective and
 *      saved), checked: no way back to the daemon's account;
 *   4. the m variables held back from the privileged part are set;
 *   5. the command is looked up in the PATH of that environment and executed.
 * Exit 125: a step before the command failed; 126: the command cannot be executed; 127: not found.
 *
 *   appmesh-launch --serve   the daemon's fork server (fork-server.c), which runs these steps in
 *                            each child it forks.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "launch-steps.h"

#define SETUP_FAILED 125

static void fail(int status, const char *what, const char *detail) {
  dprintf(2, "appmesh-launch: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  _exit(status);
}

/* A non-negative decimal that fits an id or a count; anything else ends the launch. */
static long parse_number(const char *text, const char *what) {
  char *end;
  errno = 0;
  long value = strtol(text, &end, 10);
  if (errno || end == text || *end || value < 0 || value > INT_MAX - 1) fail(SETUP_FAILED, "bad argument", what);
  return value;
}

static void enter_cgroup(const char *procs_file) {
  char pid[24];
  int length = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
  int fd = open(procs_file, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, pid, (size_t)length) != length) fail(SETUP_FAILED, procs_file, strerror(errno));
  close(fd);
}

static void drop_privileges(uid_t uid, gid_t gid) {
  if (setgroups(0, NULL) != 0) fail(SETUP_FAILED, "setgroups", strerror(errno));
  if (setresgid(gid, gid, gid) != 0) fail(SETUP_FAILED, "setresgid", strerror(errno));
  if (setresuid(uid, uid, uid) != 0) fail(SETUP_FAILED, "setresuid", strerror(errno));
  uid_t ruid, euid, suid;
  gid_t rgid, egid, sgid;
  if (getresuid(&ruid, &euid, &suid) != 0 || ruid != uid || euid != uid || suid != uid) fail(SETUP_FAILED, "uid not switched", NULL);
  if (getresgid(&rgid, &egid, &sgid) != 0 || rgid != gid || egid != gid || sgid != gid) fail(SETUP_FAILED, "gid not switched", NULL);
  if (getgroups(0, NULL) != 0) fail(SETUP_FAILED, "supplementary groups not cleared", NULL);
  if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) fail(SETUP_FAILED, "privileges could be regained", NULL);
}

extern char **environ;

/* execve, and a file without a #! line or an ELF header runs as a shell script (as shells do). */
static void try_exec(const char *path, char **argv) {
  execve(path, argv, environ);
  if (errno != ENOEXEC) return;
  int count = 0;
  while (argv[count]) count++;
  char **script = calloc((size_t)count + 2, sizeof *script);
  if (!script) return;
  script[0] = "sh";
  script[1] = (char *)path;
  for (int i = 1; i <= count; i++) script[i + 1] = argv[i];
  execve("/bin/sh", script, environ);
  free(script);
  errno = ENOEXEC;
}

/*
 * As a shell finds a command: a name with a slash is run as is; otherwise each folder of PATH in
 * turn. Not found anywhere: 127. Found but not executable (or a folder refused): 126.
 */
static void exec_command(char **argv) {
  const char *name = argv[0];
  if (strchr(name, '/')) {
    try_exec(name, argv);
    int error = errno;
    fail(error == ENOENT || error == ENOTDIR ? 127 : 126, name, error == ENOENT ? "not found" : strerror(error));
  }
  const char *path = getenv("PATH");
  if (!path) path = "/usr/local/bin:/usr/bin:/bin";
  size_t name_length = strlen(name);
  int denied = 0;
  for (const char *dir = path;; dir++) {
    const char *end = strchrnul(dir, ':');
    size_t dir_length = (size_t)(end - dir);
    char *candidate = malloc(dir_length + name_length + 3);
    if (!candidate) fail(SETUP_FAILED, "out of memory", NULL);
    /* An empty folder is the working folder, as in every shell. */
    int written = dir_length ? sprintf(candidate, "%.*s/%s", (int)dir_length, dir, name) : sprintf(candidate, "./%s", name);
    (void)written;
    try_exec(candidate, argv);
    if (errno == EACCES && access(candidate, F_OK) == 0) denied = 1;
    free(candidate);
    if (!*end) break;
    dir = end;
  }
  if (denied) fail(126, name, strerror(EACCES));
  fail(127, name, "not found");
}

int launch_main(int argc, char **argv) {
  int next = 1;
  if (dup2(1, 2) < 0) fail(SETUP_FAILED, "dup2", strerror(errno));
  if (next >= argc) fail(SETUP_FAILED, "missing arguments", NULL);
  long cgroups = parse_number(argv[next++], "cgroup count");
  if (cgroups > argc - next) fail(SETUP_FAILED, "missing arguments", "cgroup.procs files");
  for (long i = 0; i < cgroups; i++) enter_cgroup(argv[next++]);

  if (argc - next < 3) fail(SETUP_FAILED, "missing arguments", "uid, gid and variable count");
  const char *uid_text = argv[next++];
  const char *gid_text = argv[next++];
  if (strcmp(uid_text, "-") != 0 || strcmp(gid_text, "-") != 0) {
    drop_privileges((uid_t)parse_number(uid_text, "uid"), (gid_t)parse_number(gid_text, "gid"));
  }

  long variables = parse_number(argv[next++], "variable count");
  if (variables > argc - next) fail(SETUP_FAILED, "missing arguments", "variables");
  for (long i = 0; i < variables; i++) {
    char *assignment = argv[next++];
    char *equals = strchr(assignment, '=');
    if (!equals || equals == assignment) fail(SETUP_FAILED, "bad variable", assignment);
    *equals = '\0';
    if (setenv(assignment, equals + 1, 1) != 0) fail(SETUP_FAILED, "setenv", strerror(errno));
  }

  if (next >= argc) fail(SETUP_FAILED, "missing arguments", "command");
  exec_command(argv + next);
  return 126;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--serve") == 0) return fork_server();
  return launch_main(argc, argv);
}
