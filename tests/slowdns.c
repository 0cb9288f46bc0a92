/*
 * slowdns.so: an LD_PRELOAD shim for proxy_spec.lua.  getaddrinfo for
 * "slow.example.com" takes 3 seconds and then fails; every other name goes
 * to the real getaddrinfo.  It shows that one slow lookup does not hold up
 * the proxy's other connections.
 */
#include <dlfcn.h>
#include <netdb.h>
#include <string.h>
#include <unistd.h>

typedef int gai_fn(const char *, const char *, const struct addrinfo *, struct addrinfo **);

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    if (node && strcmp(node, "slow.example.com") == 0) {
        sleep(3);
        return EAI_NONAME;
    }
    gai_fn *real = (gai_fn *)dlsym(RTLD_NEXT, "getaddrinfo");
    return real ? real(node, service, hints, res) : EAI_FAIL;
}
