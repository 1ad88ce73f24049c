/*
 * main.c - entry point: parse the command line, dispatch, map errors to exit codes.
 */
#include "cli/cli.h"

int main(int argc, char **argv)
{
    return cli_main(argc, argv);
}
