/* pwcheck.h - what the C test programs (pwtest.c, pwdefer.c) share: the failure count and
 * CHECK, which exits on any code but PW_OK. Each program prints "<n> failures" at its end. */
#ifndef PWCHECK_H
#define PWCHECK_H

#include <stdio.h>
#include <stdlib.h>

#include <pwstore.h>

static int failures;

#define CHECK(call)                                                                         \
  do {                                                                                    \
    int rc_ = (call);                                                                     \
    if (rc_ != PW_OK) {                                                                   \
      fprintf(stderr, "%s:%d: %s = %d: %s\n", __FILE__, __LINE__, #call, rc_, pw_errmsg()); \
      exit(1);                                                                            \
    }                                                                                     \
  } while (0)

#endif
