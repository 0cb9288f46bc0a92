-- Protected host paths: no stage binds them, whatever its effects, its
-- --policy scripts or its --policy-json say.  A read-only bind of an
-- ancestor shows an empty read-only placeholder in their place (explain
-- lists each mask); a read-write bind of an ancestor, or binding "/", is
-- refused.  Only this layer and the system layer (/etc/sandlot/policies.d)
-- can open one, with policy:unprotect(path).  No layer replaces this file.

-- Credentials, in every home: /root, each directory of /home, and the
-- homes of /etc/passwd's login accounts (host.homes).
local CREDENTIALS = { ".ssh", ".gnupg", ".aws", ".config/gcloud", ".docker", ".kube",
                      ".netrc", ".git-credentials", ".pypirc", ".npmrc" }
local paths = {}
for _, home in ipairs(host.homes) do
  for _, name in ipairs(CREDENTIALS) do
    paths[#paths + 1] = home .. "/" .. name
  end
end
policy:protect(table.unpack(paths))

-- Host secrets: password hashes, sudo's rules, ssh host keys.
policy:protect("/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/sudoers.d")
if sandlot.is_dir("/etc/ssh") then
  for name in lfs.dir("/etc/ssh") do
    if name:find("^ssh_host_") then policy:protect("/etc/ssh/" .. name) end
  end
end

-- Runtime sockets, the kernel's trees, the boot files.
policy:protect("/run", "/var/run", "/proc", "/sys", "/dev", "/boot")

-- sandlot's own configuration: the system and the user layer.
for _, dir in ipairs(host.sandlot_config) do
  policy:protect(dir)
end

-- For writing, also the system trees, and root's home: what a stage left
-- there would run as root later (~/.cargo/bin, ~/.profile).
policy:protect_writes("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
                      "/var/lib", "/boot", "/root")
