-- An `llm` effect: the stage may call a model API. Turn the network on and
-- pass exactly one API-key variable from the caller's environment; nothing
-- else of the caller's environment gets in.
if stage:has("llm") then
  policy.network = true
  for _, path in ipairs({ "/etc/resolv.conf", "/etc/hosts", "/etc/ssl/certs" }) do
    policy:ro_bind_try(path)
  end
  policy:allow_env("ANTHROPIC_API_KEY")
end
