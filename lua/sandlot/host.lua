--- Host facts that policy scripts may read as the global `host`.
local core = require("sandlot.core")
local lfs = require("lfs")

local M = {}

local function kind(path)
  local a = lfs.symlinkattributes(path)
  if not a then return nil end
  return a.mode, a.target
end

--- Collect the facts once per run; scripts get a copy.
-- Fields:
--   merged_usr   /bin is a symlink into /usr (Debian 12, Fedora, Arch...)
--   nix_store    /nix/store exists
--   links        top-level runtime paths that are symlinks: path -> link text
--   dirs         top-level runtime paths that are real directories: path -> true
--   resolv_conf_target  where /etc/resolv.conf points when it is a symlink (absolute)
--   uid, euid    the invoking user's ids (given by the C core)
--   checks       sandlot doctor's findings: checks.userns.ok, checks.landlock_abi, ...
--   homes        home directories: /root, each directory of /home, and the homes
--                of /etc/passwd's accounts that have a login shell
--   sandlot_config  sandlot's own configuration directories (system, user)
function M.facts(ids, layers)
  local f = { links = {}, dirs = {}, uid = ids and ids.uid, euid = ids and ids.euid,
              homes = M.homes(), sandlot_config = {} }
  for _, dir in ipairs({ layers and layers.system_dir, layers and layers.user_dir }) do
    -- the directory above policies.d: sandlot's own, as a whole
    local parent = dir:match("^(/.+)/policies%.d$")
    f.sandlot_config[#f.sandlot_config + 1] = parent or dir
  end
  for _, p in ipairs({ "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32" }) do
    local mode, target = kind(p)
    if mode == "link" then
      f.links[p] = target
    elseif mode == "directory" then
      f.dirs[p] = true
    end
  end
  f.merged_usr = f.links["/bin"] ~= nil and f.links["/bin"]:match("^/?usr/bin/?$") ~= nil
  f.nix_store = kind("/nix/store") == "directory"
  local mode, target = kind("/etc/resolv.conf")
  if mode == "link" and target then
    if target:sub(1, 1) ~= "/" then target = "/etc/" .. target end
    -- normalise "x/../y" the way the kernel would (no further links followed)
    local parts = {}
    for part in target:gmatch("[^/]+") do
      if part == ".." then parts[#parts] = nil elseif part ~= "." then parts[#parts + 1] = part end
    end
    f.resolv_conf_target = "/" .. table.concat(parts, "/")
  end
  -- host.checks: what `sandlot doctor` reports, computed on first use only
  -- (it forks), so runs whose scripts never read it pay nothing.
  return setmetatable(f, { __index = function(t, k)
    if k ~= "checks" then return nil end
    local checks = core.host_checks()
    rawset(t, "checks", checks)
    return checks
  end })
end

--- The host's home directories, each once: /root, every directory in
-- /home, and the home of each /etc/passwd account with a login shell.
function M.homes()
  local list, seen = {}, {}
  local function add(home)
    if home and home:sub(1, 1) == "/" and home ~= "/" and not seen[home]
        and core.check_path(home) == home then
      seen[home] = true
      list[#list + 1] = home
    end
  end
  add("/root")
  if kind("/home") == "directory" then
    local ok, iter, dir = pcall(lfs.dir, "/home")
    if ok then
      for name in iter, dir do
        if name ~= "." and name ~= ".." and kind("/home/" .. name) == "directory" then
          add("/home/" .. name)
        end
      end
    end
  end
  local passwd = io.open("/etc/passwd", "r")
  if passwd then
    for line in passwd:lines() do
      local home, shell = line:match("^[^:]*:[^:]*:[^:]*:[^:]*:[^:]*:([^:]*):([^:]*)$")
      if shell and not shell:find("nologin$") and not shell:find("/false$")
          and not shell:find("/sync$") then
        add(home)
      end
    end
    passwd:close()
  end
  return list
end

return M
