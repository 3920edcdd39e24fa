/* Request/reply between two threads, as a demanding user writes it: the
 * main thread sends requests on channel A, a thread T (started, and inside
 * the runtime, before the first request) receives them and answers on
 * channel B. Many round trips, in several rounds, in every combination of
 * who serves on T (T's main tasklet; a tasklet while T's main sits in a
 * THREADBLOCK run; a tasklet while T's main spins on untimed runs) and who
 * asks on the main thread (its main tasklet; a tasklet while main sits in
 * a THREADBLOCK run; plain C code outside, every call auto-wrapped).
 *
 * T finalizes its scheduler every other round (else its thread-exit
 * destructor does), and so does the main thread after every other round.
 *
 * Both threads are always alive while a request is outstanding, so a
 * RuntimeError("Deadlock: the last runnable tasklet cannot be blocked.")
 * is always false here: any error fails the round. The program never
 * hangs: a round whose server does not end is killed, and the hang guard
 * fails the program when no round trip completes for REPLY_STALL_S
 * seconds (with HANG_GDB=1 it prints every thread's backtrace).
 *
 * Environment: REPLY_TRIPS (round trips per round; 10000), REPLY_ROUNDS
 * (rounds per combination; 2), REPLY_VARIANT (run only combination N,
 * 1-8), REPLY_STALL_S (10), REPLY_LIMIT_S (300), REPLY_START_OUTSIDE=1
 * (main starts T before it enters the runtime itself: T may then block
 * while it is the only thread in the runtime, and SPEC §6.4 gives it the
 * deadlock). */
#define _POSIX_C_SOURCE 200809L
#include "tasklet_helpers.h"
#include "hang_guard.h"

#include <pthread.h>
#include <sched.h>

enum { SERVER_MAIN, SERVER_THREADBLOCK, SERVER_SPIN };
enum { CLIENT_MAIN, CLIENT_THREADBLOCK, CLIENT_OUTSIDE };

static const char *const server_names[] = {"T's main", "a tasklet in a THREADBLOCK run",
                                           "a tasklet, untimed runs"};
static const char *const client_names[] = {"main's main", "a tasklet in a THREADBLOCK run",
                                           "main outside (every call auto-wraps)"};

static long trips;
static PyChannelObject *requests, *replies;
static PyMethodDef server_def, server_main_def, client_def, client_main_def;
static PyObject *server_f, *server_main_f, *client_f, *client_main_f;

/* The server thread T of the current round. */
static struct {
    int kind;
    int finalize;
    int entered;              /* atomic: T is inside the runtime */
    int done;                 /* atomic: T left the runtime */
    PyTaskletObject *serving; /* atomic: a reference for the main thread */
    long served;              /* atomic */
    char error[512];          /* written by T before `done` */
} srv;

/* The client's view of the current round. */
static struct {
    int kind;
    long trip;                /* atomic: the round trip under way */
    char error[512];
} cli;

static int round_no;

/* The pending exception as "Type: text", cleared (thread-safe). */
static void take_error_text(char *buf, size_t size) {
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (type == NULL) {
        snprintf(buf, size, "no exception set");
        return;
    }
    PyErr_NormalizeException(&type, &value, &tb);
    PyObject *s = value ? PyObject_Str(value) : NULL;
    const char *text = s ? PyUnicode_AsUTF8(s) : NULL;
    if (s == NULL) {
        PyErr_Clear();
    }
    snprintf(buf, size, "%s: %s", ((PyTypeObject *)type)->tp_name, text ? text : "?");
    Py_XDECREF(s);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}

/* ---- T: the server ------------------------------------------------------ */

/* Receives n on A and answers n + 1 on B until it receives -1. */
static PyObject *serve(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    for (;;) {
        PyObject *v = PyChannel_Receive(requests);
        if (v == NULL) {
            char text[256];
            take_error_text(text, sizeof text);
            snprintf(srv.error, sizeof srv.error, "server's receive after %ld replies failed: %s",
                     __atomic_load_n(&srv.served, __ATOMIC_RELAXED), text);
            PyErr_SetString(PyExc_RuntimeError, srv.error);
            return NULL;
        }
        long n = PyLong_AsLong(v);
        Py_DECREF(v);
        if (n < 0) {
            Py_RETURN_NONE;
        }
        PyObject *answer = PyLong_FromLong(n + 1);
        int rc = PyChannel_Send(replies, answer);
        Py_DECREF(answer);
        if (rc < 0) {
            char text[256];
            take_error_text(text, sizeof text);
            snprintf(srv.error, sizeof srv.error, "server's send of reply %ld failed: %s", n + 1, text);
            PyErr_SetString(PyExc_RuntimeError, srv.error);
            return NULL;
        }
        __atomic_add_fetch(&srv.served, 1, __ATOMIC_RELAXED);
    }
}

/* T's main: serves itself, or runs a serving tasklet. */
static PyObject *server_main(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    if (srv.kind == SERVER_MAIN) {
        __atomic_store_n(&srv.serving, (PyTaskletObject *)PyStackless_GetMain(), __ATOMIC_RELEASE);
        __atomic_store_n(&srv.entered, 1, __ATOMIC_RELEASE);
        return serve(NULL, NULL);
    }
    PyTaskletObject *t = spawn_func(server_f, NULL);
    if (t == NULL) {
        return NULL;
    }
    Py_INCREF(t);
    __atomic_store_n(&srv.serving, t, __ATOMIC_RELEASE);
    __atomic_store_n(&srv.entered, 1, __ATOMIC_RELEASE);
    PyObject *result = Py_None;
    while (PyTasklet_Alive(t)) {
        PyObject *r;
        if (srv.kind == SERVER_THREADBLOCK) {
            r = PyStackless_RunWatchdogEx(1000000000L, Py_WATCHDOG_THREADBLOCK);
        } else {
            r = PyStackless_RunWatchdog(0);
            sched_yield();
        }
        if (r == NULL) {
            result = NULL; /* the server's error came to main */
            break;
        }
        Py_DECREF(r);
    }
    Py_DECREF(t);
    if (result == NULL) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static void *server_thread(void *arg) {
    (void)arg;
    PyObject *r = PyStackless_Call_Main(server_main_f, NULL, NULL);
    if (r == NULL) {
        char text[400];
        take_error_text(text, sizeof text);
        if (srv.error[0] == '\0') {
            snprintf(srv.error, sizeof srv.error, "T's Call_Main failed: %s", text);
        }
    }
    Py_XDECREF(r);
    if (srv.finalize) {
        PyStackless_Finalize();
    }
    __atomic_store_n(&srv.done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* ---- The main thread: the client ---------------------------------------- */

static PyObject *ask(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    for (long i = 0; i < trips; i++) {
        __atomic_store_n(&cli.trip, i, __ATOMIC_RELAXED);
        PyObject *q = PyLong_FromLong(i);
        int rc = PyChannel_Send(requests, q);
        Py_DECREF(q);
        if (rc < 0) {
            char text[256];
            take_error_text(text, sizeof text);
            snprintf(cli.error, sizeof cli.error, "send of request %ld failed: %s (T served %ld)", i, text,
                     __atomic_load_n(&srv.served, __ATOMIC_RELAXED));
            PyErr_SetString(PyExc_RuntimeError, cli.error);
            return NULL;
        }
        PyObject *a = PyChannel_Receive(replies);
        if (a == NULL) {
            char text[256];
            take_error_text(text, sizeof text);
            snprintf(cli.error, sizeof cli.error, "receive of reply %ld failed: %s (T served %ld)", i, text,
                     __atomic_load_n(&srv.served, __ATOMIC_RELAXED));
            PyErr_SetString(PyExc_RuntimeError, cli.error);
            return NULL;
        }
        long n = PyLong_AsLong(a);
        Py_DECREF(a);
        if (n != i + 1) {
            snprintf(cli.error, sizeof cli.error, "reply to request %ld is %ld", i, n);
            PyErr_SetString(PyExc_RuntimeError, cli.error);
            return NULL;
        }
        hang_guard_progress();
    }
    PyObject *stop = PyLong_FromLong(-1);
    int rc = PyChannel_Send(requests, stop);
    Py_DECREF(stop);
    if (rc < 0) {
        char text[256];
        take_error_text(text, sizeof text);
        snprintf(cli.error, sizeof cli.error, "send of the stop request failed: %s", text);
        PyErr_SetString(PyExc_RuntimeError, cli.error);
        return NULL;
    }
    Py_RETURN_NONE;
}

static pthread_t server;
static int server_started, start_outside;

/* Starts T and waits until it is inside the runtime. */
static int start_server(void) {
    if (pthread_create(&server, NULL, server_thread, NULL) != 0) {
        PyErr_SetString(PyExc_RuntimeError, "pthread_create failed");
        return -1;
    }
    server_started = 1;
    double end = hang_guard_now() + 10;
    while (!__atomic_load_n(&srv.entered, __ATOMIC_ACQUIRE) && !__atomic_load_n(&srv.done, __ATOMIC_ACQUIRE)) {
        if (hang_guard_now() > end) {
            PyErr_SetString(PyExc_RuntimeError, "T did not enter the runtime within 10 s");
            return -1;
        }
        sched_yield();
    }
    return 0;
}

/* main's main: starts T (so both threads are in the runtime before the
 * first request), then asks itself, or runs an asking tasklet. */
static PyObject *client_main(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    if (!start_outside && start_server() < 0) {
        return NULL;
    }
    if (cli.kind == CLIENT_MAIN) {
        return ask(NULL, NULL);
    }
    PyTaskletObject *t = spawn_func(client_f, NULL);
    if (t == NULL) {
        return NULL;
    }
    PyObject *result = Py_None;
    while (PyTasklet_Alive(t)) {
        PyObject *r = PyStackless_RunWatchdogEx(1000000000L, Py_WATCHDOG_THREADBLOCK);
        if (r == NULL) {
            result = NULL;
            break;
        }
        Py_DECREF(r);
    }
    if (result == NULL && PyTasklet_Alive(t)) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyTasklet_Kill(t);
        PyErr_Clear();
        PyErr_Restore(type, value, tb);
    }
    Py_DECREF(t);
    if (result == NULL) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* Waits up to `ms` for T to leave the runtime. */
static int wait_done(long ms) {
    double end = hang_guard_now() + (double)ms / 1000.0;
    while (!__atomic_load_n(&srv.done, __ATOMIC_ACQUIRE)) {
        if (hang_guard_now() > end) {
            return 0;
        }
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return 1;
}

static void reply_context(char *buf, size_t size) {
    snprintf(buf, size,
             "    round %d: server %s, client %s: trip %ld of %ld, T served %ld, T entered %d done %d; "
             "balance A %d B %d",
             round_no, server_names[srv.kind], client_names[cli.kind],
             __atomic_load_n(&cli.trip, __ATOMIC_RELAXED), trips,
             __atomic_load_n(&srv.served, __ATOMIC_RELAXED), __atomic_load_n(&srv.entered, __ATOMIC_ACQUIRE),
             __atomic_load_n(&srv.done, __ATOMIC_ACQUIRE), PyChannel_GetBalance(requests),
             PyChannel_GetBalance(replies));
}

#define ROUND_FAIL(...)                                                        \
    do {                                                                       \
        char m_[1200];                                                         \
        snprintf(m_, sizeof m_, __VA_ARGS__);                                  \
        harness_fail(__FILE__, __LINE__, m_);                                  \
    } while (0)

/* One round: main enters the runtime, T starts and enters it too, then
 * `trips` round trips. */
static void one_round(int server_kind, int client_kind, int finalize) {
    memset(&srv, 0, sizeof srv);
    memset(&cli, 0, sizeof cli);
    srv.kind = server_kind;
    srv.finalize = finalize;
    cli.kind = client_kind;
    server_started = 0;
    if (start_outside && start_server() < 0) {
        ROUND_FAIL("%s", error_text());
    }
    PyObject *r;
    if (client_kind == CLIENT_OUTSIDE) {
        /* A plain C main: no Call_Main, every channel call runs as a
         * temporary main tasklet (SPEC §7.2). Its first call enters the
         * runtime before T starts. */
        r = PyStackless_Schedule(Py_None, 0);
        Py_XDECREF(r);
        r = start_outside || start_server() == 0 ? ask(NULL, NULL) : NULL;
    } else {
        r = PyStackless_Call_Main(client_main_f, NULL, NULL);
    }
    int client_failed = r == NULL;
    if (r == NULL) {
        char text[600];
        take_error_text(text, sizeof text);
        ROUND_FAIL("client (%s), server (%s): %s", client_names[client_kind], server_names[server_kind],
                   cli.error[0] ? cli.error : text);
    }
    Py_XDECREF(r);
    if (!server_started) {
        return;
    }
    PyTaskletObject *serving = __atomic_load_n(&srv.serving, __ATOMIC_ACQUIRE);
    if (client_failed && !wait_done(200) && serving != NULL) {
        /* T waits for a request that will not come: kill its server. */
        if (PyTasklet_Kill(serving) < 0) {
            PyErr_Clear();
        }
    }
    if (!wait_done(5000)) {
        ROUND_FAIL("T did not end within 5 s after the %s (served %ld)",
                   client_failed ? "failure and a kill of its server" : "last request",
                   __atomic_load_n(&srv.served, __ATOMIC_RELAXED));
        char ctx[1024];
        reply_context(ctx, sizeof ctx);
        printf("%s\n-- test_thread_reply: stuck\n", ctx);
        fflush(stdout);
        _exit(1);
    }
    pthread_join(server, NULL);
    Py_XDECREF(serving);
    if (srv.error[0] != '\0') {
        ROUND_FAIL("server (%s): %s", server_names[server_kind], srv.error);
    }
    if (!client_failed && __atomic_load_n(&srv.served, __ATOMIC_RELAXED) != trips) {
        ROUND_FAIL("T served %ld of %ld requests", __atomic_load_n(&srv.served, __ATOMIC_RELAXED), trips);
    }
    if (PyChannel_GetBalance(requests) != 0 || PyChannel_GetBalance(replies) != 0) {
        ROUND_FAIL("balances after the round: A %d, B %d", PyChannel_GetBalance(requests),
                   PyChannel_GetBalance(replies));
    }
}

static PyObject *func_of(PyMethodDef *def, const char *name, PyCFunction f) {
    def->ml_name = name;
    def->ml_meth = f;
    def->ml_flags = METH_VARARGS;
    return PyCFunction_New(def, NULL);
}

int main(void) {
    static const int variants[8][2] = {
        {SERVER_MAIN, CLIENT_MAIN},        {SERVER_THREADBLOCK, CLIENT_MAIN},
        {SERVER_MAIN, CLIENT_THREADBLOCK}, {SERVER_THREADBLOCK, CLIENT_THREADBLOCK},
        {SERVER_SPIN, CLIENT_MAIN},        {SERVER_SPIN, CLIENT_THREADBLOCK},
        {SERVER_MAIN, CLIENT_OUTSIDE},     {SERVER_THREADBLOCK, CLIENT_OUTSIDE},
    };
    trips = env_long("REPLY_TRIPS", 10000);
    long rounds = env_long("REPLY_ROUNDS", 2);
    long only = env_long("REPLY_VARIANT", 0);
    start_outside = (int)env_long("REPLY_START_OUTSIDE", 0);
    hang_guard_start("test_thread_reply", (int)env_long("REPLY_LIMIT_S", 300),
                     (int)env_long("REPLY_STALL_S", 10), reply_context);
    requests = PyChannel_New(NULL);
    replies = PyChannel_New(NULL);
    server_f = func_of(&server_def, "serve", serve);
    server_main_f = func_of(&server_main_def, "server_main", server_main);
    client_f = func_of(&client_def, "ask", ask);
    client_main_f = func_of(&client_main_def, "client_main", client_main);
    if (only == 0 && !start_outside) {
        /* The case as a user first wrote it: main made the channels, then
         * started T, which waits for the first request before main has
         * made any other call: main counts as a thread that may still
         * send (it made a channel), so T waits instead of getting a
         * deadlock (SPEC §6.4). */
        harness_case_begin("reply_server_waits_before_main_enters");
        start_outside = 1;
        round_no = 1;
        one_round(SERVER_MAIN, CLIENT_MAIN, 0);
        start_outside = 0;
        harness_case_end(__FILE__, __LINE__);
    }
    for (int v = 0; v < 8; v++) {
        if (only != 0 && only != v + 1) {
            continue;
        }
        for (long k = 0; k < rounds; k++) {
            static char name[128];
            round_no = (int)k + 1;
            snprintf(name, sizeof name, "reply_%d_server_%s_client_%s_round_%ld", v + 1,
                     variants[v][0] == SERVER_MAIN ? "main" : variants[v][0] == SERVER_THREADBLOCK ? "threadblock" : "spin",
                     variants[v][1] == CLIENT_MAIN ? "main" : variants[v][1] == CLIENT_THREADBLOCK ? "threadblock" : "outside",
                     k + 1);
            harness_case_begin(name);
            one_round(variants[v][0], variants[v][1], (int)(k % 2));
            if (k % 2 == 1 && PyStackless_Finalize() != 0) {
                /* Every other round main's scheduler starts afresh. */
                harness_fail(__FILE__, __LINE__, error_text());
            }
            harness_case_end(__FILE__, __LINE__);
        }
    }
    Py_DECREF(server_f);
    Py_DECREF(server_main_f);
    Py_DECREF(client_f);
    Py_DECREF(client_main_f);
    Py_DECREF(requests);
    Py_DECREF(replies);
    PyStackless_Finalize();
    return harness_summary("test_thread_reply");
}
