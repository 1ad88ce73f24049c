/*
 * test_common.c - unit tests for the common module: errors, buffers, hex.
 */
#include "common/buf.h"
#include "common/error.h"
#include "common/mem.h"
#include "tap.h"

#include <stdlib.h>

int main(void)
{
    Error err;
    Buf b;
    unsigned char bytes[4] = {0x00, 0x7f, 0xab, 0xff};
    unsigned char back[4];
    char hex[9];

    error_clear(&err);
    ok(!error_is_set(&err), "cleared error is not set");
    ok(!error_set(&err, ERR_USAGE, "bad key \"%s\"", "x"), "error_set returns false");
    is_int(err.code, ERR_USAGE, "error code kept");
    is_str(err.message, "bad key \"x\"", "message formatted");
    error_prefix(&err, "file \"%s\"", "c.yaml");
    is_str(err.message, "file \"c.yaml\": bad key \"x\"", "prefix prepended");
    error_hint(&err, "fix it");
    is_str(err.hint, "fix it", "hint kept");

    buf_init(&b);
    buf_printf(&b, "%d-%s", 42, "x");
    buf_append_str(&b, "!");
    is_str(buf_cstr(&b), "42-x!", "buf printf and append");
    buf_append_u32le(&b, 0x01020304);
    is_int(read_u32le(b.data + 5), 0x01020304, "u32 little endian round trip");
    buf_free(&b);

    hex_encode(bytes, 4, hex);
    is_str(hex, "007fabff", "hex encode");
    ok(hex_decode(hex, back, 4) == 0 && memcmp(back, bytes, 4) == 0, "hex decode round trip");
    ok(hex_decode("zz00", back, 2) != 0, "hex decode rejects bad digits");

    char *s = xasprintf("%s/%s", "a", "b");
    is_str(s, "a/b", "xasprintf");
    free(s);
    return tap_done();
}
