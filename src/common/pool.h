/*
 * pool.h - the one worker pool: N threads run one function, and the
 * caller waits for them with a periodic tick (progress) that stops the
 * moment the last worker returns. Backup workers, restore loaders and the
 * restore prefetch all run on it; what they share goes through their own
 * queue under their own lock.
 */
#ifndef COFFER_COMMON_POOL_H
#define COFFER_COMMON_POOL_H

typedef struct Pool Pool;

/* The work of one thread: id is 0..n-1. */
typedef void (*PoolFn)(void *arg, int id);

/* Called by pool_wait on the waiting thread between wake-ups. */
typedef void (*PoolTickFn)(void *arg);

/* Starts n threads (n >= 1) running fn(arg, id). Aborts with a message when
 * a thread cannot be created: the process is out of resources. */
Pool *pool_start(int n, PoolFn fn, void *arg);

/* Waits for every thread to return, calling tick (when not NULL) every
 * tick_ms milliseconds meanwhile, then frees the pool. */
void pool_wait(Pool *pool, int tick_ms, PoolTickFn tick, void *tick_arg);

#endif
