-- fs-read:P binds P read-only at P; fs-write:P binds it read-write.
-- A path that does not exist is an error here, with its name, rather
-- than a bwrap failure later.
local function existing(effect)
  if not sandlot.exists(effect.path) then
    error(("%s: %s does not exist on the host"):format(effect.kind, effect.path), 2)
  end
  return effect.path
end

for _, e in ipairs(stage:effects_of("fs-write")) do
  policy:rw_bind(existing(e))
end
for _, e in ipairs(stage:effects_of("fs-read")) do
  policy:ro_bind(existing(e))
end
