-- The environment starts empty (--clearenv).  These host variables pass
-- through when set, noether's allowlist; HOME and USER are forced to
-- values that match the sandbox.
policy:allow_env("PATH", "HOME", "USER", "LANG", "LC_ALL", "LC_CTYPE", "NIX_PATH",
                 "NIX_SSL_CERT_FILE", "SSL_CERT_FILE", "NOETHER_LOG_LEVEL", "RUST_LOG")
policy:setenv("HOME", "/work")
policy:setenv("USER", "nobody")
