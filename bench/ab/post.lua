-- wrk: POST a form body with HTTP Basic client authentication; counts non-200s.
-- Env: BODY (form body), AUTH (base64 of client_id:secret).
wrk.method = "POST"
wrk.body = os.getenv("BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("AUTH")
