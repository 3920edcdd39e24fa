/* Tasklet stacks: the size is set by STACKLESS_STACK_SIZE at start-up and
 * by PyStackless_SetStackSize (rounded up to pages, at least 16 KiB, at
 * most 1 GiB), and a tasklet may use (almost) all of it. */
#define _POSIX_C_SOURCE 200809L
#include "tasklet_helpers.h"
#include "worker.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static long first_size;

TEST(environment_sets_the_initial_size) {
    CHECK_INT(first_size, 64 * 1024);
}

TEST(set_stack_size_returns_the_previous_size_rounded_to_pages) {
    size_t old = PyStackless_SetStackSize(20000);
    CHECK_INT(old, 64 * 1024);
    CHECK_INT(PyStackless_SetStackSize(1), 20480);
    CHECK_INT(PyStackless_SetStackSize(old), 16 * 1024);
    CHECK_INT(PyStackless_SetStackSize(old), 64 * 1024);
}

TEST(set_stack_size_brings_a_size_past_1_gib_to_1_gib) {
    size_t old = PyStackless_SetStackSize(SIZE_MAX);
    CHECK_INT(PyStackless_SetStackSize((size_t)1 << 40), STACKLESS_MAX_STACK_SIZE);
    CHECK_INT(PyStackless_SetStackSize(old), STACKLESS_MAX_STACK_SIZE);
    CHECK_INT(PyStackless_SetStackSize(old), old);
}

/* Uses about `kib` KiB of its stack, then reports it survived. */
static PyObject *deep(PyObject *self, PyObject *args) {
    (void)self;
    long kib = PyLong_AsLong(PyTuple_GetItem(args, 0));
    volatile char frame[1024];
    frame[0] = (char)kib;
    frame[sizeof frame - 1] = 1;
    if (kib > 1) {
        PyObject *a = Py_BuildValue("(l)", kib - 1);
        PyObject *r = deep(NULL, a);
        Py_DECREF(a);
        return r;
    }
    trace("deep %d", frame[sizeof frame - 1]);
    Py_RETURN_NONE;
}

TEST(a_tasklet_can_use_a_large_stack) {
    size_t old = PyStackless_SetStackSize(2 * 1024 * 1024);
    PyObject *a = Py_BuildValue("(l)", 1000L); /* about 1 MiB of frames */
    PyTaskletObject *t = spawn_with(deep, a);
    Py_DECREF(a);
    CHECK(t != NULL);
    PyObject *r = PyStackless_RunWatchdog(0);
    CHECK_PTR(r, Py_None);
    Py_DECREF(r);
    CHECK_TRACE("deep 1");
    Py_DECREF(t);
    PyStackless_SetStackSize(old);
}

/* Whether the test runs under valgrind, whose address space has no room
 * for a 1 GiB stack (the tasklet would get a MemoryError instead). */
static int under_valgrind(void) {
    const char *preload = getenv("LD_PRELOAD");
    return preload != NULL && strstr(preload, "vgpreload") != NULL;
}

TEST(a_tasklet_runs_on_a_1_gib_stack) {
    if (under_valgrind()) {
        return;
    }
    size_t old = PyStackless_SetStackSize(SIZE_MAX);
    PyObject *a = Py_BuildValue("(l)", 4L);
    PyTaskletObject *t = spawn_with(deep, a);
    Py_DECREF(a);
    PyObject *r = PyStackless_RunWatchdog(0);
    PyStackless_SetStackSize(old);
    CHECK(t != NULL);
    CHECK_PTR(r, Py_None);
    Py_XDECREF(r);
    CHECK_TRACE("deep 1");
    Py_XDECREF(t);
}

/* ---- No memory for a stack ------------------------------------------------ */

static PyChannelObject *mem_ch;

static PyObject *mem_receiver(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyObject *v = PyChannel_Receive(mem_ch);
    trace("got %ld", v ? PyLong_AsLong(v) : -1L);
    Py_XDECREF(v);
    Py_RETURN_NONE;
}

BODY(mem_late) {
    trace("%s runs", arg_str(args, 0));
    Py_RETURN_NONE;
}

/* Traces the outcome of a call that returns -1 or NULL on failure. */
static void trace_call(const char *what, int failed) {
    PyObject *type = PyErr_Occurred();
    trace("%s: %s", what, !failed ? "ok" : type ? ((PyTypeObject *)type)->tp_name : "no error");
    PyErr_Clear();
}

/* The process's address space in bytes (VmSize). */
static rlim_t address_space(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long kib = 0;
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        if (sscanf(line, "VmSize: %lu kB", &kib) == 1) {
            break;
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return (rlim_t)kib * 1024;
}

/* What the child does: stacks of a size no free stack has, under an
 * address-space limit 256 MiB above what the process has, so that no
 * tasklet can start; then the limit goes. */
static void tasklets_without_stacks(void) {
    mem_ch = PyChannel_New(NULL);
    PyTaskletObject *r = spawn(mem_receiver);
    schedule(); /* r blocks receiving */
    size_t old = PyStackless_SetStackSize(((size_t)1 << 29) + 4096);
    struct rlimit limit;
    getrlimit(RLIMIT_AS, &limit);
    rlim_t unlimited = limit.rlim_cur;
    limit.rlim_cur = address_space() + ((rlim_t)256 << 20);
    setrlimit(RLIMIT_AS, &limit);

    PyTaskletObject *a = spawn_def_s(&mem_late_def, "a");
    trace_call("run a", PyTasklet_Run(a) != 0);
    trace("a %s", states(a));
    PyObject *v = PyLong_FromLong(7);
    trace_call("send", PyChannel_Send(mem_ch, v) != 0);
    Py_DECREF(v);
    PyTaskletObject *b = spawn_def_s(&mem_late_def, "b");
    trace_call("schedule", schedule() != 0);
    trace("b %s", states(b));
    trace_call("schedule", schedule() != 0);

    limit.rlim_cur = unlimited;
    setrlimit(RLIMIT_AS, &limit);
    PyStackless_SetStackSize(old);
    trace_call("insert a", PyTasklet_Insert(a) != 0);
    trace_call("insert b", PyTasklet_Insert(b) != 0);
    trace_call("schedule", schedule() != 0);
    Py_DECREF(r);
    Py_DECREF(a);
    Py_DECREF(b);
    Py_DECREF(mem_ch);
}

/* A tasklet that gets no stack (MemoryError) leaves the ring, paused: the
 * call that tried to start it fails before anything else changed (a send
 * delivers its value and succeeds), later switches pass it by, and it runs
 * once memory is back. Address-space limits break the sanitizers' shadow
 * memory: run without them. */
TEST(a_tasklet_without_a_stack_is_paused_and_nothing_is_lost) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return;
#endif
    int fds[2];
    CHECK_INT(pipe(fds), 0);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        trace_reset();
        tasklets_without_stacks();
        ssize_t n = write(fds[1], trace_buf, strlen(trace_buf));
        _exit(n < 0);
    }
    close(fds[1]);
    char got[2048];
    size_t len = 0;
    ssize_t n;
    while ((n = read(fds[0], got + len, sizeof got - 1 - len)) > 0) {
        len += (size_t)n;
    }
    got[len] = '\0';
    close(fds[0]);
    int status = 0;
    CHECK_INT(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_STR(got, "run a: MemoryError a a1 s0 p1 b0 r1 n0 got 7 send: ok "
                   "schedule: MemoryError b a1 s0 p1 b0 r1 n0 schedule: ok "
                   "insert a: ok insert b: ok a runs b runs schedule: ok");
}

/* ---- Free stacks are used again ------------------------------------------ */

/* Uses about `kib` KiB of the tasklet's stack (the arguments of deep), then
 * yields once: HELD of them hold their stacks all at once. */
static PyObject *deep_then_yield(PyObject *self, PyObject *args) {
    PyObject *r = deep(self, args);
    Py_XDECREF(r);
    return r == NULL ? NULL : PyStackless_Schedule(Py_None, 0);
}

enum { HELD = 640 }; /* ten slabs of stacks */

/* Runs HELD tasklets on stacks of `size` bytes, all holding theirs at once,
 * to their end (the stack size is restored). False on a failure. */
static int hold_stacks(size_t size) {
    size_t old = PyStackless_SetStackSize(size);
    PyObject *a = Py_BuildValue("(l)", 4L);
    int ok = 1;
    for (int i = 0; i < HELD; i++) {
        PyTaskletObject *t = spawn_with(deep_then_yield, a);
        ok &= t != NULL;
        Py_XDECREF(t);
    }
    Py_DECREF(a);
    PyObject *r = PyStackless_RunWatchdog(0);
    ok &= r == Py_None;
    Py_XDECREF(r);
    PyStackless_SetStackSize(old);
    trace_reset();
    return ok;
}

/* Less than half of what HELD new stacks of `size` would map: the stacks
 * came from a pool. */
static int reused(rlim_t grown, size_t size) {
    return grown < (rlim_t)HELD * size / 2;
}

TEST(stacks_are_reused) {
    CHECK(hold_stacks(64 * 1024));
    rlim_t before = address_space();
    CHECK(hold_stacks(64 * 1024));
    CHECK(hold_stacks(64 * 1024));
    CHECK(reused(address_space() - before, 64 * 1024));
}

/* What the worker below runs: HELD stacks of 64 KiB, then HELD of 128 KiB. */
BODY(holds_two_sizes) {
    (void)args;
    if (!hold_stacks(64 * 1024) || !hold_stacks(128 * 1024)) {
        PyErr_SetString(PyExc_RuntimeError, "hold_stacks failed");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* A thread that ends leaves its free stacks, of both sizes, to the others. */
TEST(a_thread_that_ends_leaves_its_stacks_to_the_others) {
    worker w;
    start_worker(&w, &holds_two_sizes_def, WORKER_FINALIZES);
    CHECK(join_worker(&w));
    rlim_t before = address_space();
    CHECK(hold_stacks(128 * 1024));
    CHECK(hold_stacks(64 * 1024));
    CHECK(reused(address_space() - before, 64 * 1024));
}

int main(void) {
    setenv("STACKLESS_STACK_SIZE", "65536", 1);
    first_size = (long)PyStackless_SetStackSize(64 * 1024);
    RUN(environment_sets_the_initial_size);
    RUN(set_stack_size_returns_the_previous_size_rounded_to_pages);
    RUN(set_stack_size_brings_a_size_past_1_gib_to_1_gib);
    RUN_INSIDE(a_tasklet_can_use_a_large_stack);
    RUN_INSIDE(a_tasklet_runs_on_a_1_gib_stack);
    RUN_INSIDE(stacks_are_reused);
    RUN_INSIDE(a_thread_that_ends_leaves_its_stacks_to_the_others);
    RUN_INSIDE(a_tasklet_without_a_stack_is_paused_and_nothing_is_lost);
    PyStackless_Finalize();
    return harness_summary("test_stacks");
}
