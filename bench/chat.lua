-- wrk script: a small non-streaming chat completion.
-- MODEL and KEY come from the environment (see bench/run.sh).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("KEY") or "bench-key")
-- With STREAM=1 the request asks for a stream (wrk reads it to its end).
local stream = os.getenv("STREAM") == "1" and '"stream":true,' or ""
wrk.body = '{"model":"' .. (os.getenv("MODEL") or "mock/bench") .. '",' .. stream .. '"messages":[{"role":"user","content":"hi"}]}'
