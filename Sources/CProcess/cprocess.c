#define _GNU_SOURCE
#include "cprocess.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <linux/close_range.h>
#include <linux/openat2.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <grp.h>
#include <unistd.h>

// The core limit this process started with: the app `exec` starts gets it back.
static struct rlimit original_core = {RLIM_INFINITY, RLIM_INFINITY};
static int original_core_saved = 0;

int cprocess_disable_core_dumps(void) {
    int result = 0;
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) result = -1;
    if (!original_core_saved && getrlimit(RLIMIT_CORE, &original_core) == 0) original_core_saved = 1;
    // The soft limit only: lowering the hard one could not be undone for the app without privilege.
    struct rlimit none = {0, original_core_saved ? original_core.rlim_max : 0};
    if (setrlimit(RLIMIT_CORE, &none) != 0) result = -1;
    return result;
}

int cprocess_restore_core_limit(int pid) {
    if (!original_core_saved) return 0;
    return prlimit((pid_t)pid, RLIMIT_CORE, &original_core, NULL);
}

int cprocess_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int cprocess_spawn_close_from(posix_spawn_file_actions_t *actions, int lowest) {
    return posix_spawn_file_actions_addclosefrom_np(actions, lowest);
}

int cprocess_open_beneath(int dirfd, const char *path, int flags, unsigned int mode) {
#ifdef SYS_openat2
    struct open_how how = {0};
    how.flags = (unsigned long long)flags;
    how.mode = (flags & O_CREAT) ? mode : 0;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
#else
    errno = ENOSYS;
    return -1;
#endif
}

int cprocess_syncfs(int fd) { return syncfs(fd); }

int cprocess_become_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }

int cprocess_spawn_clean_attributes(posix_spawnattr_t *attributes) {
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    if (posix_spawnattr_setflags(attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK) != 0)
        return -1;
    if (posix_spawnattr_setpgroup(attributes, 0) != 0) return -1;
    if (posix_spawnattr_setsigdefault(attributes, &all) != 0) return -1;
    return posix_spawnattr_setsigmask(attributes, &none);
}

int cprocess_exited_child(void) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0) return -1;
    return info.si_pid;
}

// Every signal back to its default action (async-signal-safe: a forked child calls it).
static void reset_signals(void) {
    struct sigaction standard;
    memset(&standard, 0, sizeof standard);
    standard.sa_handler = SIG_DFL;
    for (int number = 1; number < NSIG; number++) sigaction(number, &standard, NULL);
}

int cprocess_exec_path(const char *file, char *const argv[], char *const envp[], int change_ids, unsigned int uid,
                       unsigned int gid) {
    if (change_ids) {
        gid_t group = (gid_t)gid;
        if (setgroups(1, &group) != 0 || setgid((gid_t)gid) != 0 || setuid((uid_t)uid) != 0) return -1;
    }
    // The app starts as a spawned one would: no descriptor of ours (closed by the exec only, so a
    // failed exec keeps them), every signal at its default action (an ignored one would stay
    // ignored across exec: SIGHUP and SIGPIPE are) and none blocked.
#if defined(SYS_close_range) && defined(CLOSE_RANGE_CLOEXEC)
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
#endif
    {
        long highest = sysconf(_SC_OPEN_MAX);
        if (highest < 0 || highest > 65536) highest = 65536;
        for (int fd = 3; fd < highest; fd++) {
            int flags = fcntl(fd, F_GETFD);
            if (flags >= 0) fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
        }
    }
    reset_signals();
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (original_core_saved) setrlimit(RLIMIT_CORE, &original_core);
    return execvpe(file, argv, envp);
}

int cprocess_spawn_as(int *pid, const char *file, char *const argv[], char *const envp[], unsigned int uid,
                      unsigned int gid) {
    // The child reports the errno of a failed step through this pipe; exec closes it on success.
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) return errno;
    // Blocked across fork, so no handler of ours runs in the child before it resets them all.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    pid_t child = fork();
    if (child == 0) {
        // Only async-signal-safe calls from here to exec.
        int error = 0;
        reset_signals();
        sigset_t none;
        sigemptyset(&none);
        if (setpgid(0, 0) != 0) error = errno;
        gid_t group = (gid_t)gid;
        if (!error && setgroups(1, &group) != 0) error = errno;
        if (!error && setgid((gid_t)gid) != 0) error = errno;
        if (!error && setuid((uid_t)uid) != 0) error = errno;
        if (!error) {
            int keep = report[1];
            for (int fd = 3; fd < keep; fd++) close(fd);
#ifdef SYS_close_range
            if (syscall(SYS_close_range, (unsigned int)keep + 1, ~0U, 0) != 0)
#endif
                for (int fd = keep + 1; fd < 65536; fd++) close(fd);
            sigprocmask(SIG_SETMASK, &none, NULL);
            if (original_core_saved) setrlimit(RLIMIT_CORE, &original_core);
            execvpe(file, argv, envp);
            error = errno;
        }
        while (write(report[1], &error, sizeof error) < 0 && errno == EINTR) {}
        _exit(127);
    }
    int forkError = child < 0 ? errno : 0;
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    close(report[1]);
    if (child < 0) {
        close(report[0]);
        return forkError;
    }
    int error = 0;
    ssize_t count;
    do { count = read(report[0], &error, sizeof error); } while (count < 0 && errno == EINTR);
    close(report[0]);
    if (count == (ssize_t)sizeof error) {
        int status;
        while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
        return error ? error : ECHILD;
    }
    *pid = child;
    return 0;
}

// A byte written on each SIGCHLD, forwarded stop and cprocess_wake_children_watcher: the
// supervisor sleeps in poll(2) on the other end instead of polling waitpid.
static int child_wakeup[2] = {-1, -1};

static volatile sig_atomic_t forward_group = 0;
static volatile sig_atomic_t forwarded_stops = 0;

static volatile sig_atomic_t held[NSIG];

static void forward(int number) {
    int saved = errno;
    if (forward_group > 0)
        kill(-forward_group, number);
    else
        held[number] = 1;
    if (number == SIGTERM || number == SIGINT) {
        forwarded_stops = forwarded_stops + 1;
        cprocess_wake_children_watcher();  // the supervisor's stop timeout starts now
    }
    errno = saved;
}

int cprocess_forward_signals(int group) {
    forward_group = group;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = forward;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    for (int number = 1; number < NSIG; number++) {
        switch (number) {
        case SIGCHLD: case SIGKILL: case SIGSTOP: case SIGPIPE:
        case SIGSEGV: case SIGBUS: case SIGILL: case SIGFPE: case SIGTRAP: case SIGSYS:
            continue;
        }
        // glibc keeps two real-time signals for itself: sigaction refuses them (EINVAL), skipped.
        sigaction(number, &action, NULL);
    }
    // The calling thread takes them: a thread of Swift's pool (and one it started) blocks most.
    sigset_t none;
    sigemptyset(&none);
    return pthread_sigmask(SIG_SETMASK, &none, NULL);
}

int cprocess_forward_signals_to(int group) {
    forward_group = group > 0 ? group : 0;
    if (group <= 0) return 0;
    for (int number = 1; number < NSIG; number++) {
        if (held[number]) {
            held[number] = 0;
            kill(-group, number);
        }
    }
    return 0;
}

int cprocess_forwarded_stops(void) { return forwarded_stops; }

static void child_changed(int number) {
    (void)number;
    int saved = errno;
    char byte = 0;
    if (write(child_wakeup[1], &byte, 1) < 0) {}  // full: a wakeup is pending already
    errno = saved;
}

int cprocess_watch_children(void) {
    if (child_wakeup[0] >= 0) return child_wakeup[0];
    if (pipe2(child_wakeup, O_CLOEXEC | O_NONBLOCK) != 0) return -1;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = child_changed;
    action.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGCHLD, &action, NULL) != 0) return -1;
    return child_wakeup[0];
}

int cprocess_wake_children_watcher(void) {
    char byte = 0;
    // Async-signal-safe: forward() calls it. A full pipe means a wakeup is pending already.
    return child_wakeup[1] < 0 ? -1 : (int)write(child_wakeup[1], &byte, 1);
}
