/*
 * sink.h - the one byte-sink callback type: whoever produces a stream
 * (COPY out, a client program's output, chunks read back from the
 * repository) hands it, piece by piece, to a SinkFn.
 */
#ifndef COFFER_COMMON_SINK_H
#define COFFER_COMMON_SINK_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

/* Receives the next len bytes of a stream; returning false (with err set)
 * stops the producer, which then fails with that error. */
typedef bool (*SinkFn)(void *arg, const void *data, size_t len, Error *err);

/* A SinkFn that appends to a Buf (arg is the Buf *): for small outputs only,
 * such as a pg_restore listing. */
bool sink_to_buf(void *arg, const void *data, size_t len, Error *err);

#endif
