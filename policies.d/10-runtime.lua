-- Host runtime, read-only, so ordinary programs run: /usr, the merged-usr
-- symlinks (or real binds where the host is not merged-usr), /nix/store
-- when present, and the few /etc files the dynamic loader needs.
if host.nix_store then
  policy:ro_bind("/nix/store")
end

policy:ro_bind("/usr")

for _, path in ipairs({ "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32" }) do
  if host.links[path] then
    policy:symlink(host.links[path], path)
  elseif host.dirs[path] then
    policy:ro_bind(path)
  end
end

-- ld.so's cache and configuration; /etc/alternatives for Debian's
-- alternatives links (awk, editor, ...); the host's time zone.  No other
-- /etc file.
for _, path in ipairs({ "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
                        "/etc/alternatives", "/etc/localtime" }) do
  policy:ro_bind_try(path)
end
