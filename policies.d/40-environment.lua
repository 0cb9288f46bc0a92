-- The environment starts empty (--clearenv).  These host variables pass
-- through when set: noether's allowlist, then the time zone and every
-- locale category, so `date` and `sort` behave as on the host, and TERM, so
-- what runs on the stage's terminal (its pty) draws as on the host's.
-- HOME and USER are forced to values that match the sandbox.
policy:allow_env("PATH", "HOME", "USER", "LANG", "LC_ALL", "LC_CTYPE", "NIX_PATH",
                 "NIX_SSL_CERT_FILE", "SSL_CERT_FILE", "NOETHER_LOG_LEVEL", "RUST_LOG")
policy:allow_env("TZ", "LANGUAGE", "LC_ADDRESS", "LC_COLLATE", "LC_IDENTIFICATION",
                 "LC_MEASUREMENT", "LC_MESSAGES", "LC_MONETARY", "LC_NAME", "LC_NUMERIC",
                 "LC_PAPER", "LC_TELEPHONE", "LC_TIME")
policy:allow_env("TERM")
policy:setenv("HOME", "/work")
policy:setenv("USER", "nobody")
