/*
 * fuzz_config — libFuzzer target for the YAML config loader (od_config_load): every input is
 * written to a private temporary file and loaded over the defaults, then disposed of.
 * Invariant: a load that fails says why, as "FILE:LINE:COL: message" lines.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char config_path[64];

static void config_cleanup(void)
{
    if (config_path[0]) unlink(config_path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (config_path[0] == '\0') {
        snprintf(config_path, sizeof(config_path), "/tmp/orderd-fuzz-config-%d.yaml", (int)getpid());
        atexit(config_cleanup);
    }
    FILE *fp = fopen(config_path, "wb");
    if (fp == NULL) abort();
    if (size && fwrite(data, 1, size, fp) != size) abort();
    fclose(fp);

    od_config_t c;
    od_config_defaults(&c);
    od_buf_t errors = OD_BUF_INIT;
    int rc = od_config_load(&c, config_path, &errors);
    if (rc != 0 && (errors.len == 0 || strncmp(errors.base, config_path, strlen(config_path)) != 0)) abort();
    od_config_dispose(&c);
    od_buf_dispose(&errors);
    return 0;
}
