-- A per-stage policy script for `make demo`: tell the stage where its
-- input is.  The read-only bind itself comes from the fs-read effect.
local inputs = stage:effects_of("fs-read")
if #inputs > 0 then
  policy:setenv("DATA", inputs[1].path)
end
