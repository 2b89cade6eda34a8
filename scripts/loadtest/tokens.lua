-- wrk: GET /verify with the bearer tokens of a file (one per line), each in turn, starting
-- with token FIRST (default 1; scripts/loadtest.sh fills a cache in 1-second runs that go on
-- where the last one stopped, because wrk always runs for its whole -d).
--   wrk -t1 ... -s scripts/loadtest/tokens.lua URL -- TOKENS_FILE [FIRST]
-- Requests are formatted once in init, so the client spends no time building them.
-- Run from the repository root (scripts/loadtest.sh does).
dofile("scripts/loadtest/report.lua")

local requests, turn, token_count = {}, 0, 0

function init(args)
  for line in io.lines(args[1]) do
    token_count = token_count + 1
    requests[token_count] = wrk.format("GET", "/verify", { Authorization = "Bearer " .. line })
  end
  assert(token_count > 0, "no tokens in " .. args[1])
  turn = ((tonumber(args[2]) or 1) - 1) % token_count
end

function request()
  turn = turn % token_count + 1
  return requests[turn]
end
