-- wrk script for bench/ab/instructions.sh (DPOP=1): GET with a DPoP-bound access
-- token and a fresh proof per request (a proof is accepted once). The warm-up
-- (AB_WARMUP set) reads proofs-2.txt, the measured run proofs-1.txt, both made
-- for the same token by the tessera-client example `dpop_proofs`; when a file
-- runs out the request goes without a proof and counts as non-2xx.
--
--   wrk -t1 -s dpop.lua URL -- PROOF_DIR ACCESS_TOKEN
function init(args)
  local file = os.getenv("AB_WARMUP") and 2 or 1
  proofs = assert(io.open(args[1] .. "/proofs-" .. file .. ".txt", "r"))
  wrk.headers["Authorization"] = "DPoP " .. args[2]
end

function request()
  wrk.headers["DPoP"] = proofs:read("*l")
  return wrk.format()
end
