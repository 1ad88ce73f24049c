/*
 * buf.h - a growable byte buffer.
 *
 * Used for building small documents and holding one chunk or one request at a
 * time; never for a whole table.
 */
#ifndef COFFER_COMMON_BUF_H
#define COFFER_COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct Buf
{
    unsigned char *data;
    size_t len;
    size_t cap;
} Buf;

/* Initialises an empty buffer (no allocation yet). */
void buf_init(Buf *b);
/* Releases the memory and resets to empty. */
void buf_free(Buf *b);
/* Makes room for at least extra more bytes. */
void buf_reserve(Buf *b, size_t extra);
void buf_append(Buf *b, const void *data, size_t len);
void buf_append_str(Buf *b, const char *s);
void buf_printf(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_append_u32le(Buf *b, uint32_t v);
void buf_append_u64le(Buf *b, uint64_t v);
/* Sets the length to zero, keeping the allocation. */
void buf_reset(Buf *b);
/* Returns the contents as a NUL-terminated string (the NUL is not counted in len). */
const char *buf_cstr(Buf *b);

uint32_t read_u32le(const unsigned char *p);
uint64_t read_u64le(const unsigned char *p);
void write_u32le(unsigned char *p, uint32_t v);
void write_u64le(unsigned char *p, uint64_t v);

/* Lowercase hex of len bytes into out (which holds 2*len+1). */
void hex_encode(const unsigned char *in, size_t len, char *out);
/* Parses exactly 2*len hex digits; returns 0 on success, -1 on bad input. */
int hex_decode(const char *in, unsigned char *out, size_t len);

#endif
