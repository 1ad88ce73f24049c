/*
 * test_s3.c - unit tests for the S3 driver's pure logic and the retry
 * wrapper, with no network and no server: canonical URLs, the XML of
 * answers, how error answers are worded, where the keys come from, the
 * address checks storage_open_s3 makes before its first request, and the
 * retry policy around a fake driver that fails on purpose.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/mem.h"
#include "storage/s3/s3_intern.h"
#include "storage/storage.h"
#include "tap.h"

/* ---- canonical URLs ------------------------------------------------------ */

/* An S3 state filled by hand: only what s3_url and s3_error read. */
static S3 test_s3(const char *base, const char *prefix)
{
    S3 s3;

    memset(&s3, 0, sizeof(s3));
    s3.base = (char *)base;
    s3.prefix = (char *)prefix;
    s3.bucket = (char *)"bkt";
    s3.region = (char *)"us-east-1";
    s3.location = (char *)"s3://bkt/prod";
    return s3;
}

static void encode_is(const char *s, bool keep_slash, const char *want, const char *name)
{
    Buf b;

    buf_init(&b);
    s3_encode(&b, s, keep_slash);
    is_str(buf_cstr(&b), want, name);
    buf_free(&b);
}

static void url_is(const S3 *s3, const S3Request *req, const char *want, const char *name)
{
    char *url = s3_url(s3, req);

    is_str(url, want, name);
    free(url);
}

static void test_encode(void)
{
    encode_is("AZaz09-_.~", false, "AZaz09-_.~", "encode: unreserved characters stay");
    encode_is("a b", false, "a%20b", "encode: a space is %20, never +");
    encode_is("a+b", false, "a%2Bb", "encode: + is %2B");
    encode_is("a/b", false, "a%2Fb", "encode: / is %2F in a value");
    encode_is("a/b", true, "a/b", "encode: / stays in a path");
    encode_is("%=&?#", true, "%25%3D%26%3F%23", "encode: reserved characters are escaped");
    encode_is("\xc3\xa9\xe2\x82\xac", false, "%C3%A9%E2%82%AC",
              "encode: UTF-8 bytes, uppercase hex");
    encode_is("\xff", false, "%FF", "encode: a high byte is %FF");
    encode_is("", false, "", "encode: the empty string");
}

static void test_url_paths(void)
{
    S3 path = test_s3("http://127.0.0.1:9000/bkt", "prod/");
    S3 bare = test_s3("http://127.0.0.1:9000/bkt", "");
    S3 vhost = test_s3("https://bkt.s3.eu-west-1.amazonaws.com", "prod/");

    url_is(&path, &(S3Request){.method = "GET"}, "http://127.0.0.1:9000/bkt/",
           "url: the bucket itself ends in /");
    url_is(&path, &(S3Request){.method = "GET", .key = "data/ab/abcd"},
           "http://127.0.0.1:9000/bkt/prod/data/ab/abcd", "url: the prefix comes before the key");
    url_is(&bare, &(S3Request){.method = "GET", .key = "data/ab/abcd"},
           "http://127.0.0.1:9000/bkt/data/ab/abcd", "url: no prefix");
    url_is(&path, &(S3Request){.method = "GET", .key = "prod/data/x", .raw_key = true},
           "http://127.0.0.1:9000/bkt/prod/data/x", "url: a raw key gets no second prefix");
    url_is(&path, &(S3Request){.method = "PUT", .key = "snap shots/\xc3\xa9+x~y"},
           "http://127.0.0.1:9000/bkt/prod/snap%20shots/%C3%A9%2Bx~y",
           "url: a key keeps / and encodes the rest");
    url_is(&vhost, &(S3Request){.method = "GET", .key = "index/1"},
           "https://bkt.s3.eu-west-1.amazonaws.com/prod/index/1", "url: virtual-hosted base");
}

static void test_url_queries(void)
{
    S3 s3 = test_s3("http://127.0.0.1:9000/bkt", "prod/");
    S3Param list[] = {
        {"prefix", "prod/data/"}, {"list-type", "2"}, {"continuation-token", "a b+c/d~e"}};
    S3Param uploads[] = {{"uploads", ""}};
    S3Param part[] = {{"uploadId", "2~abc/def=="}, {"partNumber", "10"}};
    S3Param twice[] = {{"x", "b"}, {"x", "a"}};

    url_is(&s3, &(S3Request){.method = "GET", .params = list, .n_params = 3},
           "http://127.0.0.1:9000/bkt/?continuation-token=a%20b%2Bc%2Fd~e&list-type=2"
           "&prefix=prod%2Fdata%2F",
           "url: the query is sorted by name and its values are encoded");
    is_str(list[0].name, "prefix", "url: the caller's parameters are left in their order");
    url_is(&s3, &(S3Request){.method = "POST", .key = "data/ab", .params = uploads, .n_params = 1},
           "http://127.0.0.1:9000/bkt/prod/data/ab?uploads=", "url: an empty value is name=");
    url_is(&s3, &(S3Request){.method = "PUT", .key = "data/ab", .params = part, .n_params = 2},
           "http://127.0.0.1:9000/bkt/prod/data/ab?partNumber=10&uploadId=2~abc%2Fdef%3D%3D",
           "url: partNumber before uploadId, = in a value encoded");
    url_is(&s3, &(S3Request){.method = "GET", .params = twice, .n_params = 2},
           "http://127.0.0.1:9000/bkt/?x=a&x=b", "url: one name twice: sorted by value");
}

/* ---- addressing ------------------------------------------------------------ */

/* storage_open_s3 with keys in the options, expected to fail before its first
 * request (the probe needs a server, so a successful open is not tested here). */
static void open_fails(StorageS3Options o, ErrorCode code, const char *want, const char *name)
{
    Error err;
    Storage *st;

    o.access_key_id = "AKIDTEST";
    o.secret_access_key = "secret";
    o.retries = 0;
    error_clear(&err);
    st = storage_open_s3(&o, &err);
    ok(st == NULL && err.code == code, name);
    like(err.message, want, name);
    storage_free(st);
}

static void test_address(void)
{
    open_fails((StorageS3Options){.endpoint = "ftp://s3.example.com", .bucket = "bkt"}, ERR_USAGE,
               "S3 endpoint \"ftp://s3.example.com\" is not an http:// or https:// URL",
               "address: an endpoint that is not http(s)");
    open_fails((StorageS3Options){.endpoint = "s3.example.com", .bucket = "bkt"}, ERR_USAGE,
               "is not an http:// or https:// URL", "address: an endpoint without a scheme");
    open_fails((StorageS3Options){.endpoint = "https://s3.example.com/bkt/", .bucket = "bkt"},
               ERR_USAGE,
               "\"https://s3.example.com/bkt\" must be a scheme and a host, with no path",
               "address: an endpoint with a path");
    open_fails((StorageS3Options){.endpoint = "https://", .bucket = "bkt"}, ERR_USAGE,
               "S3 endpoint \"https:", "address: an endpoint without a host");
    open_fails((StorageS3Options){.bucket = "ab"}, ERR_USAGE, "invalid S3 bucket name \"ab\"",
               "address: a bucket name too short");
    open_fails((StorageS3Options){.bucket = "my bucket"}, ERR_USAGE, "invalid S3 bucket name",
               "address: a bucket name with a space");
    open_fails((StorageS3Options){.bucket = NULL}, ERR_USAGE, "invalid S3 bucket name \"\"",
               "address: no bucket");
    open_fails((StorageS3Options){.bucket = "bkt", .part_size = 1024 * 1024}, ERR_USAGE,
               "part_size must be at least 5 MiB", "address: a part size under 5 MiB");
}

/* ---- XML ------------------------------------------------------------------- */

static void xml_is(const char *xml, const char *tag, const char *want, const char *name)
{
    char *got = s3_xml_get(xml, tag);

    is_str(got, want, name);
    free(got);
}

static void test_xml_get(void)
{
    xml_is("<a><Key>x &amp; y &lt;z&gt; &quot;q&quot; &apos;s&apos;</Key></a>", "Key",
           "x & y <z> \"q\" 's'", "xml: the five named entities");
    xml_is("<Key>&#65;&#x42;C</Key>", "Key", "ABC", "xml: decimal and hex references");
    xml_is("<Key>&#233;&#x20AC;&#x1F600;</Key>", "Key", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
           "xml: references beyond ASCII become UTF-8 (2, 3 and 4 bytes)");
    xml_is("<Key>a & b &nbsp; &#; &#0; &#x110000;</Key>", "Key", "a & b &nbsp; &#; &#0; &#x110000;",
           "xml: what is not a valid reference is kept");
    xml_is("<KeyCount>3</KeyCount><Key>k</Key>", "Key", "k", "xml: a longer tag is not the tag");
    xml_is("<Key></Key>", "Key", "", "xml: an empty element");
    ok(s3_xml_get("<Error><Code>X</Code></Error>", "Message") == NULL, "xml: a missing element");
    ok(s3_xml_get("<Key>never closed", "Key") == NULL, "xml: an unclosed element");
    ok(s3_xml_get(NULL, "Key") == NULL, "xml: no document");
}

static void test_xml_next(void)
{
    const char *xml = "<ListBucketResult><KeyCount>3</KeyCount>"
                      "<Contents><Key>data/a</Key><Size>1</Size></Contents>"
                      "<Contents><Key>data/b&amp;c</Key><Size>22</Size></Contents>"
                      "<Contents><Key>data/d</Key><Size>333</Size></Contents>"
                      "</ListBucketResult>";
    const char *want[] = {"data/a", "data/b&c", "data/d"};
    size_t pos = 0, before;
    char *key;
    int n = 0;

    while ((key = s3_xml_next(xml, "Key", &pos)) != NULL)
    {
        if (n < 3)
            is_str(key, want[n], "xml: each repeated element in turn");
        n++;
        free(key);
    }
    is_int(n, 3, "xml: three elements, then NULL");
    before = pos;
    ok(s3_xml_next(xml, "Key", &pos) == NULL && pos == before, "xml: NULL again, pos kept");
    pos = 0;
    key = s3_xml_next(xml, "Size", &pos);
    is_str(key, "1", "xml: next from the start");
    free(key);
    key = s3_xml_next(xml, "Size", &pos);
    is_str(key, "22", "xml: next after it");
    free(key);
}

static void test_xml_escape(void)
{
    const char *text = "a&b<c>d\"e'f \xe2\x82\xac &amp;";
    Buf b;
    char *back;

    buf_init(&b);
    s3_xml_escape(&b, "a&b<c>d\"e");
    is_str(buf_cstr(&b), "a&amp;b&lt;c&gt;d&quot;e", "xml: escaping");
    buf_reset(&b);
    buf_append_str(&b, "<Key>");
    s3_xml_escape(&b, text);
    buf_append_str(&b, "</Key>");
    back = s3_xml_get(buf_cstr(&b), "Key");
    is_str(back, text, "xml: escape then unescape gives the text back");
    free(back);
    buf_free(&b);
}

/* ---- error wording ---------------------------------------------------------- */

/* s3_error on an answer of this status and body. */
static Error error_for(const S3 *s3, long status, const char *body)
{
    S3Response resp;
    Error err;

    memset(&resp, 0, sizeof(resp));
    buf_init(&resp.body);
    if (body != NULL)
        buf_append_str(&resp.body, body);
    resp.status = status;
    error_clear(&err);
    err.transient = true; /* a previous fault must not leak into this one */
    ok(!s3_error(s3, &resp, "could not list the bucket", &err), "error: returns false");
    s3_response_free(&resp);
    return err;
}

static char *error_doc(const char *code, const char *message, const char *extra)
{
    return xasprintf("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
                     "<Message>%s</Message>%s<RequestId>tx1</RequestId></Error>",
                     code, message, extra);
}

/* An S3 error document: the error it gives, and whether it is transient. */
static Error error_code(const S3 *s3, long status, const char *code, const char *extra,
                        bool transient)
{
    char *doc = error_doc(code, "some words", extra);
    char name[160];
    Error err = error_for(s3, status, doc);

    snprintf(name, sizeof(name), "error: %ld %s is %stransient", status, code,
             transient ? "" : "not ");
    ok(err.transient == transient, name);
    is_int(err.code, ERR_FAILURE, "error: ERR_FAILURE");
    free(doc);
    return err;
}

static void test_error_meaning(void)
{
    S3 s3 = test_s3("https://bkt.s3.eu-west-1.amazonaws.com", "prod/");
    Error err;

    err = error_code(&s3, 403, "SignatureDoesNotMatch", "", false);
    is_str(err.message, "could not list the bucket: SignatureDoesNotMatch (HTTP 403): some words",
           "error: the message names what, the code, the status and S3's words");
    like(err.detail, "refused the credentials", "error: bad signature: the credentials");
    like(err.hint, "check the access key and secret", "error: bad signature: a hint");
    like(err.hint, "bucket \"bkt\"", "error: the hint names the bucket");
    err = error_code(&s3, 403, "AccessDenied", "", false);
    like(err.detail, "refused the credentials or their rights (AccessDenied)",
         "error: access denied: the credentials");
    err = error_code(&s3, 404, "NoSuchBucket", "<BucketName>bkt</BucketName>", false);
    is_str(err.detail, "bucket \"bkt\" does not exist", "error: no such bucket");
    like(err.hint, "create the bucket first", "error: no such bucket: a hint");
    err = error_code(&s3, 400, "AuthorizationHeaderMalformed", "<Region>eu-west-1</Region>", false);
    is_str(err.detail,
           "the bucket is not in region \"us-east-1\": it is in \"eu-west-1\" "
           "(AuthorizationHeaderMalformed)",
           "error: wrong region: names both regions");
    like(err.hint, "set region", "error: wrong region: a hint");
    err = error_code(&s3, 301, "PermanentRedirect", "", false);
    is_str(err.detail, "the bucket is not in region \"us-east-1\" (PermanentRedirect)",
           "error: a redirect without a region");
    err = error_code(&s3, 403, "RequestTimeTooSkewed", "", false);
    like(err.detail, "clock", "error: skewed clock: the clock");
    like(err.hint, "NTP", "error: skewed clock: a hint");
    err = error_code(&s3, 409, "BucketNotEmpty", "", false);
    is_str(err.detail, "", "error: a code without a meaning of ours: no detail");
}

static void test_error_transient(void)
{
    S3 s3 = test_s3("https://bkt.s3.eu-west-1.amazonaws.com", "prod/");
    Error err;

    error_code(&s3, 503, "SlowDown", "", true);
    error_code(&s3, 500, "InternalError", "", true);
    error_code(&s3, 429, "TooManyRequests", "", true);
    error_code(&s3, 400, "RequestTimeout", "", true);
    error_code(&s3, 200, "InternalError", "", true); /* an error inside a 200 */
    error_code(&s3, 404, "NoSuchKey", "", false);
    err = error_for(&s3, 404, "<html><body><h1>404 Not Found</h1></body></html>");
    like(err.message, "does not answer like an S3 server", "error: an HTML page: not S3");
    like(err.message, "HTTP 404 from \"https://bkt.s3.eu-west-1.amazonaws.com\"",
         "error: an HTML page: the status and the address");
    like(err.hint, "check the endpoint", "error: an HTML page: a hint");
    ok(!err.transient, "error: an HTML 404 is not transient");
    err = error_for(&s3, 502, NULL);
    like(err.message, "HTTP 502", "error: a bare 502");
    ok(err.transient, "error: a bare 502 is transient");
    err = error_for(&s3, 503, "<Error><Message>busy</Message></Error>");
    like(err.message, "does not answer like an S3 server", "error: a message without a code");
    ok(err.transient, "error: a 503 without a code is transient");
}

/* ---- credentials ------------------------------------------------------------ */

static const char *const env_names[] = {"AWS_ACCESS_KEY_ID",           "AWS_SECRET_ACCESS_KEY",
                                        "AWS_SESSION_TOKEN",           "AWS_PROFILE",
                                        "AWS_SHARED_CREDENTIALS_FILE", "HOME"};
#define N_ENV (sizeof(env_names) / sizeof(env_names[0]))
static char *env_saved[N_ENV];

static void env_save(void)
{
    for (size_t i = 0; i < N_ENV; i++)
    {
        const char *v = getenv(env_names[i]);

        env_saved[i] = v != NULL ? xstrdup(v) : NULL;
    }
}

/* No AWS variables, and a HOME without ~/.aws. */
static void env_clean(const char *home)
{
    for (size_t i = 0; i < N_ENV; i++)
        unsetenv(env_names[i]);
    setenv("HOME", home, 1);
}

static void env_restore(void)
{
    for (size_t i = 0; i < N_ENV; i++)
    {
        if (env_saved[i] != NULL)
            setenv(env_names[i], env_saved[i], 1);
        else
            unsetenv(env_names[i]);
    }
}

static void env_free(void)
{
    for (size_t i = 0; i < N_ENV; i++)
        free(env_saved[i]);
}

typedef struct Creds
{
    bool ok;
    char *key, *secret, *token;
    Error err;
} Creds;

static Creds creds_get(const StorageS3Options *o)
{
    Creds c;

    memset(&c, 0, sizeof(c));
    error_clear(&c.err);
    c.ok = s3_credentials(o, &c.key, &c.secret, &c.token, &c.err);
    return c;
}

static void creds_free(Creds *c)
{
    free(c->key);
    free(c->secret);
    free(c->token);
}

/* Expects these keys (token NULL: none) and frees them. */
static void creds_are(Creds c, const char *key, const char *secret, const char *token,
                      const char *name)
{
    ok(c.ok, name);
    is_str(c.key, key, name);
    is_str(c.secret, secret, name);
    if (token != NULL)
        is_str(c.token, token, name);
    else
        ok(c.token == NULL, name);
    creds_free(&c);
}

/* Expects an ERR_USAGE failure whose message holds want, and no keys. */
static void creds_fail(Creds c, const char *want, const char *name)
{
    ok(!c.ok && c.err.code == ERR_USAGE, name);
    like(c.err.message, want, name);
    ok(c.key == NULL && c.secret == NULL && c.token == NULL, name);
    creds_free(&c);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    if (f == NULL)
    {
        perror(path);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

static const char *creds_text = "# keys for the tests\n"
                                "[default]\n"
                                "aws_access_key_id = DEFKEY\n"
                                "aws_secret_access_key=DEFSECRET\n"
                                "\n"
                                "; another comment = with an equals sign\n"
                                "[ work ]\n"
                                "  aws_access_key_id   =   WORKKEY  \n"
                                "aws_secret_access_key = WORK/SECRET+x=\n"
                                "aws_session_token = WORKTOKEN\n"
                                "[half]\n"
                                "aws_access_key_id = HALFKEY\n";

static void test_creds_config_env(const char *dir)
{
    StorageS3Options cfg = {
        .access_key_id = "CFGKEY", .secret_access_key = "CFGSECRET", .session_token = "CFGTOKEN"};
    StorageS3Options none = {0};

    env_clean(dir);
    setenv("AWS_ACCESS_KEY_ID", "ENVKEY", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "ENVSECRET", 1);
    setenv("AWS_SESSION_TOKEN", "ENVTOKEN", 1);
    creds_are(creds_get(&cfg), "CFGKEY", "CFGSECRET", "CFGTOKEN", "creds: the configuration wins");
    creds_are(creds_get(&none), "ENVKEY", "ENVSECRET", "ENVTOKEN",
              "creds: the environment when the configuration has none");
    setenv("AWS_SESSION_TOKEN", "", 1);
    creds_are(creds_get(&none), "ENVKEY", "ENVSECRET", NULL, "creds: an empty token is none");
    env_restore();

    env_clean(dir);
    setenv("AWS_ACCESS_KEY_ID", "ENVKEY", 1); /* no secret: the environment is not used */
    creds_fail(creds_get(&none), "no S3 credentials", "creds: half an environment is not used");
    env_restore();
}

static void test_creds_file(const char *dir, const char *file)
{
    StorageS3Options none = {0}, def = {.profile = "default"}, nosuch = {.profile = "nosuch"},
                     half = {.profile = "half"};
    char *want;

    write_file(file, creds_text);
    env_clean(dir);
    setenv("AWS_SHARED_CREDENTIALS_FILE", file, 1);
    creds_are(creds_get(&none), "DEFKEY", "DEFSECRET", NULL, "creds: the file's default profile");
    setenv("AWS_PROFILE", "work", 1);
    creds_are(creds_get(&none), "WORKKEY", "WORK/SECRET+x=", "WORKTOKEN",
              "creds: AWS_PROFILE; spaces trimmed, = kept in a value");
    creds_are(creds_get(&def), "DEFKEY", "DEFSECRET", NULL, "creds: the options' profile wins");
    want = xasprintf("no S3 credentials: profile \"nosuch\" of \"%s\" does not exist", file);
    creds_fail(creds_get(&nosuch), want, "creds: a missing profile, named with its file");
    free(want);
    want = xasprintf("profile \"half\" of \"%s\" lacks", file);
    creds_fail(creds_get(&half), want, "creds: a profile without a secret");
    free(want);
    env_restore();
}

static void test_creds_missing(const char *dir)
{
    StorageS3Options none = {0};
    char *path = xasprintf("%s/none", dir), *want, *aws = xasprintf("%s/.aws", dir);

    env_clean(dir);
    setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
    want = xasprintf("no credentials file \"%s\"", path);
    creds_fail(creds_get(&none), want, "creds: a missing file, named");
    free(want);
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    want = xasprintf("no credentials file \"%s/.aws/credentials\"", dir);
    creds_fail(creds_get(&none), want, "creds: ~/.aws/credentials when nothing else is set");
    free(want);
    env_restore();

    /* the same file under HOME is found without AWS_SHARED_CREDENTIALS_FILE */
    free(path);
    path = xasprintf("%s/credentials", aws);
    mkdir(aws, 0700);
    write_file(path, creds_text);
    env_clean(dir);
    creds_are(creds_get(&none), "DEFKEY", "DEFSECRET", NULL, "creds: ~/.aws/credentials");
    env_restore();
    unlink(path);
    rmdir(aws);
    free(path);
    free(aws);
}

/* Session tokens of temporary credentials run to thousands of characters;
 * the whole of one must be read (longer than the first 4 KiB read, too). */
static void test_creds_long_token(const char *dir, const char *file)
{
    StorageS3Options none = {0};
    char token[6001];
    char *text;

    for (size_t i = 0; i < sizeof(token) - 1; i++)
        token[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[i % 64];
    token[sizeof(token) - 1] = '\0';
    token[sizeof(token) - 2] = '=';
    text = xasprintf("[default]\naws_access_key_id = K\naws_secret_access_key = S\n"
                     "aws_session_token = %s\n",
                     token);
    write_file(file, text);
    env_clean(dir);
    setenv("AWS_SHARED_CREDENTIALS_FILE", file, 1);
    creds_are(creds_get(&none), "K", "S", token, "creds: a 6000-character session token");
    env_restore();
    free(text);
}

static void test_credentials(void)
{
    char dir[] = "/tmp/coffer-test-s3-XXXXXX";
    char *file;

    if (mkdtemp(dir) == NULL)
    {
        perror("mkdtemp");
        exit(1);
    }
    file = xasprintf("%s/credentials.ini", dir);
    env_save();
    test_creds_config_env(dir);
    test_creds_file(dir, file);
    test_creds_missing(dir);
    test_creds_long_token(dir, file);
    env_free();
    unlink(file);
    rmdir(dir);
    free(file);
}

/* ---- the retry wrapper, around a fake driver --------------------------------- */

#define FAKE_MAX_BEGINS 8
#define FAKE_SIZE 1000

/* The fake's faults and what it was asked. */
typedef struct Fake
{
    int fail_left;                   /* list, exists, remove: failures before a success */
    bool permanent;                  /* ...not transient */
    int calls;                       /* list, exists and remove calls */
    unsigned char object[FAKE_SIZE]; /* the one object reads return */
    uint64_t cut_at;                 /* a read breaks once at this offset (0: never) */
    bool cut_done;
    unsigned open_fail_mask; /* bit i: the i-th get_begin fails */
    int n_begins;
    uint64_t begin_offset[FAKE_MAX_BEGINS], begin_length[FAKE_MAX_BEGINS];
    int write_fail_left, end_fail_left; /* put_write, put_end (and resumes) */
    bool end_permanent;
    int write_calls, end_calls, resume_calls, abort_calls;
    Buf stored; /* what the last committed write held */
    bool committed, freed;
} Fake;

typedef struct FakeRead
{
    uint64_t pos, end;
} FakeRead;

typedef struct FakeWrite
{
    Buf data;
    bool ending;
} FakeWrite;

static Fake *fake_of(Storage *st)
{
    return st->state;
}

/* Consumes one planned failure, if any: true when this call fails. */
static bool fake_fault(int *left, bool permanent, const char *what, Error *err)
{
    if (*left <= 0)
        return false;
    (*left)--;
    error_set(err, ERR_FAILURE, "fake %s failed", what);
    if (!permanent)
        error_transient(err);
    return true;
}

static bool fake_list(Storage *st, const char *prefix, StorageList *out, Error *err)
{
    Fake *f = fake_of(st);

    (void)prefix;
    f->calls++;
    storage_list_add(out, "data/b", 2); /* added before failing: a retry must start afresh */
    if (fake_fault(&f->fail_left, f->permanent, "list", err))
        return false;
    storage_list_add(out, "data/a", 1);
    return true;
}

static bool fake_exists(Storage *st, const char *key, bool *exists, uint64_t *size, Error *err)
{
    Fake *f = fake_of(st);

    (void)key;
    f->calls++;
    if (fake_fault(&f->fail_left, f->permanent, "exists", err))
        return false;
    *exists = true;
    if (size != NULL)
        *size = FAKE_SIZE;
    return true;
}

static bool fake_remove(Storage *st, const char *key, Error *err)
{
    Fake *f = fake_of(st);

    (void)key;
    f->calls++;
    return !fake_fault(&f->fail_left, f->permanent, "remove", err);
}

static StorageRead *fake_get_begin(Storage *st, const char *key, uint64_t offset, uint64_t length,
                                   Error *err)
{
    Fake *f = fake_of(st);
    int i = f->n_begins++;
    FakeRead *fr;

    if (i < FAKE_MAX_BEGINS)
        f->begin_offset[i] = offset, f->begin_length[i] = length;
    if (f->open_fail_mask & (1u << i))
    {
        error_set(err, ERR_FAILURE, "fake open failed");
        error_transient(err);
        return NULL;
    }
    fr = xcalloc(1, sizeof(*fr));
    fr->pos = offset;
    fr->end = length > 0 ? offset + length : FAKE_SIZE;
    return storage_read_new(st, key, offset, length, fr);
}

/* At most 64 bytes a call, and never across the cut. */
static long fake_get_read(StorageRead *r, void *buf, size_t len, Error *err)
{
    Fake *f = fake_of(r->st);
    FakeRead *fr = r->state;
    uint64_t n = fr->end - fr->pos;

    if (f->cut_at > 0 && !f->cut_done && fr->pos == f->cut_at)
    {
        f->cut_done = true;
        error_set(err, ERR_FAILURE, "fake stream cut");
        error_transient(err);
        return -1;
    }
    if (n > len)
        n = len;
    if (n > 64)
        n = 64;
    if (f->cut_at > 0 && !f->cut_done && fr->pos < f->cut_at && fr->pos + n > f->cut_at)
        n = f->cut_at - fr->pos;
    memcpy(buf, f->object + fr->pos, (size_t)n);
    fr->pos += n;
    return (long)n;
}

static void fake_get_end(StorageRead *r)
{
    free(r->state);
    storage_read_free(r);
}

static StorageWrite *fake_put_begin(Storage *st, const char *key, Error *err)
{
    FakeWrite *fw = xcalloc(1, sizeof(*fw));

    (void)err;
    buf_init(&fw->data);
    return storage_write_new(st, key, fw);
}

static void fake_write_free(StorageWrite *w)
{
    FakeWrite *fw = w->state;

    buf_free(&fw->data);
    free(fw);
    storage_write_free(w);
}

/* Keeps the data even when the "send" fails, as the S3 driver does. */
static bool fake_put_write(StorageWrite *w, const void *data, size_t len, Error *err)
{
    Fake *f = fake_of(w->st);
    FakeWrite *fw = w->state;

    f->write_calls++;
    buf_append(&fw->data, data, len);
    return !fake_fault(&f->write_fail_left, false, "write", err);
}

/* Commits and frees, or fails and keeps the handle for put_resume. */
static bool fake_put_finish(StorageWrite *w, Error *err)
{
    Fake *f = fake_of(w->st);
    FakeWrite *fw = w->state;

    fw->ending = true;
    if (fake_fault(&f->end_fail_left, f->end_permanent, "commit", err))
        return false;
    buf_reset(&f->stored);
    buf_append(&f->stored, fw->data.data, fw->data.len);
    f->committed = true;
    fake_write_free(w);
    return true;
}

static bool fake_put_end(StorageWrite *w, Error *err)
{
    fake_of(w->st)->end_calls++;
    return fake_put_finish(w, err);
}

static bool fake_put_resume(StorageWrite *w, Error *err)
{
    Fake *f = fake_of(w->st);
    FakeWrite *fw = w->state;

    f->resume_calls++;
    if (fw->ending)
        return fake_put_finish(w, err);
    return !fake_fault(&f->write_fail_left, false, "write", err);
}

static void fake_put_abort(StorageWrite *w)
{
    fake_of(w->st)->abort_calls++;
    fake_write_free(w);
}

static void fake_free(Storage *st)
{
    fake_of(st)->freed = true;
}

static const StorageDriver fake_driver = {
    .name = "fake",
    .caps = STORAGE_CAP_RANGE,
    .put_begin = fake_put_begin,
    .put_write = fake_put_write,
    .put_end = fake_put_end,
    .put_abort = fake_put_abort,
    .put_resume = fake_put_resume,
    .get_begin = fake_get_begin,
    .get_read = fake_get_read,
    .get_end = fake_get_end,
    .list = fake_list,
    .remove = fake_remove,
    .exists = fake_exists,
    .free = fake_free,
};

static void fake_init(Fake *f)
{
    memset(f, 0, sizeof(*f));
    for (size_t i = 0; i < FAKE_SIZE; i++)
        f->object[i] = (unsigned char)(i * 7 + i / 251);
    buf_init(&f->stored);
}

static Storage *fake_open(Fake *f, unsigned retries)
{
    return storage_retry_wrap(storage_new_intern(&fake_driver, f, "fake:/repo"), retries);
}

static void fake_close(Fake *f, Storage *st)
{
    storage_free(st);
    ok(f->freed, "retry: freeing the wrapper frees the inner storage");
    buf_free(&f->stored);
}

static void test_retry_calls(void)
{
    Fake f;
    Storage *st;
    StorageList list;
    Error err;
    bool exists = false;
    uint64_t size = 0;

    fake_init(&f);
    st = fake_open(&f, 3);
    is_str(storage_location(st), "fake:/repo", "retry: the wrapper keeps the location");
    is_int(storage_caps(st), STORAGE_CAP_RANGE, "retry: and the capabilities");
    f.fail_left = 2;
    error_clear(&err);
    ok(storage_list(st, "data/", &list, &err), "retry: a list failing twice then succeeds");
    is_int(f.calls, 3, "retry: three calls");
    ok(!error_is_set(&err) && !err.transient && err.message[0] == '\0',
       "retry: the overcome fault leaves no error behind");
    is_int(list.count, 2, "retry: the failed tries left no entries behind");
    if (list.count == 2)
        ok(strcmp(list.items[0].key, "data/a") == 0 && strcmp(list.items[1].key, "data/b") == 0,
           "retry: the entries of the last try");
    storage_list_free(&list);

    f.calls = 0, f.fail_left = 1;
    ok(storage_exists(st, "data/a", &exists, &size, &err) && exists && size == FAKE_SIZE,
       "retry: exists after one failure");
    is_int(f.calls, 2, "retry: exists called twice");
    ok(!error_is_set(&err), "retry: exists: no error left");

    f.calls = 0, f.fail_left = 1, f.permanent = true;
    ok(!storage_remove(st, "data/a", &err), "retry: a permanent failure fails");
    is_int(f.calls, 1, "retry: a permanent failure is not tried again");
    is_str(err.message, "fake remove failed", "retry: its error is the driver's");
    is_str(err.detail, "", "retry: and says nothing of tries");
    fake_close(&f, st);
}

static void test_retry_budget(void)
{
    Fake f;
    Storage *st;
    Error err;
    bool exists = true;

    fake_init(&f);
    st = fake_open(&f, 2);
    f.fail_left = 100;
    error_clear(&err);
    ok(!storage_exists(st, "data/a", &exists, NULL, &err), "retry: a fault that stays fails");
    is_int(f.calls, 3, "retry: retries=2 is three calls");
    is_str(err.message, "fake exists failed", "retry: the last fault is reported");
    is_str(err.detail, "gave up after 3 tries", "retry: and how often it was tried");
    ok(err.transient, "retry: still marked transient");
    fake_close(&f, st);

    fake_init(&f);
    st = fake_open(&f, 0);
    f.fail_left = 1;
    ok(!storage_remove(st, "data/a", &err) && f.calls == 1, "retry: retries=0 is one call");
    is_str(err.detail, "", "retry: one try says nothing of tries");
    fake_close(&f, st);
}

typedef struct Flaky
{
    int fail_left, calls;
} Flaky;

static bool flaky_once(void *arg, Error *err)
{
    Flaky *fl = arg;

    fl->calls++;
    return !fake_fault(&fl->fail_left, false, "probe", err);
}

static void test_retry_run(void)
{
    Fake f;
    Storage *st;
    Flaky fl = {.fail_left = 1};
    Error err;

    fake_init(&f);
    st = fake_open(&f, 1);
    error_clear(&err);
    ok(storage_retry_run(st, flaky_once, &fl, &err), "retry run: succeeds on the second try");
    ok(fl.calls == 2 && !error_is_set(&err), "retry run: two calls, no error left");
    fl = (Flaky){.fail_left = 5};
    ok(!storage_retry_run(st, flaky_once, &fl, &err) && fl.calls == 2,
       "retry run: gives up after the budget (retries=1)");
    is_str(err.detail, "gave up after 2 tries", "retry run: says so");
    fake_close(&f, st);
}

static void test_retry_read_whole(void)
{
    Fake f;
    Storage *st;
    Error err;
    unsigned char *data = NULL;
    size_t len = 0;

    fake_init(&f);
    st = fake_open(&f, 3);
    f.cut_at = 300;
    error_clear(&err);
    ok(storage_get(st, "data/a", &data, &len, &err), "retry read: a cut stream is read whole");
    ok(len == FAKE_SIZE && data != NULL && memcmp(data, f.object, FAKE_SIZE) == 0,
       "retry read: the bytes are the object's");
    is_int(f.n_begins, 2, "retry read: one more request");
    ok(f.begin_offset[1] == 300 && f.begin_length[1] == 0,
       "retry read: it goes on at offset 300, to the end");
    ok(!error_is_set(&err), "retry read: no error left");
    free(data);
    fake_close(&f, st);
}

static void test_retry_read_range(void)
{
    Fake f;
    Storage *st;
    Error err;
    unsigned char *data = NULL;

    fake_init(&f);
    st = fake_open(&f, 3);
    f.cut_at = 350;
    f.open_fail_mask = 1u << 1; /* the first reopen fails too */
    error_clear(&err);
    ok(storage_get_range(st, "data/a", 100, 500, &data, &err),
       "retry read: a cut range, then a failed reopen");
    ok(data != NULL && memcmp(data, f.object + 100, 500) == 0,
       "retry read: the range's bytes are the object's");
    is_int(f.n_begins, 3, "retry read: the first request and two reopens");
    ok(f.begin_offset[0] == 100 && f.begin_length[0] == 500, "retry read: first 500 at 100");
    ok(f.begin_offset[1] == 350 && f.begin_length[1] == 250 && f.begin_offset[2] == 350 &&
           f.begin_length[2] == 250,
       "retry read: then the 250 left at 350, twice");
    ok(!error_is_set(&err), "retry read: no error left");
    free(data);
    fake_close(&f, st);
}

static void test_retry_read_open(void)
{
    Fake f;
    Storage *st;
    Error err;
    unsigned char *data = NULL;

    fake_init(&f);
    st = fake_open(&f, 1);
    f.open_fail_mask = 3; /* the first open and its retry */
    error_clear(&err);
    ok(!storage_get_range(st, "data/a", 0, 10, &data, &err) && data == NULL,
       "retry read: an open that keeps failing fails");
    is_int(f.n_begins, 2, "retry read: tried twice with retries=1");
    is_str(err.detail, "gave up after 2 tries", "retry read: says so");
    fake_close(&f, st);
}

static void test_retry_put_resumed(void)
{
    Fake f;
    Storage *st;
    Error err;
    StorageWrite *w;

    fake_init(&f);
    st = fake_open(&f, 3);
    f.end_fail_left = 1;
    error_clear(&err);
    ok(storage_put(st, "data/a", "hello", 5, &err), "retry put: a failed commit is resumed");
    ok(f.end_calls == 1 && f.resume_calls == 1 && f.abort_calls == 0,
       "retry put: one put_end, one put_resume, no abort");
    ok(f.committed && f.stored.len == 5 && memcmp(f.stored.data, "hello", 5) == 0,
       "retry put: the object is committed whole");
    ok(!error_is_set(&err), "retry put: no error left");

    f = (Fake){.write_fail_left = 1, .stored = f.stored};
    w = storage_put_begin(st, "data/b", &err);
    ok(w != NULL && storage_put_write(w, "abc", 3, &err), "retry put: a failed write is resumed");
    ok(storage_put_write(w, "def", 3, &err) && storage_put_end(w, &err),
       "retry put: the write goes on and ends");
    ok(f.write_calls == 2 && f.resume_calls == 1, "retry put: the data is not written twice");
    ok(f.committed && f.stored.len == 6 && memcmp(f.stored.data, "abcdef", 6) == 0,
       "retry put: the object holds each byte once");
    fake_close(&f, st);
}

static void test_retry_put_aborted(void)
{
    Fake f;
    Storage *st;
    Error err;

    fake_init(&f);
    st = fake_open(&f, 2);
    f.end_fail_left = 100;
    error_clear(&err);
    ok(!storage_put(st, "data/a", "hello", 5, &err), "retry put: a commit that keeps failing");
    ok(f.end_calls == 1 && f.resume_calls == 2, "retry put: put_end, then two resumes");
    is_int(f.abort_calls, 1, "retry put: aborted once");
    ok(!f.committed, "retry put: nothing committed");
    is_str(err.detail, "gave up after 3 tries", "retry put: says so");

    f = (Fake){.end_fail_left = 1, .end_permanent = true, .stored = f.stored};
    ok(!storage_put(st, "data/a", "hello", 5, &err), "retry put: a permanent commit failure");
    ok(f.resume_calls == 0 && f.abort_calls == 1, "retry put: not resumed, aborted once");
    is_str(err.message, "fake commit failed", "retry put: the driver's error");
    fake_close(&f, st);
}

static void test_retry(void)
{
    test_retry_calls();
    test_retry_budget();
    test_retry_run();
    test_retry_read_whole();
    test_retry_read_range();
    test_retry_read_open();
    test_retry_put_resumed();
    test_retry_put_aborted();
}

int main(void)
{
    struct timespec t0, t1;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    test_encode();
    test_url_paths();
    test_url_queries();
    test_address();
    test_xml_get();
    test_xml_next();
    test_xml_escape();
    test_error_meaning();
    test_error_transient();
    test_credentials();
    test_retry();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("# %.2f s\n", (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    return tap_done();
}
