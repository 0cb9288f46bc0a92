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
function M.facts(ids)
  local f = { links = {}, dirs = {}, uid = ids and ids.uid, euid = ids and ids.euid }
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

return M
