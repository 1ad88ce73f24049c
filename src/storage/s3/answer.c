/*
 * answer.c - reading what an S3 server answers: the few XML elements the
 * driver needs (keys, sizes, tokens, upload ids, error codes), and errors
 * that say what is wrong in the operator's terms.
 *
 * S3's answers are small, flat and machine-written, so a full XML parser
 * would buy nothing: an element is found by its tag and its text
 * unescaped. Element names never nest inside themselves here.
 */
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "storage/s3/s3_intern.h"

/* Unescapes the five named entities and numeric ones (ASCII range kept as
 * is; others become UTF-8). */
static void s3_xml_unescape(Buf *b, const char *s, size_t len)
{
    static const struct
    {
        const char *name;
        char c;
    } named[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};

    for (size_t i = 0; i < len; i++)
    {
        bool done = false;

        if (s[i] != '&')
        {
            buf_append(b, s + i, 1);
            continue;
        }
        for (size_t k = 0; k < sizeof(named) / sizeof(named[0]) && !done; k++)
        {
            size_t n = strlen(named[k].name);

            if (i + 1 + n <= len && strncmp(s + i + 1, named[k].name, n) == 0)
            {
                buf_append(b, &named[k].c, 1);
                i += n;
                done = true;
            }
        }
        if (!done && i + 2 < len && s[i + 1] == '#')
        {
            char *end;
            bool hexa = s[i + 2] == 'x';
            unsigned long cp = strtoul(s + i + (hexa ? 3 : 2), &end, hexa ? 16 : 10);

            if (*end == ';' && cp > 0 && cp < 0x110000)
            {
                unsigned char u[4];
                size_t n;

                if (cp < 0x80)
                    u[0] = (unsigned char)cp, n = 1;
                else if (cp < 0x800)
                    u[0] = (unsigned char)(0xC0 | (cp >> 6)), u[1] = (unsigned char)(0x80 | (cp & 63)),
                    n = 2;
                else if (cp < 0x10000)
                    u[0] = (unsigned char)(0xE0 | (cp >> 12)),
                    u[1] = (unsigned char)(0x80 | ((cp >> 6) & 63)),
                    u[2] = (unsigned char)(0x80 | (cp & 63)), n = 3;
                else
                    u[0] = (unsigned char)(0xF0 | (cp >> 18)),
                    u[1] = (unsigned char)(0x80 | ((cp >> 12) & 63)),
                    u[2] = (unsigned char)(0x80 | ((cp >> 6) & 63)),
                    u[3] = (unsigned char)(0x80 | (cp & 63)), n = 4;
                buf_append(b, u, n);
                i = (size_t)(end - s);
                done = true;
            }
        }
        if (!done)
            buf_append(b, s + i, 1);
    }
}

char *s3_xml_next(const char *xml, const char *tag, size_t *pos)
{
    char open[80], close[80];
    const char *start, *end;
    Buf b;
    char *out;

    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    start = strstr(xml + *pos, open);
    if (start == NULL)
        return NULL;
    start += strlen(open);
    end = strstr(start, close);
    if (end == NULL)
        return NULL;
    buf_init(&b);
    s3_xml_unescape(&b, start, (size_t)(end - start));
    out = xstrdup(buf_cstr(&b));
    buf_free(&b);
    *pos = (size_t)(end - xml) + strlen(close);
    return out;
}

char *s3_xml_get(const char *xml, const char *tag)
{
    size_t pos = 0;

    return xml != NULL ? s3_xml_next(xml, tag, &pos) : NULL;
}

void s3_xml_escape(Buf *b, const char *s)
{
    for (; *s != '\0'; s++)
    {
        switch (*s)
        {
        case '&':
            buf_append_str(b, "&amp;");
            break;
        case '<':
            buf_append_str(b, "&lt;");
            break;
        case '>':
            buf_append_str(b, "&gt;");
            break;
        case '"':
            buf_append_str(b, "&quot;");
            break;
        default:
            buf_append(b, s, 1);
        }
    }
}

/* What an S3 error code means, and what to do about it. */
static void s3_error_explain(const S3 *s3, const char *code, const char *xml, Error *err)
{
    if (strcmp(code, "InvalidAccessKeyId") == 0 || strcmp(code, "SignatureDoesNotMatch") == 0 ||
        strcmp(code, "AccessDenied") == 0 || strcmp(code, "InvalidToken") == 0 ||
        strcmp(code, "ExpiredToken") == 0 || strcmp(code, "InvalidSecurity") == 0)
    {
        error_detail(err, "the server refused the credentials or their rights (%s)", code);
        error_hint(err, "check the access key and secret (repository s3 settings, "
                        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the credentials file) "
                        "and that they may use bucket \"%s\"",
                   s3->bucket);
    }
    else if (strcmp(code, "NoSuchBucket") == 0)
    {
        error_detail(err, "bucket \"%s\" does not exist", s3->bucket);
        error_hint(err, "create the bucket first, or fix the bucket name");
    }
    else if (strcmp(code, "AuthorizationHeaderMalformed") == 0 ||
             strcmp(code, "PermanentRedirect") == 0 || strcmp(code, "IllegalLocationConstraintException") == 0)
    {
        char *want = s3_xml_get(xml, "Region");

        error_detail(err, "the bucket is not in region \"%s\"%s%s%s (%s)", s3->region,
                     want ? ": it is in \"" : "", want ? want : "", want ? "\"" : "", code);
        error_hint(err, "set region to the bucket's region");
        free(want);
    }
    else if (strcmp(code, "RequestTimeTooSkewed") == 0)
    {
        error_detail(err, "this host's clock and the server's differ by more than S3 allows");
        error_hint(err, "set this host's clock right (for example with NTP) and run the command "
                        "again");
    }
}

bool s3_error(const S3 *s3, const S3Response *resp, const char *what, Error *err)
{
    const char *xml = resp->body.len > 0 ? buf_cstr((Buf *)&resp->body) : "";
    char *code = s3_xml_get(xml, "Code");
    char *message = s3_xml_get(xml, "Message");

    if (code == NULL)
    {
        /* an answer without an S3 error document: a proxy, a web server, or
         * a server at the wrong address */
        error_set(err, ERR_FAILURE, "%s: HTTP %ld from \"%s\", which does not answer like an S3 "
                                    "server",
                  what, resp->status, s3->base);
        free(message);
        if (resp->status >= 500 || resp->status == 429)
            return error_transient(err);
        return error_hint(err, "check the endpoint: it must be the S3 API's address");
    }
    error_set(err, ERR_FAILURE, "%s: %s (HTTP %ld)%s%s", what, code, resp->status,
              message ? ": " : "", message ? message : "");
    s3_error_explain(s3, code, xml, err);
    if (resp->status >= 500 || resp->status == 429 || strcmp(code, "RequestTimeout") == 0 ||
        strcmp(code, "SlowDown") == 0 || strcmp(code, "InternalError") == 0)
        error_transient(err);
    free(code);
    free(message);
    return false;
}
