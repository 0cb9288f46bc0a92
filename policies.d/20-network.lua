-- The `network` effect: share the host network namespace and the files
-- name resolution and TLS need, each only if present on the host.  The
-- baseline's generated /etc/nsswitch.conf already says "hosts: files dns",
-- so the host's (which may name modules the sandbox cannot reach) stays out.

-- /etc/resolv.conf is often a symlink into /run (systemd-resolved), which
-- is protected (05-protected.lua): open exactly that file, a resolver
-- configuration with nothing secret, so any layer may bind it.
if host.resolv_conf_target then
  policy:unprotect(host.resolv_conf_target)
end

if not stage:has("network") then
  return
end

policy.network = true
for _, path in ipairs({ "/etc/resolv.conf", "/etc/hosts", "/etc/ssl/certs" }) do
  policy:ro_bind_try(path)
end

-- Programs that read the link see its target too.
if host.resolv_conf_target then
  policy:ro_bind_try(host.resolv_conf_target)
end
