/*
 * passphrase.c - where the repository passphrase comes from: the
 * environment, a private file, or the terminal with echo off. It lives in
 * the command layer because only a command may prompt; the repository
 * receives the passphrase as bytes. It is never logged and is wiped by
 * whoever frees it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "common/mem.h"
#include "command/command.h"

#define CMD_PASS_MAX 4096

/* Drops a trailing newline (a file written by echo, or a line on a tty). */
static void cmd_pass_chomp(char *s)
{
    size_t n = strlen(s);

    if (n > 0 && s[n - 1] == '\n')
        s[--n] = '\0';
    if (n > 0 && s[n - 1] == '\r')
        s[--n] = '\0';
}

static char *cmd_pass_from_file(const char *path, Error *err)
{
    struct stat sb;
    char *buf;
    ssize_t n;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
    {
        error_set(err, ERR_USAGE, "could not open passphrase file \"%s\": %s", path,
                  strerror(errno));
        return NULL;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
    {
        close(fd);
        error_set(err, ERR_USAGE, "passphrase file \"%s\" is not a regular file", path);
        return NULL;
    }
    if (sb.st_mode & (S_IRWXG | S_IRWXO))
    {
        close(fd);
        error_set(err, ERR_USAGE,
                  "passphrase file \"%s\" is accessible by group or others "
                  "(mode %04o)",
                  path, (unsigned)(sb.st_mode & 07777));
        error_hint(err, "run \"chmod 600 %s\"", path);
        return NULL;
    }
    buf = xmalloc(CMD_PASS_MAX + 1);
    while (got < CMD_PASS_MAX)
    {
        n = read(fd, buf + got, CMD_PASS_MAX - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    cmd_pass_chomp(buf);
    if (buf[0] == '\0')
    {
        free(buf);
        error_set(err, ERR_USAGE, "passphrase file \"%s\" is empty", path);
        return NULL;
    }
    return buf;
}

/* One line from the terminal with echo off. */
static char *cmd_pass_prompt(int fd, const char *prompt, Error *err)
{
    struct termios old, quiet;
    char *buf = xmalloc(CMD_PASS_MAX + 1);
    size_t got = 0;
    bool restore = false;

    if (tcgetattr(fd, &old) == 0)
    {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
        quiet.c_lflag |= ICANON;
        restore = tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
    }
    if (write(fd, prompt, strlen(prompt)) < 0)
    {
        /* nothing to do: the read below still works or fails on its own */
    }
    while (got < CMD_PASS_MAX)
    {
        char c;
        ssize_t n = read(fd, &c, 1);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || c == '\n')
            break;
        buf[got++] = c;
    }
    buf[got] = '\0';
    if (restore)
        tcsetattr(fd, TCSAFLUSH, &old);
    if (write(fd, "\n", 1) < 0)
    {
        /* the newline is cosmetic */
    }
    cmd_pass_chomp(buf);
    if (buf[0] == '\0')
    {
        free(buf);
        error_set(err, ERR_USAGE, "empty passphrase");
        return NULL;
    }
    return buf;
}

char *cmd_passphrase_read(const char *passphrase_file, bool confirm, Error *err)
{
    const char *env = getenv("COFFER_PASSPHRASE");
    char *pass, *again;
    int fd;

    if (env != NULL)
    {
        if (env[0] == '\0')
        {
            error_set(err, ERR_USAGE, "COFFER_PASSPHRASE is set but empty");
            return NULL;
        }
        return xstrdup(env);
    }
    if (passphrase_file != NULL && passphrase_file[0] != '\0')
        return cmd_pass_from_file(passphrase_file, err);
    fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
    {
        error_set(err, ERR_USAGE, "no passphrase for the repository");
        error_hint(err, "set COFFER_PASSPHRASE, set repository.passphrase_file in coffer.yaml, "
                        "or run on a terminal");
        return NULL;
    }
    pass = cmd_pass_prompt(fd, "repository passphrase: ", err);
    if (pass != NULL && confirm)
    {
        again = cmd_pass_prompt(fd, "repeat passphrase: ", err);
        if (again != NULL && strcmp(pass, again) != 0)
            error_set(err, ERR_USAGE, "the passphrases do not match");
        if (again == NULL || strcmp(pass, again) != 0)
        {
            mem_wipe(pass, strlen(pass));
            free(pass);
            pass = NULL;
        }
        if (again != NULL)
        {
            mem_wipe(again, strlen(again));
            free(again);
        }
    }
    close(fd);
    return pass;
}
