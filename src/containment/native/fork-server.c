/*
 * appmesh-launch --serve: the daemon's fork server. The daemon starts it once and sends it every
 * start; it forks (a few hundred kilobytes to copy, where forking the daemon would copy the whole
 * Node heap), sets the child up as Node's spawn would, and executes. A start of appmesh-launch
 * itself runs the launcher's steps in the forked child instead (cgroup entry, privilege drop,
 * held-back variables, PATH lookup): one exec per run, the command's.
 *
 * Only the daemon talks to it, through the pipes it was started with: requests on stdin, reports
 * on stdout. When stdin ends (the daemon is gone) it ends; the runs it started go on.
 *
 * Request (native byte order): u32 length of the rest, u32 kind, then
 *   kind 1, start: u32 id, u32 flags (1: run the launcher's steps, argv without the program),
 *     i32 stdout (a descriptor number of the daemon, opened again through /proc/<daemon>/fd; -1: none),
 *     i32 uid, i32 gid (-1: unchanged), u32 argc, u32 envc, u32 folders, u32 writes,
 *     then NUL-terminated: file, cwd, argv[argc], env[envc] ("NAME=VALUE"), the run's cgroup
 *     folders for the forked child to make, and writes[writes] as file then value (its limits);
 *   kind 2, remove: u32 id, u32 folders, then the folders to remove (an ended run's cgroup).
 * Report: 4 x i32: kind, id, a, b
 *   0 ready (once, first)
 *   1 started: a = pid
 *   2 failed: a = errno, b = stage (1: the output could not be opened, 2: fork, 3: the child's
 *     set-up or exec, 4: the cgroup folders; those made are removed again)
 *   3 exit: a = exit code (-1 when signalled), b = signal number
 *   4 removed: a = 0 or the errno of the first folder not removed, b = its index
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "launch-steps.h"

enum { REQUEST_START = 1, REQUEST_REMOVE = 2 };
enum { REPORT_STARTED = 1, REPORT_FAILED = 2, REPORT_EXIT = 3, REPORT_REMOVED = 4 };
enum { STAGE_STDOUT = 1, STAGE_FORK = 2, STAGE_CHILD = 3, STAGE_CGROUP = 4 };
enum { FLAG_LAUNCHER_STEPS = 1 };

/* Larger than any argv + environment the kernel accepts for one exec. */
#define MAX_REQUEST (16u << 20)
#define START_WORDS 9
#define REMOVE_WORDS 2

static pid_t daemon_pid;

/* Running children: pid -> request id, open addressing (pids are never 0). */
static struct slot {
  pid_t pid;
  uint32_t id;
} *slots;
static size_t slot_count, slot_used;

static size_t slot_index(pid_t pid) { return ((size_t)pid * 2654435761u) & (slot_count - 1); }

static void slots_grow(void);

static void remember(pid_t pid, uint32_t id) {
  if ((slot_used + 1) * 2 > slot_count) slots_grow();
  size_t i = slot_index(pid);
  while (slots[i].pid != 0) i = (i + 1) & (slot_count - 1);
  slots[i].pid = pid;
  slots[i].id = id;
  slot_used++;
}

static void slots_grow(void) {
  struct slot *old = slots;
  size_t old_count = slot_count;
  slot_count = old_count ? old_count * 2 : 1024;
  slots = calloc(slot_count, sizeof *slots);
  if (!slots) _exit(70);
  slot_used = 0;
  for (size_t i = 0; i < old_count; i++)
    if (old[i].pid != 0) remember(old[i].pid, old[i].id);
  free(old);
}

/* Removes pid; returns its id, or 0 when it was not ours. */
static int forget(pid_t pid, uint32_t *id) {
  if (slot_count == 0) return 0;
  size_t i = slot_index(pid);
  while (slots[i].pid != 0 && slots[i].pid != pid) i = (i + 1) & (slot_count - 1);
  if (slots[i].pid == 0) return 0;
  *id = slots[i].id;
  slots[i].pid = 0;
  slot_used--;
  /* Entries after the hole move back so that every lookup still finds them. */
  for (size_t j = (i + 1) & (slot_count - 1); slots[j].pid != 0; j = (j + 1) & (slot_count - 1)) {
    struct slot moved = slots[j];
    slots[j].pid = 0;
    slot_used--;
    remember(moved.pid, moved.id);
  }
  return 1;
}

/*
 * Children forked but not yet running their command: each holds the write end of a pipe that
 * closes at its exec (or carries why it failed). Watched by the main loop, so the server goes on
 * with the next request while a child sets itself up.
 */
static struct pending {
  pid_t pid;
  uint32_t id;
  int pipe;
} *pending;
static size_t pending_count, pending_capacity;

static void add_pending(pid_t pid, uint32_t id, int pipe) {
  if (pending_count == pending_capacity) {
    size_t capacity = pending_capacity ? pending_capacity * 2 : 64;
    struct pending *grown = realloc(pending, capacity * sizeof *pending);
    if (!grown) _exit(70);
    pending = grown;
    pending_capacity = capacity;
  }
  pending[pending_count++] = (struct pending){pid, id, pipe};
}

static ssize_t find_pending(pid_t pid) {
  for (size_t i = 0; i < pending_count; i++)
    if (pending[i].pid == pid) return (ssize_t)i;
  return -1;
}

static void write_all(int fd, const void *data, size_t length) {
  const char *bytes = data;
  while (length > 0) {
    ssize_t written = write(fd, bytes, length);
    if (written < 0 && errno == EINTR) continue;
    /* The daemon is gone. */
    if (written <= 0) _exit(0);
    bytes += written;
    length -= (size_t)written;
  }
}

static void report(int32_t kind, uint32_t id, int32_t a, int32_t b) {
  int32_t record[4] = {kind, (int32_t)id, a, b};
  write_all(1, record, sizeof record);
}

/* Reads exactly length bytes; 0 at the end of the stream before any byte. */
static int read_exactly(int fd, void *data, size_t length) {
  char *bytes = data;
  size_t done = 0;
  while (done < length) {
    ssize_t got = read(fd, bytes + done, length - done);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) _exit(71);
    if (got == 0) {
      if (done == 0) return 0;
      _exit(72); /* A request cut short: the daemon is gone mid-write. */
    }
    done += (size_t)got;
  }
  return 1;
}

struct request {
  uint32_t id, flags, argc, envc, folderc, writec;
  int32_t stdout_fd, uid, gid;
  char *file, *cwd;
  char **argv, **env, **folders, **writes;
};

/* The next NUL-terminated string within [*cursor, end); NULL when there is none. */
static char *take_string(char **cursor, char *end) {
  char *start = *cursor;
  char *nul = memchr(start, '\0', (size_t)(end - start));
  if (!nul) return NULL;
  *cursor = nul + 1;
  return start;
}

/* count strings into a new NULL-terminated array; 0 when they are not all there. */
static int take_strings(char **cursor, char *end, uint32_t count, char ***out) {
  /* Every string takes at least its NUL: a count beyond the bytes left is malformed. */
  if (count > (size_t)(end - *cursor)) return 0;
  *out = calloc((size_t)count + 1, sizeof(char *));
  if (!*out) return 0;
  for (uint32_t i = 0; i < count; i++)
    if (!((*out)[i] = take_string(cursor, end))) return 0;
  return 1;
}

/* Parses a start request in place; 0 when it is malformed. */
static int parse_start(char *buffer, uint32_t length, struct request *out) {
  uint32_t words[START_WORDS];
  if (length < sizeof words) return 0;
  memcpy(words, buffer, sizeof words);
  out->id = words[0];
  out->flags = words[1];
  out->stdout_fd = (int32_t)words[2];
  out->uid = (int32_t)words[3];
  out->gid = (int32_t)words[4];
  out->argc = words[5];
  out->envc = words[6];
  out->folderc = words[7];
  out->writec = words[8];
  char *cursor = buffer + sizeof words, *end = buffer + length;
  if (out->argc == 0 || out->writec > length) return 0;
  if (!(out->file = take_string(&cursor, end)) || !(out->cwd = take_string(&cursor, end))) return 0;
  if (!take_strings(&cursor, end, out->argc, &out->argv) || !take_strings(&cursor, end, out->envc, &out->env)) return 0;
  if (!take_strings(&cursor, end, out->folderc, &out->folders) || !take_strings(&cursor, end, out->writec * 2, &out->writes)) return 0;
  return cursor == end;
}

/* Parses a remove request in place; 0 when it is malformed. */
static int parse_remove(char *buffer, uint32_t length, struct request *out) {
  uint32_t words[REMOVE_WORDS];
  if (length < sizeof words) return 0;
  memcpy(words, buffer, sizeof words);
  out->id = words[0];
  out->folderc = words[1];
  char *cursor = buffer + sizeof words, *end = buffer + length;
  return take_strings(&cursor, end, out->folderc, &out->folders) && cursor == end;
}

static void free_request(struct request *request) {
  free(request->argv);
  free(request->env);
  free(request->folders);
  free(request->writes);
}

extern char **environ;

/*
 * Descriptors the daemon inherited from whoever started it, without close-on-exec, must not reach
 * a run: every descriptor from 3 up is closed but `keep`.
 */
static void close_inherited(int keep) {
#ifdef SYS_close_range
  int below = keep == 3 || syscall(SYS_close_range, 3, keep - 1, 0) == 0;
  if (below && syscall(SYS_close_range, keep + 1, ~0U, 0) == 0) return;
#endif
  DIR *fds = opendir("/proc/self/fd");
  if (!fds) return;
  int own = dirfd(fds);
  for (struct dirent *entry; (entry = readdir(fds));) {
    int fd = atoi(entry->d_name);
    if (fd >= 3 && fd != keep && fd != own) close(fd);
  }
  closedir(fds);
}

/* Writes value into file (a cgroup's limit); 0 or errno. */
static int write_value(const char *file, const char *value) {
  int fd = open(file, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  size_t length = strlen(value);
  int error = write(fd, value, length) == (ssize_t)length ? 0 : errno ? errno : EIO;
  close(fd);
  return error;
}

/*
 * The run's cgroup folders, made by the forked child before the launcher's steps enter them,
 * with its limits written before any process can enter. 0, or the errno of the failure, with
 * every folder made here removed again.
 */
static int make_cgroup(const struct request *request) {
  uint32_t made = 0;
  int error = 0;
  for (; made < request->folderc; made++) {
    if (mkdir(request->folders[made], 0755) != 0) {
      error = errno;
      break;
    }
  }
  for (uint32_t i = 0; !error && i < request->writec; i++) error = write_value(request->writes[2 * i], request->writes[2 * i + 1]);
  if (error)
    while (made > 0) rmdir(request->folders[--made]);
  return error;
}

/* Tells the server why the start failed (errno and stage), and ends. */
static void child_failed(int error_pipe, int error, int stage) {
  int32_t message[2] = {error, stage};
  ssize_t ignored = write(error_pipe, message, sizeof message);
  (void)ignored;
  _exit(127);
}

/*
 * In the child: the set-up Node's spawn does (detached, stdin and stderr to /dev/null), the run's
 * cgroup folders with its limits, then the launcher's steps or the exec.
 */
static void child(const struct request *request, int output, int error_pipe) {
  sigset_t none;
  sigemptyset(&none);
  for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
  sigprocmask(SIG_SETMASK, &none, NULL);
  if (setsid() < 0) child_failed(error_pipe, errno, STAGE_CHILD);
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0) child_failed(error_pipe, errno, STAGE_CHILD);
  if (dup2(null, 0) < 0 || dup2(output >= 0 ? output : null, 1) < 0 || dup2(null, 2) < 0) child_failed(error_pipe, errno, STAGE_CHILD);
  close_inherited(error_pipe);
  int cgroup_error = make_cgroup(request);
  if (cgroup_error) child_failed(error_pipe, cgroup_error, STAGE_CGROUP);
  if (chdir(request->cwd) < 0) child_failed(error_pipe, errno, STAGE_CHILD);
  if (request->gid >= 0 && (setgroups(0, NULL) < 0 || setgid((gid_t)request->gid) < 0)) child_failed(error_pipe, errno, STAGE_CHILD);
  if (request->uid >= 0 && setuid((uid_t)request->uid) < 0) child_failed(error_pipe, errno, STAGE_CHILD);
  environ = request->env;
  if (request->flags & FLAG_LAUNCHER_STEPS) {
    /* From here on, failures are the launcher's exit codes (125-127), as when it is executed. */
    launch_main((int)request->argc, request->argv);
    _exit(126);
  }
  execvp(request->file, request->argv);
  child_failed(error_pipe, errno, STAGE_CHILD);
}

/* Removes an ended run's cgroup folders: the first failure stops it (the daemon tries again). */
static void remove_cgroup(const struct request *request) {
  for (uint32_t i = 0; i < request->folderc; i++) {
    if (rmdir(request->folders[i]) != 0 && errno != ENOENT) {
      report(REPORT_REMOVED, request->id, errno, (int32_t)i);
      return;
    }
  }
  report(REPORT_REMOVED, request->id, 0, 0);
}

static void start(const struct request *request) {
  int output = -1;
  if (request->stdout_fd >= 0) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)daemon_pid, (int)request->stdout_fd);
    /* The daemon holds the read end open, so opening the write end never blocks. */
    output = open(path, O_WRONLY | O_CLOEXEC);
    if (output < 0) {
      report(REPORT_FAILED, request->id, errno, STAGE_STDOUT);
      return;
    }
  }
  int error_pipe[2];
  if (pipe2(error_pipe, O_CLOEXEC) < 0) {
    report(REPORT_FAILED, request->id, errno, STAGE_FORK);
    if (output >= 0) close(output);
    return;
  }
  pid_t pid = fork();
  if (pid == 0) child(request, output, error_pipe[1]);
  int fork_error = errno;
  close(error_pipe[1]);
  if (output >= 0) close(output);
  if (pid < 0) {
    close(error_pipe[0]);
    report(REPORT_FAILED, request->id, fork_error, STAGE_FORK);
    return;
  }
  add_pending(pid, request->id, error_pipe[0]);
}

/*
 * A pending child's pipe is readable (or the child ended): it closed at the exec (started), or
 * says why the start failed. The entry leaves the pending list; 1 when it started.
 */
static int settle_pending(size_t index) {
  struct pending child = pending[index];
  pending[index] = pending[--pending_count];
  int32_t message[2];
  ssize_t got;
  do got = read(child.pipe, message, sizeof message);
  while (got < 0 && errno == EINTR);
  close(child.pipe);
  if (got == (ssize_t)sizeof message) {
    report(REPORT_FAILED, child.id, message[0], message[1]);
    return 0;
  }
  remember(child.pid, child.id);
  report(REPORT_STARTED, child.id, child.pid, 0);
  return 1;
}

/*
 * A request larger than any exec accepts is read past and refused (E2BIG) by its id: it must not
 * end the server, and with it every run it started.
 */
static void refuse_oversized(uint32_t length) {
  uint32_t head[2];
  if (!read_exactly(0, head, sizeof head)) _exit(0);
  char sink[65536];
  for (uint32_t left = length - (uint32_t)sizeof head; left > 0;) {
    uint32_t chunk = left < sizeof sink ? left : (uint32_t)sizeof sink;
    read_exactly(0, sink, chunk);
    left -= chunk;
  }
  report(REPORT_FAILED, head[1], E2BIG, STAGE_CHILD);
}

static void report_exit(uint32_t id, int status) {
  if (WIFSIGNALED(status)) report(REPORT_EXIT, id, -1, WTERMSIG(status));
  else report(REPORT_EXIT, id, WEXITSTATUS(status), 0);
}

static void reap(void) {
  for (;;) {
    int status;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    uint32_t id;
    /* Ended before its pipe was read: its start is reported first (a failed one has no exit). */
    ssize_t index = find_pending(pid);
    if (index >= 0 && !settle_pending((size_t)index)) continue;
    if (forget(pid, &id)) report_exit(id, status);
  }
}

int fork_server(void) {
  daemon_pid = getppid();
  signal(SIGPIPE, SIG_IGN);
  sigset_t child_signals;
  sigemptyset(&child_signals);
  sigaddset(&child_signals, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, &child_signals, NULL) < 0) return 73;
  int exits = signalfd(-1, &child_signals, SFD_CLOEXEC | SFD_NONBLOCK);
  if (exits < 0) return 74;
  /* The pipes to the daemon must not reach the runs. */
  if (fcntl(0, F_SETFD, FD_CLOEXEC) < 0 || fcntl(1, F_SETFD, FD_CLOEXEC) < 0) return 75;
  slots_grow();
  uint32_t ready[4] = {0, 0, 0, 0};
  write_all(1, ready, sizeof ready);
  struct pollfd *watched = NULL;
  size_t watched_capacity = 0;
  for (;;) {
    size_t count = 2 + pending_count;
    if (count > watched_capacity) {
      watched_capacity = count * 2;
      watched = realloc(watched, watched_capacity * sizeof *watched);
      if (!watched) return 70;
    }
    watched[0] = (struct pollfd){.fd = 0, .events = POLLIN};
    watched[1] = (struct pollfd){.fd = exits, .events = POLLIN};
    for (size_t i = 0; i < pending_count; i++) watched[2 + i] = (struct pollfd){.fd = pending[i].pipe, .events = POLLIN};
    if (poll(watched, (nfds_t)count, -1) < 0) {
      if (errno == EINTR) continue;
      return 76;
    }
    /* Pipes first, from the last: settling one moves the last entry into its place. */
    for (size_t i = count; i-- > 2;) {
      if (!watched[i].revents) continue;
      ssize_t found = -1;
      for (size_t j = 0; j < pending_count; j++)
        if (pending[j].pipe == watched[i].fd) found = (ssize_t)j;
      if (found < 0) continue;
      pid_t pid = pending[found].pid;
      /* A failed child ends right after saying why: reaped here, it has no exit to report. */
      if (!settle_pending((size_t)found))
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) continue;
    }
    if (watched[1].revents) {
      struct signalfd_siginfo info;
      while (read(exits, &info, sizeof info) > 0) continue;
      reap();
    }
    if (watched[0].revents) {
      uint32_t length, kind;
      if (!read_exactly(0, &length, sizeof length)) return 0;
      if (length < 2 * sizeof(uint32_t)) return 77;
      if (length > MAX_REQUEST) {
        refuse_oversized(length);
        continue;
      }
      char *buffer = malloc(length);
      if (!buffer) return 78;
      read_exactly(0, buffer, length);
      memcpy(&kind, buffer, sizeof kind);
      char *body = buffer + sizeof kind;
      uint32_t body_length = length - (uint32_t)sizeof kind;
      struct request request = {0};
      if (kind == REQUEST_START && parse_start(body, body_length, &request)) start(&request);
      else if (kind == REQUEST_REMOVE && parse_remove(body, body_length, &request)) remove_cgroup(&request);
      else report(REPORT_FAILED, request.id, EINVAL, STAGE_CHILD);
      free_request(&request);
      free(buffer);
    }
  }
}
