// The C side of libpwstore: the thread-local text of the last error, and the
// functions that need no Go.
#include <stdlib.h>
#include <string.h>

#include "pwstore.h"

// The last error of each C thread. Go code runs on the calling C thread for the
// whole of an exported call, so pwc_set_err, called from there, sets the caller's.
static _Thread_local char *last_err;

void pwc_set_err(const char *msg, size_t n) {
  char *s = malloc(n + 1);
  if (s == NULL) return; // keep the old text rather than crash
  memcpy(s, msg, n);
  s[n] = 0;
  free(last_err);
  last_err = s;
}

const char *pw_errmsg(void) { return last_err != NULL ? last_err : ""; }

void pw_config_init(pw_config *c) {
  if (c == NULL) return;
  memset(c, 0, sizeof *c);
  c->version = PW_CONFIG_VERSION;
}
