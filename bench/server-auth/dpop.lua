-- wrk script for bench/server-auth/run.sh and bench/ab/instructions.sh (DPOP=1):
-- GET with a DPoP-bound access token and a fresh proof per request (a proof is
-- accepted once). Each thread reads its own file of proofs (proofs-N.txt, made
-- by the tessera-client example `dpop_proofs`) one line per request; when a file
-- runs out the request goes without a proof and counts as non-2xx, which the
-- scripts report. A warm-up (AB_WARMUP set, one thread) reads the next file, so
-- the measured run's proofs are still unused.
--
--   wrk -s dpop.lua URL -- PROOF_DIR ACCESS_TOKEN
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("id", next_id)
end

function init(args)
  local file = id + (os.getenv("AB_WARMUP") and 1 or 0)
  proofs = assert(io.open(args[1] .. "/proofs-" .. file .. ".txt", "r"))
  wrk.headers["Authorization"] = "DPoP " .. args[2]
end

function request()
  wrk.headers["DPoP"] = proofs:read("*l")
  return wrk.format()
end
