-- An `llm:MODEL` effect: the stage may call its model's API and nothing
-- else.  The built-in 25-llm.lua already allows the provider's API host
-- (allowlist mode: sandlot's proxy, HTTPS_PROXY and friends set inside);
-- this layer passes exactly one API-key variable from the caller's
-- environment, and nothing else of it gets in.
if stage:has("llm") then
  policy:allow_env("ANTHROPIC_API_KEY")
end
