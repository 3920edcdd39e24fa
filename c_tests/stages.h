/*
 * Stages for the threaded tests: a test's threads go through numbered
 * stages together, one thread calling set_stage(n) when it reached stage n
 * and another wait_stage(n) until it has. `lock` is the one lock of the
 * test's threads: the logs they share are written under it too.
 */
#ifndef STACKLESS_TEST_STAGES_H
#define STACKLESS_TEST_STAGES_H

#include <pthread.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int stage;

static inline void set_stage(int s) {
    pthread_mutex_lock(&lock);
    stage = s;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
}

static inline void wait_stage(int s) {
    pthread_mutex_lock(&lock);
    while (stage < s) {
        pthread_cond_wait(&cond, &lock);
    }
    pthread_mutex_unlock(&lock);
}

#endif
