-- wrk script: a small non-streaming chat completion.
-- MODEL and KEY come from the environment (see bench/run.sh).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("KEY") or "bench-key")
wrk.body = '{"model":"' .. (os.getenv("MODEL") or "mock/bench") .. '","messages":[{"role":"user","content":"hi"}]}'
