-- The `llm:MODEL` effect: egress to the model provider's API host, and to
-- nothing else (allowlist mode: a proxy outside the sandbox, port 443),
-- and the host's CA certificates (/etc/ssl/certs) so clients can check it.
-- `llm` with no model, or a model no row below knows, allows nothing and
-- says why in explain.  With `network` as well the stage has the host's
-- network (host mode) and needs no rule.
--
-- To change the table, put a file of this name (25-llm.lua) in
-- /etc/sandlot/policies.d or ~/.config/sandlot/policies.d: it replaces this
-- one.  To add a host without replacing it, call policy:allow_host in a
-- later file of your own.

-- Model name prefix (lower case) -> API hosts.  The first match wins.
local PROVIDERS = {
  { prefixes = { "claude-" }, hosts = { "api.anthropic.com" } },
  { prefixes = { "gpt-", "o1", "o3", "o4", "chatgpt-", "text-embedding-", "dall-e-", "whisper-",
                 "tts-", "davinci-", "babbage-" },
    hosts = { "api.openai.com" } },
  { prefixes = { "gemini-", "embedding-" },
    hosts = { "generativelanguage.googleapis.com" } },
  { prefixes = { "mistral-", "codestral-", "pixtral-", "ministral-", "magistral-",
                 "open-mistral-", "open-mixtral-", "devstral-" },
    hosts = { "api.mistral.ai" } },
  { prefixes = { "deepseek-" }, hosts = { "api.deepseek.com" } },
  { prefixes = { "command-", "embed-", "rerank-", "c4ai-" }, hosts = { "api.cohere.com" } },
  { prefixes = { "grok-" }, hosts = { "api.x.ai" } },
  { prefixes = { "llama-", "llama3-", "mixtral-", "gemma-", "gemma2-", "qwen-", "moonshotai/" },
    hosts = { "api.groq.com" } },
}

local function hosts_for(model)
  local m = model:lower()
  for _, p in ipairs(PROVIDERS) do
    for _, prefix in ipairs(p.prefixes) do
      if m:sub(1, #prefix) == prefix then return p.hosts end
    end
  end
  return nil
end

if stage:has("network") then
  return
end

local allowed = false
for _, e in ipairs(stage:effects_of("llm")) do
  if e.model == nil then
    policy:note("llm without a model allows no API host (name one: -e llm:MODEL)")
  else
    local hosts = hosts_for(e.model)
    if hosts then
      for _, h in ipairs(hosts) do policy:allow_host(h, 443) end
      allowed = true
    else
      local shown = e.model:sub(1, 100):gsub("%c", "?")
      policy:note(("llm:%s: no provider known for this model, so no API host is allowed "
                   .. "(see 25-llm.lua)"):format(shown))
    end
  end
end

-- TLS runs end to end through the proxy: the client checks the API's
-- certificate itself.
if allowed then
  policy:ro_bind_try("/etc/ssl/certs")
end
