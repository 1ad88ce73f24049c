/*
 * credentials.c - where the S3 keys come from: the configuration, the
 * environment, or a profile of the shared credentials file, in that order,
 * as the AWS tools look for them. Secrets are only ever copied into memory
 * that the driver wipes when it closes.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "storage/s3/s3_intern.h"

static char *cred_trim(char *s)
{
    char *end;

    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/* The whole of a small file (or pipe), NUL-terminated: a line may be long
 * (session tokens run to thousands of characters). The buffer grows by
 * hand so that no copy of a secret is left unwiped; one wipe of *len + 1
 * bytes clears the rest. */
static char *cred_slurp(FILE *f, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *text = xmalloc(cap);

    while ((n += fread(text + n, 1, cap - 1 - n, f)) == cap - 1)
    {
        char *bigger = xmalloc(cap * 2);

        memcpy(bigger, text, n);
        mem_wipe(text, cap);
        free(text);
        text = bigger;
        cap *= 2;
    }
    text[n] = '\0';
    *len = n;
    return text;
}

/* Reads profile's keys from an INI-style credentials file. */
static bool cred_file(const char *path, const char *profile, char **key, char **secret,
                      char **token, Error *err)
{
    FILE *f = fopen(path, "r");
    char *text, *line, *next;
    size_t len;
    bool in = false, seen = false;

    if (f == NULL)
        return error_set(err, ERR_USAGE, "no S3 credentials: none in the configuration or the "
                                         "environment, and no credentials file \"%s\"",
                         path);
    text = cred_slurp(f, &len);
    fclose(f);
    for (line = text; line != NULL; line = next)
    {
        char *s, *eq;

        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        s = cred_trim(line);
        if (*s == '[')
        {
            char *end = strchr(s, ']');

            if (end != NULL)
                *end = '\0';
            in = strcmp(cred_trim(s + 1), profile) == 0;
            seen = seen || in;
            continue;
        }
        if (!in || (eq = strchr(s, '=')) == NULL)
            continue;
        *eq = '\0';
        s = cred_trim(s);
        if (strcmp(s, "aws_access_key_id") == 0 && *key == NULL)
            *key = xstrdup(cred_trim(eq + 1));
        else if (strcmp(s, "aws_secret_access_key") == 0 && *secret == NULL)
            *secret = xstrdup(cred_trim(eq + 1));
        else if (strcmp(s, "aws_session_token") == 0 && *token == NULL)
            *token = xstrdup(cred_trim(eq + 1));
    }
    mem_wipe(text, len + 1);
    free(text);
    if (*key != NULL && *secret != NULL)
        return true;
    error_set(err, ERR_USAGE, "no S3 credentials: profile \"%s\" of \"%s\" %s", profile, path,
              seen ? "lacks aws_access_key_id or aws_secret_access_key" : "does not exist");
    return error_hint(err, "set access_key_id and secret_access_key in the repository's s3 "
                           "settings, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
}

bool s3_credentials(const StorageS3Options *o, char **key, char **secret, char **token,
                    Error *err)
{
    const char *env_key = getenv("AWS_ACCESS_KEY_ID"), *env_secret = getenv("AWS_SECRET_ACCESS_KEY");
    const char *profile, *path, *home;
    char *fallback = NULL;
    bool ok;

    *key = *secret = *token = NULL;
    if (o->access_key_id != NULL && o->secret_access_key != NULL)
    {
        *key = xstrdup(o->access_key_id);
        *secret = xstrdup(o->secret_access_key);
        *token = o->session_token != NULL ? xstrdup(o->session_token) : NULL;
        return true;
    }
    if (env_key != NULL && env_key[0] != '\0' && env_secret != NULL && env_secret[0] != '\0')
    {
        const char *env_token = getenv("AWS_SESSION_TOKEN");

        *key = xstrdup(env_key);
        *secret = xstrdup(env_secret);
        *token = env_token != NULL && env_token[0] != '\0' ? xstrdup(env_token) : NULL;
        return true;
    }
    profile = o->profile != NULL ? o->profile : getenv("AWS_PROFILE");
    if (profile == NULL || profile[0] == '\0')
        profile = "default";
    path = getenv("AWS_SHARED_CREDENTIALS_FILE");
    if (path == NULL || path[0] == '\0')
    {
        home = getenv("HOME");
        fallback = xasprintf("%s/.aws/credentials", home != NULL ? home : "");
        path = fallback;
    }
    ok = cred_file(path, profile, key, secret, token, err);
    free(fallback);
    if (!ok)
    {
        free(*key);
        if (*secret != NULL)
            mem_wipe(*secret, strlen(*secret));
        free(*secret);
        free(*token);
        *key = *secret = *token = NULL;
    }
    return ok;
}
