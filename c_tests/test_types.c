/* PyType_Ready and ready types (EXTENSIONS.md §8, hostile input): an
 * argument that is no type, a tp_base chain with a cycle or a basic size
 * smaller than the base's is refused with the failure value and an
 * exception, and nothing is written into it; a long chain of bases is
 * readied without recursion; threads that ready one type at once all see
 * it ready with its inherited slots; a type that was never readied cannot
 * be instantiated (SystemError naming it), never a crash. */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <pthread.h>
#include <unistd.h>

#define BAD_CALL "bad argument to internal function"

typedef struct {
    PyObject_HEAD
    long payload[4];
} BigObject;

/* ---- Arguments that are no type ------------------------------------------- */

/* Memory shaped like a type object whose header says it is an int: it is
 * refused before anything is read past the header or written. */
TEST(ready_refuses_an_object_that_is_no_type) {
    static PyTypeObject fake;
    fake.ob_base.ob_base.ob_refcnt = 1;
    fake.ob_base.ob_base.ob_type = &PyLong_Type;
    fake.tp_name = "typetest.Fake";
    PyTypeObject before = fake;
    CHECK_INT(PyType_Ready(&fake), -1);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK(memcmp(&fake, &before, sizeof fake) == 0);
    PyObject *five = PyLong_FromLong(5);
    CHECK_INT(PyType_Ready((PyTypeObject *)five), -1);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_INT(PyLong_AsLong(five), 5);
    CHECK_INT(Py_REFCNT(five), 1);
    Py_DECREF(five);
}

/* A base that is no type: refused, neither the type nor the base written. */
TEST(ready_refuses_a_base_that_is_no_type) {
    static PyTypeObject derived = {PyVarObject_HEAD_INIT(NULL, 0) .tp_name = "typetest.OnAnInt"};
    PyObject *five = PyLong_FromLong(5);
    derived.tp_base = (PyTypeObject *)five;
    PyTypeObject before = derived;
    CHECK_INT(PyType_Ready(&derived), -1);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK(memcmp(&derived, &before, sizeof derived) == 0);
    CHECK_INT(PyLong_AsLong(five), 5);
    Py_DECREF(five);
}

/* ---- Cycles --------------------------------------------------------------------- */

static PyTypeObject SelfBase_Type = {PyVarObject_HEAD_INIT(NULL, 0) .tp_name = "typetest.SelfBase",
                                     .tp_base = &SelfBase_Type};

static PyTypeObject CycleB_Type;
static PyTypeObject CycleA_Type = {PyVarObject_HEAD_INIT(NULL, 0) .tp_name = "typetest.CycleA",
                                   .tp_flags = Py_TPFLAGS_BASETYPE, .tp_base = &CycleB_Type};
static PyTypeObject CycleB_Type = {PyVarObject_HEAD_INIT(NULL, 0) .tp_name = "typetest.CycleB",
                                   .tp_flags = Py_TPFLAGS_BASETYPE, .tp_base = &CycleA_Type};
static PyTypeObject OnCycle_Type = {PyVarObject_HEAD_INIT(NULL, 0) .tp_name = "typetest.OnCycle",
                                    .tp_base = &CycleA_Type};

/* CPython's text for a class whose bases would contain itself. */
#define CYCLE "a __bases__ item causes an inheritance cycle"

TEST(ready_refuses_a_base_cycle) {
    PyTypeObject before_self = SelfBase_Type, before_a = CycleA_Type, before_b = CycleB_Type;
    CHECK_INT(PyType_Ready(&SelfBase_Type), -1);
    CHECK_ERROR(PyExc_TypeError, CYCLE);
    CHECK(memcmp(&SelfBase_Type, &before_self, sizeof before_self) == 0);
    CHECK_INT(PyType_Ready(&CycleA_Type), -1);
    CHECK_ERROR(PyExc_TypeError, CYCLE);
    CHECK_INT(PyType_Ready(&CycleB_Type), -1);
    CHECK_ERROR(PyExc_TypeError, CYCLE);
    CHECK_INT(PyType_Ready(&OnCycle_Type), -1);
    CHECK_ERROR(PyExc_TypeError, CYCLE);
    CHECK(memcmp(&CycleA_Type, &before_a, sizeof before_a) == 0);
    CHECK(memcmp(&CycleB_Type, &before_b, sizeof before_b) == 0);
    CHECK(!(OnCycle_Type.tp_flags & Py_TPFLAGS_READY));
}

/* ---- Sizes ---------------------------------------------------------------------- */

static PyTypeObject Big_Type = {PyVarObject_HEAD_INIT(NULL, 0) .tp_name = "typetest.Big",
                                .tp_basicsize = sizeof(BigObject), .tp_flags = Py_TPFLAGS_BASETYPE,
                                .tp_new = PyType_GenericNew};
static PyTypeObject Small_Type = {PyVarObject_HEAD_INIT(NULL, 0) .tp_name = "typetest.Small",
                                  .tp_basicsize = sizeof(PyObject), .tp_base = &Big_Type};
/* Its basic size is inherited from Big (0 means "the base's"). */
static PyTypeObject SameSize_Type = {PyVarObject_HEAD_INIT(NULL, 0) .tp_name = "typetest.SameSize",
                                     .tp_flags = Py_TPFLAGS_BASETYPE, .tp_base = &Big_Type};
static PyTypeObject SmallerThanInherited_Type = {
    PyVarObject_HEAD_INIT(NULL, 0) .tp_name = "typetest.SmallerThanInherited",
    .tp_basicsize = sizeof(PyObject) + 8, .tp_base = &SameSize_Type};

/* CPython 3.12's check and text. */
TEST(ready_refuses_a_basic_size_smaller_than_the_base) {
    char expected[256];
    snprintf(expected, sizeof expected,
             "tp_basicsize for type 'typetest.Small' (%zu) is too small for base 'typetest.Big' (%zu)",
             sizeof(PyObject), sizeof(BigObject));
    CHECK_INT(PyType_Ready(&Small_Type), -1);
    CHECK_ERROR(PyExc_TypeError, expected);
    CHECK(!(Small_Type.tp_flags & Py_TPFLAGS_READY));
    CHECK_PTR(Py_TYPE(&Small_Type), NULL);
    snprintf(expected, sizeof expected,
             "tp_basicsize for type 'typetest.SmallerThanInherited' (%zu) is too small for base "
             "'typetest.SameSize' (%zu)",
             sizeof(PyObject) + 8, sizeof(BigObject));
    CHECK_INT(PyType_Ready(&SmallerThanInherited_Type), -1);
    CHECK_ERROR(PyExc_TypeError, expected);
    CHECK_INT(PyType_Ready(&SameSize_Type), 0);
    CHECK_INT(SameSize_Type.tp_basicsize, sizeof(BigObject));
}

/* ---- Readying twice, long chains -------------------------------------------------- */

static PyObject *twice_repr(PyObject *self) {
    (void)self;
    return PyUnicode_FromString("twice");
}

static PyTypeObject Twice_Type = {PyVarObject_HEAD_INIT(NULL, 0) .tp_name = "typetest.Twice",
                                  .tp_new = PyType_GenericNew};

/* The second call returns 0 and writes nothing: a slot the program set
 * after the first call stays, one it cleared stays cleared. */
TEST(ready_twice_is_a_no_op) {
    CHECK_INT(PyType_Ready(&Twice_Type), 0);
    CHECK(Twice_Type.tp_flags & Py_TPFLAGS_READY);
    Twice_Type.tp_repr = twice_repr;
    Twice_Type.tp_str = NULL;
    Twice_Type.tp_base = NULL;
    CHECK_INT(PyType_Ready(&Twice_Type), 0);
    CHECK(Twice_Type.tp_repr == twice_repr);
    CHECK(Twice_Type.tp_str == NULL);
    CHECK(Twice_Type.tp_base == NULL);
    Twice_Type.tp_base = &PyBaseObject_Type;
    PyObject *o = PyObject_CallObject((PyObject *)&Twice_Type, NULL);
    CHECK(o != NULL);
    CHECK_REPR(o, "twice");
    Py_DECREF(o);
}

/* 100,000 types, each the base of the next: readying the last readies
 * them all, from the root down, in constant stack. */
#define CHAIN 100000

TEST(ready_readies_a_long_chain_of_bases) {
    PyTypeObject *chain = calloc(CHAIN, sizeof *chain);
    CHECK(chain != NULL);
    for (int i = 0; i < CHAIN; i++) {
        chain[i].tp_name = "typetest.Link";
        chain[i].tp_flags = Py_TPFLAGS_BASETYPE;
        chain[i].tp_base = i == 0 ? NULL : &chain[i - 1];
    }
    chain[0].tp_repr = twice_repr;
    int rc = PyType_Ready(&chain[CHAIN - 1]);
    int all_ready = 1;
    for (int i = 0; i < CHAIN; i++) {
        if (!(chain[i].tp_flags & Py_TPFLAGS_READY) || chain[i].tp_repr != twice_repr) {
            all_ready = 0;
        }
    }
    PyTypeObject *root_base = chain[0].tp_base;
    free(chain);
    CHECK_INT(rc, 0);
    CHECK(all_ready);
    CHECK_PTR(root_base, &PyBaseObject_Type);
}

/* ---- Threads ------------------------------------------------------------------------ */

#define RACE_THREADS 8
#define RACE_ROUNDS 200

static PyObject *race_repr(PyObject *self) {
    (void)self;
    return PyUnicode_FromString("raced");
}

/* Each round races the threads on a fresh type and its fresh base. */
static PyTypeObject race_base[RACE_ROUNDS], race_type[RACE_ROUNDS];
static pthread_barrier_t race_start;

static void *race_ready(void *arg) {
    long failures = 0;
    (void)arg;
    for (int r = 0; r < RACE_ROUNDS; r++) {
        pthread_barrier_wait(&race_start);
        PyTypeObject *t = &race_type[r];
        if (PyType_Ready(t) != 0) {
            failures++;
            PyErr_Clear();
            continue;
        }
        /* Ready, with every inherited slot visible to this thread. */
        if (!(t->tp_flags & Py_TPFLAGS_READY) || Py_TYPE(t) != &PyType_Type || t->tp_repr != race_repr ||
            t->tp_new != PyType_GenericNew || t->tp_alloc == NULL || t->tp_free == NULL ||
            t->tp_basicsize != sizeof(BigObject)) {
            failures++;
        }
        PyObject *o = PyObject_CallObject((PyObject *)t, NULL);
        if (o == NULL || Py_TYPE(o) != t) {
            failures++;
            PyErr_Clear();
        }
        PyObject *s = o == NULL ? NULL : PyObject_Repr(o);
        if (s == NULL || strcmp(PyUnicode_AsUTF8(s), "raced") != 0) {
            failures++;
            PyErr_Clear();
        }
        Py_XDECREF(s);
        Py_XDECREF(o);
    }
    return (void *)failures;
}

TEST(threads_ready_one_type_at_once) {
    for (int r = 0; r < RACE_ROUNDS; r++) {
        race_base[r].tp_name = "typetest.RaceBase";
        race_base[r].tp_basicsize = sizeof(BigObject);
        race_base[r].tp_flags = Py_TPFLAGS_BASETYPE;
        race_base[r].tp_repr = race_repr;
        race_base[r].tp_new = PyType_GenericNew;
        race_type[r].tp_name = "typetest.Race";
        race_type[r].tp_base = &race_base[r];
    }
    pthread_t th[RACE_THREADS];
    CHECK_INT(pthread_barrier_init(&race_start, NULL, RACE_THREADS), 0);
    for (int i = 0; i < RACE_THREADS; i++) {
        CHECK_INT(pthread_create(&th[i], NULL, race_ready, NULL), 0);
    }
    long failures = 0;
    for (int i = 0; i < RACE_THREADS; i++) {
        void *f;
        CHECK_INT(pthread_join(th[i], &f), 0);
        failures += (long)f;
    }
    pthread_barrier_destroy(&race_start);
    CHECK_INT(failures, 0);
}

/* ---- Types that were never readied --------------------------------------------------- */

#define NOT_READY(name) "type '" name "' is not ready: call PyType_Ready() on it first"

static PyTypeObject Unready_Type = {PyVarObject_HEAD_INIT(NULL, 0) .tp_name = "typetest.Unready",
                                    .tp_basicsize = sizeof(PyObject), .tp_alloc = PyType_GenericAlloc,
                                    .tp_new = PyType_GenericNew};

/* CPython crashes on these; here they fail with a SystemError that names
 * the type, and the type stays as it was. */
TEST(unready_type_cannot_be_instantiated) {
    PyTypeObject before = Unready_Type;
    CHECK_PTR(PyType_GenericAlloc(&Unready_Type, 0), NULL);
    CHECK_ERROR(PyExc_SystemError, NOT_READY("typetest.Unready"));
    CHECK_PTR(PyType_GenericNew(&Unready_Type, NULL, NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, NOT_READY("typetest.Unready"));
    CHECK_PTR(PyObject_CallObject((PyObject *)&Unready_Type, NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, NOT_READY("typetest.Unready"));
    CHECK_PTR(PyObject_CallFunction((PyObject *)&Unready_Type, "i", 1), NULL);
    CHECK_ERROR(PyExc_SystemError, NOT_READY("typetest.Unready"));
    CHECK(memcmp(&Unready_Type, &before, sizeof before) == 0);
    CHECK_INT(PyType_Ready(&Unready_Type), 0);
    PyObject *o = PyType_GenericNew(&Unready_Type, NULL, NULL);
    CHECK(o != NULL);
    CHECK_PTR(Py_TYPE(o), &Unready_Type);
    Py_DECREF(o);
}

static PyTypeObject UnreadyTasklet_Type = {PyVarObject_HEAD_INIT(NULL, 0) .tp_name = "typetest.UnreadyTasklet",
                                           .tp_basicsize = sizeof(PyTaskletObject),
                                           .tp_base = &PyTasklet_Type};
static PyTypeObject UnreadyChannel_Type = {PyVarObject_HEAD_INIT(NULL, 0) .tp_name = "typetest.UnreadyChannel",
                                           .tp_basicsize = sizeof(PyChannelObject),
                                           .tp_base = &PyChannel_Type};

/* A tasklet or channel subtype that is not ready (EXTENSIONS.md §8). */
TEST(unready_tasklet_and_channel_subtypes_are_refused) {
    CHECK_PTR(PyTasklet_New(&UnreadyTasklet_Type, NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, NOT_READY("typetest.UnreadyTasklet"));
    CHECK_PTR(PyChannel_New(&UnreadyChannel_Type), NULL);
    CHECK_ERROR(PyExc_SystemError, NOT_READY("typetest.UnreadyChannel"));
    CHECK_INT(PyType_Ready(&UnreadyTasklet_Type), 0);
    CHECK_INT(PyType_Ready(&UnreadyChannel_Type), 0);
    PyTaskletObject *t = PyTasklet_New(&UnreadyTasklet_Type, NULL);
    CHECK(t != NULL);
    CHECK_PTR(Py_TYPE(t), &UnreadyTasklet_Type);
    PyChannelObject *ch = PyChannel_New(&UnreadyChannel_Type);
    CHECK(ch != NULL);
    CHECK_PTR(Py_TYPE(ch), &UnreadyChannel_Type);
    Py_DECREF(t);
    Py_DECREF(ch);
}

int main(void) {
    alarm(120); /* it starts threads: a hang is a failure, never a stuck run */
    RUN(ready_refuses_an_object_that_is_no_type);
    RUN(ready_refuses_a_base_that_is_no_type);
    RUN(ready_refuses_a_basic_size_smaller_than_the_base);
    RUN(ready_twice_is_a_no_op);
    RUN(threads_ready_one_type_at_once);
    RUN(unready_type_cannot_be_instantiated);
    RUN(unready_tasklet_and_channel_subtypes_are_refused);
    RUN(ready_readies_a_long_chain_of_bases);
    RUN(ready_refuses_a_base_cycle);
    return harness_summary("test_types");
}
