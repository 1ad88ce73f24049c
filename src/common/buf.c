/*
 * buf.c - growable byte buffer, little-endian integers and hex helpers.
 */
#include "common/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/sink.h"

void buf_init(Buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void buf_free(Buf *b)
{
    free(b->data);
    buf_init(b);
}

void buf_reserve(Buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    size_t cap = b->cap == 0 ? 256 : b->cap;

    if (need <= b->cap)
        return;
    while (cap < need)
        cap *= 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
}

void buf_append(Buf *b, const void *data, size_t len)
{
    buf_reserve(b, len);
    if (len > 0)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void buf_append_str(Buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

void buf_printf(Buf *b, const char *fmt, ...)
{
    va_list ap;
    size_t room;
    int n;

    buf_reserve(b, 128);
    room = b->cap - b->len;
    va_start(ap, fmt);
    n = vsnprintf((char *)b->data + b->len, room, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= room)
    {
        buf_reserve(b, (size_t)n);
        va_start(ap, fmt);
        vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

void buf_append_u32le(Buf *b, uint32_t v)
{
    unsigned char tmp[4];

    write_u32le(tmp, v);
    buf_append(b, tmp, 4);
}

void buf_append_u64le(Buf *b, uint64_t v)
{
    unsigned char tmp[8];

    write_u64le(tmp, v);
    buf_append(b, tmp, 8);
}

void buf_reset(Buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

const char *buf_cstr(Buf *b)
{
    buf_reserve(b, 0);
    b->data[b->len] = '\0';
    return (const char *)b->data;
}

uint32_t read_u32le(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

uint64_t read_u64le(const unsigned char *p)
{
    return (uint64_t)read_u32le(p) | ((uint64_t)read_u32le(p + 4) << 32);
}

void write_u32le(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

void write_u64le(unsigned char *p, uint64_t v)
{
    write_u32le(p, (uint32_t)v);
    write_u32le(p + 4, (uint32_t)(v >> 32));
}

void hex_encode(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < len; i++)
    {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int hex_decode(const char *in, unsigned char *out, size_t len)
{
    for (size_t i = 0; i < len; i++)
    {
        int hi = hex_value(in[2 * i]);
        int lo = hi < 0 ? -1 : hex_value(in[2 * i + 1]);

        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return in[2 * len] == '\0' ? 0 : -1;
}

bool sink_to_buf(void *arg, const void *data, size_t len, Error *err)
{
    (void)err;
    buf_append(arg, data, len);
    return true;
}
