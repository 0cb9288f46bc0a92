/* The egress proxy (issue 14).  Placeholder until the proxy lands. */
#include "egress.h"

int proxy_serve(const struct proxy_config *cfg)
{
    (void)cfg;
    return -1;
}
