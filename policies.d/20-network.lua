-- The `network` effect: share the host network namespace and the files
-- name resolution and TLS need, each only if present on the host.
if not stage:has("network") then
  return
end

policy.network = true
for _, path in ipairs({ "/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf",
                        "/etc/ssl/certs" }) do
  policy:ro_bind_try(path)
end

-- /etc/resolv.conf is often a symlink (systemd-resolved, NetworkManager);
-- programs that read the link see its target too.
-- Its target often lives under /run (systemd-resolved), which is
-- protected (05-protected.lua): open exactly that file.
if host.resolv_conf_target then
  policy:unprotect(host.resolv_conf_target)
  policy:ro_bind_try(host.resolv_conf_target)
end
