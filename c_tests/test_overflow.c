/* Stack overflows are named (EXTENSIONS.md §8): a tasklet that overflows
 * its stack, with any stack size and at any number of tasklets, or main
 * inside PyStackless_Call_Main, ends the process with one line on stderr
 * that names it and the stack size, and an abort. Every other fault goes to
 * the handler installed before, or to the default action.
 *
 * Each case runs in a child: this program runs itself again with the name
 * of the case (a fresh process: the guard of its stacks is chosen once),
 * under each way stacks are guarded: guard regions (the default on Linux
 * 6.13 and later), mprotect guard pages (STACKLESS_GUARD=mprotect) and the
 * red zone of the last resort (STACKLESS_GUARD=redzone), which can only
 * catch an overflow when the tasklet switches out or ends. The million
 * tasklets cases run only when OVERFLOW_MILLION=1 (`make stress`). */
#define _POSIX_C_SOURCE 200809L
#include "tasklet_helpers.h"

#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *self_path;

/* ---- What the children do ---------------------------------------------- */

/* Recurses until the stack overflows (no stack is this deep); the frames
 * are really used. */
static volatile long depth_limit = 1L << 40;

static long recurse(long depth) {
    volatile char frame[512];
    frame[0] = (char)depth;
    frame[sizeof frame - 1] = (char)depth;
    if (depth >= depth_limit) {
        return 0;
    }
    return recurse(depth + 1) + frame[0] + frame[sizeof frame - 1];
}

static PyObject *runaway(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    recurse(0);
    Py_RETURN_NONE;
}

/* Writes just below the end of its stack (inside the guard region), then
 * returns or switches out: args (switch). */
static PyObject *writes_below(PyObject *self, PyObject *args) {
    (void)self;
    size_t n = PyStackless_SetStackSize(0);
    PyStackless_SetStackSize(n);
    n += 1024;
    volatile char below[n];
    below[0] = 1;
    below[n - 1] = below[0];
    if (PyLong_AsLong(PyTuple_GetItem(args, 0))) {
        PyObject *r = PyStackless_Schedule(Py_None, 0);
        Py_XDECREF(r);
    }
    Py_RETURN_NONE;
}

static PyObject *waits(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    return PyChannel_Receive((PyChannelObject *)PyTuple_GetItem(args, 0));
}

/* `count` tasklets block on a channel, then one more overflows: runs
 * away, or (`just_below`) writes just below its stack and returns. */
static int many_then_overflow(long count, int just_below) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyObject *f = cfunc(waits), *a = Py_BuildValue("(O)", (PyObject *)ch);
    for (long i = 0; i < count; i++) {
        PyTaskletObject *t = spawn_func(f, a);
        Py_DECREF(t);
    }
    PyObject *r = PyStackless_RunWatchdog(0);
    Py_XDECREF(r);
    fprintf(stderr, "blocked %d\n", -PyChannel_GetBalance(ch));
    PyObject *no = Py_BuildValue("(i)", 0);
    PyTaskletObject *t = just_below ? spawn_with(writes_below, no) : spawn(runaway);
    r = PyStackless_RunWatchdog(0);
    Py_XDECREF(r);
    (void)t;
    return 0;
}

static PyObject *main_runaway(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    recurse(0);
    Py_RETURN_NONE;
}

/* A fault that is no overflow: a write to a page that forbids it. */
static _Alignas(65536) char forbidden[65536];

static PyObject *bad_write(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    mprotect(forbidden, sizeof forbidden, PROT_NONE);
    ((volatile char *)forbidden)[0] = 1;
    Py_RETURN_NONE;
}

static void exits_43(int sig) {
    (void)sig;
    _exit(43);
}

static void install(void (*handler)(int)) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
}

static int child(const char *which) {
    if (strcmp(which, "handler-before") == 0) {
        install(exits_43);
    }
    if (strcmp(which, "small") == 0) {
        PyStackless_SetStackSize(16 * 1024);
    }
    if (strcmp(which, "main") == 0) {
        PyObject *f = cfunc(main_runaway);
        PyObject *r = PyStackless_Call_Main(f, NULL, NULL);
        Py_XDECREF(r);
        return 0;
    }
    if (strcmp(which, "many") == 0 || strcmp(which, "many-return") == 0) {
        return many_then_overflow(20000, strcmp(which, "many-return") == 0);
    }
    if (strcmp(which, "million") == 0 || strcmp(which, "million-return") == 0) {
        return many_then_overflow(999999, strcmp(which, "million-return") == 0);
    }
    PyObject *f;
    PyObject *a = NULL;
    if (strcmp(which, "return") == 0 || strcmp(which, "switch") == 0) {
        f = cfunc(writes_below);
        a = Py_BuildValue("(i)", strcmp(which, "switch") == 0);
    } else if (strcmp(which, "fault") == 0 || strcmp(which, "handler-before") == 0 ||
               strcmp(which, "handler-after") == 0) {
        f = cfunc(bad_write);
    } else {
        f = cfunc(runaway);
    }
    PyTaskletObject *t = spawn_func(f, a);
    if (strcmp(which, "handler-after") == 0) {
        install(exits_43); /* after the runtime installed its own */
    }
    PyObject *r = PyStackless_RunWatchdog(0);
    Py_XDECREF(r);
    Py_XDECREF(t);
    Py_DECREF(f);
    Py_XDECREF(a);
    return 0;
}

/* ---- The parent: runs a case, collects its stderr and how it ended ----- */

static char err[8192];

/* Runs the case under the guard `guard` (NULL: the default); returns the
 * wait status. */
static int run_child(const char *which, const char *guard) {
    int fds[2];
    if (pipe(fds) != 0) {
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        if (guard != NULL) {
            setenv("STACKLESS_GUARD", guard, 1);
        } else {
            unsetenv("STACKLESS_GUARD");
        }
        execl(self_path, self_path, "child", which, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t n;
    char rest[4096];
    /* All of it is read (the child must never block on a full pipe); the
     * first 8 KiB are kept. */
    while ((n = read(fds[0], len < sizeof err - 1 ? err + len : rest,
                     len < sizeof err - 1 ? sizeof err - 1 - len : sizeof rest)) > 0) {
        if (len < sizeof err - 1) {
            len += (size_t)n;
        }
    }
    err[len] = '\0';
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
}

#define CHECK_STDERR_HAS(text)                                                 \
    do {                                                                       \
        if (strstr(err, (text)) == NULL) {                                     \
            char m_[1200];                                                     \
            snprintf(m_, sizeof m_, "stderr \"%.600s\" lacks \"%s\"", err, (text)); \
            harness_fail(__FILE__, __LINE__, m_);                              \
            return;                                                            \
        }                                                                      \
    } while (0)

static const char *const RAISE =
    "raise the stack size with PyStackless_SetStackSize() or the STACKLESS_STACK_SIZE environment variable\n";

/* The case ends with an abort and the one line about a tasklet of
 * `size` bytes. */
static void expect_tasklet_overflow(const char *which, const char *guard, const char *size) {
    int status = run_child(which, guard);
    CHECK(WIFSIGNALED(status));
    CHECK_INT(WTERMSIG(status), SIGABRT);
    CHECK_STDERR_HAS("Fatal error in libstackless: tasklet 0x");
    char tail[200];
    snprintf(tail, sizeof tail, " overflowed its stack of %s bytes; ", size);
    CHECK_STDERR_HAS(tail);
    CHECK_STDERR_HAS(RAISE);
}

static const char *const GUARDS[] = {NULL, "mprotect"};

TEST(overflow_of_a_tasklet_is_named) {
    for (int g = 0; g < 2; g++) {
        expect_tasklet_overflow("runaway", GUARDS[g], "262144");
    }
}

TEST(overflow_of_a_16_kib_stack_is_named) {
    for (int g = 0; g < 2; g++) {
        expect_tasklet_overflow("small", GUARDS[g], "16384");
    }
}

/* With guard regions every stack has a guard. Without them the 20,001st
 * is past the budget of guard pages (a quarter of vm.max_map_count): its
 * red zone catches the overflow when the tasklet returns (a runaway
 * recursion there is beyond what any check can see). */
TEST(overflow_of_the_20001st_tasklet_is_named) {
    expect_tasklet_overflow("many", NULL, "262144");
    CHECK_STDERR_HAS("blocked 20000\n");
    expect_tasklet_overflow("many-return", "mprotect", "262144");
    CHECK_STDERR_HAS("blocked 20000\n");
}

TEST(overflow_of_the_millionth_tasklet_is_named) {
    if (getenv("OVERFLOW_MILLION") == NULL) {
        return;
    }
    expect_tasklet_overflow("million", NULL, "262144");
    CHECK_STDERR_HAS("blocked 999999\n");
    expect_tasklet_overflow("million-return", "mprotect", "262144");
    CHECK_STDERR_HAS("blocked 999999\n");
}

/* A write below the stack, then the tasklet returns, or switches out:
 * caught at once by a guard, at the end or the switch by a red zone. */
TEST(overflow_then_return_or_switch_is_named) {
    static const char *const all[] = {NULL, "mprotect", "redzone"};
    for (int g = 0; g < 3; g++) {
        expect_tasklet_overflow("return", all[g], "262144");
        expect_tasklet_overflow("switch", all[g], "262144");
    }
}

TEST(overflow_of_main_inside_call_main_is_named) {
    int status = run_child("main", NULL);
    CHECK(WIFSIGNALED(status));
    CHECK_INT(WTERMSIG(status), SIGABRT);
    CHECK_STDERR_HAS("Fatal error in libstackless: the main tasklet of thread ");
    CHECK_STDERR_HAS(" overflowed its stack of ");
    CHECK_STDERR_HAS(RAISE);
}

/* Not an overflow: the fault goes to the handler installed before (under
 * a sanitizer, the sanitizer's, which reports it), else to the default
 * action; the runtime says nothing. */
TEST(another_fault_is_not_disguised) {
    int status = run_child("fault", NULL);
    CHECK(strstr(err, "libstackless") == NULL);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    CHECK(!WIFEXITED(status) || WEXITSTATUS(status) != 0);
#else
    CHECK(WIFSIGNALED(status));
    CHECK_INT(WTERMSIG(status), SIGSEGV);
#endif
}

/* A handler installed before the runtime's gets every fault that is not
 * an overflow; one installed after it replaces the runtime's. */
TEST(the_program_handlers_keep_working) {
    int status = run_child("handler-before", NULL);
    CHECK(WIFEXITED(status));
    CHECK_INT(WEXITSTATUS(status), 43);
    status = run_child("handler-after", NULL);
    CHECK(WIFEXITED(status));
    CHECK_INT(WEXITSTATUS(status), 43);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "child") == 0) {
        return child(argv[2]);
    }
    alarm(600);
    self_path = "/proc/self/exe";
    char path[4096];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n > 0) {
        path[n] = '\0';
        self_path = path;
    }
    RUN(overflow_of_a_tasklet_is_named);
    RUN(overflow_of_a_16_kib_stack_is_named);
    RUN(overflow_of_the_20001st_tasklet_is_named);
    RUN(overflow_of_the_millionth_tasklet_is_named);
    RUN(overflow_then_return_or_switch_is_named);
    RUN(overflow_of_main_inside_call_main_is_named);
    RUN(another_fault_is_not_disguised);
    RUN(the_program_handlers_keep_working);
    return harness_summary("test_overflow");
}
